"""The one MetaData that Alembic compares against: every model module is imported here."""

from __future__ import annotations

from shoal.clusters import models as _cluster_models  # noqa: F401
from shoal.gateway import models as _gateway_models  # noqa: F401
from shoal.iam import models as _iam_models  # noqa: F401
from shoal.store import models
from shoal.tasks import models as _task_models  # noqa: F401

target_metadata = models.Base.metadata

__all__ = ["target_metadata"]
