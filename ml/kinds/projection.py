"""The ``projection`` job kind: a 2-D or 3-D map of a feature job's vectors, optionally
clustered, plus the stack of transformed images the explorer's selection heat maps read.

Parameters: ``feature_job_id``, ``method`` (pca | umap) with that method's parameters
(``n_components``, ...), an optional ``clustering`` object ``{"method": kmeans | dbscan |
hdbscan, "params": {...}, "space": "projection" | "features"}``, the heat-map images'
``heatmap_size``, ``log``, ``pmin``, ``pmax``, ``heatmap_sample`` (of more items, the
heat-map stack holds that many, drawn with seed 0: the result's ``heatmap`` says so), and
``fit_sample``: of more items, that many are fitted, drawn with the method's seed (0 for
PCA), and the rest are placed by the fitted transform chunk by chunk (the result's ``fit``
says so). Files: points.npy (float32 n×k), item_ids.npy, the fitted transform that places
new items later (ml/projection_place.py: pca_mean.npy and pca_components.npy, or
umap_model.joblib), clusters.npy (int32, -1 noise) when clustered, images.npy (uint8
m×s×s of the m heat-map items), readable.npy and heatmap_item_ids.npy (the m items, in
the feature job's order).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from data.catalog import source_of
from data.selection_stats import build_stack
from data.transforms import Transform
from db.jobs import list_jobs
from db.models import Item, Job
from errors import DomainError
from ml.features import feature_job, load_vectors, rows_of
from ml.kinds.context import JobContext
from ml.kinds.spec import JobCancelled, JobKind, register_kind
from ml.params import Choice, Flag, Param, params_checker
from ml.projection import (CLUSTERINGS, FIT_SAMPLE, PROJECTIONS, check_method, cluster,
                           fit_on_sample)
from ml.projection_place import PLACEMENTS, save_transform

KIND = "projection"
FILES = {"points": "points.npy", "item_ids": "item_ids.npy", "clusters": "clusters.npy",
         "images": "images.npy", "readable": "readable.npy",
         "heatmap_ids": "heatmap_item_ids.npy",
         **{key: name for placement in PLACEMENTS.values()
            for key, name in placement.files.items()}}
POINT_FILES = ("points", "item_ids")
IMAGE_FILES = ("images", "readable", "heatmap_ids")
HEATMAP_PARAMS = {"heatmap_size": Param(int, 64, 8, 256), "log": Flag(True),
                  "pmin": Param(float, 1.0, 0.0, 100.0), "pmax": Param(float, 99.0, 0.0, 100.0)}
# A million 64-px images are 4 GB and a million file reads: the heat maps read a sample.
HEATMAP_SAMPLE = 20_000
HEATMAP_SEED = 0
SAMPLE_PARAMS = {"heatmap_sample": Param(int, HEATMAP_SAMPLE, 1, 200_000)}
FIT_PARAMS = {"fit_sample": Param(int, FIT_SAMPLE, 10, 100_000_000)}
SPACES = Choice(("projection", "features"))
FEATURE_JOB = params_checker({"feature_job_id": Param(int, 0, 1, None)})


def _check_clustering(clustering: Any) -> Optional[dict[str, Any]]:
    if clustering is None:
        return None
    if not isinstance(clustering, dict) or set(clustering) - {"method", "params", "space"}:
        raise DomainError('params.clustering must be null or {"method": ..., "params": {...}, '
                          '"space": "projection" | "features"}', "params.clustering")
    space = clustering.get("space", SPACES.default)
    if space not in SPACES.options:
        raise DomainError(f"params.clustering.space must be one of {', '.join(SPACES.options)}",
                          "params.clustering.space")
    method = clustering.get("method")
    return {"method": method, "space": space,
            "params": check_method(CLUSTERINGS, method, clustering.get("params") or {},
                                   "params.clustering.params")}


def check_projection_params(params: dict[str, Any]) -> dict[str, Any]:
    """Normalised parameters; a DomainError naming the field to change otherwise."""
    rest = dict(params)
    if "feature_job_id" not in rest:
        raise DomainError("params.feature_job_id is required: the id of a finished "
                          "autoencoder_infer or classifier_infer job", "params.feature_job_id")
    checked = FEATURE_JOB({"feature_job_id": rest.pop("feature_job_id")})
    method = rest.pop("method", "pca")
    clustering = _check_clustering(rest.pop("clustering", None))
    heatmap = params_checker(HEATMAP_PARAMS)({name: rest.pop(name) for name in HEATMAP_PARAMS
                                              if name in rest})
    if heatmap["pmin"] >= heatmap["pmax"]:
        raise DomainError("params.pmin must be below params.pmax", "params.pmin")
    fit = params_checker(FIT_PARAMS)({name: rest.pop(name) for name in FIT_PARAMS
                                      if name in rest})
    sample = params_checker(SAMPLE_PARAMS)({name: rest.pop(name) for name in SAMPLE_PARAMS
                                            if name in rest})
    checked.update(method=method, **check_method(PROJECTIONS, method, rest, "params"))
    return {**checked, **fit, **heatmap, **sample, "clustering": clustering}


def method_params(params: dict[str, Any]) -> dict[str, Any]:
    """The projection method's own parameters out of a job's parameters."""
    return {name: params[name] for name in PROJECTIONS[params["method"]].params}


def check_projection_dataset(session: Session, dataset_id: int,
                             params: dict[str, Any]) -> None:
    """The feature job must be a finished one of this data set, with enough items."""
    job = feature_job(session, params["feature_job_id"], dataset_id, "params.feature_job_id")
    items = int(job.result.get("items", 0))
    if items <= params["n_components"] + 1:
        raise DomainError(f"params.feature_job_id: job {job.id} has {items} items, too few "
                          "to project", "params.feature_job_id")
    fitted = min(items, params["fit_sample"])
    if params["method"] == "umap" and params["n_neighbors"] >= fitted:
        raise DomainError(f"params.n_neighbors must be below the number of items fitted "
                          f"({fitted}: the items, at most params.fit_sample)",
                          "params.n_neighbors")


ID_CHUNK = 10_000  # ids per IN (...) query: below SQLite's limit on bound values


def _items_in_order(context: JobContext, item_ids: np.ndarray) -> list:
    """The items ``item_ids``, looked up by id (not the data set's every item)."""
    by_id = {}
    with context.session_factory() as session:
        for start in range(0, len(item_ids), ID_CHUNK):
            part = item_ids[start:start + ID_CHUNK].tolist()
            by_id.update((item.id, item) for item in session.scalars(select(Item).where(
                Item.dataset_id == context.dataset.id, Item.id.in_(part))))
    return [by_id[int(item_id)] for item_id in item_ids]


def heatmap_sample(item_ids: np.ndarray, limit: int) -> np.ndarray:
    """The items whose images the heat maps read: all of them up to ``limit``, else
    ``limit`` of them drawn with HEATMAP_SEED; in the order of ``item_ids``."""
    if len(item_ids) <= limit:
        return item_ids
    rows = np.random.default_rng(HEATMAP_SEED).choice(len(item_ids), limit, replace=False)
    return item_ids[np.sort(rows)]


IMAGE_KEYS = ("feature_job_id", *HEATMAP_PARAMS, *SAMPLE_PARAMS)


def _point_keys(params: dict[str, Any]) -> tuple[str, ...]:
    return ("feature_job_id", "method", *FIT_PARAMS, *method_params(params))


def _point_files(params: dict[str, Any]) -> tuple[str, ...]:
    """The points and what places new ones: an earlier job without the transform is not
    reused, so every new job can place items that arrive later."""
    return (*POINT_FILES, *PLACEMENTS[params["method"]].files)


def _link_earlier(context: JobContext, keys: tuple[str, ...], names: tuple[str, ...],
                  what: str, item_ids: Optional[np.ndarray] = None) -> bool:
    """Hard-link the files ``names`` of the newest earlier projection whose parameters
    ``keys`` equal this job's (and whose items are ``item_ids`` when given), if any: e.g.
    the images are read once per feature job, and a new clustering of a projection does
    not compute the projection again."""
    def same(job: Job) -> bool:
        folder = Path(job.artifact_dir)
        return all(job.params.get(key) == context.params[key] for key in keys) and all(
            (folder / FILES[name]).exists() for name in names) and (
            item_ids is None or np.array_equal(np.load(folder / FILES["item_ids"]), item_ids))

    with context.session_factory() as session:
        earlier = next((job for job in list_jobs(session, context.dataset.id, KIND)
                        if job.status == "succeeded" and same(job)), None)
    if earlier is None:
        return False
    try:
        for name in names:
            os.link(Path(earlier.artifact_dir) / FILES[name], context.artifact_dir / FILES[name])
    except OSError:  # another file system, or a file deleted meanwhile: compute them
        for name in names:
            (context.artifact_dir / FILES[name]).unlink(missing_ok=True)
        return False
    context.log(f"{what} shared with job {earlier.id}")
    return True


def _build_images(context: JobContext, item_ids: np.ndarray) -> None:
    params = context.params
    sample = heatmap_sample(item_ids, params["heatmap_sample"])
    items = _items_in_order(context, sample)
    context.log(f"reading {len(items):,} images for the selection heat maps"
                + (f" (a sample of the {len(item_ids):,} items, seed {HEATMAP_SEED})"
                   if len(sample) < len(item_ids) else ""))
    readable = build_stack(
        source_of(context.dataset), items, params["heatmap_size"],
        Transform.of(params),
        context.artifact_dir / FILES["images"],
        on_progress=lambda done: context.report(0.5 + 0.5 * done / max(len(items), 1)),
        should_stop=context.should_stop)
    if context.should_stop():
        raise JobCancelled()
    np.save(context.artifact_dir / FILES["readable"], readable)
    np.save(context.artifact_dir / FILES["heatmap_ids"], sample)


def _fit_note(params: dict[str, Any], items: int) -> dict[str, int]:
    """How the points were fitted: on ``sample`` items drawn with ``seed``, the ``placed``
    others by the fitted transform."""
    sample = min(params["fit_sample"], items)
    return {"sample": sample, "seed": int(params.get("seed", 0)), "placed": items - sample}


def _fit(context: JobContext, vectors: np.ndarray) -> np.ndarray:
    """The points of every vector, saved with the fitted transform: fitted on all vectors,
    or on a seeded sample with the rest placed in chunks."""
    params = context.params
    seed = _fit_note(params, len(vectors))["seed"]

    def placed(done: int, to_place: int) -> None:
        context.report(0.3 * done / to_place)
        if context.should_stop():
            raise JobCancelled()

    fitted = fit_on_sample(vectors, params["method"], method_params(params),
                           params["fit_sample"], seed, on_chunk=placed)
    np.save(context.artifact_dir / FILES["points"], fitted.points)
    save_transform(context.artifact_dir, params["method"], fitted.estimator)
    if len(fitted.sample_rows) < len(vectors):
        context.log(f"fitted on {len(fitted.sample_rows):,} of {len(vectors):,} vectors "
                    f"(seed {seed}); the rest placed by the fitted transform")
    return fitted.points


def run_projection(context: JobContext) -> dict[str, Any]:
    params = context.params
    with context.session_factory() as session:
        source = feature_job(session, params["feature_job_id"], context.dataset.id)
    item_ids, vectors = load_vectors(source)
    vectors = np.asarray(vectors, dtype=np.float32)
    context.log(f"{params['method']} of {vectors.shape[0]} × {vectors.shape[1]} vectors "
                f"from job {source.id}")
    point_files = _point_files(params)
    if _link_earlier(context, _point_keys(params), point_files, "points"):
        points = np.load(context.artifact_dir / FILES["points"])
        # the feature job may have gained rows since (a live data set): keep to the items
        # of the shared points; the newer ones are placed on them like any later arrival
        shared = np.load(context.artifact_dir / FILES["item_ids"])
        if not np.array_equal(shared, item_ids):
            vectors = vectors[rows_of(item_ids, shared)[0]]
            item_ids = shared
    else:
        points = _fit(context, vectors)
        np.save(context.artifact_dir / FILES["item_ids"], item_ids)
    files = {name: FILES[name] for name in (*point_files, *IMAGE_FILES)}
    result: dict[str, Any] = {"items": len(item_ids), "n_components": points.shape[1],
                              "feature_job_id": source.id, "files": files,
                              "fit": _fit_note(params, len(item_ids))}
    context.report(0.3)
    if context.should_stop():
        raise JobCancelled()
    if params["clustering"]:
        clustering = params["clustering"]
        data = points if clustering["space"] == "projection" else vectors
        context.log(f"{clustering['method']} clustering of the {clustering['space']}")
        clusters = cluster(data, clustering["method"], clustering["params"])
        np.save(context.artifact_dir / FILES["clusters"], clusters)
        files["clusters"] = FILES["clusters"]
        result.update(clusters=int(clusters.max(initial=-1)) + 1,
                      noise=int((clusters < 0).sum()))
    context.report(0.5)
    if not _link_earlier(context, IMAGE_KEYS, IMAGE_FILES, "heat-map images", item_ids):
        _build_images(context, item_ids)
    unreadable = int((~np.load(context.artifact_dir / FILES["readable"])).sum())
    sampled = len(np.load(context.artifact_dir / FILES["heatmap_ids"]))
    result["unreadable"] = unreadable  # of the heat-map items
    result["heatmap"] = {"items": sampled, "of": len(item_ids), "seed": HEATMAP_SEED}
    if unreadable:
        context.log(f"{unreadable} images could not be read; they are left out of heat maps")
    return result


register_kind(JobKind(
    name=KIND, queue="cpu", run=run_projection, check_params=check_projection_params,
    check_dataset=check_projection_dataset,
    description="PCA or UMAP map of a feature job's vectors, optionally clustered "
                "(points.npy, item_ids.npy, clusters.npy, images.npy for heat maps)"))
