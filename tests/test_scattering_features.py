"""Scattering-pattern features on patterns drawn here, whose centre and kind are known."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtri

from db.session import transaction
from ml.jobs import create_job, execute_job
from ml.scattering_features import (FEATURE_DIM, LAYOUT, find_beam_centre, scattering_features,
                                    to_normal_scores)
from tests.databases import demo_dataset

SIDE = 160


def pattern(kind: str, rng: np.random.Generator, centre=None) -> np.ndarray:
    """Counts of one pattern: a q^-2 background plus rings, streaks or spots, with a beam
    stop and a module gap at zero."""
    cy, cx = centre if centre is not None else SIDE / 2 + rng.uniform(-12, 12, 2)
    rows, cols = np.indices((SIDE, SIDE), dtype=float)
    radius, angle = np.hypot(rows - cy, cols - cx), np.arctan2(rows - cy, cols - cx)
    expected = 2e4 / (1 + (radius / 6) ** 2)
    if kind == "rings":
        for ring in rng.uniform(20, 70, 3):
            expected += 300 * np.exp(-((radius - ring) / 1.5) ** 2)
    elif kind == "streaks":
        direction = rng.uniform(0, np.pi)
        expected += 400 * np.exp(-(np.sin(angle - direction) * radius / 1.5) ** 2)
    elif kind == "spots":
        for _ in range(6):  # Friedel pairs
            r, a = rng.uniform(20, 70), rng.uniform(0, 2 * np.pi)
            for sign in (1, -1):
                py, px = cy + sign * r * np.sin(a), cx + sign * r * np.cos(a)
                expected += 3000 * np.exp(-((rows - py) ** 2 + (cols - px) ** 2) / 4)
    counts = rng.poisson(expected).astype(np.float64)
    counts[radius < 6] = 0
    counts[:, SIDE // 3:SIDE // 3 + 3] = 0
    return counts


def test_the_beam_centre_is_found_off_the_middle_despite_beam_stop_and_gap():
    rng = np.random.default_rng(1)
    for kind in ("rings", "streaks", "spots"):
        image = pattern(kind, rng, centre=(67.0, 94.0))
        valid = image > 0
        found = find_beam_centre(np.log(np.where(valid, image, 1.0)), valid)
        assert np.hypot(found[0] - 67.0, found[1] - 94.0) <= 1.5, (kind, found)


def test_features_group_the_kinds_of_pattern():
    rng = np.random.default_rng(2)
    kinds = ["rings", "streaks", "spots"] * 20
    vectors = np.stack([scattering_features(pattern(kind, rng)) for kind in kinds])
    to_normal_scores(vectors)
    assert vectors.shape == (60, FEATURE_DIM) == (60, LAYOUT.size)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = np.argsort(-similarity, axis=1)[:, :5]
    same = (np.array(kinds)[nearest] == np.array(kinds)[:, None]).mean()
    assert same > 0.9, same


def test_normal_scores_keep_the_order_and_tame_extreme_values():
    features = np.array([[1.0, 5.0, 0.0], [2.0, 5.0, 0.0], [3.0, 5.0, 0.0], [1e9, 5.0, 7.0]],
                        dtype=np.float32)
    to_normal_scores(features)
    assert (np.diff(features[:, 0]) > 0).all()  # order kept
    assert features[3, 0] < 1.2  # a huge value is just the highest rank
    assert (features[:, 1] == 0).all()  # a constant column
    assert len(set(features[:3, 2].tolist())) == 1 and features[3, 2] > features[0, 2]  # ties


@pytest.mark.parametrize("image", [np.zeros((40, 40)), np.full((40, 40), np.nan),
                                   np.ones((3, 200))])
def test_degenerate_images_give_finite_features(image):
    vector = scattering_features(image)
    assert vector.shape == (FEATURE_DIM,) and np.isfinite(vector).all()


def test_the_job_writes_normal_scores_of_the_readable_items(tmp_path):
    demo = demo_dataset(tmp_path, 30, size=64, seed=4)
    (tmp_path / "images" / "run_000" / "img_000003.tif").write_bytes(b"not a tiff")
    try:
        with transaction(demo.session_factory) as session:
            job_id = create_job(session, "scattering_features", demo.dataset_id,
                                {"batch_size": 7}, "tester").id
        assert execute_job(demo.session_factory, demo.settings.artifacts_dir, job_id) \
            == "succeeded"
        folder = demo.settings.artifacts_dir / f"job-{job_id}"
        features = np.load(Path(folder) / "features.npy")
        item_ids = np.load(Path(folder) / "item_ids.npy")
        assert features.shape == (29, FEATURE_DIM) and len(item_ids) == 29
        # normal scores of 29 ranks: within the outermost quantile, centred, spread under 1
        # (tied values share a score, which moves a column's mean a little)
        outermost = ndtri(1 - 0.5 / 29)
        assert np.abs(features).max() <= outermost + 1e-5
        assert np.all(np.abs(features.mean(axis=0)) < 0.2)
        assert np.all(features.std(axis=0) < 1)
    finally:
        demo.engine.dispose()
