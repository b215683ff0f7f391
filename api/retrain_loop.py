"""A data set's retrain loop: its setting (on or off, every how many new labels), where it
stands, and "retrain now"."""
from __future__ import annotations

from flask_openapi3 import Tag

from api.blueprints import resource_blueprint, tagger_of
from api.error_answers import responses
from api.models import DatasetPath
from api.models_jobs import RetrainLoopIn, RetrainLoopOut
from db.retrain_loops import set_loop
from db.session import transaction
from ml.retrain_loop import loop_status
from services import current_services

LOOP = Tag(name="retrain-loop", description="a classifier retrained and re-run in the "
                                            "background as labels accumulate")

blueprint = resource_blueprint("retrain_loop")


def _loop_out(dataset_id: int) -> dict:
    with current_services().session_factory() as session:
        status = loop_status(session, dataset_id)
    running = status.running
    return RetrainLoopOut(
        enabled=status.enabled, every_labels=status.every_labels,
        running_job_id=running.id if running else None,
        running_kind=running.kind if running else None,
        running_status=running.status if running else None,
        progress=running.progress if running else None, source_job_id=status.source_job_id,
        trained_on_labels=status.trained_on, new_labels=status.new_labels,
        labels_to_next=status.labels_to_next, problem=status.problem).model_dump(mode="json")


@blueprint.get("/datasets/<int:dataset_id>/retrain-loop", tags=[LOOP],
               summary="Where the data set's retrain loop stands",
               responses=responses(200, RetrainLoopOut, 404))
def get_retrain_loop(path: DatasetPath):
    return _loop_out(path.dataset_id)


@blueprint.put("/datasets/<int:dataset_id>/retrain-loop", tags=[LOOP],
               summary="Turn the retrain loop on or off and set every how many new labels it "
                       "retrains",
               description="When on, every every_labels new labels a classifier_train on the "
                           "current labels is queued (with the data set's last classifier "
                           "training parameters), then its classifier_infer; the newest "
                           "finished inference is the suggestions' model.",
               responses=responses(200, RetrainLoopOut, 400, 404, 415))
def set_retrain_loop(path: DatasetPath, body: RetrainLoopIn):
    services = current_services()
    with transaction(services.session_factory) as session:
        set_loop(session, path.dataset_id, body.enabled, body.every_labels)
    services.step_retrain_loop(path.dataset_id, tagger_of(None))
    return _loop_out(path.dataset_id)


@blueprint.post("/datasets/<int:dataset_id>/retrain-loop/run", tags=[LOOP],
                summary="Retrain now, however few labels came since the last training",
                description="Refused (409) while a job of the loop is queued or running, and "
                            "(400) when the labels cannot train a classifier yet.",
                responses=responses(202, RetrainLoopOut, 400, 404, 409))
def retrain_now(path: DatasetPath):
    current_services().step_retrain_loop(path.dataset_id, tagger_of(None), now=True)
    return _loop_out(path.dataset_id), 202
