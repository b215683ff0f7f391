"""jobs.id on SQLite: AUTOINCREMENT, so the id of a deleted job is never handed out again

Without it SQLite gives a new row the largest id + 1, and deleting the newest job made the
next one get its id (and its artifact folder name, job-<id>). PostgreSQL's sequence never
goes back, so it needs nothing.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

LOOP_JOB_COLUMNS = ("train_job_id", "infer_job_id", "source_job_id")


def _rebuild_jobs(autoincrement: bool) -> None:
    """Copy the jobs table into one with(out) AUTOINCREMENT. Foreign keys are on and cannot
    be switched off inside the migration's transaction, so dropping the old table sets the
    retrain loops' job references to NULL: they are read first and written back."""
    bind = op.get_bind()
    columns = ", ".join(("dataset_id", *LOOP_JOB_COLUMNS))
    loops = bind.execute(sa.text(f"SELECT {columns} FROM retrain_loops")).all()
    with op.batch_alter_table('jobs', recreate='always',
                              table_kwargs={'sqlite_autoincrement': autoincrement}):
        pass
    assignments = ", ".join(f"{column} = :{column}" for column in LOOP_JOB_COLUMNS)
    for row in loops:
        bind.execute(sa.text(f"UPDATE retrain_loops SET {assignments} "
                             "WHERE dataset_id = :dataset_id"), dict(row._mapping))


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_jobs(autoincrement=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_jobs(autoincrement=False)
