"""A classifier applied to another data set: its probability columns map to that data set's
classes by name, a class the data set lacks is shown under the model's name but never used
to label (or created with create_missing_classes), and the similarity, probability and
explorer features take the inference like one on the model's own data set."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import select

from app import create_server
from data.catalog import register_dataset, scan_dataset
from data.demo import generate_demo
from db.labels import create_label, list_labels
from db.models import Item, Tag
from db.session import transaction
from db.store import TagIn, apply_event
from errors import DomainError
from ml import rankings
from ml.class_mapping import probability_columns
from ml.features import feature_sources, load_probabilities
from ml.jobs import execute_job
from ml.projection_results import feature_values, load_projection
from ml.similarity import IndexCache
from settings import Settings
from tests.api_client import assert_error
from tests.databases import demo_dataset
from tests.feature_jobs import run_job

N_IMAGES = 24
CLASSES_A = ("rings", "peaks", "empty")  # the model's classes, in its column order
CLASSES_B = ("peaks", "rings", "streaks")  # created in this order: other ids than A's
CLASSIFIER = {"model": "resnet18", "image_size": 16, "epochs": 2, "batch_size": 8,
              "learning_rate": 0.001, "val_share": 0.3}
REFUSED = "is not a class of this data set; create it or run with create_missing_classes"


@dataclass
class Lab:
    settings: Settings
    session_factory: object
    dataset_a: int
    dataset_b: int
    dataset_c: int  # B's images again, for create_missing_classes
    classes_b: dict  # name: label id of B
    model: int  # the classifier_train job on A
    inference: object  # the classifier_infer job of the model on B


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Lab:
    """Data set A labeled with rings, peaks and empty and a classifier trained on it; data
    set B (classes peaks, rings, streaks; nothing labeled) and the model's inference on B."""
    torch.set_num_threads(1)  # the CPU is shared
    tmp_path = tmp_path_factory.mktemp("cross_inference")
    demo = demo_dataset(tmp_path, N_IMAGES, size=32, seed=4, classes=CLASSES_A)
    factory, artifacts = demo.session_factory, demo.settings.artifacts_dir
    with transaction(factory) as session:
        ids_a = {name: create_label(session, demo.dataset_id, name).id for name in CLASSES_A}
        items = dict(session.execute(select(Item.path, Item.id)
                                     .where(Item.dataset_id == demo.dataset_id)).all())
        apply_event(session, demo.dataset_id, "tester", "import",
                    [TagIn(items[path], ids_a[name]) for path, name in demo.truth])
    model = run_job(factory, artifacts, "classifier_train", demo.dataset_id, CLASSIFIER)
    generate_demo(tmp_path / "other", n_images=N_IMAGES, size=32, seed=8, classes=CLASSES_A)
    other = {}
    for name in ("other", "other again"):
        other[name] = register_dataset(factory, demo.settings.data_roots, name, "directory",
                                       str(tmp_path / "other")).id
        scan_dataset(factory, other[name])
    with transaction(factory) as session:
        classes_b = {name: create_label(session, other["other"], name).id
                     for name in CLASSES_B}
    inference = run_job(factory, artifacts, "classifier_infer", other["other"],
                        {"model_job_id": model.id, "batch_size": 8})
    yield Lab(demo.settings, factory, demo.dataset_id, other["other"], other["other again"],
              classes_b, model.id, inference)
    demo.engine.dispose()


def test_the_columns_map_to_the_other_data_sets_classes_by_name(lab):
    result = lab.inference.result
    assert result["label_names"] == list(CLASSES_A)
    assert result["label_ids"] == [lab.classes_b["rings"], lab.classes_b["peaks"], None]
    assert result["class_mapping"] == {"mapped": ["rings", "peaks"], "missing": ["empty"],
                                       "not_in_model": ["streaks"]}
    assert result["model_job_id"] == lab.model and result["model_dataset_id"] == lab.dataset_a
    item_ids, probabilities, label_ids = load_probabilities(lab.inference)
    assert probabilities.shape == (N_IMAGES, 3) and len(item_ids) == N_IMAGES
    assert label_ids == result["label_ids"]
    log = (Path(lab.inference.artifact_dir) / "job.log").read_text()
    assert f"classes of model {lab.model} this data set lacks" in log and "empty" in log


def test_the_probability_labeling_of_rings_labels_the_other_data_sets_rings(lab):
    item_ids, probabilities, _ = load_probabilities(lab.inference)
    rings = probabilities[:, CLASSES_A.index("rings")]
    threshold = float(np.median(rings))
    expected = sorted(item_ids[rings >= threshold].tolist())
    with lab.session_factory() as session:  # not committed: B stays unlabeled for the others
        by_id = rankings.probability_batch(session, lab.dataset_b, "tester", lab.inference.id,
                                           lab.classes_b["rings"], threshold)
        by_name = rankings.probability_batch(session, lab.dataset_b, "tester",
                                             lab.inference.id, None, threshold,
                                             class_name="rings")
        assert sorted(by_name.plan.to_label) == sorted(by_id.plan.to_label) == expected
        applied = rankings.probability_batch(session, lab.dataset_b, "tester", lab.inference.id,
                                             None, threshold, dry_run=False,
                                             class_name="rings")
        tags = session.scalars(select(Tag).where(Tag.event_id == applied.event.id)).all()
        assert sorted(tag.item_id for tag in tags) == expected
        assert {tag.label_id for tag in tags} == {lab.classes_b["rings"]}
        # the model never saw B's labels: every hand label of B is held out
        assert rankings._classifier_training(session, lab.inference).event_id == 0


def test_a_class_the_data_set_lacks_is_never_used_to_label(lab):
    with lab.session_factory() as session:
        with pytest.raises(DomainError) as refused:
            rankings.probability_batch(session, lab.dataset_b, "tester", lab.inference.id,
                                       None, 0.5, class_name="empty")
        assert refused.value.field == "class_name"
        assert str(refused.value) == f"class 'empty' of model #{lab.model} {REFUSED}"
        with pytest.raises(DomainError, match="not one of the classes"):
            rankings.probability_batch(session, lab.dataset_b, "tester", lab.inference.id,
                                       lab.classes_b["streaks"], 0.5)
        with pytest.raises(DomainError, match="is label") as disagree:
            rankings.probability_batch(session, lab.dataset_b, "tester", lab.inference.id,
                                       lab.classes_b["peaks"], 0.5, class_name="rings")
        assert disagree.value.field == "class_name"
        with pytest.raises(DomainError, match="has no class 'arcs'"):
            rankings.probability_batch(session, lab.dataset_b, "tester", lab.inference.id,
                                       None, 0.5, class_name="arcs")


def test_similarity_uncertainty_mistakes_and_the_explorer_take_the_inference(lab):
    cache = IndexCache()
    with lab.session_factory() as session:  # not committed: B stays unlabeled for the others
        sources = feature_sources(session, lab.dataset_b, with_probabilities=True)
        assert [source.job_id for source in sources] == [lab.inference.id]
        item_ids, probabilities, _ = load_probabilities(lab.inference)
        ranking = rankings.similar(session, cache, lab.dataset_b, lab.inference.id,
                                   [int(item_ids[0])], limit=5, match="any")
        assert len(ranking.item_ids) == 5
        job, uncertain_ids, _ = rankings.uncertain(session, lab.dataset_b, None)
        assert job.id == lab.inference.id and len(uncertain_ids) == N_IMAGES
        # a hand label 'streaks' everywhere: each item the model puts elsewhere with any
        # confidence contradicts it, its top class named even where B lacks it ('empty')
        apply_event(session, lab.dataset_b, "tester", "manual",
                    [TagIn(int(item), lab.classes_b["streaks"]) for item in item_ids])
        found = rankings.suspected_mistakes(session, lab.dataset_b, lab.inference.id, 0.0)
        assert found == []  # the model has no column for streaks: nothing to judge
        apply_event(session, lab.dataset_b, "tester", "manual",
                    [TagIn(int(item), lab.classes_b["rings"]) for item in item_ids])
        found = rankings.suspected_mistakes(session, lab.dataset_b, lab.inference.id, 0.0)
        top = probabilities.argmax(axis=1)
        assert len(found) == int((top != CLASSES_A.index("rings")).sum())
        columns = probability_columns(lab.inference)
        for mistake in found:
            assert mistake.predicted_label_id == columns.label_ids[mistake.predicted_column]
    projection = run_job(lab.session_factory, lab.settings.artifacts_dir, "projection",
                         lab.dataset_b, {"feature_job_id": lab.inference.id, "method": "pca",
                                         "n_components": 2})
    with lab.session_factory() as session:
        loaded = load_projection(session, projection.id, lab.dataset_b)
        confidence = feature_values(session, loaded, "confidence")
    rows = {int(item): row for row, item in enumerate(item_ids)}
    assert np.allclose(confidence, [probabilities[rows[int(i)]].max() for i in loaded.item_ids])


def test_create_missing_classes_adds_them_so_every_column_maps(lab):
    with lab.session_factory() as session:
        before = {label.name for label in list_labels(session, lab.dataset_c)}
    assert before == set()
    inference = run_job(lab.session_factory, lab.settings.artifacts_dir, "classifier_infer",
                        lab.dataset_c, {"model_job_id": lab.model, "batch_size": 8,
                                        "create_missing_classes": True})
    with lab.session_factory() as session:
        classes = {label.name: label.id for label in list_labels(session, lab.dataset_c)}
    assert list(classes) == list(CLASSES_A)  # in the model's order, palette colours
    assert inference.result["label_ids"] == [classes[name] for name in CLASSES_A]
    assert inference.result["class_mapping"]["missing"] == []
    with lab.session_factory() as session:
        plan = rankings.probability_batch(session, lab.dataset_c, "tester", inference.id,
                                          None, 0.0, class_name="empty")
    assert len(plan.plan.to_label) == N_IMAGES
    # a second run finds them there and creates nothing more
    run_job(lab.session_factory, lab.settings.artifacts_dir, "classifier_infer",
            lab.dataset_c, {"model_job_id": lab.model, "create_missing_classes": True})
    with lab.session_factory() as session:
        assert len(list_labels(session, lab.dataset_c)) == len(CLASSES_A)


def test_the_rest_routes_start_and_use_a_cross_data_set_inference(lab):
    settings = Settings(home=lab.settings.home, data_roots=lab.settings.data_roots,
                        cache_url="null://", tagger="tester")
    server = create_server(settings)
    client = server.test_client()
    try:
        answer = client.post("/api/v1/jobs", json={
            "kind": "classifier_infer", "dataset_id": lab.dataset_b,
            "params": {"model_job_id": lab.model, "create_missing_classes": "yes"}})
        assert_error(answer, 400, "params.create_missing_classes")
        answer = client.post("/api/v1/jobs", json={
            "kind": "classifier_infer", "dataset_id": lab.dataset_b,
            "params": {"model_job_id": lab.model, "batch_size": 8}})
        assert answer.status_code == 201, answer.json
        assert answer.json["params"]["create_missing_classes"] is False
        assert execute_job(lab.session_factory, lab.settings.artifacts_dir,
                           answer.json["id"]) == "succeeded"
        job = client.get(f"/api/v1/jobs/{answer.json['id']}").json
        assert job["result"]["label_ids"][2] is None
        url = f"/api/v1/datasets/{lab.dataset_b}/probability-labels"
        request = {"inference_job_id": answer.json["id"], "threshold": 0.5, "dry_run": True}
        refused = client.post(url, json={**request, "class_name": "empty"})
        assert_error(refused, 400, "class_name", f"class 'empty' of model #{lab.model}",
                     REFUSED)
        preview = client.post(url, json={**request, "class_name": "rings"})
        assert preview.status_code == 200, preview.json
        assert preview.json == client.post(
            url, json={**request, "label_id": lab.classes_b["rings"]}).json
        assert_error(client.post(url, json=request), 400, "label_id", "choose the label")
    finally:
        server.extensions["beamlabel"].engine.dispose()
