"""Autoencoder training and inference as jobs on a real Celery worker (filesystem broker)."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from db import jobs as job_store
from db.session import transaction
from errors import DomainError
from ml.collapse import MIN_EXPLAINED
from ml.jobs import create_job, submit_job
from tests.databases import demo_dataset
from worker import make_celery, start_worker, stop_worker

N_IMAGES = 120
TRAIN = {"epochs": 6, "image_size": [32, 32], "depth": 2, "base_channels": 8, "latent_dim": 8,
         "batch_size": 32, "learning_rate": 0.003, "val_share": 0.25}


@pytest.fixture
def lab(tmp_path):
    demo = demo_dataset(tmp_path, N_IMAGES, seed=5)
    with open(demo.settings.home / "worker.log", "a") as log:
        worker = start_worker(demo.settings, stdout=log, stderr=subprocess.STDOUT)
    yield demo.settings, demo.session_factory, demo.dataset_id, make_celery(demo.settings)
    stop_worker(worker, timeout=5)
    demo.engine.dispose()


def run(lab, kind: str, params: dict, timeout: float = 240):
    settings, session_factory, dataset_id, celery = lab
    with transaction(session_factory) as session:
        job_id = create_job(session, kind, dataset_id, params, "tester").id
    submit_job(celery, session_factory, job_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_factory() as session:
            job = job_store.get_job(session, job_id)
        if job.status in job_store.FINISHED:
            return job
        time.sleep(0.5)
    log = (settings.home / "worker.log").read_text(errors="replace")[-3000:]
    raise AssertionError(f"job {job_id} is still {job.status}; worker log:\n{log}")


def test_train_then_infer_on_the_worker(lab):
    trained = run(lab, "autoencoder_train", TRAIN)
    assert trained.status == "succeeded", trained.error
    losses = [row["val_loss"] for row in trained.metrics]
    assert [row["epoch"] for row in trained.metrics] == [1, 2, 3, 4, 5, 6]
    assert losses[-1] < 0.85 * losses[0] and min(losses) == losses[-1], losses  # it falls
    assert (Path(trained.artifact_dir) / "model.pt").is_file()
    assert_reconstruction_pairs(trained, expected=8)
    check = assert_collapse_check(trained, expected_images=N_IMAGES)

    inferred = run(lab, "autoencoder_infer", {"model_job_id": trained.id, "batch_size": 50})
    assert inferred.status == "succeeded", inferred.error
    folder = Path(inferred.artifact_dir)
    latents, ids = np.load(folder / "latents.npy"), np.load(folder / "item_ids.npy")
    errors = np.load(folder / "errors.npy")
    assert latents.shape == (N_IMAGES, 8) and latents.dtype == np.float32
    assert len(set(ids.tolist())) == N_IMAGES and errors.shape == (N_IMAGES,)
    assert np.isfinite(latents).all() and (errors >= 0).all()
    pairs = assert_reconstruction_pairs(inferred, expected=8)
    # the best and the worst reconstructed items, best first, with the errors inference found
    error_of = dict(zip(ids.tolist(), errors.tolist()))
    assert [pair["error"] for pair in pairs] == sorted(pair["error"] for pair in pairs)
    assert pairs[0]["item_id"] == min(error_of, key=error_of.get)
    assert pairs[-1]["item_id"] == max(error_of, key=error_of.get)
    assert pairs[0]["error"] == pytest.approx(error_of[pairs[0]["item_id"]], rel=0.05)
    # the same model on the same images: inference measures what training measured
    assert assert_collapse_check(inferred, N_IMAGES)["explained_variance"] == pytest.approx(
        check["explained_variance"], abs=0.01)


def assert_collapse_check(job, expected_images: int) -> dict:
    check = job.result["collapse"]
    assert check["images"] == expected_images and check["reason"]
    assert check["collapsed"] == (check["explained_variance"] < MIN_EXPLAINED)
    assert 0 <= check["output_spread"] and 0 <= check["latent_spread"] <= 1
    return check


def test_a_model_that_learnt_nothing_is_flagged_as_collapsed(lab):
    """One epoch at the smallest learning rate leaves the initial random weights: the job
    succeeds, and its result says the features will not group the images."""
    trained = run(lab, "autoencoder_train", {**TRAIN, "epochs": 1, "learning_rate": 1e-7})
    assert trained.status == "succeeded", trained.error
    check = assert_collapse_check(trained, expected_images=N_IMAGES)
    assert check["collapsed"] and check["explained_variance"] < 0, check
    assert "will not group your images" in check["reason"]


def assert_reconstruction_pairs(job, expected: int) -> list[dict]:
    pairs = job.result["reconstructions"]
    assert len(pairs) == expected
    for pair in pairs:
        for name in ("original", "reconstruction"):
            with Image.open(Path(job.artifact_dir) / pair[name]) as image:
                assert image.size == (32, 32) and image.mode == "L"
    return pairs


@pytest.fixture
def small_dataset(tmp_path):
    """A database with a 4-image demo data set (no worker): for checks before queueing."""
    demo = demo_dataset(tmp_path, 4, size=32, seed=1, scan=False)
    yield demo.session_factory, demo.dataset_id
    demo.engine.dispose()


def refused_field(small_dataset, kind: str, params: dict) -> str:
    session_factory, dataset_id = small_dataset
    with pytest.raises(DomainError) as refused:
        with transaction(session_factory) as session:
            create_job(session, kind, dataset_id, params, "tester")
    with session_factory() as session:
        assert job_store.list_jobs(session) == []
    return refused.value.field


@pytest.mark.parametrize("params, field", [
    ({"image_size": [100, 100], "depth": 3}, "params.image_size"),
    ({"depth": 9}, "params.depth"),
    ({"image_size": [64]}, "params.image_size"),
    ({"optimizer": "lbfgs"}, "params.optimizer"),
    ({"loss": "hinge"}, "params.loss"),
    ({"pmin": 50, "pmax": 40}, "params.pmin"),
])
def test_infeasible_networks_are_refused_before_queueing(small_dataset, params, field):
    assert refused_field(small_dataset, "autoencoder_train", params) == field


def test_inference_needs_a_model_job(small_dataset):
    assert refused_field(small_dataset, "autoencoder_infer", {}) == "params.model_job_id"


def test_inference_with_a_missing_model_is_refused_before_queueing(small_dataset):
    assert refused_field(small_dataset, "autoencoder_infer",
                         {"model_job_id": 999}) == "params.model_job_id"
