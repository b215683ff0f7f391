"""Export the labels of a data set (CSV, JSON, or a ZIP of the labeled images) and import
labels from a CSV."""
from __future__ import annotations

from dataclasses import asdict

from flask import Response
from flask_openapi3 import Tag
from werkzeug.utils import secure_filename

from api.blueprints import resource_blueprint, tagger_of
from api.error_answers import responses
from api.models import CsvBody, DatasetPath, ErrorOut, ExportQuery, ImportOut, ImportQuery
from data.export import EXPORT_FORMATS
from data.label_import import import_labels_csv
from db import store
from db.session import transaction
from errors import DomainError
from services import current_services

TRANSFER = Tag(name="export-import", description="download the labels (CSV, JSON, or a ZIP of "
                                                 "the labeled images) and import labels (CSV)")

blueprint = resource_blueprint("transfer")


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
                responses=responses(201, ImportOut, 400, 404, 409, 415))
def import_labels(path: DatasetPath, query: ImportQuery, raw: CsvBody):
    services = current_services()
    try:
        csv_text = raw.get_data().decode("utf-8")
    except UnicodeDecodeError as error:
        raise DomainError(f"the CSV is not UTF-8 text ({error.reason} at byte "
                          f"{error.start}); save it as UTF-8", "body") from None
    try:
        with transaction(services.session_factory) as session:
            report = import_labels_csv(session, path.dataset_id, csv_text,
                                       tagger_of(query.tagger),
                                       query.create_missing_labels)
    except DomainError as error:
        if error.field == "csv":
            error.field = "body"  # the CSV is the request body
        raise
    return ImportOut(**asdict(report)).model_dump(mode="json"), 201
