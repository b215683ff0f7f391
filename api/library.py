"""The model library: the models (succeeded training jobs), one model's facts, renaming or
describing one, deleting one with its files; exporting one as a file and importing one
(``ml.model_files``)."""
from __future__ import annotations

from dataclasses import asdict

from flask import Response
from flask_openapi3 import Tag

from api.blueprints import resource_blueprint, tagger_of
from api.error_answers import responses
from api.models import ErrorOut
from api.models_library import (ModelDeleteOut, ModelDetailOut, ModelFileBody,
                                ModelImportQuery, ModelListOut, ModelOut, ModelPatchIn,
                                ModelPath, ModelsQuery)
from auth.ownership import check_may_change_job
from db.session import transaction
from ml import model_files, model_library
from services import current_services

MODELS = Tag(name="models", description="the model library: every training job that "
                                        "succeeded is a model, its id the job's id")

blueprint = resource_blueprint("library")


def _out(shape, facts: model_library.ModelFacts) -> dict:
    """The answer ``shape`` (ModelOut, ModelDetailOut) of a model's facts, as JSON."""
    fields = asdict(facts)
    return shape(**{name: fields[name] for name in shape.model_fields}).model_dump(mode="json")


@blueprint.get("/models", tags=[MODELS], summary="The models, newest first, of a kind or "
                                                 "data set",
               responses=responses(200, ModelListOut, 404))
def list_models(query: ModelsQuery):
    with current_services().session_factory() as session:
        models = model_library.list_models(session, query.kind, query.dataset_id)
    return {"models": [_out(ModelOut, facts) for facts in models]}


@blueprint.get("/models/<int:model_id>", tags=[MODELS],
               summary="One model: architecture, parameters, data and labels it learnt "
                       "from, metrics, size, and the jobs built on it",
               responses=responses(200, ModelDetailOut, 404))
def get_model(path: ModelPath):
    with current_services().session_factory() as session:
        return _out(ModelDetailOut, model_library.model_facts(session, path.model_id))


@blueprint.patch("/models/<int:model_id>", tags=[MODELS],
                 summary="Rename a model or change its description",
                 description="Fields left out stay as they are. Its owner or an admin may.",
                 responses=responses(200, ModelDetailOut, 400, 404, 415))
def update_model(path: ModelPath, body: ModelPatchIn):
    with transaction(current_services().session_factory) as session:
        model_library.model_job(session, path.model_id)
        check_may_change_job(session, path.model_id)
        facts = model_library.describe_model(session, path.model_id, body.name,
                                             body.description)
        return _out(ModelDetailOut, facts)


@blueprint.delete("/models/<int:model_id>", tags=[MODELS],
                  summary="Delete a model: its training job and files",
                  description="Refused (409) while a job built on it is queued or running. "
                              "Its owner or an admin may.",
                  responses=responses(200, ModelDeleteOut, 404, 409))
def delete_model(path: ModelPath):
    with transaction(current_services().session_factory) as session:
        model_library.model_job(session, path.model_id)
        check_may_change_job(session, path.model_id)
        model_library.delete_model(session, path.model_id)
    return ModelDeleteOut(model_id=path.model_id, deleted=True).model_dump(mode="json")


EXPORT_RESPONSES = {
    200: {"description": "the model as one .safetensors file: its weights, and its card "
                         f"(JSON) under '{model_files.CARD_KEY}' in the header metadata",
          "content": {"application/octet-stream": {"schema": {"type": "string",
                                                              "format": "binary"}}}},
    404: ErrorOut, 422: ErrorOut}


@blueprint.get("/models/<int:model_id>/export", tags=[MODELS],
               summary="Download a model as one file a colleague can import",
               description="A .safetensors file: the weights, and a JSON card with the kind, "
                           "architecture, training parameters (transform included), class "
                           "names, name, description and metrics of the model.",
               responses=EXPORT_RESPONSES)
def export_model(path: ModelPath):
    with current_services().session_factory() as session:
        file_name, data = model_files.export_model(session, path.model_id)
    return Response(data, mimetype="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{file_name}"'})


@blueprint.post("/models/import", tags=[MODELS],
                summary="Import a model file exported by beamlabel as a new model",
                description="The file is the request body (Content-Type: "
                            "application/octet-stream, at most 2 GiB). The new model has no "
                            "data set; its result says imported_from. A file that cannot be "
                            "loaded (not safetensors, no card, a card of a newer format, an "
                            "unknown kind or architecture, weights that do not fit it or hold "
                            "NaN) is refused with nothing stored.",
                responses=responses(201, ModelDetailOut, 400, 413, 415))
def import_model(query: ModelImportQuery, raw: ModelFileBody):
    services = current_services()
    with transaction(services.session_factory) as session:
        model_id = model_files.import_model(session, raw.stream, query.file_name or "",
                                            tagger_of(None), services.settings.artifacts_dir)
        return _out(ModelDetailOut, model_library.model_facts(session, model_id)), 201
