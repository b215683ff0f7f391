"""Guided labeling: similar items, similarity and probability batches, the active-learning
queue and the labeling-efficiency figures, all from the results of finished jobs."""
from __future__ import annotations

from flask_openapi3 import Tag

from api.blueprints import resource_blueprint, tagger_of
from api.error_answers import responses
from api.models import DatasetPath
from api.models_jobs import (BatchOut, EfficiencyOut, EfficiencyQuery, FirstItemOut,
                             FirstItemsOut, FirstItemsQuery, MethodRateOut, ProbabilityLabelsIn,
                             ProbabilityLabelsOut, SimilarIn, SimilarItemOut, SimilarityLabelsIn,
                             SimilarOut, SuggestedItemOut, SuggestionLabelsIn,
                             SuggestionLabelsOut, SuggestionsOut, SuggestionsQuery,
                             UncertainItemOut, UncertainOut, UncertainQuery)
from db import guided
from db import store
from db.session import transaction
from ml import rankings
from services import current_services

GUIDED = Tag(name="guided-labeling", description="similarity, probability and suggestion "
                                                 "batches, the first items to label, the "
                                                 "active-learning queue, labeling efficiency")

blueprint = resource_blueprint("guided")


def _batch_fields(plan, event) -> dict:
    return dict(count=len(plan.to_label), chosen=len(plan.item_ids),
                already_labeled=plan.labeled, agreeing=plan.agreeing,
                agreement=plan.agreement, event_id=event.id if event else None)


def _batch_out(plan, event) -> BatchOut:
    return BatchOut(**_batch_fields(plan, event))


@blueprint.post("/datasets/<int:dataset_id>/similar", tags=[GUIDED],
                summary="Items ranked by cosine distance to the query items",
                description="Exact ranking over the feature job's vectors, nearest first, by "
                            "the distance to the nearest query item (match 'any') or to their "
                            "mean ('mean'); without match, by the rule the data set's labels "
                            "so far favour, which the answer names. Labeled items are left "
                            "out unless unlabeled_only is false.",
                responses=responses(200, SimilarOut, 400, 404, 415))
def similar_items(path: DatasetPath, body: SimilarIn):
    services = current_services()
    with services.session_factory() as session:
        store.get_dataset(session, path.dataset_id)
        ranking = rankings.similar(session, services.feature_indexes, path.dataset_id,
                                   body.feature_job_id, body.query_item_ids,
                                   body.unlabeled_only, body.limit, body.max_distance,
                                   body.match)
        rows = guided.items_in_order(session, path.dataset_id, ranking.item_ids.tolist())
    distance = dict(zip(ranking.item_ids.tolist(), ranking.distances.tolist()))
    items = [SimilarItemOut(item_id=r.id, uri=r.uri, label_id=r.label_id,
                            distance=distance[r.id]) for r in rows]
    return SimilarOut(feature_job_id=body.feature_job_id, query_item_ids=body.query_item_ids,
                      match=ranking.match, match_from_labels=body.match is None,
                      items=items).model_dump(mode="json")


@blueprint.post("/datasets/<int:dataset_id>/similarity-labels", tags=[GUIDED],
                summary="Label a similarity batch (top k, a distance cutoff, or listed items) "
                        "as one event, or preview it with dry_run",
                description="The event's method is 'similarity'; its parameters hold the "
                            "feature job, the query items, the match rule used (without "
                            "match: the one the labels before the batch favour, with "
                            "match_from_labels true), the scope and the cutoff. Items that "
                            "carry a label keep it unless overwrite is true.",
                responses=responses(200, BatchOut, 400, 404, 415))
def similarity_labels(path: DatasetPath, body: SimilarityLabelsIn):
    services = current_services()
    with transaction(services.session_factory) as session:
        result = rankings.similarity_batch(
            session, services.feature_indexes, path.dataset_id, tagger_of(body.tagger),
            body.feature_job_id, body.query_item_ids, body.label_id, body.scope, body.top_k,
            body.max_distance, body.item_ids, body.unlabeled_only, body.overwrite,
            body.dry_run, body.match)
        return _batch_out(result.plan, result.event).model_dump(mode="json")


@blueprint.post("/datasets/<int:dataset_id>/probability-labels", tags=[GUIDED],
                summary="Label the items a classifier scores at or above a threshold, as one "
                        "event, or preview it with dry_run",
                description="The preview gives the count and the precision the threshold "
                            "would have had on the hand labels the classifier did not train "
                            "on (none when too few exist). The event's method "
                            "is 'probability'; each tag's confidence is its probability. "
                            "Labeled items keep their label unless overwrite_manual is true. "
                            "The label is label_id, or the class of this data set named like "
                            "the model's class class_name (a model of another data set maps "
                            "its classes by name; one this data set lacks is refused).",
                responses=responses(200, ProbabilityLabelsOut, 400, 404, 415))
def probability_labels(path: DatasetPath, body: ProbabilityLabelsIn):
    with transaction(current_services().session_factory) as session:
        result = rankings.probability_batch(
            session, path.dataset_id, tagger_of(body.tagger), body.inference_job_id,
            body.label_id, body.threshold, body.overwrite_manual, body.dry_run,
            body.class_name)
        check = result.check
        return ProbabilityLabelsOut(
            count=len(result.plan.to_label), above=result.above,
            disagreeing=result.plan.disagreeing, estimated_precision=check.precision,
            held_out_above=check.held_out_above, min_held_out=guided.MIN_HELD_OUT,
            recall=check.recall,
            event_id=result.event.id if result.event else None).model_dump(mode="json")


@blueprint.get("/datasets/<int:dataset_id>/suggestions", tags=[GUIDED],
               summary="Suggested labels for unlabeled items from the labels so far, most "
                       "confident first, with the precision a page of them can be expected to "
                       "have",
               description="A logistic-regression model on the feature job's vectors, fitted "
                           "on the current labels whenever they change. Without label_id: "
                           "the next page to review, the surest suggestions of any class "
                           "grouped by class; with it, that label's page. With order=newest: "
                           "every unlabeled item newest first, as the label page follows a "
                           "live data set. The expected precision is measured on held-out "
                           "labels.",
               responses=responses(200, SuggestionsOut, 400, 404))
def suggestions(path: DatasetPath, query: SuggestionsQuery):
    services = current_services()
    with services.session_factory() as session:
        store.get_dataset(session, path.dataset_id)
        if query.order == "newest":
            listed, page = rankings.newest_suggestion_page(
                session, services.feature_indexes, path.dataset_id, query.feature_job_id,
                query.limit, query.offset, query.label_id)
        else:
            page = rankings.suggestion_page(session, services.feature_indexes,
                                            path.dataset_id, query.feature_job_id,
                                            query.label_id, query.limit, query.offset)
            listed = page.item_ids
        rows = guided.items_in_order(session, path.dataset_id, listed.tolist())
    suggested = {item: {"label_id": label, "confidence": confidence}
                 for item, label, confidence in zip(page.item_ids.tolist(),
                                                    page.label_ids.tolist(),
                                                    page.confidences.tolist())}
    unsuggested = {"label_id": None, "confidence": None}
    return SuggestionsOut(
        feature_job_id=query.feature_job_id, labels_used=page.model.labels_used,
        held_out_accuracy=page.model.held_out_accuracy, suggested=page.model.counts(),
        expected_precision=page.expected_precision,
        items=[SuggestedItemOut(item_id=r.id, uri=r.uri, **suggested.get(r.id, unsuggested))
               for r in rows]
    ).model_dump(mode="json")


@blueprint.post("/datasets/<int:dataset_id>/suggestion-labels", tags=[GUIDED],
                summary="Accept a page of suggestions as one event, or preview it with dry_run",
                description="The event's method is 'suggestion'; each tag's confidence is the "
                            "model's probability of the label, and the event's parameters "
                            "keep the expected precision. Labeled items keep their label "
                            "unless overwrite is true.",
                responses=responses(200, SuggestionLabelsOut, 400, 404, 415))
def suggestion_labels(path: DatasetPath, body: SuggestionLabelsIn):
    services = current_services()
    with transaction(services.session_factory) as session:
        batch = rankings.suggestion_batch(
            session, services.feature_indexes, path.dataset_id, tagger_of(body.tagger),
            body.feature_job_id, body.label_of(), body.overwrite, body.dry_run)
        return SuggestionLabelsOut(
            **_batch_fields(batch.result.plan, batch.result.event),
            expected_precision=batch.expected_precision,
            held_out_accuracy=batch.model.held_out_accuracy).model_dump(mode="json")


@blueprint.get("/datasets/<int:dataset_id>/first-items", tags=[GUIDED],
               summary="Unlabeled items to label first: typical ones spread over the whole "
                       "feature space, so the first labels meet every class",
               responses=responses(200, FirstItemsOut, 400, 404))
def first_items(path: DatasetPath, query: FirstItemsQuery):
    with current_services().session_factory() as session:
        store.get_dataset(session, path.dataset_id)
        item_ids = rankings.first_items(session, path.dataset_id, query.feature_job_id,
                                        query.limit)
        rows = guided.items_in_order(session, path.dataset_id, item_ids.tolist())
    return FirstItemsOut(feature_job_id=query.feature_job_id, items=[
        FirstItemOut(item_id=r.id, uri=r.uri) for r in rows]).model_dump(mode="json")


@blueprint.get("/datasets/<int:dataset_id>/uncertain", tags=[GUIDED],
               summary="The active-learning queue: unlabeled items the classifier is least "
                       "sure of, most uncertain first",
               responses=responses(200, UncertainOut, 400, 404))
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
               responses=responses(200, EfficiencyOut, 404))
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
