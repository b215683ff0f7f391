"""What the explorer reads and writes around a finished ``projection`` job: its points and
clusters, the items its feature job gained since, placed on its axes, colour values, saved
selections, their summaries and heat maps, and labeling a selection as one ``cluster``
tagging event. numpy-level only: the web process imports it.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from data.catalog import source_of
from data.selection_stats import SelectionStats, read_into, selection_stats
from data.transforms import Transform
from db.guided import BatchPlan, apply_batch, plan_batch
from db.models import CurrentLabel, Dataset, Item, Job, TaggingEvent
from db.store import TagIn, apply_event
from errors import DomainError
from ml.features import (feature_item_ids, feature_job, feature_version, load_probabilities,
                         load_vectors, rows_of)
from ml.kinds.projection import KIND
from ml.projection_place import can_place, place_new_points

COLOURINGS = {"label": "current label", "cluster": "cluster",
              "confidence": "classifier confidence", "error": "reconstruction error"}
SELECTION_KEY = re.compile(r"^[0-9a-f]{16}$")
# Events list the ids of selections up to this size in their parameters; a larger
# selection is named by its saved key (the ids are the event's tags anyway).
LISTED_IDS = 1000


@dataclass
class Projection:
    job: Job
    item_ids: np.ndarray  # int64, one per point
    points: np.ndarray  # float32 (n, 2 or 3)
    clusters: Optional[np.ndarray]  # int32 per point, -1 noise; None when not clustered

    @property
    def folder(self) -> Path:
        return Path(self.job.artifact_dir)

    def rows_of(self, item_ids: Sequence[int]) -> np.ndarray:
        """Rows (sorted) of the given items; items not in the projection are left out."""
        return rows_in(self.item_ids, item_ids)

    def members(self, item_ids: Sequence[int], arrived: Sequence[int] = ()) -> np.ndarray:
        """The given items (sorted, once each) that the projection holds or that are among
        ``arrived``, the items its feature job gained after it was fitted."""
        wanted = np.asarray(item_ids, dtype=np.int64)
        own = self.item_ids[self.rows_of(wanted)]
        # masks rather than np.union1d / intersect1d: numpy's unique, which they call,
        # took about a second for each half a million ids (a lasso over 1M points)
        late = np.asarray(arrived, dtype=np.int64)
        late = np.unique(late[np.isin(late, wanted) & ~np.isin(late, own)])
        return np.sort(np.concatenate([own, late]))

    def cluster_items(self, cluster_id: int) -> np.ndarray:
        if self.clusters is None:
            raise DomainError(f"projection job {self.job.id} has no clusters", "cluster")
        return self.item_ids[self.clusters == cluster_id]


def rows_in(all_ids: np.ndarray, wanted: Sequence[int]) -> np.ndarray:
    """Sorted positions in ``all_ids`` of the ``wanted`` ids that it holds."""
    wanted = np.asarray(wanted, dtype=np.int64)
    if len(all_ids) and (all_ids[1:] > all_ids[:-1]).all():  # ascending, as jobs keep them
        rows = np.minimum(np.searchsorted(all_ids, wanted), len(all_ids) - 1)
        found = all_ids[rows] == wanted  # without rows_of's argsort of a million ids
    else:
        rows, found = rows_of(all_ids, wanted)
    held = np.zeros(len(all_ids), dtype=bool)
    held[rows[found]] = True
    return np.flatnonzero(held)


def _aligned(source_ids: np.ndarray, values: np.ndarray, target_ids: np.ndarray,
             missing: float = np.nan) -> np.ndarray:
    """``values`` (one per ``source_ids``) in the order of ``target_ids``."""
    rows, found = rows_of(source_ids, target_ids)
    out = np.full(len(target_ids), missing, dtype=np.asarray(values).dtype)
    out[found] = values[rows[found]]
    return out


def _is_whole_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def projection_job(session: Session, job_id: int, dataset_id: Optional[int] = None,
                   field: str = "projection_job_id") -> Job:
    """A finished projection job, or a DomainError naming ``field``."""
    job = session.get(Job, job_id) if _is_whole_number(job_id) else None
    if job is None or job.kind != KIND or job.status != "succeeded":
        raise DomainError(f"{field}: job {job_id} is not a finished projection job", field)
    if dataset_id is not None and job.dataset_id != dataset_id:
        raise DomainError(f"{field}: job {job_id} belongs to data set {job.dataset_id}", field)
    return job


def load_projection(session: Session, job_id: int, dataset_id: Optional[int] = None,
                    field: str = "projection_job_id") -> Projection:
    """A finished projection job's points (memory-mapped), or a DomainError naming ``field``."""
    job = projection_job(session, job_id, dataset_id, field)
    folder, files = Path(job.artifact_dir), job.result["files"]
    clusters = np.load(folder / files["clusters"]) if "clusters" in files else None
    return Projection(job, np.load(folder / files["item_ids"]).astype(np.int64, copy=False),
                      np.load(folder / files["points"], mmap_mode="r"), clusters)


def find_projection(session: Session, dataset_id: int, params: dict[str, Any]) -> Optional[Job]:
    """A queued, running or finished projection with exactly these (checked) parameters;
    not a finished one that saved no transform to place new items (asking again refits)."""
    jobs = session.scalars(select(Job).where(
        Job.kind == KIND, Job.dataset_id == dataset_id,
        Job.status.in_(("queued", "running", "succeeded"))).order_by(Job.id.desc()))
    return next((job for job in jobs if job.params == params
                 and (job.status != "succeeded" or can_place(job))), None)


def finished_projections(session: Session, dataset_id: int) -> list[Job]:
    return list(session.scalars(select(Job).where(
        Job.kind == KIND, Job.dataset_id == dataset_id, Job.status == "succeeded")
        .order_by(Job.id.desc())))


def projection_title(job: Job) -> str:
    params, clustering = job.params, job.params.get("clustering")
    text = (f"job {job.id} · {params['method']} {params['n_components']}-D of job "
            f"{params['feature_job_id']} · {job.result.get('items', '?')} items")
    if clustering:
        text += f" · {clustering['method']}: {job.result.get('clusters', '?')} clusters"
    return text


# --- items that arrived after the fit --------------------------------------------------------

PLACED_FILE = "placed.npz"


@dataclass(frozen=True)
class Arrivals:
    item_ids: np.ndarray  # int64: the placed items, in the feature job's order
    points: np.ndarray  # float32 (n, n_components) where the fitted projection places them
    feature_state: Optional[list]  # ``feature_state`` before they were read
    unplaced: int  # items that arrived but cannot be placed: the job saved no transform


def _feature_source(session: Session, job: Job) -> Optional[Job]:
    source = session.get(Job, job.params["feature_job_id"])
    return source if source is not None and source.status == "succeeded" else None


def _source_of(session: Session, projection: Projection) -> Optional[Job]:
    return _feature_source(session, projection.job)


def _state_of(source: Optional[Job]) -> Optional[list]:
    return None if source is None else list(feature_version(source))


def feature_state(session: Session, job_id: int) -> Optional[list]:
    """What changes when the feature job of projection ``job_id`` gains rows (items that
    arrived on a live data set), as JSON; None when that job is gone. Cheap: it lists the
    job's appended chunks, it reads no rows."""
    return _state_of(_feature_source(session, projection_job(session, job_id)))


def arrived_items(session: Session, projection: Projection) -> np.ndarray:
    """Items the feature job gained after the projection was fitted, in its order."""
    source = _source_of(session, projection)
    if source is None:
        return np.empty(0, dtype=np.int64)
    item_ids = feature_item_ids(source)
    return item_ids[~rows_of(projection.item_ids, item_ids)[1]]


def _none_placed(projection: Projection, state: Optional[list], unplaced: int) -> Arrivals:
    return Arrivals(np.empty(0, np.int64), np.empty((0, projection.points.shape[1]), np.float32),
                    state, unplaced)


def _stored_places(projection: Projection) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(projection.folder / PLACED_FILE) as stored:
            return stored["item_ids"], stored["points"]
    except FileNotFoundError:
        return (np.empty(0, np.int64),
                np.empty((0, projection.points.shape[1]), np.float32))


def _store_places(projection: Projection, item_ids: np.ndarray, points: np.ndarray) -> None:
    """Written under a temporary name, then renamed: a reader sees the old or the new file."""
    handle, temporary = tempfile.mkstemp(suffix=".npz", dir=projection.folder)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, item_ids=item_ids, points=points)
        os.replace(temporary, projection.folder / PLACED_FILE)
    finally:
        Path(temporary).unlink(missing_ok=True)


def placed_points(projection: Projection, item_ids: np.ndarray) -> np.ndarray:
    """Where the items placed after the fit (``place_arrivals``) were placed, in the order
    of ``item_ids``; a DomainError when one of them was never placed."""
    stored_ids, stored_points = _stored_places(projection)
    rows, found = rows_of(stored_ids, np.asarray(item_ids, dtype=np.int64))
    if not found.all():
        raise DomainError("The plot is out of date: open the projection again.", "plot")
    return stored_points[rows]


def place_arrivals(session: Session, projection: Projection) -> Arrivals:
    """The items the feature job gained since the fit, placed by the fitted transform.
    An item keeps the place it was given first (UMAP places a batch together, so placing
    it again beside later arrivals could move it); only the newer ones are placed."""
    source = _source_of(session, projection)
    state = _state_of(source)  # before reading: rows appended meanwhile show next time
    if source is None:
        return _none_placed(projection, state, 0)
    item_ids, vectors = load_vectors(source)
    new = np.flatnonzero(~rows_of(projection.item_ids, item_ids)[1])
    if not can_place(projection.job):
        return _none_placed(projection, state, len(new))
    placed_ids, placed_points = _stored_places(projection)
    rows, known = rows_of(placed_ids, item_ids[new])
    if not known.all():
        fresh = new[~known]
        placed_ids = np.concatenate([placed_ids, item_ids[fresh]])
        placed_points = np.concatenate([placed_points,
                                        place_new_points(projection.job, vectors[fresh])])
        _store_places(projection, placed_ids, placed_points)
        rows, known = rows_of(placed_ids, item_ids[new])
    return Arrivals(item_ids[new], placed_points[rows], state, 0)


# --- colours ---------------------------------------------------------------------------------

LOOKUP_CHUNK = 30_000  # ids per IN (...) query: below SQLite's limit on bound values
PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}  # by DB-API paramstyle


def _labels_by_id(session: Session, item_ids: np.ndarray) -> list[tuple[int, int]]:
    """(item id, label id) of those of ``item_ids`` that carry a label, by the primary key
    alone (with the data set too, SQLite reads the data set's index instead: every label
    of it). Through the driver's own cursor: SQLAlchemy's handling of 30,000 bound values
    costs three to five times the query (36,000 ids among 1M labels: 0.1 s against 0.3 s
    by exec_driver_sql and 0.5 s by ``in_``)."""
    connection = session.connection()
    mark = PLACEHOLDERS.get(connection.dialect.paramstyle)
    if mark is None:  # a driver with named parameters: the ORM's way
        query = select(CurrentLabel.item_id, CurrentLabel.label_id)
        return [tuple(row) for start in range(0, len(item_ids), LOOKUP_CHUNK)
                for row in session.execute(query.where(CurrentLabel.item_id.in_(
                    item_ids[start:start + LOOKUP_CHUNK].tolist())))]
    cursor = connection.connection.cursor()
    found: list[tuple[int, int]] = []
    try:
        for start in range(0, len(item_ids), LOOKUP_CHUNK):
            part = item_ids[start:start + LOOKUP_CHUNK].tolist()
            cursor.execute(f"SELECT item_id, label_id FROM {CurrentLabel.__tablename__} "
                           f"WHERE item_id IN ({', '.join([mark] * len(part))})", part)
            found += cursor.fetchall()
    finally:
        cursor.close()
    return found


def current_label_ids(session: Session, dataset_id: int, item_ids: np.ndarray) -> np.ndarray:
    """int64 label id of each item, -1 where unlabeled. A few items (those in view of a
    large projection) are looked up by id, more by reading the data set's labels."""
    item_ids = np.asarray(item_ids, dtype=np.int64)
    if len(item_ids) <= 2 * LOOKUP_CHUNK:
        found = _labels_by_id(session, item_ids)
    else:
        found = [tuple(row) for row in session.execute(
            select(CurrentLabel.item_id, CurrentLabel.label_id)
            .where(CurrentLabel.dataset_id == dataset_id))]
    rows = np.array(found, dtype=np.int64).reshape(-1, 2)
    return _aligned(rows[:, 0], rows[:, 1], item_ids, missing=-1)


def available_colourings(session: Session, projection: Projection) -> list[str]:
    source = session.get(Job, projection.job.params["feature_job_id"])
    files = (source.result or {}).get("files", {}) if source is not None else {}
    found = {"label": True, "cluster": projection.clusters is not None,
             "confidence": "probabilities" in files, "error": "errors" in files}
    return [name for name in COLOURINGS if found[name]]


def feature_values(session: Session, projection: Projection, colouring: str) -> np.ndarray:
    """float32 per point: the classifier's top probability or the reconstruction error
    (NaN for items the feature job lacks)."""
    source = feature_job(session, projection.job.params["feature_job_id"])
    if colouring == "confidence":
        item_ids, probabilities, _labels = load_probabilities(source, "colour")
        values = probabilities.max(axis=1)
    elif colouring == "error":
        if "errors" not in source.result["files"]:
            raise DomainError(f"job {source.id} stored no reconstruction errors", "colour")
        folder = Path(source.artifact_dir)
        item_ids = np.load(folder / source.result["files"]["item_ids"])
        values = np.load(folder / source.result["files"]["errors"])
    else:
        raise DomainError(f"colour '{colouring}' is not a feature value", "colour")
    return _aligned(item_ids.astype(np.int64), values.astype(np.float32), projection.item_ids)


# --- selections ------------------------------------------------------------------------------

def save_selection(projection: Projection, item_ids: Sequence[int],
                   arrived: Sequence[int] = ()) -> str:
    """Store a selection beside its projection (of its items and the ``arrived`` ones
    among ``item_ids``); its key names it in links and events."""
    ids = projection.members(item_ids, arrived)
    key = hashlib.sha1(ids.tobytes()).hexdigest()[:16]
    path = projection.folder / "selections" / f"{key}.npy"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        np.save(path, ids)
    return key


def load_selection(projection: Projection, key: str) -> np.ndarray:
    path = projection.folder / "selections" / f"{key}.npy"  # read only once the key matches
    if not (isinstance(key, str) and SELECTION_KEY.match(key)) or not path.exists():
        raise DomainError(f"selection '{key}' of projection job {projection.job.id} does not "
                          "exist; select the points in the explorer again", "selection")
    return np.load(path)


def selection_items(projection: Projection, key: Optional[str] = None,
                    cluster_id: Optional[int] = None) -> np.ndarray:
    """The items of a whole cluster, or of a saved selection."""
    if cluster_id is not None:
        if isinstance(cluster_id, str) and cluster_id.lstrip("-").isdigit():
            cluster_id = int(cluster_id)  # as the cluster menu and links give it
        if not _is_whole_number(cluster_id):
            raise DomainError(f"cluster '{cluster_id}' is not a cluster number", "cluster")
        return projection.cluster_items(cluster_id)
    if key is None:
        raise DomainError("name a saved selection or a cluster", "selection")
    return load_selection(projection, key)


@dataclass(frozen=True)
class SelectionSummary:
    count: int
    per_label: dict[int, int]  # label id (-1: unlabeled) -> items
    per_cluster: dict[int, int]  # cluster (-1: noise) -> items; empty when not clustered
    arrived: int = 0  # items that arrived after the fit (placed, in no cluster)


def _counts(values: np.ndarray) -> dict[int, int]:
    found, counts = np.unique(values, return_counts=True)
    return {int(value): int(count) for value, count in zip(found, counts)}


def summarize(session: Session, projection: Projection,
              item_ids: Sequence[int]) -> SelectionSummary:
    ids = projection.members(item_ids, arrived_items(session, projection))
    rows = projection.rows_of(ids)
    labels = current_label_ids(session, projection.job.dataset_id, ids)
    clusters = _counts(projection.clusters[rows]) if projection.clusters is not None else {}
    return SelectionSummary(len(ids), _counts(labels), clusters, len(ids) - len(rows))


ON_DEMAND = 32  # images of a selection read on demand when the heat-map sample misses it


@dataclass(frozen=True)
class SelectionHeatmap:
    stats: SelectionStats
    selected: int  # the selection's items the projection holds
    sampled: bool  # the stack holds a sample of the items: the statistics are of a sample


def _stack_ids(projection: Projection) -> np.ndarray:
    """The items of the heat-map stack's rows: a sample, or (jobs before samples were
    taken) the projection's items."""
    files = projection.job.result["files"]
    if "heatmap_ids" not in files:
        return projection.item_ids
    return np.load(projection.folder / files["heatmap_ids"]).astype(np.int64, copy=False)


def _read_on_demand(session: Session, projection: Projection,
                    item_ids: np.ndarray) -> np.ndarray:
    """The uint8 stack rows of ``item_ids`` read now, as the job would have (the
    unreadable left out)."""
    params = projection.job.params
    items = list(session.scalars(select(Item).where(
        Item.dataset_id == projection.job.dataset_id, Item.id.in_(item_ids.tolist()))))
    size = params["heatmap_size"]
    images = np.zeros((len(items), size, size), dtype=np.uint8)
    source = source_of(session.get(Dataset, projection.job.dataset_id))
    readable = read_into(images, source, items, Transform.of(params))
    return images[readable]


def heatmap(session: Session, projection: Projection, item_ids: Sequence[int],
            on_demand: int = ON_DEMAND) -> SelectionHeatmap:
    """Mean and standard deviation of the selection's transformed images (unreadable
    images, and items that arrived after the fit, which have none in the stack, left
    out). Of a large data set the stack holds a sample: the statistics are of the
    selection's sampled items, or, when fewer than ``on_demand`` of them are in it, of up
    to ``on_demand`` of its items (sampled or read now)."""
    files = projection.job.result["files"]
    held = projection.item_ids[projection.rows_of(item_ids)]
    stack_ids = _stack_ids(projection)
    sampled = len(stack_ids) < len(projection.item_ids)
    readable = np.load(projection.folder / files["readable"])
    rows = rows_in(stack_ids, held)
    rows = rows[readable[rows]]
    stack = np.load(projection.folder / files["images"], mmap_mode="r")
    extra = None
    if sampled and len(rows) < min(on_demand, len(held)):
        unsampled = held[~np.isin(held, stack_ids)]
        wanted = min(on_demand - len(rows), len(unsampled))
        # spread over the selection, and the same on every request
        spread = np.unique(np.linspace(0, len(unsampled) - 1, wanted).astype(np.int64))
        extra = _read_on_demand(session, projection, unsampled[spread])
    return SelectionHeatmap(selection_stats(stack, rows, extra), len(held), sampled)


def label_selection(session: Session, projection: Projection, item_ids: Sequence[int],
                    label_id: Optional[int], tagger: str, cluster_id: Optional[int] = None,
                    overwrite: bool = False) -> tuple[Optional[TaggingEvent], BatchPlan]:
    """One ``cluster`` event giving the selected items ``label_id``; like every batch,
    items that carry a label keep it unless ``overwrite`` (None unlabels every selected
    item). Its parameters name the projection job, the cluster if a whole one, and the
    selection. Items that arrived after the fit are labeled too. The event is None when
    nothing was left to tag."""
    arrived = arrived_items(session, projection)
    ids = projection.members(item_ids, arrived)
    if len(ids) == 0:
        raise DomainError("the selection is empty; select points first", "selection")
    params = {"projection_job_id": projection.job.id,
              "feature_job_id": projection.job.params["feature_job_id"],
              "cluster": cluster_id, "selection": save_selection(projection, ids, arrived),
              "count": int(len(ids)), "overwrite": overwrite}
    if len(ids) <= LISTED_IDS:
        params["item_ids"] = [int(i) for i in ids]
    dataset_id = projection.job.dataset_id
    if label_id is None:
        plan = BatchPlan(dict.fromkeys(ids.tolist()), ids.tolist(), 0, 0)
        return apply_event(session, dataset_id, tagger, "cluster",
                           [TagIn(int(i), None) for i in ids], params), plan
    plan = plan_batch(session, dataset_id, ids.tolist(), label_id, overwrite)
    return apply_batch(session, dataset_id, tagger, "cluster", plan, params), plan


def explorer_order(dataset, projection, selection, cluster) -> Optional[dict]:
    """The guided order a label-page URL from the explorer asks for: a selection or a
    cluster of a projection job (None when the URL is not, or not wholly, such a link).
    Its spec is read by ``callbacks.guided_order``."""
    numbers = [str(value or "").lstrip("-").isdigit() for value in (dataset, projection)]
    if not all(numbers) or not (selection or str(cluster or "").lstrip("-").isdigit()):
        return None  # not (or not wholly) a link from the explorer
    return {"kind": "explorer", "dataset_id": int(dataset), "job_id": int(projection),
            "selection": selection, "cluster": None if selection else int(cluster)}
