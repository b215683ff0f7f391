"""Guided labeling: similar items, similarity and probability batches, the active-learning
queue and the labeling-efficiency figures, all from the results of finished jobs."""
from __future__ import annotations

from flask_openapi3 import Tag

from api.blueprints import resource_blueprint, tagger_of
from api.error_answers import responses
from api.models import DatasetPath
from api.models_jobs import (BatchOut, EfficiencyOut, EfficiencyQuery, MethodRateOut,
                             ProbabilityLabelsIn, ProbabilityLabelsOut, SimilarIn,
                             SimilarItemOut, SimilarityLabelsIn, SimilarOut, UncertainItemOut,
                             UncertainOut, UncertainQuery)
from db import guided
from db import store
from db.session import transaction
from ml import rankings
from services import current_services

GUIDED = Tag(name="guided-labeling", description="similarity and probability batches, the "
                                                 "active-learning queue, labeling efficiency")

blueprint = resource_blueprint("guided")


def _batch_out(plan, event) -> BatchOut:
    return BatchOut(count=len(plan.to_label), chosen=len(plan.item_ids),
                    already_labeled=plan.labeled, agreeing=plan.agreeing,
                    agreement=plan.agreement, event_id=event.id if event else None)


@blueprint.post("/datasets/<int:dataset_id>/similar", tags=[GUIDED],
                summary="Items ranked by cosine distance to the mean of the query items",
                description="Exact ranking over the feature job's vectors, nearest first; "
                            "labeled items are left out unless unlabeled_only is false.",
                responses=responses(200, SimilarOut, 400, 404, 415))
def similar_items(path: DatasetPath, body: SimilarIn):
    services = current_services()
    with services.session_factory() as session:
        store.get_dataset(session, path.dataset_id)
        ranking = rankings.similar(session, services.feature_indexes, path.dataset_id,
                                   body.feature_job_id, body.query_item_ids,
                                   body.unlabeled_only, body.limit, body.max_distance)
        rows = guided.items_in_order(session, path.dataset_id, ranking.item_ids.tolist())
    distance = dict(zip(ranking.item_ids.tolist(), ranking.distances.tolist()))
    items = [SimilarItemOut(item_id=r.id, uri=r.uri, label_id=r.label_id,
                            distance=distance[r.id]) for r in rows]
    return SimilarOut(feature_job_id=body.feature_job_id, query_item_ids=body.query_item_ids,
                      items=items).model_dump(mode="json")


@blueprint.post("/datasets/<int:dataset_id>/similarity-labels", tags=[GUIDED],
                summary="Label a similarity batch (top k, a distance cutoff, or listed items) "
                        "as one event, or preview it with dry_run",
                description="The event's method is 'similarity'; its parameters hold the "
                            "feature job, the query items, the scope and the cutoff. Items "
                            "that carry a label keep it unless overwrite is true.",
                responses=responses(200, BatchOut, 400, 404, 415))
def similarity_labels(path: DatasetPath, body: SimilarityLabelsIn):
    services = current_services()
    with transaction(services.session_factory) as session:
        result = rankings.similarity_batch(
            session, services.feature_indexes, path.dataset_id, tagger_of(body.tagger),
            body.feature_job_id, body.query_item_ids, body.label_id, body.scope, body.top_k,
            body.max_distance, body.item_ids, body.unlabeled_only, body.overwrite,
            body.dry_run)
        return _batch_out(result.plan, result.event).model_dump(mode="json")


@blueprint.post("/datasets/<int:dataset_id>/probability-labels", tags=[GUIDED],
                summary="Label the items a classifier scores at or above a threshold, as one "
                        "event, or preview it with dry_run",
                description="The preview gives the count and the precision the threshold "
                            "would have had on the items labeled by hand. The event's method "
                            "is 'probability'; each tag's confidence is its probability. "
                            "Labeled items keep their label unless overwrite_manual is true.",
                responses=responses(200, ProbabilityLabelsOut, 400, 404, 415))
def probability_labels(path: DatasetPath, body: ProbabilityLabelsIn):
    with transaction(current_services().session_factory) as session:
        result = rankings.probability_batch(
            session, path.dataset_id, tagger_of(body.tagger), body.inference_job_id,
            body.label_id, body.threshold, body.overwrite_manual, body.dry_run)
        return ProbabilityLabelsOut(
            count=len(result.plan.to_label), above=result.above,
            estimated_precision=result.check.precision,
            hand_labeled_above=result.check.hand_above, recall=result.check.recall,
            precision_held_out=result.check.held_out,
            event_id=result.event.id if result.event else None).model_dump(mode="json")


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
