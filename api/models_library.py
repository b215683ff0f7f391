"""Request and response shapes of the model library routes (``api.library``)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Optional, Union

from flask_openapi3 import RawModel
from pydantic import BaseModel, Field, model_validator

from api.models import Body, Out, RowId
from ml.model_library import DESCRIPTION_MAX, NAME_MAX, model_kinds

ModelKind = Literal[tuple(model_kinds())]  # type: ignore[valid-type]


class ModelPath(BaseModel):
    model_id: RowId = Field(description="id of the model: the id of its training job")


class ModelsQuery(BaseModel):
    kind: Optional[ModelKind] = Field(None, description="only models of this kind")
    dataset_id: Optional[RowId] = Field(None, description="only models trained on this data set")


class ModelPatchIn(Body):
    name: Optional[str] = Field(None, min_length=1, max_length=NAME_MAX,
                                description="one line; spaces around it are dropped")
    description: Optional[str] = Field(None, max_length=DESCRIPTION_MAX,
                                       description="free text; '' clears it")

    @model_validator(mode="after")
    def _changes_something(self) -> "ModelPatchIn":
        if self.name is None and self.description is None:
            raise ValueError("give at least one of name and description")
        return self


class BuiltOnOut(BaseModel):
    id: int = Field(description="the job's id")
    kind: str
    status: str
    dataset_id: Optional[int]


class ModelOut(Out):
    id: int = Field(description="the model's id: that of the training job that made it")
    name: str = Field(description="its card's name, or its kind and number")
    description: str
    kind: ModelKind = Field(description="the training job's kind")
    architecture: dict[str, Any] = Field(description=(
        "the network: an autoencoder's image_size, depth, base_channels and latent_dim; a "
        "classifier's model, image_size, pretrained (it started from learnt weights) and "
        "freeze_backbone"))
    parameters: dict[str, Any] = Field(description="the training job's parameters")
    dataset_id: Optional[int] = Field(description="the data set it learnt from")
    dataset_name: Optional[str]
    learned_from_event_id: Optional[int] = Field(description=(
        "the last tagging event of the labels it learnt from; null for a model that learnt "
        "from the images alone (an autoencoder)"))
    class_names: Optional[list[str]] = Field(description="a classifier's classes, in the "
                                                         "order of its outputs")
    metrics: dict[str, Union[int, float]] = Field(description=(
        "the numbers of the epoch whose weights the model kept (its best), e.g. val_loss, "
        "val_accuracy, epoch; epochs: how many were run"))
    size_bytes: int = Field(description="bytes of its files (the training job's folder)")
    owner: str = Field(description="who trained it: who may rename or delete it (or an admin)")
    created_at: datetime
    finished_at: Optional[datetime]


class ModelDetailOut(ModelOut):
    built_on: list[BuiltOnOut] = Field(description="jobs whose parameters name this model "
                                                   "(inference, fine-tuning...), newest first")


class ModelListOut(BaseModel):
    models: list[ModelOut] = Field(description="newest first")


class ModelDeleteOut(BaseModel):
    model_id: int
    deleted: bool


class ModelFileBody(RawModel):
    """A model file exported by beamlabel: a .safetensors file whose metadata holds the
    model's card; at most 2 GiB."""
    mimetypes = ["application/octet-stream"]


class ModelImportQuery(BaseModel):
    file_name: Optional[str] = Field(None, max_length=200, description=(
        "the file's name, recorded in the new model's result (imported_from)"))
