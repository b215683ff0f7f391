"""SQLAlchemy 2.0 models: data sets, items, label classes, the tagging-event log, jobs (and
the cards of the jobs that are models), the retrain loops, and the accounts of a shared
server (users, API tokens, the audit trail).

Items are identified by a stable ``uri`` (path relative to the data set folder, or a
Tiled key, plus ``#frame=N`` for frames after the first), never by list position.
Labels live in an append-only log (``tagging_events`` + ``tags``); ``current_labels``
is its materialized last state, updated in the same transaction as each event.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer,
                        String, Text, UniqueConstraint, false)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a real BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# The largest id (or count) a request may name: PostgreSQL's INTEGER, the narrowest id
# column of the two databases; a larger number names no row and the driver fails on it.
MAX_ROW_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(moment: Optional[datetime]) -> Optional[datetime]:
    """A stored time, time-zone aware (SQLite hands back naive datetimes; all are UTC)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


FRAME_BITS = 24  # up to 16 million frames per file


def sort_key_of(file_index: int, frame: int) -> int:
    """One integer that orders items by file, then frame."""
    return (file_index << FRAME_BITS) | frame


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source_kind: Mapped[str] = mapped_column(String(20))  # a key of data.sources.SOURCE_KINDS
    location: Mapped[str] = mapped_column(Text)  # folder path or Tiled URI
    # The Tiled API key stays on the server: it is never put into a page or an API answer.
    api_key: Mapped[Optional[str]] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(20), default="scanning")  # scanning|ready|failed
    item_count: Mapped[int] = mapped_column(Integer, default=0)  # kept up to date by the catalog
    scanned_files: Mapped[int] = mapped_column(Integer, default=0)
    total_files: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Live: new files (Tiled keys) are registered as they arrive (data/live_ingest.py), by
    # one web process at a time: the one named in the lease, renewed until the time given.
    live: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    live_watcher: Mapped[Optional[str]] = mapped_column(String(100), default=None)
    live_watcher_until: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True),
                                                                   default=None)
    # Ids of the feature jobs whose models run over new items as they arrive
    # (ml.live_features): their rows are appended to those jobs.
    live_feature_jobs: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("dataset_id", "uri", name="uq_items_dataset_uri"),
        # Display order: files in sorted order, frames of a file together (frames found
        # by the header scan get higher ids, so id order alone is not name order).
        Index("ix_items_dataset_order", "dataset_id", "sort_key"),
        Index("ix_items_dataset_arrived", "dataset_id", "arrived_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    uri: Mapped[str] = mapped_column(String(1000))
    path: Mapped[str] = mapped_column(String(1000))  # file path (relative) or Tiled key
    file_index: Mapped[int] = mapped_column(Integer)  # rank of ``path`` in the sorted listing
    frame: Mapped[int] = mapped_column(Integer, default=0)
    sort_key: Mapped[int] = mapped_column(BigInteger)  # see sort_key_of()
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending|ok|unreadable
    height: Mapped[Optional[int]] = mapped_column(Integer, default=None)
    width: Mapped[Optional[int]] = mapped_column(Integer, default=None)
    dtype: Mapped[Optional[str]] = mapped_column(String(20), default=None)
    # When a live data set's watcher registered the file (its first item only); None for
    # items of a registration.
    arrived_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True),
                                                           default=None)


class DatasetProblem(Base):
    """Something that could not be read: a file, a frame or a whole folder."""

    __tablename__ = "dataset_problems"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("items.id", ondelete="CASCADE"), default=None)
    path: Mapped[str] = mapped_column(String(1000))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LabelClass(Base):
    __tablename__ = "label_classes"
    __table_args__ = (UniqueConstraint("dataset_id", "name", name="uq_label_dataset_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    color: Mapped[str] = mapped_column(String(20))
    hotkey: Mapped[Optional[str]] = mapped_column(String(5), default=None)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Deleting a class in use archives it, so undoing the delete can bring it back.
    archived: Mapped[bool] = mapped_column(Boolean, default=False)


class TaggingEvent(Base):
    __tablename__ = "tagging_events"
    __table_args__ = (Index("ix_events_dataset_id", "dataset_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    tagger: Mapped[str] = mapped_column(String(100))
    method: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    n_tags: Mapped[int] = mapped_column(Integer, default=0)
    undoes_event_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("tagging_events.id"), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (
        Index("ix_tags_event", "event_id"),
        Index("ix_tags_item_event", "item_id", "event_id"),
        Index("ix_tags_dataset_event", "dataset_id", "event_id"),
    )

    # No foreign keys on purpose: db.store is the only writer and checks items and labels
    # with one set-based query per event, where per-row foreign-key triggers would cost
    # PostgreSQL about a second for a 50,000-tag event. Deleting a data set must delete its
    # tags and current labels by dataset_id explicitly.
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(BigId)
    dataset_id: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[int] = mapped_column(BigId)
    label_id: Mapped[Optional[int]] = mapped_column(Integer, default=None)  # None: unlabel
    confidence: Mapped[Optional[float]] = mapped_column(Float, default=None)


class CurrentLabel(Base):
    """One row per labeled item: the last tag of the log. Unlabeled items have no row.

    Derived from ``tags`` (already checked), so it has no foreign keys either; ``sort_key``
    copies the item's display order so that a page of one label is an index range scan.
    """

    __tablename__ = "current_labels"
    __table_args__ = (
        Index("ix_current_dataset_label_order", "dataset_id", "label_id", "sort_key"),
    )

    item_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    dataset_id: Mapped[int] = mapped_column(Integer)
    label_id: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[int] = mapped_column(BigId)
    confidence: Mapped[Optional[float]] = mapped_column(Float, default=None)
    sort_key: Mapped[int] = mapped_column(BigInteger)


class Job(Base):
    """A training or inference run on a Celery worker; results are files in ``artifact_dir``."""

    __tablename__ = "jobs"
    # AUTOINCREMENT: SQLite would otherwise give the next job the id of a deleted newest one
    # (and with it the artifact folder name); PostgreSQL's sequence never goes back.
    __table_args__ = (Index("ix_jobs_dataset_status", "dataset_id", "status"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    dataset_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), default=None)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    owner: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    metrics: Mapped[list[Any]] = mapped_column(default=list)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    artifact_dir: Mapped[Optional[str]] = mapped_column(Text, default=None)
    error: Mapped[Optional[str]] = mapped_column(Text, default=None)
    celery_task_id: Mapped[Optional[str]] = mapped_column(String(64), default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Measures the grace period before a job that ignores the request is terminated.
    cancel_requested_at: Mapped[Optional[datetime]] = mapped_column(
        DateTime(timezone=True), default=None)
    heartbeat_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True), default=None)
    finished_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True), default=None)


class ModelCard(Base):
    """What a user wrote about a model of the library (``ml.model_library``): a model is a
    succeeded training job, so everything else about it is its job row; a model without a
    card goes by its default name."""

    __tablename__ = "model_cards"

    job_id: Mapped[int] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RetrainLoop(Base):
    """A data set's retrain loop (``ml.retrain_loop``): whether it keeps a classifier trained
    on the labels as they accumulate, every how many labels, and the jobs it started."""

    __tablename__ = "retrain_loops"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True, autoincrement=False)
    enabled: Mapped[bool] = mapped_column(Boolean)
    every_labels: Mapped[int] = mapped_column(Integer)
    # The newest training and inference the loop started, and its newest inference that
    # succeeded: the suggestions' source while a newer one runs or after a newer one failed.
    train_job_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None)
    infer_job_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None)
    source_job_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None)
    # The newest tagging event when the loop last tried to train; the next try is due
    # ``every_labels`` labels later (so a failed or refused try is not repeated at once).
    attempt_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    refusal: Mapped[Optional[str]] = mapped_column(Text, default=None)  # why that try was refused


class User(Base):
    """An account of a shared server (``BEAMLABEL_AUTH=accounts`` or ``proxy``)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(10))  # auth.roles.ROLES
    password_hash: Mapped[Optional[str]] = mapped_column(Text, default=None)  # None: no login
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    """A personal token for REST clients; only its SHA-256 digest is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True), default=None)
    revoked_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True), default=None)


class AuditEntry(Base):
    """Who did what on the server besides labeling (the tagging events say who labeled)."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))  # "login", an API endpoint, a callback
    target: Mapped[str] = mapped_column(Text, default="")  # what it acted on (a path, a name)
    outcome: Mapped[str] = mapped_column(String(20))  # "ok", "refused", "failed"
