"""The console's areas: each module has ``router`` (an ``APIRouter``) and ``nav`` (sidebar entries).

``shoal.web.pages.AREAS`` lists them in the order their routes are matched.
"""
