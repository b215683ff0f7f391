"""A data set's live feature jobs: the finished feature jobs whose models run over its new
items as they arrive (ml.live_features)."""
from __future__ import annotations

from flask_openapi3 import Tag
from pydantic import BaseModel, Field

from api.blueprints import resource_blueprint
from api.error_answers import responses
from api.models import Body, DatasetPath, RowId
from db.session import transaction
from ml.live_features import MAX_ATTACHED, attach_feature_jobs, attached_feature_jobs
from services import current_services

LIVE = Tag(name="live-features", description="feature jobs that take a live data set's new "
                                             "items as they arrive")

blueprint = resource_blueprint("live_features")


class LiveFeaturesIn(Body):
    feature_job_ids: list[RowId] = Field(
        max_length=MAX_ATTACHED,
        description="finished feature jobs of the data set (autoencoder_infer, "
                    "classifier_infer, scattering_features, backbone_features, "
                    "contrastive_features); empty to detach all")


class LiveFeaturesOut(BaseModel):
    feature_job_ids: list[int] = Field(description="the attached feature jobs")


@blueprint.get("/datasets/<int:dataset_id>/live-features", tags=[LIVE],
               summary="The feature jobs that take the data set's new items",
               responses=responses(200, LiveFeaturesOut, 404))
def get_live_features(path: DatasetPath):
    with current_services().session_factory() as session:
        attached = attached_feature_jobs(session, path.dataset_id)
    return LiveFeaturesOut(feature_job_ids=attached).model_dump(mode="json")


@blueprint.put("/datasets/<int:dataset_id>/live-features", tags=[LIVE],
               summary="Attach feature jobs to the data set (replacing those attached)",
               description="Each new item of the data set is then run through each attached "
                           "job's model by a small live_features job, and its vector (and "
                           "class probabilities) appended to that job.",
               responses=responses(200, LiveFeaturesOut, 400, 404, 415))
def set_live_features(path: DatasetPath, body: LiveFeaturesIn):
    with transaction(current_services().session_factory) as session:
        attached = attach_feature_jobs(session, path.dataset_id, body.feature_job_ids)
    return LiveFeaturesOut(feature_job_ids=attached).model_dump(mode="json")
