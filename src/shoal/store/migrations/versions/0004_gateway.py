"""gateway: gateway tokens bound to a cluster, per-cluster gateway settings

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 18:25:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shoal.store.types

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cluster_id', sa.String(length=32), nullable=True))
    op.create_table('cluster_gateway',
    sa.Column('cluster_id', sa.String(length=32), nullable=False),
    sa.Column('impersonate', sa.Boolean(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.Column('updated_at', shoal.store.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['cluster_id'], ['clusters.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('cluster_id')
    )


def downgrade() -> None:
    op.drop_table('cluster_gateway')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('cluster_id')
