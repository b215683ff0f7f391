"""The simulated scientist working the way the label page's suggestion review goes: first
items chosen by the app, then page after page of suggestions, each reviewed, its odd
items corrected by hand and the rest accepted with one key, at the page size that gives
the most labels per action. A self-supervised encoder (contrastive_features) is trained
when the held-out accuracy after the first labels is low; then, every ``retrain_at`` of
the items labeled (a share of what is left near the end), the label features
(label_features: a small encoder trained on the labels so far, in seconds) next to the
best features without labels, as long as the jobs so far stay within ``compute_budget``;
the suggestions use whichever feature source separates the labels best.

Every step is a REST call that a click or key on the label page makes; costs as in
``labeling_oracle`` (a hand label, an accepted page and a correction cost one action
each; looking is free). The "good enough" way of working is counted alongside: once a
page's expected precision is at least ``good_enough``, its corrections are not made
(their items stay wrong), counted without feeding that back to the model.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Optional

from benchmarks.labeling_oracle import TAGGER, Oracle
from ml.kinds.label_features import IMAGE_FIELDS

# Accepting a page costs one action; a page is labeled by hand instead when accepting and
# correcting would cost more.
ACCEPT_COST = 1
# The label page's "per page" choices (pages/label.py PAGE_SIZES) a reviewer uses: the
# default page, and longer ones when they are nearly clean.
PAGE_SIZES = (48, 96, 200)
# A longer page is taken only with at most this share of odd items: an item left for later
# is often suggested right by a model that knows more; a correction always costs.
LONG_PAGE_WRONG_SHARE = 0.01


@dataclass
class GoodEnough:
    """What stopping the review at a stated precision would have saved and cost."""

    skipped_corrections: int = 0  # corrections a good-enough user would not make
    left_wrong: int = 0  # items that would stay wrong


@dataclass(frozen=True)
class SuggestedPage:
    feature_job_id: int
    label_of: dict[int, int]  # each item's suggested label, in page order
    expected_precision: Optional[float]


class SuggestionOracle(Oracle):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.good_enough = GoodEnough()
        self.searched_sources: set[int] = set()  # looked at their typical unlabeled items

    def needs_training(self, source: int) -> bool:
        return self.held_out_accuracy(source) < self.strategy.train_below

    def first_items(self, feature_job_id: int) -> None:
        """Label by hand the first of the items the suggestion review shows before any
        label exists (typical items spread over the data)."""
        count = self.strategy.seeds_per_class * len(self.classes)
        answer = self.api.get(self._path("first-items"), feature_job_id=feature_job_id,
                              limit=count)
        self.label_by_hand([item["item_id"] for item in answer["items"]])

    def held_out_accuracy(self, feature_job_id: int) -> float:
        answer = self.api.get(self._path("suggestions"), feature_job_id=feature_job_id,
                              limit=1)
        return answer["held_out_accuracy"] or 0.0

    def best_source(self, candidates: list[int], current: Optional[int] = None) -> int:
        """The feature job whose suggestions are right most often on held-out labels (the
        figure the label page shows for the chosen source); said when it changes."""
        scored = {job: self.held_out_accuracy(job) for job in candidates}
        best = max(scored, key=scored.get)
        if best != current:
            self.log(f"  feature job {best} at {len(self.labels)} labels; held-out accuracy "
                     + ", ".join(f"{job}: {score:.2f}" for job, score in scored.items()))
        return best

    def label_features(self, base_source: int) -> int:
        """A label_features job on the labels so far, next to ``base_source``'s vectors."""
        params = {name: value for name, value in self.strategy.contrastive.items()
                  if name in IMAGE_FIELDS}  # the same images and views as the contrastive job
        return self.run_job("label_features", {**params, "source_job_id": base_source})["id"]

    def within_budget(self) -> bool:
        """Another training of the label features keeps all jobs within the budget."""
        spent = sum(job.seconds for job in self.jobs)
        last = next((job.seconds for job in reversed(self.jobs)
                     if job.kind == "label_features"), 0.0)
        return spent + last <= self.strategy.compute_budget * len(self.truth)

    def every_class_labeled(self, at_least: int = 2) -> bool:
        """A classifier needs images of every class (it refuses to train otherwise)."""
        counts = Counter(self.labels.values())
        return all(counts[label] >= at_least for label in self.classes)

    def suggested_page(self, feature_job_id: int, size: int) -> Optional[SuggestedPage]:
        """The page of ``size`` items the label page shows next in its suggestion review."""
        answer = self.api.get(self._path("suggestions"), feature_job_id=feature_job_id,
                              limit=size)
        if not answer["items"]:
            return None
        return SuggestedPage(feature_job_id,
                             {item["item_id"]: item["label_id"] for item in answer["items"]},
                             answer["expected_precision"])

    def next_page(self, feature_job_id: int) -> Optional[SuggestedPage]:
        """The next page at the page size a user would pick after looking (free) at it:
        the longest that is nearly clean, else the default."""
        for size in sorted(PAGE_SIZES, reverse=True):
            page = self.suggested_page(feature_job_id, size)
            if page is None:
                return None
            if len(self.odd_ones(page)) <= LONG_PAGE_WRONG_SHARE * len(page.label_of):
                return page
        return page

    def find_unsuggested_classes(self, feature_job_id: int) -> None:
        """Classes with too few labels cannot be suggested (the page names them): look at
        typical unlabeled items, once per feature source, and label by hand those of such
        classes."""
        if feature_job_id in self.searched_sources:
            return
        self.searched_sources.add(feature_job_id)
        counts = Counter(self.labels.values())
        few = {label for label in self.classes if counts[label] < self.strategy.seeds_per_class}
        if not few:
            return
        answer = self.api.get(self._path("first-items"), feature_job_id=feature_job_id,
                              limit=max(PAGE_SIZES))
        missing = {label: self.strategy.seeds_per_class - counts[label] for label in few}
        found = []
        for item in answer["items"]:  # a few of each such class, as the page asks
            label = self.truth[item["item_id"]]
            if missing.get(label, 0) > 0:
                found.append(item["item_id"])
                missing[label] -= 1
        self.label_by_hand(found)

    def odd_ones(self, page: SuggestedPage) -> list[int]:
        return [item for item, label in page.label_of.items() if self.truth[item] != label]

    def review(self, page: SuggestedPage) -> None:
        wrong = self.odd_ones(page)
        if ACCEPT_COST + len(wrong) >= len(page.label_of):
            self.label_by_hand(list(page.label_of))
            return
        if page.expected_precision is not None \
                and page.expected_precision >= self.strategy.good_enough:
            self.good_enough.skipped_corrections += len(wrong)
            self.good_enough.left_wrong += len(wrong)
        self.label_by_hand(wrong, corrections=True)  # the odd ones first, then accept
        self.api.post(self._path("suggestion-labels"), {
            "feature_job_id": page.feature_job_id, "tagger": TAGGER,
            "labels": [{"item_id": item, "label_id": label}
                       for item, label in page.label_of.items()]})
        self.actions.batches += 1
        for item_id, label_id in page.label_of.items():
            self.labels.setdefault(item_id, label_id)

    def label_everything(self, item_ids_in_file_order: list[int]) -> None:
        bases = [self.run_job("scattering_features", {})["id"]]  # no training: seconds
        self.first_items(bases[0])
        source = self.best_source(bases)
        if self.needs_training(source):
            bases.append(self.run_job("contrastive_features", self.strategy.contrastive)["id"])
            source = self.best_source(bases)
        sources, step = list(bases), self.strategy.retrain_at * len(self.truth)
        next_training = step
        while self.unlabeled:
            # a training for the last page costs more than it saves
            if len(self.labels) >= next_training and self.unlabeled >= max(PAGE_SIZES) \
                    and self.every_class_labeled() and self.within_budget():
                # the newest label features replace the older ones (fewer sources to refit)
                base = self.best_source(bases, source if source in bases else None)
                sources = [*bases, self.label_features(base)]
                source = self.best_source(sources)
                next_training = len(self.labels) + min(step, 0.4 * self.unlabeled)
            self.find_unsuggested_classes(source)
            page = self.next_page(source)
            if page is None:
                break
            self.review(page)
            if len(sources) > 1:  # with more labels another source may separate them better
                source = self.best_source(sources, source)
        self._progress("suggestion pages")
