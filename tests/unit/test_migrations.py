"""Migrations form one line: concurrent work must chain onto the head, never fork it."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from shoal.store.migrate import alembic_config


def test_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    heads = script.get_heads()
    assert len(heads) == 1, f"migrations fork into {heads}: set down_revision to the previous head"
    assert len(list(script.walk_revisions())) >= 1
