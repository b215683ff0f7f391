"""Thumbnails decode back to the right size, colours and values."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from data.thumbnails import (colormap_lut, colormap_names, downscale, render_thumbnail,
                             render_unreadable)
from data.transforms import Transform

LINEAR = Transform(pmin=0, pmax=100)


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def horizontal_ramp(height=300, width=512, dtype=np.uint16):
    return np.tile(np.linspace(0, 60000, width), (height, 1)).astype(dtype)


@pytest.mark.parametrize("shape, size, expected", [
    ((300, 512), 128, (128, 75)), ((512, 300), 128, (75, 128)), ((512, 512), 256, (256, 256)),
    ((1000, 37), 100, (4, 100)), ((40, 60), 128, (128, 85)),
])
def test_size_keeps_the_aspect(shape, size, expected):
    raw = np.random.default_rng(0).integers(0, 65535, shape).astype(np.uint16)
    png = render_thumbnail(raw, size, Transform())
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert decode(png).size == expected  # (width, height)


def test_gray_is_gray_and_follows_the_values():
    rgb = np.asarray(decode(render_thumbnail(horizontal_ramp(), 128, LINEAR, "gray"))
                     .convert("RGB")).astype(int)
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    row = rgb[10, :, 0]
    assert row[0] <= 2 and row[-1] >= 253 and (np.diff(row) >= 0).all()


def test_viridis_is_coloured():
    rgb = np.asarray(decode(render_thumbnail(horizontal_ramp(), 128, LINEAR, "viridis"))
                     .convert("RGB")).astype(int)
    assert (rgb[..., 0] != rgb[..., 2]).mean() > 0.9
    np.testing.assert_array_equal(rgb[0, 0], colormap_lut("viridis")[0])  # dark purple
    np.testing.assert_array_equal(rgb[0, -1], colormap_lut("viridis")[255])  # yellow


def test_colormap_names_and_tables():
    names = colormap_names()
    for name in ("gray", "viridis", "magma", "inferno", "plasma", "cividis", "turbo", "jet",
                 "hot"):
        assert name in names
        lut = colormap_lut(name)
        assert lut.shape == (256, 3) and lut.dtype == np.uint8
    np.testing.assert_array_equal(colormap_lut("gray")[:, 0], np.arange(256))


def test_unknown_colormap_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown colour map 'rainbowz'.*viridis"):
        render_thumbnail(horizontal_ramp(), 64, Transform(), "rainbowz")


def test_unknown_format():
    with pytest.raises(ValueError, match="format 'gif'"):
        render_thumbnail(horizontal_ramp(), 64, Transform(), "gray", "gif")


def test_webp():
    data = render_thumbnail(horizontal_ramp(), 96, Transform(log=True), "magma", "webp")
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert decode(data).size == (96, 56)


def test_block_means_of_raw_values():
    raw = np.arange(16, dtype=np.uint16).reshape(4, 4)
    np.testing.assert_allclose(downscale(raw, 2), [[2.5, 4.5], [10.5, 12.5]])


def test_nan_pixels_and_float_input():
    raw = horizontal_ramp(dtype=np.float32)
    raw[:, :100] = np.nan
    rgb = np.asarray(decode(render_thumbnail(raw, 128, LINEAR, "gray")).convert("L"))
    assert rgb.shape == (75, 128) and rgb[:, :20].max() == 0 and rgb[:, -1].min() >= 250


@pytest.mark.parametrize("size", [32, 128, 300])
def test_unreadable_tile(size):
    image = decode(render_unreadable(size)).convert("RGB")
    assert image.size == (size, size)
    pixels = np.asarray(image).astype(int)
    red, green = pixels[..., 0].mean(), pixels[..., 1].mean()
    assert red > green + 40  # dark red
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 1  # the cross and the word
    assert decode(render_unreadable(size, "webp")).size == (size, size)


@pytest.mark.parametrize("shape, size", [((64, 64), 128), ((32, 64), 128), ((40, 60), 120),
                                         ((16, 16), 192), ((50, 50), 100), ((30, 45), 128)])
def test_enlarging_repeats_values_as_pillow_box_does(shape, size):
    raw = np.random.default_rng(3).random(shape, dtype=np.float32) * 1000
    height, width = downscale(raw, size).shape
    pillow = np.asarray(Image.fromarray(raw).resize((width, height), Image.Resampling.BOX))
    np.testing.assert_array_equal(downscale(raw, size), pillow)


def test_png_holds_the_colour_map_and_one_index_per_pixel():
    png = render_thumbnail(horizontal_ramp(), 128, LINEAR, "viridis")
    image = decode(png)
    assert image.mode == "P" and image.size == (128, 75)
    palette = np.array(image.getpalette()[:768]).reshape(256, 3)
    np.testing.assert_array_equal(palette, colormap_lut("viridis"))
    indices = np.asarray(image)
    assert indices[:, 0].max() <= 2 and indices[:, -1].min() >= 253


def test_a_small_image_is_enlarged_after_its_transform():
    """A tile larger than the image repeats the levels of the image's own thumbnail: its
    percentiles are those of its own pixels, not of the repeated ones."""
    raw = np.random.default_rng(5).integers(0, 4000, (40, 60)).astype(np.uint16)
    own = np.asarray(decode(render_thumbnail(raw, 60, Transform(log=True))))
    enlarged = np.asarray(decode(render_thumbnail(raw, 120, Transform(log=True))))
    np.testing.assert_array_equal(enlarged, np.repeat(np.repeat(own, 2, axis=0), 2, axis=1))
