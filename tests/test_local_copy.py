"""Training copies a remote data set once; later runs read the local copy. Jobs on a remote
data set read frames strided on the server, and inference streams them without a copy."""
from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote

import numpy as np

from data.catalog import register_dataset, scan_dataset
from data.demo import generate_demo
from data.local_copy import LocalCopySource
from data.sources.directory import DirectorySource
from db.session import open_database, transaction
from ml.jobs import create_job, execute_job
from ml.kinds.context import TRAINING_COPIES
from settings import Settings
from tests.tiled_server import ByteCountingProxy

TINY_TRAINING = {"epochs": 1, "image_size": [16, 16], "depth": 2, "base_channels": 2,
                 "latent_dim": 2, "batch_size": 8}


def test_frames_are_read_from_the_copy_once_made(tmp_path):
    generate_demo(tmp_path / "images", n_images=5, size=32, seed=2)
    source = DirectorySource(str(tmp_path / "images"))
    paths = sorted(p.name for p in (tmp_path / "images").glob("*.tif*"))
    copy = LocalCopySource(source, tmp_path / "copy")
    first = [copy.read(path) for path in paths]
    for path in paths:  # the originals are gone: only the copy can answer now
        (tmp_path / "images" / path).unlink()
    again = [copy.read(path) for path in paths]
    for before, after in zip(first, again):
        np.testing.assert_array_equal(before, after)
        assert before.dtype == after.dtype
    assert len(list((tmp_path / "copy").rglob("*.npy"))) == len(paths)
    assert list((tmp_path / "copy").rglob("*.part")) == []


@contextmanager
def remote_dataset(tiled_server, tmp_path: Path, frames: np.ndarray):
    """A data set of ``frames`` (one stack) on the Tiled server, read through a
    byte-counting relay: (settings, session factory, relay, data set)."""
    root = tiled_server.new_container("remote")
    tiled_server.write_array(f"{root}/stack", frames)
    settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,))
    engine, session_factory = open_database(settings)
    try:
        with ByteCountingProxy(tiled_server.port) as proxy:
            dataset = register_dataset(session_factory, settings.data_roots, "remote", "tiled",
                                       tiled_server.metadata_uri(root, port=proxy.port),
                                       api_key=tiled_server.api_key)
            scan_dataset(session_factory, dataset.id)
            yield settings, session_factory, proxy, dataset
    finally:
        engine.dispose()


def test_training_on_tiled_fetches_the_frames_once(tiled_server, tmp_path):
    frames = np.random.default_rng(0).integers(0, 4000, (10, 16, 16), np.uint16)
    with remote_dataset(tiled_server, tmp_path, frames) as (settings, session_factory, proxy,
                                                            dataset):
        def train() -> tuple[str, str]:
            proxy.reset()
            with transaction(session_factory) as session:
                job_id = create_job(session, "autoencoder_train", dataset.id,
                                    TINY_TRAINING, "tester").id
            status = execute_job(session_factory, settings.artifacts_dir, job_id, None)
            return status, unquote(proxy.sent_by_client().decode("latin-1"))

        first_status, first_requests = train()
        second_status, second_requests = train()
    assert first_status == second_status == "succeeded"
    assert first_requests.count("/array/") >= 10  # every frame came over the network ...
    assert "/array/" not in second_requests  # ... once: the second run read the copy
    copies = Path(settings.artifacts_dir) / TRAINING_COPIES / f"dataset-{dataset.id}"
    assert len(list(copies.rglob("*.npy"))) == 10


def _run(session_factory, settings, kind: str, dataset_id: int, params: dict):
    with transaction(session_factory) as session:
        job = create_job(session, kind, dataset_id, params, "tester")
        job_id = job.id
    return execute_job(session_factory, settings.artifacts_dir, job_id, None), job_id


def test_jobs_on_tiled_read_reduced_frames_and_inference_copies_nothing(tiled_server,
                                                                        tmp_path):
    """256 x 256 frames and a model of 16 x 16 inputs: training and inference ask the
    server for every 8th pixel (32 x 32, twice the model's side) and inference streams
    them, leaving the training copy as it was."""
    frames = np.random.default_rng(1).integers(0, 4000, (6, 256, 256), np.uint16)
    with remote_dataset(tiled_server, tmp_path, frames) as (settings, session_factory, proxy,
                                                            dataset):
        trained, model_id = _run(session_factory, settings, "autoencoder_train", dataset.id,
                                 TINY_TRAINING)
        copies = Path(settings.artifacts_dir) / TRAINING_COPIES / f"dataset-{dataset.id}"
        copied = sorted(copies.rglob("*"))
        proxy.reset()
        inferred, _ = _run(session_factory, settings, "autoencoder_infer", dataset.id,
                           {"model_job_id": model_id})
        inference_bytes = proxy.bytes_to_client
        requests = unquote(proxy.sent_by_client().decode("latin-1"))
    assert trained == inferred == "succeeded"
    assert [np.load(path).shape for path in copied if path.suffix == ".npy"] == [(32, 32)] * 6
    frame_reads = re.findall(r"GET /api/v1/array/full/\S+ ", requests)
    assert len(frame_reads) >= 6  # every frame came over the network ...
    assert all(re.search(r"slice=\d,0:\d+:8,0:\d+:8 ", read) for read in frame_reads)
    assert inference_bytes < frames.nbytes / 8  # ... strided: about 1/64 of the pixels
    assert sorted(copies.rglob("*")) == copied  # and nothing was kept of them
