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


# Plain ALTER TABLE, never batch mode: on SQLite a batch copies the table and drops the old
# one, and with foreign keys on that drop deletes every row that refers to it (items, jobs,
# labels...). SQLite adds a column with a constant default and drops one (3.35+) in place.

def upgrade() -> None:
    op.add_column('datasets', sa.Column('live', sa.Boolean(), nullable=False,
                                        server_default=sa.false()))
    op.add_column('datasets', sa.Column('live_watcher', sa.String(length=100), nullable=True))
    op.add_column('datasets', sa.Column('live_watcher_until', sa.DateTime(timezone=True),
                                        nullable=True))
    op.add_column('items', sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_items_dataset_arrived', 'items', ['dataset_id', 'arrived_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_items_dataset_arrived', table_name='items')
    op.drop_column('items', 'arrived_at')
    op.drop_column('datasets', 'live_watcher_until')
    op.drop_column('datasets', 'live_watcher')
    op.drop_column('datasets', 'live')
