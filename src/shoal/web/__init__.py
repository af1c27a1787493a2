"""The web console: server-rendered pages (Jinja2 + htmx) over the domain services.

``pages.install(app)`` is called by ``shoal.api.app.create_app``. Each area of the
console is a module in ``shoal.web.areas`` with an ``APIRouter`` named ``router`` and the ``nav`` items it
adds to the sidebar; ``pages.AREAS`` lists them. Templates live under
``templates/<area>/`` and extend ``base.html``.
"""
