"""Data sets (register a folder or Tiled container, list them with their counts) and the
pages of their items."""
from __future__ import annotations

from flask_openapi3 import Tag

from api.blueprints import resource_blueprint
from api.error_answers import responses
from api.models import (DatasetDetailOut, DatasetIn, DatasetListOut, DatasetOut, DatasetPatchIn,
                        DatasetPath, ItemOut, ItemPageOut, ItemsQuery, ProblemOut, ReplayIn,
                        SourceOut)
from data.catalog import (count_problems, dataset_problems, dataset_summaries,
                          register_dataset, shown_location)
from data.live_ingest import arrived_last_minute
from db import labels as label_store
from db import store
from errors import DomainError
from services import current_services

PROBLEMS_SHOWN = 200
DATASETS = Tag(name="datasets", description="data sets: folders or Tiled containers of images")
ITEMS = Tag(name="items", description="the images (frames) of a data set")
# Source fields as the API names them (the catalog says "source" for the whole location).
SOURCE_FIELDS = {"directory": "source.path", "tiled": "source.uri"}

blueprint = resource_blueprint("datasets")


def _dataset_out(dataset, item_count: int, labeled_count: int, problem_count: int) -> dict:
    source = SourceOut(kind=dataset.source_kind,
                       location=shown_location(dataset.source_kind, dataset.location))
    return dict(id=dataset.id, name=dataset.name, source=source,
                status=dataset.status, item_count=item_count, labeled_count=labeled_count,
                problem_count=problem_count, scanned_files=dataset.scanned_files,
                total_files=dataset.total_files, created_at=dataset.created_at,
                live=dataset.live)


def _dataset_detail(dataset_id: int) -> DatasetDetailOut:
    with current_services().session_factory() as session:
        dataset = store.get_dataset(session, dataset_id)
        counts = store.label_counts(session, dataset_id)
        problems = dataset_problems(session, dataset_id, PROBLEMS_SHOWN)
        return DatasetDetailOut(
            **_dataset_out(dataset, counts.total, counts.labeled,
                           count_problems(session, dataset_id)),
            problems=[ProblemOut(path=p.path, message=p.message) for p in problems],
            arrived_last_minute=arrived_last_minute(session, dataset_id))


@blueprint.get("/datasets", tags=[DATASETS], summary="List the data sets with their counts",
               responses=responses(200, DatasetListOut))
def list_datasets():
    with current_services().session_factory() as session:
        summaries = dataset_summaries(session, problems_shown=0)
    datasets = [DatasetOut(**_dataset_out(s, s.item_count, s.labeled_count, s.problem_count))
                for s in summaries]
    return DatasetListOut(datasets=datasets).model_dump(mode="json")


@blueprint.post("/datasets", tags=[DATASETS],
                summary="Register a folder or Tiled container and start its header scan",
                responses=responses(201, DatasetDetailOut, 400, 409, 415))
def create_dataset(body: DatasetIn):
    services = current_services()
    source = body.source
    location = source.path if source.kind == "directory" else source.uri
    try:
        dataset = register_dataset(services.session_factory, services.settings.data_roots,
                                   body.name, source.kind, location,
                                   getattr(source, "api_key", None),
                                   tiled_hosts=services.settings.tiled_hosts, live=body.live)
    except DomainError as error:
        if error.field == "source":
            error.field = SOURCE_FIELDS[source.kind]
        raise
    services.start_scan(dataset.id)
    if body.live:
        services.watch_live(dataset.id)
    return _dataset_detail(dataset.id).model_dump(mode="json"), 201


@blueprint.get("/datasets/<int:dataset_id>", tags=[DATASETS],
               summary="One data set with its counts and its first 200 problems",
               responses=responses(200, DatasetDetailOut, 404))
def get_dataset(path: DatasetPath):
    return _dataset_detail(path.dataset_id).model_dump(mode="json")


@blueprint.patch("/datasets/<int:dataset_id>", tags=[DATASETS],
                 summary="Mark a data set live (or not)",
                 description="A live data set's new files (new keys of its Tiled container) "
                             "are registered as they arrive and their headers read; "
                             "`arrived_last_minute` counts them.",
                 responses=responses(200, DatasetDetailOut, 404, 415))
def update_dataset(path: DatasetPath, body: DatasetPatchIn):
    current_services().mark_live(path.dataset_id, body.live)
    return _dataset_detail(path.dataset_id).model_dump(mode="json")


@blueprint.post("/datasets/<int:dataset_id>/replay", tags=[DATASETS],
                summary="Replay a data set as a new live one, at a chosen rate",
                description="Its readable frames are written in arrival order, `rate` per "
                            "second, into a new folder under the data home that the new live "
                            "data set watches: they take the path of a running experiment's "
                            "images (registration, attached models, the live views). Marking "
                            "the new data set not live stops the replay.",
                responses=responses(201, DatasetDetailOut, 400, 404, 415))
def replay_dataset(path: DatasetPath, body: ReplayIn):
    replayed = current_services().start_replay(path.dataset_id, body.rate, body.name)
    return _dataset_detail(replayed).model_dump(mode="json"), 201


@blueprint.get("/datasets/<int:dataset_id>/items", tags=[ITEMS],
               summary="A page of items in file order, optionally of one label or unlabeled",
               responses=responses(200, ItemPageOut, 400, 404))
def list_items(path: DatasetPath, query: ItemsQuery):
    with current_services().session_factory() as session:
        store.get_dataset(session, path.dataset_id)
        if query.label is not None:
            label_store.get_label(session, path.dataset_id, query.label, field="label")
        rows = store.items_page(session, path.dataset_id, query.offset, query.limit,
                                label_id=query.label, unlabeled=query.unlabeled)
        total = store.count_items(session, path.dataset_id, query.label, query.unlabeled)
    items = [ItemOut(id=r.id, uri=r.uri, frame=r.frame, status=r.status, label_id=r.label_id)
             for r in rows]
    return ItemPageOut(total=total, offset=query.offset, limit=query.limit,
                       items=items).model_dump(mode="json")
