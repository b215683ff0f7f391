"""retrain_loops: a classifier kept trained on a data set's labels as they accumulate

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'retrain_loops',
        sa.Column('dataset_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('every_labels', sa.Integer(), nullable=False),
        sa.Column('train_job_id', sa.Integer(), nullable=True),
        sa.Column('infer_job_id', sa.Integer(), nullable=True),
        sa.Column('source_job_id', sa.Integer(), nullable=True),
        sa.Column('attempt_event_id', sa.BigInteger(), nullable=False),
        sa.Column('refusal', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['train_job_id'], ['jobs.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['infer_job_id'], ['jobs.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['source_job_id'], ['jobs.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('dataset_id')
    )


def downgrade() -> None:
    op.drop_table('retrain_loops')
