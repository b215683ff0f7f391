"""The ``projection`` job kind: a 2-D or 3-D map of a feature job's vectors, optionally
clustered, plus the stack of transformed images the explorer's selection heat maps read.

Parameters: ``feature_job_id``, ``method`` (pca | umap) with that method's parameters
(``n_components``, ...), an optional ``clustering`` object ``{"method": kmeans | dbscan |
hdbscan, "params": {...}, "space": "projection" | "features"}``, and the heat-map images'
``heatmap_size``, ``log``, ``pmin``, ``pmax``. Files: points.npy (float32 n×k),
item_ids.npy, the fitted transform that places new items later (ml/projection_place.py:
pca_mean.npy and pca_components.npy, or umap_model.joblib), clusters.npy (int32, -1 noise)
when clustered, images.npy (uint8 n×s×s) and readable.npy.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np
from sqlalchemy.orm import Session

from data.catalog import source_of
from data.selection_stats import build_stack
from data.transforms import Transform
from db.jobs import list_jobs
from db.models import Job
from errors import DomainError
from ml.features import feature_job, load_vectors, rows_of
from ml.kinds.context import JobContext
from ml.kinds.spec import JobCancelled, JobKind, register_kind
from ml.params import Choice, Flag, Param, params_checker
from ml.projection import CLUSTERINGS, PROJECTIONS, check_method, cluster, fit_projection
from ml.projection_place import PLACEMENTS, save_transform

KIND = "projection"
FILES = {"points": "points.npy", "item_ids": "item_ids.npy", "clusters": "clusters.npy",
         "images": "images.npy", "readable": "readable.npy",
         **{key: name for placement in PLACEMENTS.values()
            for key, name in placement.files.items()}}
POINT_FILES = ("points", "item_ids")
IMAGE_FILES = ("images", "readable")
HEATMAP_PARAMS = {"heatmap_size": Param(int, 64, 8, 256), "log": Flag(True),
                  "pmin": Param(float, 1.0, 0.0, 100.0), "pmax": Param(float, 99.0, 0.0, 100.0)}
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
    checked.update(method=method, **check_method(PROJECTIONS, method, rest, "params"))
    return {**checked, **heatmap, "clustering": clustering}


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
    if params["method"] == "umap" and params["n_neighbors"] >= items:
        raise DomainError(f"params.n_neighbors must be below the number of items ({items})",
                          "params.n_neighbors")


def _items_in_order(context: JobContext, item_ids) -> list:
    by_id = {item.id: item for item in context.items(readable_only=False)}
    return [by_id[int(item_id)] for item_id in item_ids]


IMAGE_KEYS = ("feature_job_id", *HEATMAP_PARAMS)


def _point_keys(params: dict[str, Any]) -> tuple[str, ...]:
    return ("feature_job_id", "method", *method_params(params))


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


def _build_images(context: JobContext, item_ids) -> None:
    params = context.params
    items = _items_in_order(context, item_ids)
    context.log(f"reading {len(items)} images for the selection heat maps")
    readable = build_stack(
        source_of(context.dataset), items, params["heatmap_size"],
        Transform.of(params),
        context.artifact_dir / FILES["images"],
        on_progress=lambda done: context.report(0.5 + 0.5 * done / max(len(items), 1)),
        should_stop=context.should_stop)
    if context.should_stop():
        raise JobCancelled()
    np.save(context.artifact_dir / FILES["readable"], readable)


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
        points, fitted = fit_projection(vectors, params["method"], method_params(params))
        np.save(context.artifact_dir / FILES["points"], points)
        np.save(context.artifact_dir / FILES["item_ids"], item_ids)
        save_transform(context.artifact_dir, params["method"], fitted)
    files = {name: FILES[name] for name in (*point_files, *IMAGE_FILES)}
    result: dict[str, Any] = {"items": len(item_ids), "n_components": points.shape[1],
                              "feature_job_id": source.id, "files": files}
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
    result["unreadable"] = unreadable
    if unreadable:
        context.log(f"{unreadable} images could not be read; they are left out of heat maps")
    return result


register_kind(JobKind(
    name=KIND, queue="cpu", run=run_projection, check_params=check_projection_params,
    check_dataset=check_projection_dataset,
    description="PCA or UMAP map of a feature job's vectors, optionally clustered "
                "(points.npy, item_ids.npy, clusters.npy, images.npy for heat maps)"))
