"""Log, percentile clipping and masks on arrays whose right answer is known."""
from __future__ import annotations

import numpy as np
import pytest

from data.transforms import LOG_EPSILON, Transform, apply_transform, percentiles

FULL_RANGE = Transform(pmin=0, pmax=100)


@pytest.mark.parametrize("fields, named", [
    ({"pmin": -1}, "pmin"), ({"pmax": 101}, "pmax"), ({"pmin": float("nan")}, "pmin"),
    ({"pmin": 50, "pmax": 50}, "pmin"), ({"pmin": 60, "pmax": 40}, "pmin"),
])
def test_transform_validation_names_the_field(fields, named):
    with pytest.raises(ValueError, match=named):
        Transform(**fields)


def test_transform_is_frozen_with_defaults():
    transform = Transform()
    assert (transform.log, transform.pmin, transform.pmax) == (False, 1.0, 99.0)
    with pytest.raises(AttributeError):
        transform.pmin = 5


def test_min_max_scaling_without_clipping():
    raw = np.array([[10, 20], [30, 50]], dtype=np.uint16)
    out = apply_transform(raw, FULL_RANGE)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0, 0.25], [0.5, 1]], atol=1e-7)


def test_percentile_clipping():
    raw = np.arange(101, dtype=np.float64).reshape(1, 101)  # percentile p is the value p
    out = apply_transform(raw, Transform(pmin=10, pmax=90))
    expected = np.clip((np.arange(101) - 10) / 80, 0, 1)
    np.testing.assert_allclose(out[0], expected, atol=1e-6)


def test_log_of_known_values():
    raw = np.array([[1, 10], [100, 1000]], dtype=np.int32)
    out = apply_transform(raw, Transform(log=True, pmin=0, pmax=100))
    logs = np.log((raw - 1) / 999 + LOG_EPSILON)
    above_minimum = logs[logs > logs.min()]  # the minimum pixel is left out of the range
    expected = np.clip((logs - above_minimum.min()) / (logs.max() - above_minimum.min()), 0, 1)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # the log spreads small values: 100 sits half way between 10 and 1000, not at 1/10
    assert out[1, 0] > 0.5


def test_log_then_percentiles_of_the_log_values():
    raw = np.arange(1, 102, dtype=np.float32).reshape(1, 101)
    out = apply_transform(raw, Transform(log=True, pmin=5, pmax=95))
    logs = np.log((raw[0].astype(np.float64) - 1) / 100 + LOG_EPSILON)
    low, high = np.percentile(logs[1:], [5, 95])  # percentiles of the pixels above the minimum
    np.testing.assert_allclose(out[0], np.clip((logs - low) / (high - low), 0, 1), atol=1e-5)


def test_masked_pixels_are_left_out_and_zeroed():
    raw = np.array([[0, 10, 20, 30, 40, 100000]], dtype=np.float32)
    keep = np.array([[True, True, True, True, True, False]])
    out = apply_transform(raw, FULL_RANGE, mask=keep)
    np.testing.assert_allclose(out, [[0, 0.25, 0.5, 0.75, 1, 0]], atol=1e-7)


def test_nan_and_inf_count_as_masked():
    raw = np.array([[0, 10, np.nan, 20, np.inf, -np.inf]], dtype=np.float32)
    with np.errstate(all="raise"):  # no warnings leak out either
        out = apply_transform(raw, Transform(log=True, pmin=0, pmax=100))
    assert np.isfinite(out).all()
    assert out[0, 2] == out[0, 4] == out[0, 5] == 0
    assert out[0, 3] == pytest.approx(1) and out[0, 0] == 0


@pytest.mark.parametrize("raw", [np.full((4, 5), 7, np.uint16), np.zeros((3, 3), np.float32),
                                 np.full((2, 2), np.nan, np.float32)])
def test_constant_or_empty_images_give_zeros(raw):
    for transform in (Transform(), Transform(log=True)):
        out = apply_transform(raw, transform)
        assert out.shape == raw.shape and not out.any()


def test_all_masked_gives_zeros():
    raw = np.arange(9, dtype=np.uint8).reshape(3, 3)
    assert not apply_transform(raw, Transform(), mask=np.zeros((3, 3), bool)).any()


def test_mostly_flat_image_still_shows_its_bright_pixels():
    raw = np.zeros((100, 100), np.uint16)
    raw[50, 50] = 1000  # equal 1st and 99th percentiles: the full range is used instead
    out = apply_transform(raw, Transform())
    assert out[50, 50] == 1 and out.sum() == 1


def test_mask_of_another_shape_is_refused():
    with pytest.raises(ValueError, match="mask"):
        apply_transform(np.zeros((4, 4)), Transform(), mask=np.ones((4, 5), bool))


def test_raw_input_is_not_modified():
    raw = np.arange(16, dtype=np.float32).reshape(4, 4)
    before = raw.copy()
    apply_transform(raw, Transform(log=True))
    np.testing.assert_array_equal(raw, before)


def test_log_range_is_not_eaten_by_beam_stop_zeros():
    rng = np.random.default_rng(0)
    raw = rng.integers(1, 50_000, size=(64, 64)).astype(np.uint16)
    raw[:8] = 0  # a beam stop / module gap: 12.5 % of the pixels at zero
    out = apply_transform(raw, Transform(log=True, pmin=1, pmax=99))
    assert out[:8].max() == 0.0  # the zeros are black
    signal = out[8:]
    assert signal.min() == 0.0 and signal.max() == 1.0  # the data use the whole grey range
    assert np.median(signal) > 0.5


@pytest.mark.parametrize("raw", [
    np.eye(8, dtype=bool).astype(np.uint8), np.where(np.eye(8), 255, 0).astype(np.uint8),
    np.where(np.eye(8), 7.0, 3.0).astype(np.float32)])
def test_two_level_images_show_both_levels_under_log(raw):
    """Above the minimum there is one value: its range is empty (it divided by zero, and a
    mask image stopped the whole header scan that renders thumbnails)."""
    out = apply_transform(raw, Transform(log=True))
    np.testing.assert_array_equal(out, np.eye(8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_percentiles_are_numpys_bit_for_bit(dtype):
    rng = np.random.default_rng(11)
    for trial in range(3000):
        count = int(rng.integers(1, 3000))
        values = [rng.random(count), rng.integers(0, 4, count),  # ties
                  np.log(rng.random(count) + LOG_EPSILON) * 1e3][trial % 3].astype(dtype)
        if trial % 4 == 0:
            values = values.reshape(1, count)  # any shape: all values count
        percents = [(1.0, 99.0), (0.0, 100.0), (50.0, 99.999), tuple(rng.uniform(0, 100, 2))][
            trial % 4]
        expected = np.percentile(values, percents)
        found = percentiles(values, percents)
        assert found.dtype == expected.dtype and np.array_equal(found, expected), \
            (count, percents)
