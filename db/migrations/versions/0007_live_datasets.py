"""live data sets: datasets.live (and the watcher's lease), items.arrived_at

A live data set registers new files as they arrive; one web process at a time watches it
(the lease: which process, until when); each file's first item records when it arrived.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('live', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('live_watcher', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('live_watcher_until', sa.DateTime(timezone=True),
                                      nullable=True))
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_items_dataset_arrived', ['dataset_id', 'arrived_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index('ix_items_dataset_arrived')
        batch_op.drop_column('arrived_at')
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_column('live_watcher_until')
        batch_op.drop_column('live_watcher')
        batch_op.drop_column('live')
