"""The ``live_features`` job kind: rows for newly arrived items appended to a finished
feature job, computed with that job's own model (its kind's ``Extension``), so that the
similarity and probability tools include them at once.

A small job (at most MAX_ITEMS items) on the cpu queue: it must not wait behind a training
run on the one-at-a-time gpu queue, and its few images need no GPU. Items the job already
holds are skipped; the rows are written as one chunk (``ml.feature_chunks``), and small
chunks are merged once there are many.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import MAX_ROW_ID, Item, Job
from errors import DomainError
from ml.feature_chunks import append_chunk, merge_small_chunks
from ml.features import feature_item_ids, feature_job
from ml.kinds.context import JobContext
from ml.kinds.spec import JOB_KINDS, Extension, JobCancelled, JobKind, register_kind
from ml.params import Param, params_checker

MAX_ITEMS = 4096
FIELD = "params.feature_job_id"
ITEMS_FIELD = "params.item_ids"
NUMBERS = params_checker({"feature_job_id": Param(int, 0, 1, None)})
ITEMS_SHOWN = 5  # item ids named in a refusal


def extendable_feature_job(session: Session, job_id: int, dataset_id: int,
                           field: str = FIELD) -> tuple[Job, Extension]:
    """The finished feature job ``job_id`` of the data set and its kind's Extension, or a
    DomainError naming ``field``: 404 for no such job, 400 for one that cannot take rows."""
    if session.get(Job, job_id) is None:
        raise DomainError(f"{field}: there is no job {job_id}", field, status=404)
    job = feature_job(session, job_id, dataset_id, field)
    extension = JOB_KINDS[job.kind].extend
    if extension is None:
        raise DomainError(f"{field}: job {job_id} ({job.kind}) cannot take new items: its kind "
                          "keeps no model to compute their vectors with; run it again over "
                          "the whole data set, or use a feature job of another kind", field)
    if extension.check is not None:
        extension.check(session, job)
    return job, extension


def _item_ids(value: Any) -> list[int]:
    """The distinct item ids of ``value`` (a list of ids, or one id), ascending."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_ITEMS:
        raise DomainError(f"{ITEMS_FIELD} must be a list of 1 to {MAX_ITEMS} item ids",
                          ITEMS_FIELD)
    if not all(isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= MAX_ROW_ID
               for i in value):
        raise DomainError(f"{ITEMS_FIELD} must hold item ids: integers from 1 to "
                          f"{MAX_ROW_ID}", ITEMS_FIELD)
    return sorted(set(value))


def check_params(params: dict[str, Any]) -> dict[str, Any]:
    if "feature_job_id" not in params:
        raise DomainError(f"{FIELD} is required: the finished feature job to extend", FIELD)
    if "item_ids" not in params:
        raise DomainError(f"{ITEMS_FIELD} is required: the new items to add", ITEMS_FIELD)
    item_ids = _item_ids(params["item_ids"])
    return {**NUMBERS({k: v for k, v in params.items() if k != "item_ids"}),
            "item_ids": item_ids}


def check_dataset(session: Session, dataset_id: int, params: dict[str, Any]) -> None:
    extendable_feature_job(session, params["feature_job_id"], dataset_id)
    wanted = params["item_ids"]
    found = set(session.scalars(select(Item.id).where(Item.dataset_id == dataset_id,
                                                      Item.id.in_(wanted))))
    strangers = [item_id for item_id in wanted if item_id not in found]
    if strangers:
        shown = ", ".join(map(str, strangers[:ITEMS_SHOWN]))
        more = f" and {len(strangers) - ITEMS_SHOWN} more" if len(strangers) > ITEMS_SHOWN else ""
        raise DomainError(f"{ITEMS_FIELD}: {shown}{more} are not items of data set "
                          f"{dataset_id}", ITEMS_FIELD)


def _readable_items(context: JobContext, item_ids: list[int]) -> list[Item]:
    """The readable ones of ``item_ids`` in file order (looked up by id: a live data set may
    hold millions of items)."""
    query = (select(Item).where(Item.dataset_id == context.dataset.id, Item.id.in_(item_ids),
                                Item.status != "unreadable").order_by(Item.sort_key))
    with context.session_factory() as session:
        return list(session.scalars(query))


def run_live_features(context: JobContext) -> dict[str, Any]:
    params = context.params
    with context.session_factory() as session:
        job, extension = extendable_feature_job(session, params["feature_job_id"],
                                                context.dataset.id)
    wanted = np.asarray(params["item_ids"], np.int64)
    new = wanted[~np.isin(wanted, feature_item_ids(job))].tolist()
    items = _readable_items(context, new) if new else []
    rows = extension.rows(context, job, items) if items else {"item_ids": []}
    if context.should_stop():
        raise JobCancelled()
    added = len(rows["item_ids"])
    chunk = append_chunk(job.artifact_dir, rows) if added else None
    if chunk is not None:
        merge_small_chunks(job.artifact_dir)
    present = len(wanted) - len(new)
    context.log(f"{added} items added to job {job.id}, {present} it had already, "
                f"{len(new) - added} unreadable")
    return {"feature_job_id": job.id, "added": added, "already_present": present,
            "unreadable": len(new) - added, "chunk": chunk.name if chunk else None}


register_kind(JobKind(
    name="live_features", queue="cpu", run=run_live_features, check_params=check_params,
    check_dataset=check_dataset,
    description="vectors (and probabilities) of newly arrived items by a finished feature "
                "job's model, appended to that job (live/<n>/ in its folder)"))
