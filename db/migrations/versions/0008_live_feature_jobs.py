"""datasets.live_feature_jobs: the feature jobs whose models run over a live data set's
new items as they arrive (ml.live_features)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


# Plain ALTER TABLE, never batch mode (see 0007: a batch copy would delete the rows that
# refer to the data sets on SQLite).

def upgrade() -> None:
    op.add_column('datasets', sa.Column('live_feature_jobs', sa.JSON(), nullable=False,
                                        server_default='[]'))


def downgrade() -> None:
    op.drop_column('datasets', 'live_feature_jobs')
