"""Training copies a remote data set once; later runs read the local copy."""
from __future__ import annotations

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


def test_training_on_tiled_fetches_the_frames_once(tiled_server, tmp_path):
    root = tiled_server.new_container("training")
    rng = np.random.default_rng(0)
    tiled_server.write_array(f"{root}/stack", rng.integers(0, 4000, (10, 16, 16), np.uint16))
    settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,))
    engine, session_factory = open_database(settings)
    with ByteCountingProxy(tiled_server.port) as proxy:
        dataset = register_dataset(session_factory, settings.data_roots, "remote", "tiled",
                                   tiled_server.metadata_uri(root, port=proxy.port),
                                   api_key=tiled_server.api_key)
        scan_dataset(session_factory, dataset.id)

        def train() -> tuple[str, str]:
            proxy.reset()
            with transaction(session_factory) as session:
                job_id = create_job(session, "autoencoder_train", dataset.id,
                                    TINY_TRAINING, "tester").id
            status = execute_job(session_factory, settings.artifacts_dir, job_id, None)
            return status, unquote(proxy.sent_by_client().decode("latin-1"))

        first_status, first_requests = train()
        second_status, second_requests = train()
    engine.dispose()
    assert first_status == second_status == "succeeded"
    assert first_requests.count("/array/") >= 10  # every frame came over the network ...
    assert "/array/" not in second_requests  # ... once: the second run read the copy
    copies = Path(settings.artifacts_dir) / TRAINING_COPIES / f"dataset-{dataset.id}"
    assert len(list(copies.rglob("*.npy"))) == 10
