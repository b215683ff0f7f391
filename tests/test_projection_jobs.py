"""The projection job kind on demo images with a feature job whose vectors know the classes:
stored points, clusters and heat-map images, selections, and labeling a cluster."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score
from sqlalchemy import select

from data.selection_stats import square_image
from data.sources.directory import DirectorySource
from data.transforms import Transform
from db import jobs as job_store
from db.labels import create_label
from db.models import Item, Job, TaggingEvent
from db.session import transaction
from db.store import TagIn, apply_event, current_labels
from errors import DomainError
from ml.features import load_vectors
from ml.jobs import create_job, execute_job
from callbacks.explorer import heatmap_title
from ml.projection_place import place_new_points
from ml.projection_results import (ON_DEMAND, explorer_order, feature_state, feature_values,
                                   find_projection, heatmap, label_selection, load_projection,
                                   load_selection, place_arrivals, save_selection,
                                   selection_items, summarize)
from tests.databases import DemoDataset, demo_dataset, make_dataset
from tests.feature_jobs import make_feature_job
from tests.growing_features import append_feature_rows

CLASSES = ("empty", "rings", "peaks")
N_IMAGES, SIZE = 45, 32


@dataclass
class Lab(DemoDataset):
    item_ids: np.ndarray = None  # in the feature job's order
    classes: np.ndarray = None  # class index per item
    feature_job_id: int = 0


@pytest.fixture
def lab(tmp_path) -> Lab:
    """Demo images and a classifier-like feature job: class centres plus noise."""
    demo = demo_dataset(tmp_path, N_IMAGES, seed=2, classes=CLASSES)
    with demo.session_factory() as session:
        ids = dict(session.execute(select(Item.path, Item.id)
                                   .where(Item.dataset_id == demo.dataset_id)).all())
    item_ids = np.array([ids[path] for path, _label in demo.truth])
    classes = np.array([CLASSES.index(label) for _path, label in demo.truth])
    rng = np.random.default_rng(0)
    vectors = rng.normal(scale=5.0, size=(len(CLASSES), 16))[classes] + rng.normal(
        size=(len(classes), 16))
    probabilities = np.full((len(classes), len(CLASSES)), 0.1)
    probabilities[np.arange(len(classes)), classes] = 0.8
    feature_job_id = make_feature_job(demo.session_factory, demo.dataset_id,
                                      demo.settings.artifacts_dir, item_ids, vectors,
                                      probabilities, label_ids=[1, 2, 3])
    yield Lab(**vars(demo), item_ids=item_ids, classes=classes, feature_job_id=feature_job_id)
    demo.engine.dispose()


def run_projection(lab: Lab, **params):
    with transaction(lab.session_factory) as session:
        job_id = create_job(session, "projection", lab.dataset_id,
                            {"feature_job_id": lab.feature_job_id, **params},
                            "tester").id
    execute_job(lab.session_factory, lab.settings.artifacts_dir, job_id)
    with lab.session_factory() as session:
        return job_store.get_job(session, job_id)


KMEANS = {"method": "kmeans", "params": {"n_clusters": 3}}


def test_projection_job_stores_points_clusters_and_transformed_images(lab):
    job = run_projection(lab, method="pca", n_components=3, clustering=KMEANS,
                         heatmap_size=SIZE)
    assert job.status == "succeeded", job.error
    assert job.result["items"] == N_IMAGES and job.result["clusters"] == 3
    with lab.session_factory() as session:
        projection = load_projection(session, job.id, lab.dataset_id)
    assert projection.points.shape == (N_IMAGES, 3) and projection.points.dtype == np.float32
    assert projection.item_ids.tolist() == lab.item_ids.tolist()
    assert adjusted_rand_score(lab.classes, projection.clusters) > 0.9

    # the heat map of a selection is the mean / std of its transformed images: all of
    # them, as the data set is no larger than the heat-map sample
    assert job.result["heatmap"] == {"items": N_IMAGES, "of": N_IMAGES, "seed": 0}
    chosen = lab.item_ids[lab.classes == 1]
    with lab.session_factory() as session:
        found = heatmap(session, projection, chosen)
    stats, images = found.stats, transformed_images(lab, chosen)
    assert not found.sampled and found.selected == len(chosen)
    assert stats.count == len(chosen) and stats.mean.shape == (SIZE, SIZE)
    assert np.abs(stats.mean - images.mean(axis=0)).max() < 1 / 255
    assert np.abs(stats.std - images.std(axis=0)).max() < 2 / 255
    assert heatmap_title(found, "mean") == f"mean of {len(chosen)} images"


def transformed_images(lab: Lab, item_ids) -> np.ndarray:
    source = DirectorySource(str(lab.settings.data_roots[0] / "images"))
    with lab.session_factory() as session:
        paths = dict(session.execute(select(Item.id, Item.path)).all())
    return np.stack([square_image(source.read(paths[int(i)]), SIZE, Transform(log=True))
                     for i in item_ids])


def test_the_heat_maps_of_a_large_data_set_read_a_seeded_sample_and_say_so(lab):
    job = run_projection(lab, method="pca", heatmap_size=SIZE, heatmap_sample=20)
    assert job.status == "succeeded", job.error
    assert job.result["heatmap"] == {"items": 20, "of": N_IMAGES, "seed": 0}
    folder = Path(job.artifact_dir)
    sample = np.load(folder / "heatmap_item_ids.npy")
    assert np.load(folder / "images.npy").shape == (20, SIZE, SIZE)
    assert len(set(sample.tolist())) == 20 and set(sample) <= set(lab.item_ids)
    assert sample.tolist() == [i for i in lab.item_ids if i in set(sample)]  # in job order
    again = run_projection(lab, method="umap", n_neighbors=10, heatmap_size=SIZE,
                           heatmap_sample=20)
    assert np.array_equal(np.load(Path(again.artifact_dir) / "heatmap_item_ids.npy"), sample)
    assert inode(again, "images.npy") == inode(job, "images.npy")
    other = run_projection(lab, method="pca", heatmap_size=SIZE, heatmap_sample=30)
    assert inode(other, "images.npy") != inode(job, "images.npy")

    chosen = lab.item_ids[lab.classes == 1]
    in_sample = chosen[np.isin(chosen, sample)]
    assert 0 < len(in_sample) < len(chosen)
    with lab.session_factory() as session:
        projection = load_projection(session, job.id)
        # a selection the sample holds enough of: the statistics of its sampled items
        found = heatmap(session, projection, chosen, on_demand=2)
        images = transformed_images(lab, in_sample)
        assert found.sampled and found.selected == len(chosen)
        assert found.stats.count == len(in_sample)
        assert np.abs(found.stats.mean - images.mean(axis=0)).max() < 1 / 255
        assert heatmap_title(found, "std") == \
            f"standard deviation of {len(in_sample)} of {len(chosen)} selected (sample)"
        # one it holds too few of: up to on_demand of its images are read now
        assert ON_DEMAND >= len(chosen)
        found = heatmap(session, projection, chosen)
        assert found.stats.count == len(chosen)
        images = transformed_images(lab, chosen)
        assert np.abs(found.stats.mean - images.mean(axis=0)).max() < 1 / 255
        assert np.abs(found.stats.std - images.std(axis=0)).max() < 2 / 255
        outside = lab.item_ids[~np.isin(lab.item_ids, sample)]
        found = heatmap(session, projection, outside, on_demand=3)
        assert found.stats.count == 3 and found.selected == len(outside)


def inode(job, name: str) -> int:
    return os.stat(Path(job.artifact_dir) / name).st_ino


def test_projections_of_the_same_features_share_images_and_points_instead_of_recomputing(lab):
    first = run_projection(lab, method="pca", heatmap_size=SIZE)
    second = run_projection(lab, method="umap", n_neighbors=10, heatmap_size=SIZE,
                            clustering={"method": "hdbscan", "params": {"min_cluster_size": 8}})
    assert second.status == "succeeded", second.error
    assert inode(first, "images.npy") == inode(second, "images.npy")
    assert inode(first, "points.npy") != inode(second, "points.npy")
    with lab.session_factory() as session:
        projection = load_projection(session, second.id)
    assert adjusted_rand_score(lab.classes, projection.clusters) > 0.9
    # a new clustering of the same UMAP takes its points; other heat-map settings read the
    # images again
    third = run_projection(lab, method="umap", n_neighbors=10, heatmap_size=16, log=False,
                           clustering={"method": "kmeans", "params": {"n_clusters": 3}})
    assert inode(third, "points.npy") == inode(second, "points.npy")
    assert inode(third, "images.npy") != inode(first, "images.npy")
    with lab.session_factory() as session:
        reclustered = load_projection(session, third.id)
    assert np.array_equal(reclustered.points, projection.points)
    assert adjusted_rand_score(lab.classes, reclustered.clusters) > 0.9


def test_a_cluster_batch_keeps_hand_labels_unless_asked_to_overwrite(lab):
    job = run_projection(lab, method="pca", clustering=KMEANS, heatmap_size=SIZE)
    with transaction(lab.session_factory) as session:
        group = create_label(session, lab.dataset_id, "group").id
        other = create_label(session, lab.dataset_id, "other").id
        projection = load_projection(session, job.id)
        members = projection.cluster_items(0).tolist()
        apply_event(session, lab.dataset_id, "anna", "manual",
                    [TagIn(members[0], other), TagIn(members[1], other)])
        event, plan = label_selection(session, projection, members, group, "tester", 0)
        assert event.n_tags == len(members) - 2 and plan.labeled == 2 and plan.agreeing == 0
        labeled = {item: label for item, _uri, label, _event, _c in
                   current_labels(session, lab.dataset_id)}
        assert labeled[members[0]] == labeled[members[1]] == other
        event, _plan = label_selection(session, projection, members, group, "tester", 0,
                                       overwrite=True)
        assert event.n_tags == 2 and event.params["overwrite"] is True


def test_labeling_a_cluster_is_one_cluster_event_with_the_projection_in_its_params(lab):
    job = run_projection(lab, method="pca", clustering=KMEANS, heatmap_size=SIZE)
    with transaction(lab.session_factory) as session:
        label_id = create_label(session, lab.dataset_id, "group").id
        projection = load_projection(session, job.id)
        members = projection.cluster_items(0)
        event, _plan = label_selection(session, projection, members, label_id, "tester",
                                       cluster_id=0)
        event_id = event.id
    with lab.session_factory() as session:
        event = session.get(TaggingEvent, event_id)
        assert event.method == "cluster" and event.n_tags == len(members)
        assert event.params["projection_job_id"] == job.id and event.params["cluster"] == 0
        assert sorted(event.params["item_ids"]) == sorted(members.tolist())
        assert load_selection(projection, event.params["selection"]).tolist() == \
            sorted(members.tolist())
        labeled = {item_id: label for item_id, _uri, label, _event, _c in
                   current_labels(session, lab.dataset_id)}
        assert labeled == {int(i): label_id for i in members}
        summary = summarize(session, projection, lab.item_ids)
        assert summary.count == N_IMAGES
        assert summary.per_label == {-1: N_IMAGES - len(members), label_id: len(members)}
        assert summary.per_cluster[0] == len(members) and sum(summary.per_cluster.values()) \
            == N_IMAGES
        confidence = feature_values(session, projection, "confidence")
        assert np.allclose(confidence, 0.8)


def test_selections_keep_only_the_projections_items_and_unknown_keys_are_refused(lab):
    job = run_projection(lab, method="pca", heatmap_size=SIZE)
    with lab.session_factory() as session:
        projection = load_projection(session, job.id)
    chosen = [int(lab.item_ids[3]), int(lab.item_ids[1]), 10**9]
    key = save_selection(projection, chosen)
    assert load_selection(projection, key).tolist() == sorted(chosen[:2])
    assert save_selection(projection, chosen[::-1]) == key
    for bad in ("0123456789abcdef", "../../etc/passwd", 5, None, ["a"]):
        with pytest.raises(DomainError, match="does not exist"):
            load_selection(projection, bad)


def test_selections_named_with_values_of_the_wrong_type_are_refused(lab):
    """The explorer's selection store comes back from the browser: any JSON may arrive."""
    job = run_projection(lab, method="pca", heatmap_size=SIZE, clustering=KMEANS)
    with lab.session_factory() as session:
        projection = load_projection(session, job.id)
        for job_id in ("1", 1.5, True, None, [job.id]):
            with pytest.raises(DomainError, match="not a finished projection job"):
                load_projection(session, job_id)
    assert len(selection_items(projection, cluster_id="0")) == \
        len(selection_items(projection, cluster_id=0)) > 0
    for cluster in ("rings", 0.5, [0], {"a": 1}, "1e3"):
        with pytest.raises(DomainError, match="not a cluster number"):
            selection_items(projection, cluster_id=cluster)


def refusal(lab: Lab, **params) -> DomainError:
    with pytest.raises(DomainError) as refused:
        with transaction(lab.session_factory) as session:
            create_job(session, "projection", lab.dataset_id, params, "tester")
    return refused.value


def test_projections_that_cannot_run_are_refused_before_they_are_queued(lab):
    assert refusal(lab).field == "params.feature_job_id"
    assert refusal(lab, feature_job_id=lab.feature_job_id, method="umap",
                   n_neighbors=N_IMAGES).field == "params.n_neighbors"
    assert refusal(lab, feature_job_id=lab.feature_job_id, method="umap", n_neighbors=12,
                   fit_sample=12).field == "params.n_neighbors"
    assert refusal(lab, feature_job_id=lab.feature_job_id, fit_sample=5).field == \
        "params.fit_sample"
    assert refusal(lab, feature_job_id=lab.feature_job_id,
                   clustering={"method": "kmeans", "params": {"n_clusters": 1}}
                   ).field == "params.clustering.params.n_clusters"
    assert refusal(lab, feature_job_id=lab.feature_job_id, pmin=99, pmax=1).field == \
        "params.pmin"
    for sample in (0, 10**9, "all"):
        assert refusal(lab, feature_job_id=lab.feature_job_id,
                       heatmap_sample=sample).field == "params.heatmap_sample"
    other_id, other_items, _labels = make_dataset(lab.session_factory, 5, name="other")
    other_job = make_feature_job(lab.session_factory, other_id, lab.settings.artifacts_dir,
                                 other_items, np.zeros((5, 4)))
    error = refusal(lab, feature_job_id=other_job)
    assert error.field == "params.feature_job_id" and "belongs to data set" in str(error)
    with lab.session_factory() as session:
        assert job_store.list_jobs(session, lab.dataset_id, "projection") == []


def test_projections_start_and_are_refused_through_the_rest_api(lab):
    from app import create_server

    server = create_server(lab.settings)
    client = server.test_client()
    refused = client.post("/api/v1/jobs", json={
        "kind": "projection", "dataset_id": lab.dataset_id,
        "params": {"feature_job_id": lab.feature_job_id, "method": "umap",
                   "n_neighbors": 500}})
    assert refused.status_code == 400 and refused.json["field"] == "params.n_neighbors"
    answer = client.post("/api/v1/jobs", json={
        "kind": "projection", "dataset_id": lab.dataset_id,
        "params": {"feature_job_id": lab.feature_job_id, "n_components": 3,
                   "clustering": {"method": "dbscan", "params": {"eps": 3.0},
                                  "space": "features"}}})
    assert answer.status_code == 201, answer.json
    assert answer.json["status"] == "queued"
    assert answer.json["params"]["clustering"]["params"] == {"eps": 3.0, "min_samples": 5}
    # the queued job runs where a worker would run it
    execute_job(lab.session_factory, lab.settings.artifacts_dir, answer.json["id"])
    job = client.get(f"/api/v1/jobs/{answer.json['id']}").json
    assert job["status"] == "succeeded", job["error"]
    assert set(job["result"]["files"]) == {"points", "item_ids", "pca_mean", "pca_components",
                                           "clusters", "images", "readable",
                                           "heatmap_ids"}
    server.extensions["beamlabel"].engine.dispose()


def test_an_autoencoder_source_colours_by_reconstruction_error_not_confidence(lab):
    from ml.projection_results import available_colourings

    rng = np.random.default_rng(1)
    source_id = make_feature_job(lab.session_factory, lab.dataset_id, lab.settings.artifacts_dir,
                                 lab.item_ids, rng.normal(size=(N_IMAGES, 4)))
    errors = rng.random(N_IMAGES).astype(np.float32)
    with transaction(lab.session_factory) as session:
        source = session.get(Job, source_id)
        np.save(Path(source.artifact_dir) / "errors.npy", errors)
        source.result = {**source.result,
                         "files": {**source.result["files"], "errors": "errors.npy"}}
    with transaction(lab.session_factory) as session:
        job = create_job(session, "projection", lab.dataset_id,
                         {"feature_job_id": source_id, "heatmap_size": 8}, "tester")
        job_id = job.id
    assert execute_job(lab.session_factory, lab.settings.artifacts_dir, job_id) == "succeeded"
    with lab.session_factory() as session:
        projection = load_projection(session, job_id)
        assert available_colourings(session, projection) == ["label", "error"]
        assert np.allclose(feature_values(session, projection, "error"), errors)
        with pytest.raises(DomainError, match="no class probabilities"):
            feature_values(session, projection, "confidence")


def test_a_selection_or_cluster_opens_in_the_gallery_as_an_order(lab):
    from callbacks.guided_order import guided_order

    job = run_projection(lab, method="pca", clustering=KMEANS, heatmap_size=8)
    with lab.session_factory() as session:
        projection = load_projection(session, job.id)
        key = save_selection(projection, lab.item_ids[:5])
        chosen = guided_order(session, lab.dataset_id,
                              explorer_order(str(lab.dataset_id), str(job.id), key, None))
        assert chosen.item_ids == sorted(lab.item_ids[:5].tolist())
        assert "5 items selected in the explorer" in chosen.title
        whole = guided_order(session, lab.dataset_id,
                             explorer_order(str(lab.dataset_id), str(job.id), None, "0"))
        assert whole.item_ids == sorted(projection.cluster_items(0).tolist())
        gone = guided_order(session, lab.dataset_id,
                            explorer_order(str(lab.dataset_id), str(job.id), "0" * 16, None))
        assert gone.item_ids == [] and "does not exist" in gone.title
    assert explorer_order("1", "x", key, None) is None
    assert explorer_order("1", "2", None, None) is None


# --- items that arrive after the fit (a live data set's feature job gains rows) ------------

FITTED = 36  # the feature job holds the first items when the projection is fitted


def growing_source(lab: Lab) -> tuple[int, np.ndarray]:
    """A feature job of the first FITTED items (same vectors as the lab's); and the
    vectors of all items, for the rows that arrive later."""
    with lab.session_factory() as session:
        _ids, vectors = load_vectors(session.get(Job, lab.feature_job_id))
    vectors = np.array(vectors)
    job_id = make_feature_job(lab.session_factory, lab.dataset_id, lab.settings.artifacts_dir,
                              lab.item_ids[:FITTED], vectors[:FITTED])
    return job_id, vectors


def project_source(lab: Lab, source_id: int, **params):
    with transaction(lab.session_factory) as session:
        job_id = create_job(session, "projection", lab.dataset_id,
                            {"feature_job_id": source_id, "heatmap_size": 8, **params},
                            "tester").id
    assert execute_job(lab.session_factory, lab.settings.artifacts_dir, job_id) == "succeeded"
    with lab.session_factory() as session:
        return job_store.get_job(session, job_id)


def test_a_pca_job_saves_its_transform_and_places_items_that_arrive_later(lab):
    source_id, vectors = growing_source(lab)
    job = project_source(lab, source_id, method="pca")
    assert {"pca_mean", "pca_components"} <= set(job.result["files"])
    with lab.session_factory() as session:
        projection = load_projection(session, job.id)
        assert place_arrivals(session, projection).item_ids.tolist() == []
    assert np.allclose(place_new_points(job, vectors[:FITTED]), projection.points, atol=1e-4)

    arrived = lab.item_ids[FITTED:]
    with lab.session_factory() as session:
        before = feature_state(session, job.id)
    append_feature_rows(lab.session_factory, source_id, arrived, vectors[FITTED:])
    with transaction(lab.session_factory) as session:
        assert feature_state(session, job.id) != before
        placed = place_arrivals(session, projection)
        assert placed.item_ids.tolist() == arrived.tolist() and placed.unplaced == 0
        assert placed.feature_state == feature_state(session, job.id)
        assert np.allclose(placed.points, place_new_points(job, vectors[FITTED:]))
        # a placed item keeps its place; only the fitted points are the projection's
        assert np.array_equal(place_arrivals(session, projection).points, placed.points)
        assert len(load_projection(session, job.id).item_ids) == FITTED

        # a selection and its label take the arrived items too
        label_id = create_label(session, lab.dataset_id, "group").id
        chosen = [int(arrived[0]), int(arrived[1]), int(lab.item_ids[0]), 10**9]
        assert summarize(session, projection, chosen).count == 3
        assert summarize(session, projection, chosen).arrived == 2
        event, _plan = label_selection(session, projection, chosen, label_id, "tester")
        assert sorted(event.params["item_ids"]) == sorted(chosen[:3])
    assert save_selection(projection, chosen) != save_selection(projection, chosen, arrived)


def test_a_job_fitted_on_a_sample_places_the_rest_by_its_transform_and_says_so(lab):
    job = run_projection(lab, method="umap", n_neighbors=8, seed=5, fit_sample=20,
                         heatmap_size=SIZE)
    assert job.status == "succeeded", job.error
    assert job.result["fit"] == {"sample": 20, "seed": 5, "placed": N_IMAGES - 20}
    with lab.session_factory() as session:
        projection = load_projection(session, job.id)
    assert projection.points.shape == (N_IMAGES, 2) and np.isfinite(projection.points).all()
    # each class stays together on the map, sampled and placed points alike
    centres = np.stack([projection.points[lab.classes == k].mean(axis=0)
                        for k in range(len(CLASSES))])
    nearest = np.linalg.norm(projection.points[:, None] - centres[None], axis=2).argmin(axis=1)
    assert (nearest == lab.classes).all()
    assert run_projection(lab, method="pca", heatmap_size=SIZE).result["fit"] == \
        {"sample": N_IMAGES, "seed": 0, "placed": 0}


def test_a_new_clustering_of_a_grown_feature_job_keeps_to_the_fitted_points(lab):
    source_id, vectors = growing_source(lab)
    first = project_source(lab, source_id, method="pca")
    append_feature_rows(lab.session_factory, source_id, lab.item_ids[FITTED:],
                        vectors[FITTED:])
    second = project_source(lab, source_id, method="pca",
                            clustering={"method": "kmeans", "params": {"n_clusters": 3},
                                        "space": "features"})
    assert inode(first, "points.npy") == inode(second, "points.npy")
    assert second.result["items"] == FITTED
    with lab.session_factory() as session:
        projection = load_projection(session, second.id)
        assert len(projection.clusters) == len(projection.points) == FITTED
        assert place_arrivals(session, projection).item_ids.tolist() == \
            lab.item_ids[FITTED:].tolist()


def test_an_older_job_without_a_transform_places_nothing_and_is_refitted_when_asked_again(lab):
    source_id, vectors = growing_source(lab)
    job = project_source(lab, source_id, method="pca")
    with transaction(lab.session_factory) as session:  # as jobs wrote it before
        older = session.get(Job, job.id)
        for key in ("pca_mean", "pca_components"):
            (Path(older.artifact_dir) / older.result["files"][key]).unlink()
        older.result = {**older.result, "files": {
            key: name for key, name in older.result["files"].items()
            if key not in ("pca_mean", "pca_components")}}
    append_feature_rows(lab.session_factory, source_id, lab.item_ids[FITTED:],
                        vectors[FITTED:])
    with lab.session_factory() as session:
        projection = load_projection(session, job.id)
        placed = place_arrivals(session, projection)
        assert placed.item_ids.tolist() == [] and placed.unplaced == N_IMAGES - FITTED
        assert find_projection(session, lab.dataset_id, job.params) is None
    refitted = project_source(lab, source_id, method="pca")
    assert refitted.result["items"] == N_IMAGES
    assert inode(refitted, "points.npy") != inode(job, "points.npy")


def test_a_umap_job_saves_its_model_and_places_arrivals_among_their_class(lab):
    source_id, vectors = growing_source(lab)
    job = project_source(lab, source_id, method="umap", n_neighbors=8, seed=2)
    assert "umap_model" in job.result["files"]
    append_feature_rows(lab.session_factory, source_id, lab.item_ids[FITTED:],
                        vectors[FITTED:])
    with lab.session_factory() as session:
        projection = load_projection(session, job.id)
        placed = place_arrivals(session, projection)
    assert placed.item_ids.tolist() == lab.item_ids[FITTED:].tolist()
    # the fitted point nearest each placed one on the map is of its class
    distances = np.linalg.norm(placed.points[:, None] - projection.points[None], axis=2)
    nearest = lab.classes[:FITTED][distances.argmin(axis=1)]
    assert nearest.tolist() == lab.classes[FITTED:].tolist()
