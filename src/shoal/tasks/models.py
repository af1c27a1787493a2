"""Tables of the task engine: a task, its ordered steps, and the steps' log lines.

Field and status names follow the original platform (BCS cluster-manager) so
operators recognise them: a task has a ``task_type`` such as
``blueking-ImportCluster``, a ``current_step`` such as ``importClusterNodesTask``
and one of the statuses in :class:`TaskStatus`; its steps one of
:class:`StepStatus`.

The lease columns (``lease_owner``, ``lease_token``, ``lease_expires_at``) belong
to the worker currently running the task; every write a worker makes is fenced
by ``lease_token`` so a worker that lost its lease cannot overwrite the work of
the one that took over (see ``tasks.worker``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, NewType

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shoal.store.models import Base
from shoal.store.types import utcnow

__all__ = ["FINAL_STATUSES", "RETRYABLE_STATUSES", "StepStatus", "Task", "TaskId", "TaskLog", "TaskStatus",
           "TaskStep"]

TaskId = NewType("TaskId", str)


class TaskStatus(StrEnum):
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"


class StepStatus(StrEnum):
    NOTSTARTED = "NOTSTARTED"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    SKIP = "SKIP"


#: A task in one of these states is never picked up by a worker again (retry/skip re-open it).
FINAL_STATUSES = frozenset({TaskStatus.SUCCESS, TaskStatus.FAILURE, TaskStatus.TIMEOUT, TaskStatus.CANCELLED})
#: Only these may be retried, or have their failed step skipped.
RETRYABLE_STATUSES = frozenset({TaskStatus.FAILURE, TaskStatus.TIMEOUT})

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigserial.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_runnable", "status", "run_after"),
        Index("ix_tasks_project_created", "project_code", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    task_type: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.INITIALIZING.value)
    message: Mapped[str] = mapped_column(Text, default="")
    project_code: Mapped[str] = mapped_column(String(32))
    cluster_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    node_name: Mapped[str | None] = mapped_column(String(255), default=None)
    creator: Mapped[str] = mapped_column(String(64), default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    current_step: Mapped[str] = mapped_column(String(64), default="")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled_by: Mapped[str] = mapped_column(String(64), default="")
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(128), default=None)
    lease_token: Mapped[str | None] = mapped_column(String(36), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    steps: Mapped[list[TaskStep]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="TaskStep.position", lazy="selectin"
    )

    def __repr__(self) -> str:
        return f"Task(id={self.id!r}, type={self.task_type!r}, status={self.status!r})"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class TaskStep(Base):
    __tablename__ = "task_steps"
    __table_args__ = (UniqueConstraint("task_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    title_en: Mapped[str] = mapped_column(String(128), default="")
    title_zh: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[str] = mapped_column(String(16), default=StepStatus.NOTSTARTED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_retries: Mapped[int] = mapped_column(Integer, default=0)
    timeout_seconds: Mapped[float] = mapped_column(default=600.0)
    allow_skip: Mapped[bool] = mapped_column(Boolean, default=False)
    message: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)

    task: Mapped[Task] = relationship(back_populates="steps")

    def title(self, lang: str) -> str:
        return (self.title_en if lang == "en" else self.title_zh) or self.name


class TaskLog(Base):
    """One line a step (or the engine, about a step) wrote; ``id`` is the cursor of the log API."""

    __tablename__ = "task_logs"
    __table_args__ = (Index("ix_task_logs_task_id_id", "task_id", "id"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    step_name: Mapped[str] = mapped_column(String(64), default="")
    time: Mapped[datetime] = mapped_column(default=utcnow)
    level: Mapped[str] = mapped_column(String(8), default="info")
    message: Mapped[str] = mapped_column(Text, default="")
