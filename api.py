"""The REST API under ``/api/v1``, described by the OpenAPI document at ``/api/v1/openapi.json``.

A thin adapter: each route validates the request's shape with a pydantic model
(``api_models``), calls one function of ``db/`` or ``data/`` and turns the result into a
response model. Every write runs inside one ``transaction(...)``, so a refused request
leaves nothing behind. Every 4xx answer is ``{"error": ..., "field": ...}``.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Optional

from flask import Response, current_app, jsonify, request
from flask_openapi3 import APIBlueprint, OpenAPI, Tag
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException
from werkzeug.utils import secure_filename

from api_models import (UNION_TAGS, BatchOut, CsvBody, CurrentLabelOut, CurrentLabelsOut,
                        CurrentLabelsQuery, DatasetDetailOut, DatasetIn, DatasetListOut,
                        DatasetOut, DatasetPath, DeleteLabelQuery, EfficiencyOut,
                        EfficiencyQuery, ErrorOut, EventIn, EventListOut, EventOut, EventPath,
                        ExportQuery, ImportOut, ImportQuery, ItemOut, ItemPageOut, ItemsQuery,
                        JobDeleteOut, JobIn, JobListOut, JobOut, JobPath, JobsQuery,
                        LabelDeleteOut, LabelIn, LabelListOut, LabelOrderIn, LabelOut,
                        LabelPatchIn, LabelPath, MethodRateOut, PageQuery, ProbabilityLabelsIn,
                        ProbabilityLabelsOut, ProblemOut, SimilarIn, SimilarItemOut,
                        SimilarityLabelsIn, SimilarOut, SourceOut, UncertainItemOut,
                        UncertainOut, UncertainQuery, UndoIn)
from data.catalog import (count_problems, dataset_problems, dataset_summaries,
                          register_dataset, shown_location)
from data.export import EXPORT_FORMATS
from data.label_import import import_labels_csv
from db import guided
from db import jobs as job_store
from db import labels as label_store
from db import store
from db.session import transaction
from ml import jobs as ml_jobs
from ml import rankings
from services import current_services

PREFIX = "/api/v1"
PROBLEMS_SHOWN = 200
DATASETS = Tag(name="datasets", description="data sets: folders or Tiled containers of images")
ITEMS = Tag(name="items", description="the images (frames) of a data set")
LABELS = Tag(name="labels", description="label classes of a data set")
EVENTS = Tag(name="events", description="the append-only log of tagging events, and undo")
TRANSFER = Tag(name="export-import", description="download the labels (CSV, JSON, or a ZIP of "
                                                 "the labeled images) and import labels (CSV)")
JOBS = Tag(name="jobs", description="training, inference and other jobs run by Celery workers")
GUIDED = Tag(name="guided-labeling", description="similarity and probability batches, the "
                                                 "active-learning queue, labeling efficiency")
# Source fields as the API names them (the catalog says "source" for the whole location).
SOURCE_FIELDS = {"directory": "source.path", "tiled": "source.uri"}
# Routes whose request body is not JSON: endpoint -> the media type they take.
TEXT_BODIES = {"api.import_labels": "text/csv"}


def _operation_id(*, name: str, **_ignored) -> str:
    return name  # the view function's name: short, unique, stable for generated clients


blueprint = APIBlueprint("api", __name__, url_prefix=PREFIX, operation_id_callback=_operation_id)


def register(server: OpenAPI) -> None:
    """Add the API to ``server``, with validation errors in the API's error shape."""
    server.validation_error_callback = validation_error_response
    server.validation_error_model = ErrorOut
    server.register_api(blueprint)


# --- errors -------------------------------------------------------------------------------

def error_response(status: int, message: str, field: Optional[str] = None,
                   details: Optional[list[dict]] = None) -> Response:
    body = ErrorOut(error=message, field=field, details=details)
    response = jsonify(body.model_dump(exclude={"details"} if details is None else set()))
    response.status_code = status
    return response


def _responses(success: int, model, *errors: int) -> dict:
    return {success: model, **{status: ErrorOut for status in (*errors, 422)}}


def _field_path(error: dict) -> str:
    parts: list[str] = []
    for part in error["loc"]:
        if parts and part in UNION_TAGS.get(parts[-1], ()):
            continue  # the union member's tag, not a field of the payload
        parts.append(str(part))
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        parts.append(error["ctx"]["discriminator"].strip("'"))
    return ".".join(parts) or "body"


def _shown_input(field: str, value: Any) -> str:
    """The offending value, when it is short and harmless to echo (never an API key)."""
    if field.endswith("api_key") or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, str) and len(value) > 80:
        return ""
    return f" (got {json.dumps(value, default=str)})"


def _describe(error: dict) -> tuple[str, str]:
    field = _field_path(error)
    kind = error["type"]
    if kind == "missing":
        return field, f"{field} is required; add it"
    if kind == "extra_forbidden":
        return field, f"{field} is not a field of this request; remove it or check its spelling"
    if kind == "model_type" and field == "body":
        return field, "the request body must be a JSON object"
    if kind == "union_tag_invalid":
        return field, (f"{field} '{error['ctx']['tag']}' is unknown; use one of "
                       f"{error['ctx']['expected_tags']}")
    if kind == "union_tag_not_found":
        tags = sorted(UNION_TAGS.get(str(error["loc"][-1]), ()))
        return field, f"{field} is required; use one of {', '.join(tags)}"
    return field, f"{field}: {error['msg']}{_shown_input(field, error.get('input'))}"


def validation_error_response(error: ValidationError) -> Response:
    """pydantic's errors as ``{"error", "field", "details"}`` with status 422."""
    problems = [_describe(e) for e in error.errors(include_url=False)]
    details = [{"field": f, "error": m} for f, m in problems] if len(problems) > 1 else None
    return error_response(422, problems[0][1], problems[0][0], details)


@blueprint.errorhandler(store.DomainError)
def _store_error(error: store.DomainError):
    return error_response(error.status, str(error), error.field)


@blueprint.errorhandler(IntegrityError)
def _conflict(_error: IntegrityError):
    return error_response(409, "the request conflicts with a change made at the same time; "
                               "reload and try again")


@blueprint.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return error_response(error.code or 500, error.description or error.name)


@blueprint.before_request
def _require_json_body():
    """Refuse a body that is not JSON before pydantic sees it (it would read it as empty)."""
    data = request.get_data(cache=True)
    if not data.strip():
        return None
    if (media_type := TEXT_BODIES.get(request.endpoint)) is not None:
        if request.mimetype == media_type:
            return None
        return error_response(415, f"send the request body as {media_type}, with the header "
                                   f"'Content-Type: {media_type}'", "body")
    if not request.is_json:
        return error_response(415, "send the request body as JSON with the header "
                                   "'Content-Type: application/json'", "body")
    try:
        json.loads(data)
    except ValueError as error:
        return error_response(400, f"the request body is not valid JSON ({error}); send a JSON "
                                   "object", "body")
    return None


@blueprint.route("/<path:unknown>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def _no_route(unknown: str):
    # Without this, the Dash app's catch-all page route would answer with HTML.
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != request.endpoint:
            allowed.append(method)
    if allowed:
        response = error_response(405, f"{request.method} is not allowed on {request.path}; "
                                       f"use {' or '.join(allowed)}")
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return error_response(404, f"there is no API route {request.method} {request.path}; "
                               f"the routes are listed in {PREFIX}/openapi.json")


# --- data sets ----------------------------------------------------------------------------

def _dataset_out(dataset, item_count: int, labeled_count: int, problem_count: int) -> dict:
    source = SourceOut(kind=dataset.source_kind,
                       location=shown_location(dataset.source_kind, dataset.location))
    return dict(id=dataset.id, name=dataset.name, source=source,
                status=dataset.status, item_count=item_count, labeled_count=labeled_count,
                problem_count=problem_count, scanned_files=dataset.scanned_files,
                total_files=dataset.total_files, created_at=dataset.created_at)


def _dataset_detail(dataset_id: int) -> DatasetDetailOut:
    with current_services().session_factory() as session:
        dataset = store.get_dataset(session, dataset_id)
        counts = store.label_counts(session, dataset_id)
        problems = dataset_problems(session, dataset_id, PROBLEMS_SHOWN)
        return DatasetDetailOut(
            **_dataset_out(dataset, counts.total, counts.labeled,
                           count_problems(session, dataset_id)),
            problems=[ProblemOut(path=p.path, message=p.message) for p in problems])


@blueprint.get("/datasets", tags=[DATASETS], summary="List the data sets with their counts",
               responses=_responses(200, DatasetListOut))
def list_datasets():
    with current_services().session_factory() as session:
        summaries = dataset_summaries(session, problems_shown=0)
    datasets = [DatasetOut(**_dataset_out(s, s.item_count, s.labeled_count, s.problem_count))
                for s in summaries]
    return DatasetListOut(datasets=datasets).model_dump(mode="json")


@blueprint.post("/datasets", tags=[DATASETS],
                summary="Register a folder or Tiled container and start its header scan",
                responses=_responses(201, DatasetDetailOut, 400, 409, 415))
def create_dataset(body: DatasetIn):
    services = current_services()
    source = body.source
    location = source.path if source.kind == "directory" else source.uri
    try:
        dataset = register_dataset(services.session_factory, services.settings.data_roots,
                                   body.name, source.kind, location,
                                   getattr(source, "api_key", None))
    except store.DomainError as error:
        if error.field == "source":
            error.field = SOURCE_FIELDS[source.kind]
        raise
    services.start_scan(dataset.id)
    return _dataset_detail(dataset.id).model_dump(mode="json"), 201


@blueprint.get("/datasets/<int:dataset_id>", tags=[DATASETS],
               summary="One data set with its counts and its first 200 problems",
               responses=_responses(200, DatasetDetailOut, 404))
def get_dataset(path: DatasetPath):
    return _dataset_detail(path.dataset_id).model_dump(mode="json")


# --- items --------------------------------------------------------------------------------

@blueprint.get("/datasets/<int:dataset_id>/items", tags=[ITEMS],
               summary="A page of items in file order, optionally of one label or unlabeled",
               responses=_responses(200, ItemPageOut, 400, 404))
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


# --- label classes ------------------------------------------------------------------------

def _label_out(label) -> LabelOut:
    return LabelOut(id=label.id, name=label.name, color=label.color, hotkey=label.hotkey,
                    position=label.position)


@blueprint.get("/datasets/<int:dataset_id>/labels", tags=[LABELS],
               summary="The label classes of a data set, in display order",
               responses=_responses(200, LabelListOut, 404))
def list_labels(path: DatasetPath):
    with current_services().session_factory() as session:
        store.get_dataset(session, path.dataset_id)
        labels = label_store.list_labels(session, path.dataset_id)
    return LabelListOut(labels=[_label_out(label) for label in labels]).model_dump(mode="json")


@blueprint.post("/datasets/<int:dataset_id>/labels", tags=[LABELS],
                summary="Add a label class (colour and hotkey default to the next free ones)",
                responses=_responses(201, LabelOut, 400, 404, 409, 415))
def create_label(path: DatasetPath, body: LabelIn):
    with transaction(current_services().session_factory) as session:
        label = label_store.create_label(session, path.dataset_id, body.name, body.color,
                                         body.hotkey)
    return _label_out(label).model_dump(mode="json"), 201


@blueprint.patch("/datasets/<int:dataset_id>/labels/<int:label_id>", tags=[LABELS],
                 summary="Rename, recolour or re-key a label class",
                 description="Fields left out stay as they are; hotkey '' takes the key away.",
                 responses=_responses(200, LabelOut, 400, 404, 409, 415))
def update_label(path: LabelPath, body: LabelPatchIn):
    with transaction(current_services().session_factory) as session:
        label = label_store.update_label(session, path.dataset_id, path.label_id, body.name,
                                         body.color, body.hotkey)
    return _label_out(label).model_dump(mode="json")


@blueprint.put("/datasets/<int:dataset_id>/labels/order", tags=[LABELS],
               summary="Put the label classes in a new display order",
               responses=_responses(200, LabelListOut, 400, 404, 415))
def reorder_labels(path: DatasetPath, body: LabelOrderIn):
    with transaction(current_services().session_factory) as session:
        labels = label_store.reorder_labels(session, path.dataset_id, body.label_ids)
    return LabelListOut(labels=[_label_out(label) for label in labels]).model_dump(mode="json")


@blueprint.delete("/datasets/<int:dataset_id>/labels/<int:label_id>", tags=[LABELS],
                  summary="Delete a label class; one that items carry needs confirm=true",
                  description="A class in use is deleted by unlabeling its items in one "
                              "tagging event; undoing that event brings the class and its "
                              "labels back.",
                  responses=_responses(200, LabelDeleteOut, 400, 404, 409))
def delete_label(path: LabelPath, query: DeleteLabelQuery):
    services = current_services()
    with transaction(services.session_factory) as session:
        event = label_store.delete_label(session, path.dataset_id, path.label_id,
                                         query.tagger or services.settings.tagger, query.confirm)
    return LabelDeleteOut(label_id=path.label_id, event_id=event.id if event else None,
                          unlabeled=event.n_tags if event else 0).model_dump(mode="json")


# --- tagging events -----------------------------------------------------------------------

def _event_out(event) -> EventOut:
    return EventOut(id=event.id, dataset_id=event.dataset_id, tagger=event.tagger,
                    method=event.method, params=event.params, n_tags=event.n_tags,
                    undoes_event_id=event.undoes_event_id, created_at=event.created_at)


@blueprint.post("/datasets/<int:dataset_id>/events", tags=[EVENTS],
                summary="Record one tagging event (many tags); all of it or nothing",
                responses=_responses(201, EventOut, 400, 404, 415))
def create_event(path: DatasetPath, body: EventIn):
    tags = [store.TagIn(t.item_id, t.label_id, t.confidence) for t in body.tags]
    with transaction(current_services().session_factory) as session:
        event = store.apply_event(session, path.dataset_id, body.tagger, body.method, tags,
                                  body.params)
    return _event_out(event).model_dump(mode="json"), 201


@blueprint.get("/datasets/<int:dataset_id>/events", tags=[EVENTS],
               summary="The tagging events of a data set, newest first",
               responses=_responses(200, EventListOut, 404))
def list_events(path: DatasetPath, query: PageQuery):
    with current_services().session_factory() as session:
        store.get_dataset(session, path.dataset_id)
        events = store.list_events(session, path.dataset_id, query.offset, query.limit)
    return EventListOut(offset=query.offset, limit=query.limit,
                        events=[_event_out(event) for event in events]).model_dump(mode="json")


@blueprint.post("/events/<int:event_id>/undo", tags=[EVENTS],
                summary="Undo an event by writing its compensating event",
                description="Items changed again by a later event keep that later label. "
                            "Undoing an undo re-applies the original event.",
                responses=_responses(201, EventOut, 400, 404, 409, 415))
def undo_event(path: EventPath, body: UndoIn):
    services = current_services()
    with transaction(services.session_factory) as session:
        event = store.undo_event(session, path.event_id, body.tagger or services.settings.tagger)
    return _event_out(event).model_dump(mode="json"), 201


@blueprint.get("/datasets/<int:dataset_id>/current-labels", tags=[EVENTS],
               summary="The current label of every labeled item (paged), with counts",
               responses=_responses(200, CurrentLabelsOut, 404))
def current_labels(path: DatasetPath, query: CurrentLabelsQuery):
    with current_services().session_factory() as session:
        store.get_dataset(session, path.dataset_id)
        classes = label_store.list_labels(session, path.dataset_id, include_archived=True)
        counts = store.label_counts(session, path.dataset_id)
        rows = list(store.current_labels(session, path.dataset_id, query.offset, query.limit))
    names = {label.id: label.name for label in classes}
    labels = [CurrentLabelOut(item_id=item_id, uri=uri, label_id=label_id, label=names[label_id],
                              event_id=event_id, confidence=confidence)
              for item_id, uri, label_id, event_id, confidence in rows]
    return CurrentLabelsOut(
        offset=query.offset, limit=query.limit, labels=labels,
        counts={label.name: counts.per_label.get(label.id, 0) for label in classes
                if not label.archived or counts.per_label.get(label.id)},
        labeled=counts.labeled, total=counts.total).model_dump(mode="json")


# --- export and import --------------------------------------------------------------------

EXPORT_RESPONSES = {
    200: {"description": "the export, streamed as it is made",
          "content": {export.media_type: {"schema": {"type": "string", "format": "binary"}}
                      for export in EXPORT_FORMATS.values()}},
    404: ErrorOut, 422: ErrorOut}


@blueprint.get("/datasets/<int:dataset_id>/export", tags=[TRANSFER],
               summary="Download the current labels as CSV or JSON, or the labeled images "
                       "as a ZIP with a folder per label",
               description="The ZIP holds labels.csv, the original files (frames after the "
                           "first of a file, and Tiled items, as TIFF) and problems.txt for "
                           "files that could not be read.",
               responses=EXPORT_RESPONSES)
def export_labels(path: DatasetPath, query: ExportQuery):
    services = current_services()
    export = EXPORT_FORMATS[query.format]
    with services.session_factory() as session:
        dataset = store.get_dataset(session, path.dataset_id)
        source = services.source(dataset) if export.needs_source else None
        filename = f"{secure_filename(dataset.name) or 'dataset'}-labels.{export.suffix}"
    pieces = export.write(services.session_factory, path.dataset_id, source)
    return Response(pieces, mimetype=export.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@blueprint.post("/datasets/<int:dataset_id>/import", tags=[TRANSFER],
                summary="Import labels from a CSV with the columns uri and label, as one event",
                description="An empty label unlabels the item. Unknown URIs are reported; "
                            "rows with unknown labels are skipped unless "
                            "create_missing_labels=true.",
                responses=_responses(201, ImportOut, 400, 404, 409, 415))
def import_labels(path: DatasetPath, query: ImportQuery, raw: CsvBody):
    services = current_services()
    try:
        csv_text = raw.get_data().decode("utf-8")
    except UnicodeDecodeError as error:
        raise store.DomainError(f"the CSV is not UTF-8 text ({error.reason} at byte "
                                f"{error.start}); save it as UTF-8", "body") from None
    try:
        with transaction(services.session_factory) as session:
            report = import_labels_csv(session, path.dataset_id, csv_text,
                                       query.tagger or services.settings.tagger,
                                       query.create_missing_labels)
    except store.DomainError as error:
        if error.field == "csv":
            error.field = "body"  # the CSV is the request body
        raise
    return ImportOut(**asdict(report)).model_dump(mode="json"), 201


# --- jobs ---------------------------------------------------------------------------------

def _job_out(job, with_log: bool = True) -> JobOut:
    fields = {name: getattr(job, name) for name in JobOut.model_fields if name != "log_tail"}
    return JobOut(**fields, log_tail=ml_jobs.log_tail(job) if with_log else [])


@blueprint.post("/jobs", tags=[JOBS], summary="Start a job: it is queued for a worker",
                description="The parameters are checked before anything is queued; a refusal "
                            "names the bad field, e.g. params.batch_size.",
                responses=_responses(201, JobOut, 400, 404, 415))
def create_job(body: JobIn):
    services = current_services()
    job_id = ml_jobs.start_job(services.celery(), services.session_factory, body.kind,
                               body.dataset_id, body.params, body.owner or services.settings.tagger)
    return _get_job(job_id).model_dump(mode="json"), 201


def _get_job(job_id: int) -> JobOut:
    with current_services().session_factory() as session:
        return _job_out(job_store.get_job(session, job_id))


@blueprint.get("/jobs", tags=[JOBS], summary="The jobs, newest first, of a data set or kind",
               responses=_responses(200, JobListOut))
def list_jobs(query: JobsQuery):
    services = current_services()
    services.check_jobs()
    with services.session_factory() as session:
        jobs = job_store.list_jobs(session, query.dataset_id, query.kind)
        return JobListOut(jobs=[_job_out(job, with_log=False) for job in jobs]
                          ).model_dump(mode="json")


@blueprint.get("/jobs/<int:job_id>", tags=[JOBS],
               summary="One job: status, progress, metrics, error and the end of its log",
               responses=_responses(200, JobOut, 404))
def get_job(path: JobPath):
    current_services().check_jobs()
    return _get_job(path.job_id).model_dump(mode="json")


@blueprint.post("/jobs/<int:job_id>/cancel", tags=[JOBS],
                summary="Cancel a job: a queued one at once, a running one at its next batch",
                description="A running job that does not stop within the grace period has "
                            "its worker process ended.",
                responses=_responses(200, JobOut, 404))
def cancel_job(path: JobPath):
    services = current_services()
    with transaction(services.session_factory) as session:
        ml_jobs.cancel_job(services.celery(), session, path.job_id)
    return _get_job(path.job_id).model_dump(mode="json")


@blueprint.delete("/jobs/<int:job_id>", tags=[JOBS],
                  summary="Delete a job that is not running, with its artifact folder",
                  responses=_responses(200, JobDeleteOut, 404, 409))
def delete_job(path: JobPath):
    with transaction(current_services().session_factory) as session:
        job_store.delete_job(session, path.job_id)
    return JobDeleteOut(job_id=path.job_id, deleted=True).model_dump(mode="json")


# --- guided labeling ----------------------------------------------------------------------

def _tagger(name: Optional[str]) -> str:
    return name or current_services().settings.tagger


def _batch_out(plan, event) -> BatchOut:
    return BatchOut(count=len(plan.to_label), chosen=len(plan.item_ids),
                    already_labeled=plan.labeled, agreeing=plan.agreeing,
                    agreement=plan.agreement, event_id=event.id if event else None)


@blueprint.post("/datasets/<int:dataset_id>/similar", tags=[GUIDED],
                summary="Items ranked by cosine distance to the mean of the query items",
                description="Exact ranking over the feature job's vectors, nearest first; "
                            "labeled items are left out unless unlabeled_only is false.",
                responses=_responses(200, SimilarOut, 400, 404, 415))
def similar_items(path: DatasetPath, body: SimilarIn):
    services = current_services()
    with services.session_factory() as session:
        store.get_dataset(session, path.dataset_id)
        ranking = rankings.similar(session, services.feature_indexes, path.dataset_id,
                                   body.feature_job_id, body.query_item_ids,
                                   body.unlabeled_only, body.limit, body.max_distance)
        rows = guided.items_in_order(session, path.dataset_id, ranking.item_ids.tolist())
    distance = dict(zip(ranking.item_ids.tolist(), ranking.distances.tolist()))
    items = [SimilarItemOut(item_id=r.id, uri=r.uri, label_id=r.label_id,
                            distance=distance[r.id]) for r in rows]
    return SimilarOut(feature_job_id=body.feature_job_id, query_item_ids=body.query_item_ids,
                      items=items).model_dump(mode="json")


@blueprint.post("/datasets/<int:dataset_id>/similarity-labels", tags=[GUIDED],
                summary="Label a similarity batch (top k, a distance cutoff, or listed items) "
                        "as one event, or preview it with dry_run",
                description="The event's method is 'similarity'; its parameters hold the "
                            "feature job, the query items, the scope and the cutoff. Items "
                            "that carry a label keep it unless overwrite is true.",
                responses=_responses(200, BatchOut, 400, 404, 415))
def similarity_labels(path: DatasetPath, body: SimilarityLabelsIn):
    services = current_services()
    with transaction(services.session_factory) as session:
        result = rankings.similarity_batch(
            session, services.feature_indexes, path.dataset_id, _tagger(body.tagger),
            body.feature_job_id, body.query_item_ids, body.label_id, body.scope, body.top_k,
            body.max_distance, body.item_ids, body.unlabeled_only, body.overwrite,
            body.dry_run)
        return _batch_out(result.plan, result.event).model_dump(mode="json")


@blueprint.post("/datasets/<int:dataset_id>/probability-labels", tags=[GUIDED],
                summary="Label the items a classifier scores at or above a threshold, as one "
                        "event, or preview it with dry_run",
                description="The preview gives the count and the precision the threshold "
                            "would have had on the items labeled by hand. The event's method "
                            "is 'probability'; each tag's confidence is its probability. "
                            "Labeled items keep their label unless overwrite_manual is true.",
                responses=_responses(200, ProbabilityLabelsOut, 400, 404, 415))
def probability_labels(path: DatasetPath, body: ProbabilityLabelsIn):
    with transaction(current_services().session_factory) as session:
        result = rankings.probability_batch(
            session, path.dataset_id, _tagger(body.tagger), body.inference_job_id,
            body.label_id, body.threshold, body.overwrite_manual, body.dry_run)
        return ProbabilityLabelsOut(
            count=len(result.plan.to_label), above=result.above,
            estimated_precision=result.check.precision,
            hand_labeled_above=result.check.hand_above, recall=result.check.recall,
            precision_held_out=result.check.held_out,
            event_id=result.event.id if result.event else None).model_dump(mode="json")


@blueprint.get("/datasets/<int:dataset_id>/uncertain", tags=[GUIDED],
               summary="The active-learning queue: unlabeled items the classifier is least "
                       "sure of, most uncertain first",
               responses=_responses(200, UncertainOut, 400, 404))
def uncertain_items(path: DatasetPath, query: UncertainQuery):
    with current_services().session_factory() as session:
        store.get_dataset(session, path.dataset_id)
        job, item_ids, scores = rankings.uncertain(session, path.dataset_id,
                                                   query.inference_job_id, query.method,
                                                   query.limit)
        rows = guided.items_in_order(session, path.dataset_id, item_ids.tolist())
    score = dict(zip(item_ids.tolist(), scores.tolist()))
    return UncertainOut(inference_job_id=job.id, method=query.method, items=[
        UncertainItemOut(item_id=r.id, uri=r.uri, score=score[r.id]) for r in rows]
    ).model_dump(mode="json")


@blueprint.get("/datasets/<int:dataset_id>/labeling-efficiency", tags=[GUIDED],
               summary="Labels per minute by method (overall and since a time), shares of the "
                       "labels by method, and auto-labels later changed by hand",
               responses=_responses(200, EfficiencyOut, 404))
def labeling_efficiency(path: DatasetPath, query: EfficiencyQuery):
    with current_services().session_factory() as session:
        figures = guided.labeling_efficiency(session, path.dataset_id, query.since)

    def rates(rows):
        return [MethodRateOut(method=r.method, labels=r.labels, seconds=r.seconds,
                              per_minute=r.per_minute) for r in rows]

    return EfficiencyOut(session=rates(figures.session), overall=rates(figures.overall),
                         shares=figures.shares, auto_labeled=figures.auto_labeled,
                         auto_changed_by_hand=figures.auto_changed_by_hand
                         ).model_dump(mode="json")
