"""Request and response models of the REST API (the ``api`` package); the OpenAPI document is
built from them. The models of the job and guided-labeling routes are in ``api.models_jobs``.

Request bodies are strict (no silent "5" → 5) and refuse unknown keys, so a typo such as
``"confidense"`` is reported instead of ignored. Rules about the data themselves (does the
label exist, is the colour #RRGGBB, is the folder inside the data roots) are checked by
``db/`` and ``data/``, not here; the models only describe shapes and plain bounds.
"""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Optional, Union

from flask_openapi3 import RawModel
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from data.export import EXPORT_FORMATS
from data.label_import import LISTED
from data.replay import MAX_RATE as MAX_REPLAY_RATE
from db.models import MAX_ROW_ID, as_utc
from db.store import METHODS

MAX_PAGE = 1000
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
Offset = Annotated[int, Field(ge=0, le=MAX_ROW_ID)]
MAX_LABELS_PAGE = 10_000
TAG_METHODS = [method for method in METHODS if method != "undo"]


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Out(BaseModel):
    """An answer: its times are sent time-zone aware (UTC), as the document's date-time says."""

    @field_validator("*", mode="after")
    @classmethod
    def _utc(cls, value: Any) -> Any:
        return as_utc(value) if isinstance(value, datetime) else value


# --- errors -------------------------------------------------------------------------------

class ErrorDetail(BaseModel):
    field: str
    error: str


class ErrorOut(BaseModel):
    """Every 4xx answer: what is wrong and what to do, and the path of the bad field."""

    error: str = Field(description="what is wrong and what to do about it")
    field: Optional[str] = Field(None, description="path of the bad field, e.g. tags.0.label_id")
    details: Optional[list[ErrorDetail]] = Field(
        None, description="every problem found, when a payload has more than one")


# --- path and query parameters ------------------------------------------------------------

class DatasetPath(BaseModel):
    dataset_id: RowId = Field(description="id of the data set")


class EventPath(BaseModel):
    event_id: RowId = Field(description="id of the tagging event")


class LabelPath(DatasetPath):
    label_id: RowId = Field(description="id of the label class")


class PageQuery(BaseModel):
    offset: Offset = Field(0, description="rows to skip")
    limit: int = Field(100, ge=1, le=MAX_PAGE, description=f"rows to return (at most {MAX_PAGE})")


class ItemsQuery(PageQuery):
    label: Optional[RowId] = Field(None, description="only items whose current label has this id")
    unlabeled: bool = Field(False, description="only items without a label")


class CurrentLabelsQuery(BaseModel):
    offset: Offset = Field(0, description="labeled items to skip")
    limit: int = Field(1000, ge=1, le=MAX_LABELS_PAGE,
                       description=f"labeled items to return (at most {MAX_LABELS_PAGE})")


# --- data sets ----------------------------------------------------------------------------

class DirectorySourceIn(Body):
    kind: Literal["directory"]
    path: str = Field(min_length=1, description="folder inside one of the server's data roots")


class TiledSourceIn(Body):
    kind: Literal["tiled"]
    uri: str = Field(min_length=1, description="Tiled URI of a container or array")
    api_key: Optional[str] = Field(None, description="Tiled API key; kept on the server and "
                                                     "never returned")


SourceIn = Annotated[Union[DirectorySourceIn, TiledSourceIn], Field(discriminator="kind")]
# Union members of a discriminated union appear in pydantic's error locations by their tag.
UNION_TAGS = {"source": {"directory", "tiled"}}


class DatasetIn(Body):
    name: str = Field(min_length=1, max_length=200)
    source: SourceIn
    live: bool = Field(False, description="watch it from the start (it may then be empty: a "
                                          "folder the experiment is about to fill)")


class SourceOut(BaseModel):
    kind: str
    location: str = Field(description="folder path or Tiled URI")


class ProblemOut(BaseModel):
    path: str
    message: str


class DatasetOut(Out):
    id: int
    name: str
    source: SourceOut
    status: str = Field(description="scanning, ready or failed")
    item_count: int
    labeled_count: int
    problem_count: int
    scanned_files: int
    total_files: int
    created_at: datetime
    live: bool = Field(description="new files (Tiled keys) are registered as they arrive")


class DatasetDetailOut(DatasetOut):
    problems: list[ProblemOut] = Field(description="the first 200 problems")
    arrived_last_minute: int = Field(description="files (Tiled arrays) that arrived live in "
                                                 "the last minute")


class DatasetPatchIn(Body):
    live: bool = Field(description="true: watch the folder (Tiled container) and register "
                                   "new images as they arrive; false: stop watching")


class ReplayIn(Body):
    rate: float = Field(gt=0, le=MAX_REPLAY_RATE, description="images per second")
    name: Optional[str] = Field(None, min_length=1, max_length=200,
                                description="the new data set's name (default: "
                                            "'<name> (replay)')")


class DatasetListOut(BaseModel):
    datasets: list[DatasetOut]


# --- items --------------------------------------------------------------------------------

class ItemOut(BaseModel):
    id: int
    uri: str
    frame: int
    status: str = Field(description="pending, ok or unreadable")
    label_id: Optional[int]


class ItemPageOut(BaseModel):
    total: int = Field(description="items matching the filter")
    offset: int
    limit: int
    items: list[ItemOut]


# --- label classes ------------------------------------------------------------------------

class LabelIn(Body):
    name: str = Field(min_length=1, max_length=100)
    color: Optional[str] = Field(None, description="#RRGGBB; the next free colour if left out",
                                 examples=["#E69F00"])
    hotkey: Optional[str] = Field(None, description="'1'..'9'; the next free key if left out")


class LabelOut(BaseModel):
    id: int
    name: str
    color: str
    hotkey: Optional[str]
    position: int


class LabelListOut(BaseModel):
    labels: list[LabelOut]


class LabelPatchIn(Body):
    name: Optional[str] = Field(None, min_length=1, max_length=100)
    color: Optional[str] = Field(None, description="#RRGGBB", examples=["#56B4E9"])
    hotkey: Optional[str] = Field(None, description="'1'..'9', or '' to take the hotkey away")

    @model_validator(mode="after")
    def _changes_something(self) -> "LabelPatchIn":
        if self.name is None and self.color is None and self.hotkey is None:
            raise ValueError("give at least one of name, color and hotkey")
        return self


class LabelOrderIn(Body):
    label_ids: list[RowId] = Field(description="every label class of the data set, each once, "
                                               "in the new display order")


class DeleteLabelQuery(BaseModel):
    confirm: bool = Field(False, description="delete the class even though items carry it; "
                                             "they are unlabeled in one (undoable) event")
    tagger: Optional[str] = Field(None, min_length=1, max_length=100,
                                  description="who deletes; the server's tagger if left out")


class LabelDeleteOut(BaseModel):
    label_id: int
    event_id: Optional[int] = Field(description="the event that unlabeled the class's items "
                                                "(undo it to bring the class back); null when "
                                                "no item carried the class")
    unlabeled: int = Field(description="items that lost the label")


# --- tagging events -----------------------------------------------------------------------

class TagIn(Body):
    item_id: RowId
    label_id: Optional[RowId] = Field(description="label class id, or null to unlabel the item")
    confidence: Optional[float] = Field(None, ge=0.0, le=1.0)


class EventIn(Body):
    tagger: str = Field(min_length=1, max_length=100, description="who (or which model) labels")
    method: str = Field(max_length=20, json_schema_extra={"enum": TAG_METHODS})
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="what the method used: query items, cutoff...")
    tags: list[TagIn]


class UndoIn(Body):
    model_config = ConfigDict(strict=True, extra="forbid", openapi_extra={"required": False})

    tagger: Optional[str] = Field(None, min_length=1, max_length=100,
                                  description="who undoes; the server's tagger if left out")

    @model_validator(mode="before")
    @classmethod
    def _empty_body(cls, data: Any) -> Any:
        return {} if data is None else data  # undo needs no body at all


class EventOut(Out):
    id: int
    dataset_id: int
    tagger: str
    method: str
    params: dict[str, Any]
    n_tags: int
    undoes_event_id: Optional[int]
    created_at: datetime


class EventListOut(BaseModel):
    offset: int
    limit: int
    events: list[EventOut] = Field(description="newest first")


# --- current labels -----------------------------------------------------------------------

class CurrentLabelOut(BaseModel):
    item_id: int
    uri: str
    label_id: int
    label: str
    event_id: int
    confidence: Optional[float]


class CurrentLabelsOut(BaseModel):
    offset: int
    limit: int
    labels: list[CurrentLabelOut] = Field(description="labeled items in file order (one page)")
    counts: dict[str, int] = Field(description="label name → number of items")
    labeled: int
    total: int


# --- export and import --------------------------------------------------------------------

ExportFormatName = Literal[tuple(EXPORT_FORMATS)]  # type: ignore[valid-type]


class ExportQuery(BaseModel):
    format: ExportFormatName = Field("csv", description="csv or json: the labels; zip: the "
                                                        "labeled images in a folder per label")


class CsvBody(RawModel):
    mimetypes = ["text/csv"]


class ImportQuery(BaseModel):
    tagger: Optional[str] = Field(None, min_length=1, max_length=100,
                                  description="who imports; the server's tagger if left out")
    create_missing_labels: bool = Field(
        False, description="create the label classes the CSV names but the data set lacks "
                           "(otherwise their rows are skipped and reported)")


class ImportOut(BaseModel):
    event_id: int = Field(description="the import's tagging event (undo it to take it back)")
    n_tags: int
    file_rows: int
    skipped_rows: int = Field(description="rows that wrote no tag: unknown URI or label, "
                                          "empty or repeated URI")
    unknown_uri_count: int
    unknown_uris: list[str] = Field(description=f"the first {LISTED} unknown URIs")
    unknown_labels: list[str] = Field(description="label names the data set lacked")
    created_labels: list[str]
