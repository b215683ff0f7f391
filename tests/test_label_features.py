"""label_features: a small encoder trained on the labels so far, and the job that stores
its features next to another feature job's, on constructed data with a known answer."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from db.models import Job
from db.session import transaction
from db.labels import create_label
from db.store import TagIn, apply_event
from errors import DomainError
from ml.autoencoder_spec import AutoencoderSpec
from ml.feature_extraction import encode_batches, in_batches
from ml.features import load_vectors
from ml.jobs import create_job, execute_job
from ml.kinds.context import LOG_NAME
from ml.label_encoder import LabelEncoderOptions, label_encoder, train_label_encoder
from tests.databases import demo_dataset
from tests.test_contrastive_features import VIEWS, patterns

SIDE = 32
IMAGE = {"image_size": 16, "depth": 2, "base_channels": 4, "latent_dim": 8}


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)  # the CPU is shared


def held_out_accuracy(features: np.ndarray, truth: np.ndarray, train: np.ndarray) -> float:
    from sklearn.linear_model import LogisticRegression

    test = np.setdiff1d(np.arange(len(truth)), train)
    model = LogisticRegression(max_iter=500).fit(features[train], truth[train])
    return float((model.predict(features[test]) == truth[test]).mean())


def test_the_encoder_learns_the_labeled_classes_and_tells_unlabeled_items_apart():
    images, truth = patterns(40, seed=4)
    labeled = np.arange(16)  # 8 rings and 8 streaks
    spec = AutoencoderSpec((SIDE, SIDE), base_channels=8, latent_dim=16, depth=2)
    options = LabelEncoderOptions(steps=120, batch_size=16, learning_rate=3e-3, augment=VIEWS)
    torch.manual_seed(0)
    untrained = label_encoder(spec, 2)[0].eval()
    encoder = train_label_encoder(images[labeled], truth[labeled], spec, options)
    accuracies = []
    for model in (untrained, encoder):
        _, features = encode_batches(model, in_batches(list(range(len(images))), images, 32))
        accuracies.append(held_out_accuracy(features, truth, labeled))
    assert accuracies[1] >= 0.9 and accuracies[1] > accuracies[0], accuracies
    assert not encoder.training and next(encoder.parameters()).device.type == "cpu"


@pytest.fixture
def demo(tmp_path):
    demo = demo_dataset(tmp_path, 24, size=32, seed=6)
    yield demo
    demo.engine.dispose()


def finished_source(demo, labeled: int) -> int:
    """A finished contrastive_features job, and two classes given alternately to items
    1..``labeled``: what label_features builds on."""
    with transaction(demo.session_factory) as session:
        source_id = create_job(session, "contrastive_features", demo.dataset_id,
                               {**IMAGE, "epochs": 1, "batch_size": 8}, "tester").id
        first, second = (create_label(session, demo.dataset_id, name).id
                         for name in ("first", "second"))
        apply_event(session, demo.dataset_id, "tester", "manual",
                    [TagIn(item, first if item % 2 else second)
                     for item in range(1, labeled + 1)])
    assert execute_job(demo.session_factory, demo.settings.artifacts_dir,
                       source_id) == "succeeded"
    return source_id


def run_label_features(demo, params: dict) -> Job:
    with transaction(demo.session_factory) as session:
        job_id = create_job(session, "label_features", demo.dataset_id, params, "tester").id
    status = execute_job(demo.session_factory, demo.settings.artifacts_dir, job_id)
    with demo.session_factory() as session:
        job = session.get(Job, job_id)
        assert status == "succeeded", job.error
        return job


def test_the_job_stores_its_features_next_to_the_source_jobs(demo):
    with transaction(demo.session_factory) as session:
        with pytest.raises(DomainError, match="at least 2 label classes"):
            create_job(session, "label_features", demo.dataset_id, IMAGE, "tester")
    source_id = finished_source(demo, labeled=8)
    with transaction(demo.session_factory) as session:
        with pytest.raises(DomainError) as refused:
            create_job(session, "label_features", demo.dataset_id,
                       {**IMAGE, "source_job_id": 999}, "tester")
        assert refused.value.field == "params.source_job_id"
    job = run_label_features(demo, {**IMAGE, "steps": 20, "batch_size": 8,
                                    "source_job_id": source_id})
    item_ids, vectors = load_vectors(job)
    with demo.session_factory() as session:
        source_ids, source_vectors = load_vectors(session.get(Job, source_id))
    assert vectors.shape == (24, 8 + 8) and sorted(item_ids) == sorted(source_ids)
    order = np.argsort(source_ids)[np.searchsorted(np.sort(source_ids), item_ids)]
    assert np.allclose(vectors[:, :8], source_vectors[order])  # the source's half
    assert job.result["labels"] == 8 and job.metrics[-1]["step"] == 20
    assert job.result["started_from_source"]


def test_training_starts_from_the_weights_it_is_given():
    images, truth = patterns(8, seed=5)
    spec = AutoencoderSpec((SIDE, SIDE), base_channels=4, latent_dim=8, depth=2)
    torch.manual_seed(1)
    start = label_encoder(spec, 2)[0].state_dict()
    options = LabelEncoderOptions(steps=1, batch_size=4, learning_rate=1e-7, augment=VIEWS,
                                  start_weights=start, seed=9)  # another seed: other weights
    trained = train_label_encoder(images, truth, spec, options).state_dict()
    weights = [name for name in start if name.endswith("weight")]
    assert weights and all(torch.allclose(trained[name], start[name], atol=1e-5)
                           for name in weights)


def test_a_source_of_another_network_is_not_started_from(demo):
    source_id = finished_source(demo, labeled=4)
    job = run_label_features(demo, {**IMAGE, "latent_dim": 6, "steps": 2, "batch_size": 4,
                                    "source_job_id": source_id})
    assert not job.result["started_from_source"]
    log = (Path(job.artifact_dir) / LOG_NAME).read_text(encoding="utf-8")
    assert "different latent_dim" in log
