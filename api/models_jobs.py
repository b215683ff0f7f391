"""Request and response models of the job routes and of the guided-labeling routes, which
rank and label items by the results of finished jobs (see ``api.models`` for the rules)."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, Field, model_validator

from api.models import MAX_PAGE, Body, Offset, Out, RowId
from db.jobs import STATUSES
from db.retrain_loops import EVERY_DEFAULT, EVERY_MAX, EVERY_MIN
from ml.collapse import MIN_EXPLAINED
from ml.kinds import JOB_KINDS
from ml.similarity import CHOICE_MIN_CLASS, FALLBACK_MATCH, MATCH_RULES
from ml.uncertainty import UNCERTAINTY

# --- jobs ---------------------------------------------------------------------------------


class JobPath(BaseModel):
    job_id: RowId = Field(description="id of the job")


class JobsQuery(BaseModel):
    dataset_id: Optional[RowId] = Field(None, description="only jobs of this data set")
    kind: Optional[str] = Field(None, description="only jobs of this kind")
    status: Optional[Literal[STATUSES]] = Field(None, description="only jobs in this state")


class JobIn(Body):
    kind: str = Field(min_length=1, max_length=40, description="the job kind, e.g. dataset_stats",
                      json_schema_extra={"enum": sorted(JOB_KINDS)})
    dataset_id: Optional[RowId] = Field(None, description="the data set the job works on")
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="the kind's parameters; left-out ones get their "
                                               "defaults")
    owner: Optional[str] = Field(None, min_length=1, max_length=100,
                                 description="who starts the job; the server's tagger if left out")


class JobOut(Out):
    id: int
    kind: str
    dataset_id: Optional[int]
    owner: str
    params: dict[str, Any] = Field(description="the checked parameters, defaults filled in")
    status: str = Field(description="queued, running, succeeded, failed or cancelled")
    progress: float = Field(description="0 to 1")
    metrics: list[Any] = Field(description="one row per epoch or batch")
    result: dict[str, Any] = Field(description=(
        "what the job produced (files are relative to artifact_dir). Autoencoder jobs add "
        "'collapse', whether the model's reconstructions are nearly all the same: "
        "explained_variance (share of the images' variation around their mean image that "
        "the reconstructions explain; 0 for a model that returns the mean image), "
        "output_spread (the reconstructions' variation over the images'), latent_spread "
        "(the latent vectors' spread around their mean over their length), images (how "
        f"many were measured), collapsed (true below {MIN_EXPLAINED} explained) and reason "
        "(in words, with what to do)"))
    artifact_dir: Optional[str]
    error: Optional[str] = Field(description="why the job failed")
    cancel_requested: bool
    created_at: datetime
    started_at: Optional[datetime]
    finished_at: Optional[datetime]
    heartbeat_at: Optional[datetime] = Field(description="last sign of life of its worker")
    log_tail: list[str] = Field(default_factory=list, description="the last lines of job.log")


class JobListOut(BaseModel):
    jobs: list[JobOut] = Field(description="newest first (without log tails)")
    worker_notice: Optional[str] = Field(None, description="what the local app's worker watch "
                                                           "last did: restarted a worker that "
                                                           "died, or gave up")


class JobDeleteOut(BaseModel):
    job_id: int
    deleted: bool


# --- guided labeling ----------------------------------------------------------------------

UncertaintyName = Literal[tuple(UNCERTAINTY)]  # type: ignore[valid-type]
MATCH_RULE = ("how items are compared with several query items: 'any' ranks by the cosine "
              "distance to the nearest query item (a class spread over the feature space "
              "keeps its own neighbours), 'mean' by the distance to the mean of the query "
              "items' vectors")
MatchRule = Annotated[Literal[tuple(MATCH_RULES)], Field(  # type: ignore[valid-type]
    description=MATCH_RULE)]
ChosenMatchRule = Annotated[Optional[Literal[tuple(MATCH_RULES)]], Field(  # type: ignore
    description=f"{MATCH_RULE}; null or absent (the default): the rule the data set's "
                "current labels favour on this feature job: for each class with at least "
                f"{CHOICE_MIN_CLASS} labeled items, half of them as the query must find the "
                "other half among the labeled items, and the rule finding more wins "
                f"('{FALLBACK_MATCH}' on a tie or with fewer labels). The answer or event "
                "names the rule used.")]


class SimilarIn(Body):
    feature_job_id: RowId = Field(description="a finished autoencoder_infer or classifier_infer "
                                              "job of this data set")
    query_item_ids: list[RowId] = Field(min_length=1, description="items to compare with")
    match: ChosenMatchRule = None
    unlabeled_only: bool = Field(True, description="leave out items that carry a label")
    limit: int = Field(100, ge=1, le=MAX_PAGE, description="how many items to return")
    max_distance: Optional[float] = Field(None, ge=0.0, le=2.0,
                                          description="only items within this cosine distance")


class SimilarItemOut(BaseModel):
    item_id: int
    uri: str
    label_id: Optional[int]
    distance: float = Field(description="cosine distance, 1 - cosine similarity (0..2)")


class SimilarOut(BaseModel):
    feature_job_id: int
    query_item_ids: list[int]
    match: MatchRule = Field(description="the rule used")
    match_from_labels: bool = Field(description="whether the rule was chosen from the labels "
                                                "(no match in the request)")
    items: list[SimilarItemOut] = Field(description="nearest first")


class SimilarityLabelsIn(Body):
    feature_job_id: RowId
    query_item_ids: list[RowId] = Field(min_length=1)
    match: ChosenMatchRule = None
    label_id: RowId = Field(description="the label the batch gives")
    scope: Literal["top_k", "cutoff", "page"] = Field(
        description="top_k: the top_k nearest; cutoff: all within max_distance; page: the "
                    "items listed in item_ids (e.g. the page the user saw)")
    top_k: Optional[RowId] = None
    max_distance: Optional[float] = Field(None, ge=0.0, le=2.0)
    item_ids: list[RowId] = Field(default_factory=list, description="the items of scope 'page'")
    unlabeled_only: bool = Field(True, description="rank unlabeled items only")
    overwrite: bool = Field(False, description="also relabel chosen items that carry another "
                                               "label (otherwise they keep it)")
    dry_run: bool = Field(False, description="only preview: count and agreement, no event")
    tagger: Optional[str] = Field(None, min_length=1, max_length=100)


class BatchOut(BaseModel):
    count: int = Field(description="items the event tags (or would tag, for a dry run)")
    chosen: int = Field(description="items the batch chose")
    already_labeled: int = Field(description="chosen items that carry a label")
    agreeing: int = Field(description="of those, items that carry the batch's label")
    agreement: Optional[float] = Field(description="agreeing / already_labeled")
    event_id: Optional[int] = Field(description="the similarity event; null for a dry run or "
                                                "when nothing was left to tag")


class ProbabilityLabelsIn(Body):
    inference_job_id: RowId = Field(description="a finished classifier_infer job of this data set")
    label_id: Optional[RowId] = Field(None, description="the label to give (or class_name)")
    class_name: Optional[str] = Field(
        None, min_length=1, max_length=200,
        description="instead of label_id: one of the model's classes (the job's label_names), "
                    "whose class of the same name in this data set is given; refused when the "
                    "data set has none (a model of another data set)")
    threshold: float = Field(ge=0.0, le=1.0, description="label items whose probability of "
                                                         "the label is at least this")
    dry_run: bool = Field(False, description="only preview: counts and precision, no event")
    overwrite_manual: bool = Field(False, description="also relabel items that carry a label "
                                                      "(otherwise only unlabeled ones are labeled)")
    tagger: Optional[str] = Field(None, min_length=1, max_length=100)


class ProbabilityLabelsOut(BaseModel):
    count: int = Field(description="items the event tags (or would tag)")
    above: int = Field(description="items at or above the threshold, labeled or not")
    disagreeing: int = Field(description="items at or above the threshold that carry another "
                                         "label: they keep it, or are relabeled (and counted "
                                         "in count) with overwrite_manual")
    estimated_precision: Optional[float] = Field(
        description="share of the held-out hand labels at or above the threshold that are "
                    "label_id; held out: made after the classifier's training labels, or "
                    "kept aside for its validation. Null when fewer than min_held_out of them "
                    "are at or above the threshold: label some of the items the threshold "
                    "would label by hand to get an estimate")
    held_out_above: int = Field(description="held-out hand labels at or above the threshold")
    min_held_out: int = Field(description="held-out hand labels at or above the threshold an "
                                          "estimated precision needs")
    recall: Optional[float] = Field(description="share of the held-out hand labels of label_id "
                                                "at or above the threshold")
    event_id: Optional[int] = Field(description="the probability event; null for a dry run")


SUGGESTION_ORDERS = ("confidence", "newest")


class SuggestionsQuery(BaseModel):
    feature_job_id: RowId = Field(description="a finished feature job of this data set "
                                              "(scattering_features, contrastive_features, "
                                              "backbone_features, autoencoder_infer, "
                                              "classifier_infer)")
    label_id: Optional[RowId] = Field(None, description="only items suggested as this label; "
                                                        "left out: the next page to review, the "
                                                        "surest suggestions of any class, "
                                                        "grouped by class")
    order: Literal[SUGGESTION_ORDERS] = Field(
        "confidence", description="confidence: the surest suggestions first; newest: every "
                                  "unlabeled item, newest first (a live data set's arrivals "
                                  "on top), with its suggestion once the job holds its "
                                  "feature row")
    limit: int = Field(48, ge=1, le=MAX_PAGE)
    offset: Offset = 0


class SuggestedItemOut(BaseModel):
    item_id: int
    uri: str
    label_id: Optional[int] = Field(description="the suggested label; null (order=newest "
                                                "only): the job has no feature row of the "
                                                "item yet")
    confidence: Optional[float] = Field(description="the model's probability of that label")


class SuggestionsOut(BaseModel):
    feature_job_id: int
    labels_used: int = Field(description="labeled items the model learnt from")
    held_out_accuracy: Optional[float] = Field(
        description="share of the labeled items the model suggests right when each is held "
                    "out of its fit; low means the features do not separate the classes "
                    "labeled so far")
    suggested: dict[int, int] = Field(description="label id: unlabeled items suggested as it")
    expected_precision: Optional[float] = Field(
        description="the share of the page expected right: per class on it, the share right "
                    "of held-out suggestions of that class at least as confident as the "
                    "page's least confident one, weighted by its items; null when it cannot "
                    "be estimated yet")
    items: list[SuggestedItemOut] = Field(description="most confident first, or newest first")


class SuggestedLabelIn(Body):
    item_id: RowId
    label_id: RowId = Field(description="the label the page suggested for the item")


class SuggestionLabelsIn(Body):
    feature_job_id: RowId
    labels: list[SuggestedLabelIn] = Field(
        [], max_length=MAX_PAGE, description="the page the user accepts: each item with the "
                                             "label the page suggested for it")
    label_id: Optional[RowId] = Field(None, description="instead of labels: one label for all "
                                                        "item_ids (a page of one class)")
    item_ids: list[RowId] = Field([], max_length=MAX_PAGE, description="with label_id")
    overwrite: bool = Field(False, description="also relabel items that carry another label")
    dry_run: bool = Field(False, description="only preview: count and precision, no event")
    tagger: Optional[str] = Field(None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_page(self) -> "SuggestionLabelsIn":
        if bool(self.labels) == (self.label_id is not None or bool(self.item_ids)):
            raise ValueError("give either labels (item_id and label_id pairs) or label_id "
                             "with item_ids")
        if self.label_id is not None and not self.item_ids:
            raise ValueError("label_id needs item_ids: the items to give it")
        if self.item_ids and self.label_id is None:
            raise ValueError("item_ids need label_id: the label to give them")
        return self

    def label_of(self) -> dict[int, int]:
        """Each accepted item's label (an item listed twice keeps its last label)."""
        if self.labels:
            return {pair.item_id: pair.label_id for pair in self.labels}
        return dict.fromkeys(self.item_ids, self.label_id)


class SuggestionLabelsOut(BatchOut):
    expected_precision: Optional[float] = Field(description="as in SuggestionsOut")
    held_out_accuracy: Optional[float]


class FirstItemsQuery(BaseModel):
    feature_job_id: RowId
    limit: int = Field(20, ge=1, le=MAX_PAGE)


class FirstItemOut(BaseModel):
    item_id: int
    uri: str


class FirstItemsOut(BaseModel):
    feature_job_id: int
    items: list[FirstItemOut] = Field(description="cluster centres, largest cluster first")


class UncertainQuery(BaseModel):
    inference_job_id: Optional[RowId] = Field(None, description="the classifier_infer job; the "
                                                                "newest one if left out")
    method: UncertaintyName = Field("least_confidence")
    limit: int = Field(100, ge=1, le=MAX_PAGE)


class UncertainItemOut(BaseModel):
    item_id: int
    uri: str
    score: float = Field(description="uncertainty: 0 sure … 1 unsure")


class UncertainOut(BaseModel):
    inference_job_id: int
    method: str
    items: list[UncertainItemOut] = Field(description="unlabeled items, most uncertain first")


class EfficiencyQuery(BaseModel):
    since: Optional[datetime] = Field(None, description="start of this session (ISO time)")


class MethodRateOut(BaseModel):
    method: str
    labels: int
    seconds: float = Field(description="labeling time: pauses before the method's events, "
                                       "each capped at two minutes")
    per_minute: float


class EfficiencyOut(BaseModel):
    session: list[MethodRateOut] = Field(description="events since 'since'")
    overall: list[MethodRateOut]
    shares: dict[str, int] = Field(description="current labels by the method that gave them")
    auto_labeled: int = Field(description="items ever labeled by similarity, probability or "
                                          "cluster events")
    auto_changed_by_hand: int = Field(description="of those, items a later manual event gave "
                                                  "another label")


# --- the retrain loop ---------------------------------------------------------------------

class RetrainLoopIn(Body):
    enabled: bool = Field(description="keep a classifier trained on the labels as they come")
    every_labels: int = Field(EVERY_DEFAULT, ge=EVERY_MIN, le=EVERY_MAX,
                              description="retrain after this many new labels")


class RetrainLoopOut(BaseModel):
    enabled: bool
    every_labels: int
    running_job_id: Optional[int] = Field(description="the loop's queued or running job")
    running_kind: Optional[str] = Field(description="classifier_train or classifier_infer")
    running_status: Optional[str] = Field(description="queued or running")
    progress: Optional[float] = Field(description="0 to 1, of the running job")
    source_job_id: Optional[int] = Field(description="the loop's newest finished "
                                                     "classifier_infer: the model suggestions "
                                                     "come from")
    trained_on_labels: Optional[int] = Field(description="labels that model learnt from")
    new_labels: int = Field(description="labels given since that model was trained (all "
                                        "labels before the first)")
    labels_to_next: int = Field(description="labels still to give before the next retraining")
    problem: Optional[str] = Field(description="why the newest try gave no model (a failed "
                                               "job or refused labels)")
