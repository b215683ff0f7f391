"""A simulated scientist (an oracle that knows the true labels) who labels a whole data set
through beamlabel's REST API only, and counts what that costs.

Costs, as issue 6 defines them: one action per image labeled by hand, one per accepted
batch (a similarity or probability event) and one per corrected image; looking at images
(listings, rankings, dry-run previews) is free; undoing a batch costs one action too.

The strategy: a few seeds per class by hand; similarity pages from autoencoder features
(the cleanest of the pages of a few labeled items of a class; the oracle gives it the
label most of it truly has and corrects the rest); then rounds of a classifier:
probability thresholds whose precision on the hand labels is high enough (undone when
their least confident page shows otherwise), similarity pages in the classifier's feature
space, and before each retraining a page of the active-learning queue by hand; at the end
each class's items at probability 0.5 or more (all reviewed) and similarity pages until
nothing is unlabeled.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

import numpy as np

JOB_POLL_SECONDS = 1.0
FINAL_STATES = ("succeeded", "failed", "cancelled")
MAX_LABELS_PAGE = 10_000  # api.models.MAX_LABELS_PAGE
TAGGER = "oracle"
# Above one half, an item's likeliest class is the only one at or above the threshold.
FINAL_THRESHOLD = 0.5
# A probability batch is undone when more of its least confident page is wrong: accepting
# costs 1 + the wrong items, and items left unlabeled cost about as much later.
UNDO_WRONG_SHARE = 0.5


class ApiError(RuntimeError):
    pass


class RestClient:
    """JSON requests to the app's REST API; a refusal raises ApiError with its message."""

    def __init__(self, base_url: str, timeout: float = 600.0):
        self.base = base_url.rstrip("/") + "/api/v1"
        self.timeout = timeout

    def get(self, path: str, **query) -> Any:
        query = {k: str(v).lower() if isinstance(v, bool) else v for k, v in query.items()
                 if v is not None}
        suffix = "?" + urllib.parse.urlencode(query) if query else ""
        return self._call("GET", path + suffix)

    def post(self, path: str, payload: dict) -> Any:
        return self._call("POST", path, json.dumps(payload).encode())

    def _call(self, method: str, path: str, data: Optional[bytes] = None) -> Any:
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as error:
            body = error.read().decode(errors="replace")
            raise ApiError(f"{method} {path} answered {error.code}: {body[:500]}") from None


@dataclass
class Actions:
    manual: int = 0  # images labeled by hand: seeds, active-learning pages, pages by hand
    batches: int = 0  # accepted similarity and probability events, and undone ones
    corrections: int = 0  # batch-labeled images the oracle relabeled by hand

    @property
    def total(self) -> int:
        return self.manual + self.batches + self.corrections


@dataclass
class Strategy:
    page_size: int = 48  # one page of the label page's gallery
    seeds_per_class: int = 2
    # A similarity page is the nearest unlabeled items to one labeled item of the class;
    # the oracle looks at the pages of this many of them and takes the cleanest.
    queries: int = 8
    seed: int = 0
    # A similarity page with a larger share of wrong items is left unlabeled, and its class
    # gets no more similarity pages in that phase (further pages would be worse).
    max_wrong_share: float = 0.1
    similarity_share: float = 0.6  # autoencoder similarity pages until this share is labeled
    thresholds: tuple[float, ...] = (0.999, 0.995, 0.99, 0.98, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5)
    min_precision: float = 0.98  # on the held-out hand labels at or above the threshold
    review: str = "all"  # probability batches: "all" items reviewed, or one "page" of them
    al_items: int = 48  # active-learning items labeled by hand per round
    rounds: int = 2
    finish_share: float = 0.1  # below this share unlabeled, stop retraining and finish
    # Suggestion review (benchmarks/suggestion_oracle.py): train the label features again
    # each time this share of the items has been labeled since (less near the end), while
    # all jobs so far took under compute_budget seconds per item; count pages stated at
    # least this precise as good enough without review.
    retrain_at: float = 0.1
    compute_budget: float = 0.12
    good_enough: float = 0.95
    train_below: float = 0.9  # held-out accuracy under which a model is worth training
    autoencoder: dict = field(default_factory=dict)  # autoencoder_train parameters
    classifier: dict = field(default_factory=dict)  # classifier_train parameters
    contrastive: dict = field(default_factory=dict)  # contrastive_features parameters


@dataclass(frozen=True)
class Page:
    """A similarity page as the oracle sees it."""

    query: int  # the labeled item it is ranked by
    items: list[int]
    majority: int  # the true label most of its items have
    wrong: list[int]  # the items whose true label is another


@dataclass
class JobTime:
    kind: str
    job_id: int
    seconds: float


class Oracle:
    """Labels data set ``dataset_id`` whose true label of each item is ``truth[item_id]``."""

    def __init__(self, api: RestClient, dataset_id: int, truth: dict[int, int],
                 strategy: Strategy, log=print):
        self.api, self.dataset_id, self.truth, self.strategy = api, dataset_id, truth, strategy
        self.classes = sorted(set(truth.values()))
        self.labels: dict[int, int] = {}  # the current labels, as the oracle wrote them
        self.actions = Actions()
        self.jobs: list[JobTime] = []
        self.log = log
        self.rng = np.random.default_rng(strategy.seed)

    @property
    def unlabeled(self) -> int:
        return len(self.truth) - len(self.labels)

    def _path(self, route: str) -> str:
        return f"/datasets/{self.dataset_id}/{route}"

    # ------------------------------------------------------------ jobs

    def run_job(self, kind: str, params: dict) -> dict:
        job = self.api.post("/jobs", {"kind": kind, "dataset_id": self.dataset_id,
                                      "params": params, "owner": TAGGER})
        while job["status"] not in FINAL_STATES:
            time.sleep(JOB_POLL_SECONDS)
            job = self.api.get(f"/jobs/{job['id']}")
        if job["status"] != "succeeded":
            raise ApiError(f"{kind} job {job['id']} {job['status']}: {job['error']}\n"
                           + "\n".join(job["log_tail"]))
        seconds = (datetime.fromisoformat(job["finished_at"])
                   - datetime.fromisoformat(job["started_at"])).total_seconds()
        self.jobs.append(JobTime(kind, job["id"], seconds))
        self.log(f"  {kind} job {job['id']}: {seconds:.0f} s")
        return job

    def autoencoder_features(self) -> int:
        model = self.run_job("autoencoder_train", self.strategy.autoencoder)
        return self.run_job("autoencoder_infer", {"model_job_id": model["id"]})["id"]

    def classifier_inference(self) -> int:
        model = self.run_job("classifier_train", self.strategy.classifier)
        self.log(f"  classifier on {model['result']['images']} labels, validation accuracy "
                 f"{model['result'].get('val_accuracy')}")
        return self.run_job("classifier_infer", {"model_job_id": model["id"]})["id"]

    # ------------------------------------------------------------ labeling by hand

    def label_by_hand(self, item_ids: list[int], corrections: bool = False) -> None:
        """One manual event giving each item its true label: an action per image."""
        if not item_ids:
            return
        self.api.post(self._path("events"), {
            "tagger": TAGGER, "method": "manual",
            "params": {"reason": "correction" if corrections else "oracle"},
            "tags": [{"item_id": i, "label_id": self.truth[i]} for i in item_ids]})
        for item_id in item_ids:
            self.labels[item_id] = self.truth[item_id]
        if corrections:
            self.actions.corrections += len(item_ids)
        else:
            self.actions.manual += len(item_ids)

    def seed(self, item_ids_in_file_order: list[int]) -> None:
        """The first few items of each class the oracle meets when it pages through."""
        wanted = Counter({label: self.strategy.seeds_per_class for label in self.classes})
        chosen = []
        for item_id in item_ids_in_file_order:
            if wanted[self.truth[item_id]] > 0:
                wanted[self.truth[item_id]] -= 1
                chosen.append(item_id)
        self.label_by_hand(chosen)

    # ------------------------------------------------------------ similarity pages

    def _best_page(self, feature_job_id: int, label_id: int) -> Optional[Page]:
        """The cleanest of the pages of a few of the class's labeled items, each the query
        of its own page (looking is free); None when nothing is left unlabeled."""
        members = [i for i, label in self.labels.items() if label == label_id]
        best = None
        for query in self.rng.choice(members, min(self.strategy.queries, len(members)),
                                     replace=False).tolist():
            answer = self.api.post(self._path("similar"), {
                "feature_job_id": feature_job_id, "query_item_ids": [query],
                "limit": self.strategy.page_size})
            item_ids = [item["item_id"] for item in answer["items"]]
            if not item_ids:
                return None
            majority = Counter(self.truth[i] for i in item_ids).most_common(1)[0][0]
            page = Page(query, item_ids, majority,
                        [i for i in item_ids if self.truth[i] != majority])
            if best is None or len(page.wrong) < len(best.wrong):
                best = page
        return best

    def similarity_page(self, feature_job_id: int, label_id: int,
                        max_wrong_share: Optional[float]) -> Optional[bool]:
        """One page of unlabeled items near one of ``label_id``'s labeled items.

        True when the page was labeled, False when it was too mixed (left unlabeled) or
        the class has no labeled item, None when nothing is left unlabeled.
        """
        if label_id not in self.labels.values():
            return False
        page = self._best_page(feature_job_id, label_id)
        if page is None:
            return None
        if max_wrong_share is not None and len(page.wrong) > max_wrong_share * len(page.items):
            return False
        if 1 + len(page.wrong) >= len(page.items):  # accepting and correcting costs more
            self.label_by_hand(page.items)
            return True
        self.api.post(self._path("similarity-labels"), {
            "feature_job_id": feature_job_id, "query_item_ids": [page.query],
            "label_id": page.majority, "scope": "page", "item_ids": page.items,
            "tagger": TAGGER})
        self.actions.batches += 1
        for item_id in page.items:
            self.labels[item_id] = page.majority
        self.label_by_hand(page.wrong, corrections=True)
        return True

    def similarity_pages(self, feature_job_id: int, until_labeled: int,
                         max_wrong_share: Optional[float]) -> None:
        """Pages class after class until ``until_labeled`` items are labeled, every class
        got a page too mixed, or nothing is left."""
        active = list(self.classes)
        while active and len(self.labels) < until_labeled:
            for label_id in list(active):
                outcome = self.similarity_page(feature_job_id, label_id, max_wrong_share)
                if outcome is None:
                    return
                if not outcome:
                    active.remove(label_id)
                if len(self.labels) >= until_labeled:
                    return

    # ------------------------------------------------------------ probability thresholds

    def _lowest_safe_threshold(self, job_id: int, label_id: int) -> Optional[float]:
        """The lowest threshold whose preview estimates a high enough precision, going down
        until an estimate (on enough hand labels) falls short."""
        chosen = None
        for threshold in self.strategy.thresholds:
            preview = self.api.post(self._path("probability-labels"), {
                "inference_job_id": job_id, "label_id": label_id, "threshold": threshold,
                "dry_run": True})
            if preview["estimated_precision"] is None:
                continue  # too few held-out hand labels above it to tell
            if preview["estimated_precision"] < self.strategy.min_precision:
                break
            if preview["count"]:
                chosen = threshold
        return chosen

    def _event_items(self, event_id: int) -> list[tuple[int, float]]:
        """(item, confidence) of the items whose current label event ``event_id`` gave."""
        found, offset = [], 0
        while True:
            page = self.api.get(self._path("current-labels"), offset=offset,
                                limit=MAX_LABELS_PAGE)
            found += [(row["item_id"], row["confidence"] or 0.0) for row in page["labels"]
                      if row["event_id"] == event_id]
            offset += len(page["labels"])
            if not page["labels"] or offset >= page["labeled"]:
                return found

    def probability_batch(self, job_id: int, label_id: int, threshold: float,
                          spot_check: bool) -> None:
        """Accept the batch, then correct the wrong items the oracle looks at: all of them,
        or (``review="page"``) the least confident page. With ``spot_check``, a batch whose
        least confident page is mostly wrong is undone instead (1 action): the
        precision estimate stands on few held-out hand labels and can be off."""
        event = self.api.post(self._path("probability-labels"), {
            "inference_job_id": job_id, "label_id": label_id, "threshold": threshold,
            "tagger": TAGGER})
        if event["event_id"] is None:
            return
        self.actions.batches += 1
        tagged = sorted(self._event_items(event["event_id"]), key=lambda pair: pair[1])
        first_page = tagged[:self.strategy.page_size]  # least confident first
        wrong_seen = [i for i, _ in first_page if self.truth[i] != label_id]
        if spot_check and len(wrong_seen) > UNDO_WRONG_SHARE * len(first_page):
            self.api.post(f"/events/{event['event_id']}/undo", {"tagger": TAGGER})
            self.actions.batches += 1
            self.log(f"  label {label_id} at p >= {threshold}: {len(tagged)} items, undone "
                     f"({len(wrong_seen)} of its {len(first_page)} least confident wrong)")
            return
        for item_id, _ in tagged:
            self.labels[item_id] = label_id
        reviewed = first_page if self.strategy.review == "page" and spot_check else tagged
        wrong = [i for i, _ in reviewed if self.truth[i] != label_id]
        self.label_by_hand(wrong, corrections=True)
        left = sum(self.truth[i] != label_id for i, _ in tagged) - len(wrong)
        self.log(f"  label {label_id} at p >= {threshold}: {len(tagged)} items, "
                 f"{len(wrong)} corrected, {left} wrong left")

    def probability_batches(self, job_id: int) -> None:
        """Per class, the lowest threshold whose estimated precision is high enough."""
        for label_id in self.classes:
            threshold = self._lowest_safe_threshold(job_id, label_id)
            if threshold is not None:
                self.probability_batch(job_id, label_id, threshold, spot_check=True)

    def finish(self, job_id: int) -> None:
        """The classifier's likeliest class for what is left (every item reviewed), then
        similarity pages in its feature space until nothing is unlabeled."""
        for label_id in self.classes:
            self.probability_batch(job_id, label_id, FINAL_THRESHOLD, spot_check=False)
        self._progress(f"probabilities >= {FINAL_THRESHOLD}, every item reviewed")
        self.similarity_pages(job_id, len(self.truth), max_wrong_share=None)

    # ------------------------------------------------------------ active learning

    def active_learning_page(self, job_id: int) -> None:
        queue = self.api.get(self._path("uncertain"), inference_job_id=job_id,
                             limit=min(self.strategy.al_items, 1000))
        self.label_by_hand([item["item_id"] for item in queue["items"]])

    # ------------------------------------------------------------ the whole data set

    def label_everything(self, item_ids_in_file_order: list[int]) -> None:
        strategy, total = self.strategy, len(self.truth)
        features = self.autoencoder_features()
        self.seed(item_ids_in_file_order)
        self.similarity_pages(features, int(strategy.similarity_share * total),
                              strategy.max_wrong_share)
        self._progress("autoencoder similarity pages")
        for round_number in range(1, strategy.rounds + 1):
            if self.unlabeled <= strategy.finish_share * total:
                break
            if round_number > 1:  # the previous classifier's queue teaches the next one
                self.active_learning_page(features)
            features = self.classifier_inference()
            self.probability_batches(features)
            self.similarity_pages(features, total, strategy.max_wrong_share)
            self._progress(f"round {round_number}: probability thresholds, similarity pages")
        self.finish(features)
        self._progress("finished with similarity pages")

    def _progress(self, step: str) -> None:
        a = self.actions
        self.log(f"  {step}: {len(self.labels)}/{len(self.truth)} labeled, {a.total} actions "
                 f"({a.manual} by hand, {a.batches} batches, {a.corrections} corrections)")
