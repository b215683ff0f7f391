"""contrastive_features: the detector views, the NT-Xent encoder on two pattern classes
drawn here (rings and streaks through the beam centre), and the job on demo images."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from db.models import Job
from db.session import transaction
from errors import DomainError
from ml.autoencoder_spec import AutoencoderSpec
from ml.contrastive import (ContrastiveEncoder, ContrastiveOptions, nt_xent,
                            train_contrastive)
from ml.detector_augment import DetectorAugment
from ml.feature_extraction import encode_batches, in_batches
from ml.features import feature_sources, load_vectors
from ml.jobs import create_job, execute_job
from ml.kinds import JOB_KINDS
from ml.separation import label_agreement
from ml.training import Augment
from tests.databases import demo_dataset

SIDE = 32
VIEWS = DetectorAugment(Augment(True, True, 0.1, 180.0), counting_noise=True, shift=0.05,
                        mask=0.5)


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)  # the CPU is shared


def patterns(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 1, SIDE, SIDE) images in [0, 1] and their class: 0 a ring, 1 a streak through
    the centre, each at a random radius or angle, with a q^-2 background and noise."""
    rng = np.random.default_rng(seed)
    rows, cols = np.indices((SIDE, SIDE)) - (SIDE - 1) / 2
    radius, angle = np.hypot(rows, cols), np.arctan2(rows, cols)
    images, truth = [], []
    for kind in (0, 1) * per_class:
        if kind == 0:
            signal = np.exp(-((radius - rng.uniform(6, 13)) / 1.2) ** 2)
        else:
            signal = np.exp(-(np.sin(angle - rng.uniform(0, np.pi)) * radius / 1.2) ** 2)
        image = 0.3 / (1 + (radius / 3) ** 2) + 0.7 * signal + rng.normal(0, 0.03, radius.shape)
        images.append(np.clip(image, 0, 1))
        truth.append(kind)
    return np.asarray(images, np.float32)[:, None], np.asarray(truth)


def test_views_keep_shape_and_range_and_repeat_with_the_seed():
    images, _ = patterns(4, seed=0)
    batch = torch.from_numpy(images)
    first = VIEWS(batch, torch.Generator().manual_seed(5))
    again = VIEWS(batch, torch.Generator().manual_seed(5))
    assert first.shape == batch.shape and first.min() >= 0 and first.max() <= 1
    assert torch.equal(first, again) and not torch.allclose(first, batch, atol=0.05)


def test_masked_views_hide_a_band_or_the_centre_of_every_image():
    batch = torch.ones(16, 1, SIDE, SIDE)
    views = DetectorAugment(counting_noise=False, mask=1.0)(batch,
                                                            torch.Generator().manual_seed(0))
    hidden = (views == 0).flatten(1).sum(1)
    assert (hidden > 0).all() and (hidden < SIDE * SIDE / 2).all()


def test_the_loss_is_lowest_when_each_view_finds_its_partner():
    pairs = torch.eye(8).repeat(2, 1)  # rows i and i + 8 identical, all others orthogonal
    shuffled = torch.cat([pairs[:8], pairs[8:].roll(1, 0)])
    # the partner at cosine 1 against 14 others at 0, at temperature 0.2
    assert float(nt_xent(pairs, 0.2)) == pytest.approx(math.log(1 + 14 * math.exp(-5)))
    assert nt_xent(shuffled, 0.2) > 1


def agreement_of(encoder, images: np.ndarray, truth: np.ndarray):
    ids, features = encode_batches(encoder, in_batches(list(range(len(images))), images, 16))
    return label_agreement(np.asarray(ids), features, np.arange(len(truth)), truth)


def test_training_separates_rings_from_streaks_better_than_the_encoder_it_started_from():
    images, truth = patterns(24, seed=1)
    spec = AutoencoderSpec((SIDE, SIDE), base_channels=8, latent_dim=16, depth=2)
    options = ContrastiveOptions(epochs=4, batch_size=24, learning_rate=3e-3, val_share=0.25,
                                 augment=VIEWS)
    torch.manual_seed(options.seed)  # as training seeds it: the same starting weights
    untrained = agreement_of(ContrastiveEncoder(spec, options.projection_dim).eval().encoder,
                             images, truth)
    trained = train_contrastive(images, spec, options)
    assert len(trained.run.history) == 4 and trained.run.best_epoch is not None
    learnt = agreement_of(trained.model.encoder, images, truth)
    # random convolutions already tell rings from streaks somewhat (about 0.76 here)
    assert learnt.agreement > max(untrained.agreement + 0.05, learnt.chance + 0.3), \
        (untrained, learnt)


def test_the_job_stores_features_of_every_readable_item(tmp_path):
    demo = demo_dataset(tmp_path, 16, size=32, seed=2)
    (tmp_path / "images" / "run_000" / "img_000005.tif").write_bytes(b"not a tiff")
    params = {"image_size": 16, "depth": 2, "base_channels": 4, "latent_dim": 8,
              "epochs": 1, "batch_size": 8, "val_share": 0.2}
    try:
        with transaction(demo.session_factory) as session:
            job_id = create_job(session, "contrastive_features", demo.dataset_id, params,
                                "tester").id
        status = execute_job(demo.session_factory, demo.settings.artifacts_dir, job_id)
        with demo.session_factory() as session:
            job = session.get(Job, job_id)
            assert status == "succeeded", job.error
            item_ids, vectors = load_vectors(job)
            assert vectors.shape == (15, 8) and len(set(item_ids.tolist())) == 15
            assert job.result["unreadable"] == 1 and len(job.metrics) == 1
            assert [s.job_id for s in feature_sources(session, demo.dataset_id)] == [job_id]
    finally:
        demo.engine.dispose()


@pytest.mark.parametrize("params, field", [
    ({"image_size": 12, "depth": 3}, "params.image_size"),
    ({"temperature": 0}, "params.temperature"),
    ({"hflip": "yes"}, "params.hflip"),
])
def test_infeasible_settings_are_refused_by_name(params, field):
    with pytest.raises(DomainError) as refused:
        JOB_KINDS["contrastive_features"].check_params(params)
    assert refused.value.field == field and refused.value.status == 400


@pytest.mark.parametrize("params, epochs", [
    ({"image_size": 64}, 10),  # epochs left out: 0, the automatic count
    ({"image_size": 32, "depth": 2, "epochs": 0}, 40),
    ({"image_size": 16, "depth": 2, "epochs": 0}, 50),  # at most 50
    ({"image_size": 256, "epochs": 0}, 10),  # at least 10
    ({"image_size": 16, "depth": 2, "epochs": 3}, 3),  # a count given is kept
])
def test_epochs_zero_lets_the_image_side_choose(params, epochs):
    assert JOB_KINDS["contrastive_features"].check_params(params)["epochs"] == epochs
