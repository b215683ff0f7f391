"""classifier_train and classifier_infer as jobs: a real training run on labeled demo
images, inference over the whole data set, and the setups that are refused."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from db import jobs as job_store
from db.labels import create_label, delete_label
from db.models import Item
from db.session import open_database, transaction
from db.store import TagIn, apply_event
from errors import DomainError
from ml.classifier_data import training_set
from ml.features import feature_sources, load_probabilities
from ml.jobs import create_job, execute_job
from settings import Settings
from tests.databases import DemoDataset, demo_dataset, make_dataset

CLASSES = ("empty", "rings", "peaks")
N_IMAGES, N_UNLABELED = 96, 12
TRAIN = {"model": "resnet18", "image_size": 48, "epochs": 10, "batch_size": 16,
         "learning_rate": 0.001, "val_share": 0.3, "hflip": True}


@dataclass
class Lab(DemoDataset):
    event_id: int = 0  # the event that labeled the images


@pytest.fixture
def lab(tmp_path) -> Lab:
    """Demo images of three classes, all but the last N_UNLABELED labeled in one event."""
    import torch

    torch.set_num_threads(1)  # the CPU is shared: two threads that wait on each other lose
    demo = demo_dataset(tmp_path, N_IMAGES, seed=4, classes=CLASSES)
    with transaction(demo.session_factory) as session:
        labels = {name: create_label(session, demo.dataset_id, name).id for name in CLASSES}
        ids = dict(session.execute(select(Item.path, Item.id)
                                   .where(Item.dataset_id == demo.dataset_id)).all())
        tags = [TagIn(ids[path], labels[label]) for path, label in demo.truth[:-N_UNLABELED]]
        event_id = apply_event(session, demo.dataset_id, "tester", "import", tags).id
    yield Lab(**vars(demo), event_id=event_id)
    demo.engine.dispose()


def run_job(lab: Lab, kind: str, params: dict):
    with transaction(lab.session_factory) as session:
        job_id = create_job(session, kind, lab.dataset_id, params, "tester").id
    execute_job(lab.session_factory, lab.settings.artifacts_dir, job_id)
    with lab.session_factory() as session:
        return job_store.get_job(session, job_id)


def test_training_beats_chance_and_inference_covers_every_item(lab):
    trained = run_job(lab, "classifier_train", TRAIN)
    assert trained.status == "succeeded", trained.error
    assert [row["epoch"] for row in trained.metrics] == list(range(1, 11))
    assert {"train_loss", "val_loss", "train_accuracy", "val_accuracy",
            "seconds"} <= set(trained.metrics[0])
    result = trained.result
    assert result["label_names"] == list(CLASSES)
    assert result["trained_on_event_id"] == lab.event_id
    assert sum(result["class_counts"]) == result["images"] == N_IMAGES - N_UNLABELED
    assert result["val_accuracy"] >= 0.6, trained.metrics  # chance is 1/3
    validation = result["validation"]
    assert np.array(validation["confusion_matrix"]).shape == (3, 3)
    assert len(validation["precision"]) == len(validation["recall"]) == 3
    assert (Path(trained.artifact_dir) / "model.pt").is_file()
    # the validation items are recorded: labels the model never trained on
    kept_aside = np.load(Path(trained.artifact_dir) / result["validation_items"]).tolist()
    with lab.session_factory() as session:
        labeled = set(training_set(session, lab.dataset_id).labels)
    assert set(kept_aside) <= labeled and len(set(kept_aside)) == len(kept_aside)
    assert len(kept_aside) == pytest.approx(0.3 * len(labeled), abs=len(CLASSES))

    inferred = run_job(lab, "classifier_infer", {"model_job_id": trained.id, "batch_size": 40})
    assert inferred.status == "succeeded", inferred.error
    with lab.session_factory() as session:
        all_ids = set(session.scalars(select(Item.id).where(Item.dataset_id == lab.dataset_id)))
        [source] = feature_sources(session, lab.dataset_id, with_probabilities=True)
    assert source.job_id == inferred.id and source.dimension == 512
    item_ids, probabilities, label_ids = load_probabilities(inferred)
    assert set(item_ids.tolist()) == all_ids and len(item_ids) == N_IMAGES  # unlabeled too
    assert probabilities.shape == (N_IMAGES, 3) and probabilities.dtype == np.float32
    assert np.allclose(probabilities.sum(1), 1, atol=1e-5)
    assert label_ids == result["label_ids"]
    features = np.load(Path(inferred.artifact_dir) / "features.npy")
    assert features.shape == (N_IMAGES, 512) and np.isfinite(features).all()
    assert inferred.result["model_job_id"] == trained.id


# --- refused setups (no images needed: the checks read only the database) -------------------

@pytest.fixture
def labeled(session_factory):
    """Six items, classes a, b and c; items 0-3 labeled a, b, a, b in one event."""
    dataset_id, ids, labels = make_dataset(session_factory, 6, ("a", "b", "c"))
    with transaction(session_factory) as session:
        event = apply_event(session, dataset_id, "tester", "manual", [
            TagIn(ids[i], labels["ab"[i % 2]]) for i in range(4)])
    return session_factory, dataset_id, ids, labels, event.id


def refusal(session_factory, dataset_id: int, kind: str, params: dict) -> DomainError:
    """The DomainError that refuses the job; no job row is left behind."""
    with session_factory() as session:
        jobs_before = len(job_store.list_jobs(session))
    with pytest.raises(DomainError) as refused:
        with transaction(session_factory) as session:
            create_job(session, kind, dataset_id, params, "tester")
    with session_factory() as session:
        assert len(job_store.list_jobs(session)) == jobs_before
    return refused.value


def test_a_class_without_examples_or_a_single_class_is_refused(labeled):
    session_factory, dataset_id, ids, labels, _ = labeled
    error = refusal(session_factory, dataset_id, "classifier_train", {})
    assert error.field == "labels" and "class c has no labeled images" in str(error)
    with transaction(session_factory) as session:
        apply_event(session, dataset_id, "tester", "manual",
                    [TagIn(ids[1], labels["a"]), TagIn(ids[3], None)])
        delete_label(session, dataset_id, labels["c"], "tester")
        delete_label(session, dataset_id, labels["b"], "tester")
    error = refusal(session_factory, dataset_id, "classifier_train", {})
    assert error.field == "labels" and "at least 2 label classes" in str(error)


def test_labels_as_of_an_event_are_the_training_data(labeled):
    session_factory, dataset_id, ids, labels, first_event = labeled
    with transaction(session_factory) as session:
        later = apply_event(session, dataset_id, "tester", "manual",
                            [TagIn(ids[4], labels["c"]), TagIn(ids[0], None)]).id
        now, before = training_set(session, dataset_id), training_set(session, dataset_id,
                                                                      first_event)
        job = create_job(session, "classifier_train", dataset_id, {}, "tester")
    assert (now.event_id, now.counts()) == (later, [1, 2, 1])
    assert (before.event_id, before.counts()) == (first_event, [2, 2, 0])
    assert job.params["event_id"] == 0 and job.params["image_size"] == [224, 224]
    error = refusal(session_factory, dataset_id, "classifier_train", {"event_id": first_event})
    assert error.field == "labels" and "class c" in str(error)


@pytest.mark.parametrize("params, field, words", [
    ({"model": "alexnet"}, "params.model", "resnet18"),
    ({"model": "inception_v3", "image_size": 64}, "params.image_size", "between 75"),
    ({"image_size": [32]}, "params.image_size", "[height, width]"),
    ({"weights_path": "/no/such/weights.pth"}, "params.weights_path", "data roots"),
    ({"freeze_backbone": True}, "params.freeze_backbone", "weights_path"),
    ({"balance": "oversample"}, "params.balance", "class_weights"),
    ({"label_smoothing": 0.9}, "params.label_smoothing", "between"),
    ({"event_id": 9999}, "params.event_id", "not a tagging event"),
    ({"learning_rate": "fast"}, "params.learning_rate", "a number"),
])
def test_invalid_training_params_are_refused_naming_the_field(labeled, params, field, words):
    session_factory, dataset_id, *_ = labeled
    error = refusal(session_factory, dataset_id, "classifier_train", params)
    assert error.field == field and words in str(error)


def test_inference_needs_a_finished_classifier(labeled):
    session_factory, dataset_id, *_ = labeled
    assert refusal(session_factory, dataset_id, "classifier_infer",
                   {}).field == "params.model_job_id"
    with transaction(session_factory) as session:
        other = create_job(session, "dataset_stats", dataset_id, {}, "tester").id
    with pytest.raises(DomainError, match="not a finished classifier_train job") as refused:
        with transaction(session_factory) as session:
            create_job(session, "classifier_infer", dataset_id,
                       {"model_job_id": other}, "tester")
    assert refused.value.field == "params.model_job_id"


def test_rest_starts_a_classifier_job_and_names_the_field_it_refuses(tmp_path):
    from app import create_server

    settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,))
    engine, session_factory = open_database(settings)
    client = create_server(settings).test_client()
    dataset_id, ids, labels = make_dataset(session_factory, 4, ("a", "b"))
    with transaction(session_factory) as session:
        apply_event(session, dataset_id, "tester", "manual",
                    [TagIn(item, labels["ab"[i % 2]]) for i, item in enumerate(ids)])
    answer = client.post("/api/v1/jobs", json={
        "kind": "classifier_train", "dataset_id": dataset_id,
        "params": {"model": "resnet18", "image_size": 8}})
    assert answer.status_code == 400 and answer.json["field"] == "params.image_size"
    answer = client.post("/api/v1/jobs", json={
        "kind": "classifier_train", "dataset_id": dataset_id,
        "params": {"model": "convnext_atto", "image_size": 32, "epochs": 2, "batch_size": 8,
                   "learning_rate": 0.01}})
    assert answer.status_code == 201, answer.json
    assert answer.json["status"] == "queued" and answer.json["params"]["model"] == "convnext_atto"
    engine.dispose()
