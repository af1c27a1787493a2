"""node management: what the node list shows, filters and sorts by (R16)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 18:35:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shoal.store.types

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXT = (('status', sa.String(length=16)), ('status_message', sa.Text()), ('uid', sa.String(length=64)),
         ('roles', sa.String(length=255)), ('kernel_version', sa.String(length=128)), ('labels_text', sa.Text()))
_FLOAT = ('cpu_allocatable', 'memory_allocatable', 'cpu_requested', 'memory_requested', 'cpu_share', 'memory_share')
_INT = ('pods_used', 'pods_limit')


def upgrade() -> None:
    with op.batch_alter_table('cluster_nodes', schema=None) as batch_op:
        for name, type_ in _TEXT:
            batch_op.add_column(sa.Column(name, type_, nullable=False, server_default=''))
        for name in _FLOAT:
            batch_op.add_column(sa.Column(name, sa.Float(), nullable=False, server_default='0'))
        for name in _INT:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('taints', sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column('node_created_at', shoal.store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_cluster_nodes_cluster_status', ['cluster_id', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cluster_nodes', schema=None) as batch_op:
        batch_op.drop_index('ix_cluster_nodes_cluster_status')
        for name in ('node_created_at', 'taints', *_INT, *_FLOAT, *(n for n, _ in _TEXT)):
            batch_op.drop_column(name)
