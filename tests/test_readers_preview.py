"""Reduced reads for thumbnails (data.readers.read_preview): the thumbnail drawn from a
preview is the thumbnail drawn from the full frame, for every layout a file may have."""
from __future__ import annotations

import io

import numpy as np
import pytest
import tifffile
from PIL import Image

from data.readers import MAX_PREVIEW_PIXELS, preview_block, read_frame, read_preview
from data.sources import UnreadableImage
from data.sources.base import TooLargeForPreview
from data.sources.directory import DirectorySource
from data.thumbnails import block_mean, render_thumbnail
from data.transforms import Transform

ODD = (301, 517)  # rows, columns: no block or tile divides them


@pytest.fixture(autouse=True, params=["small bands", "default bands"])
def band_size(request, monkeypatch):
    """Previews averaged a few rows at a time (the carry of rows between bands tested on
    small images), and as the readers do by default."""
    if request.param == "small bands":
        monkeypatch.setattr("data.readers.BAND_PIXELS", 3000)


def rings(shape=ODD, scale=30000.0, seed=0) -> np.ndarray:
    """A scattering-like pattern (rings on a decaying background, counting noise)."""
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    radius = np.hypot(rows - shape[0] * 0.45, cols - shape[1] * 0.55)
    clean = scale * np.exp(-radius / 90) * (1 + 0.5 * np.cos(radius / 6))
    return clean + np.random.default_rng(seed).poisson(5, shape)


def grey_levels(raw: np.ndarray, size: int, transform: Transform) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(render_thumbnail(raw, size, transform))), int)


def assert_same_thumbnail(path, frame: int = 0, sizes=(32, 64, 100, 128), tolerance: int = 0):
    """The preview gives the full frame's thumbnail (linear and log, several sizes)."""
    full = read_frame(path, frame)
    for size in sizes:
        preview = read_preview(path, frame, size)
        for transform in (Transform(), Transform(log=True)):
            from_preview = grey_levels(preview, size, transform)
            from_full = grey_levels(full, size, transform)
            assert from_preview.shape == from_full.shape
            difference = np.abs(from_preview - from_full).max()
            assert difference <= tolerance, (size, transform, difference)


def assert_reduced(path, frame: int = 0) -> None:
    """At 100 px the odd-sized image is averaged over 5x5 blocks while it is read."""
    full = read_frame(path, frame)
    np.testing.assert_array_equal(read_preview(path, frame, 100), block_mean(full, 5))


TIFF_LAYOUTS = {
    "one strip": {},
    "strips of 7 rows, zlib": {"rowsperstrip": 7, "compression": "zlib"},
    "tiles 64x128": {"tile": (64, 128)},
    "tiles 32x48, zlib": {"tile": (32, 48), "compression": "zlib"},
}


@pytest.mark.parametrize("layout", TIFF_LAYOUTS)
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int32", "float32"])
def test_tiff_preview_is_the_full_frames_thumbnail(tmp_path, layout, dtype):
    values = rings(scale=200.0 if dtype == "uint8" else 30000.0)
    values = values.astype(dtype) if dtype != "float32" else (values / 7 - 50).astype(dtype)
    path = tmp_path / "image.tif"
    tifffile.imwrite(path, values, **TIFF_LAYOUTS[layout])
    assert_same_thumbnail(path)
    assert_reduced(path)


def test_float_tiff_with_nan_and_inf(tmp_path):
    values = rings().astype(np.float32)
    values[10:20, 30:40] = np.nan
    values[100, :] = np.inf
    tifffile.imwrite(tmp_path / "holes.tif", values, tile=(64, 64))
    assert_same_thumbnail(tmp_path / "holes.tif")


@pytest.mark.parametrize("layout", ["one strip", "tiles 32x48, zlib"])
def test_colour_tiff_preview_is_its_luminance(tmp_path, layout):
    rgb = np.stack([rings(seed=s) for s in range(3)], axis=-1) / 200
    path = tmp_path / "rgb.tif"
    tifffile.imwrite(path, rgb.astype(np.uint8), photometric="rgb", **TIFF_LAYOUTS[layout])
    assert_same_thumbnail(path)


@pytest.mark.parametrize("layout", ["one strip", "strips of 7 rows, zlib", "tiles 64x128"])
def test_each_frame_of_a_stack(tmp_path, layout):
    stack = np.stack([rings(seed=s) * (1 + s) for s in range(3)]).astype(np.uint16)
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, stack, photometric="minisblack", **TIFF_LAYOUTS[layout])
    for frame in range(3):
        assert_same_thumbnail(path, frame)
        assert_reduced(path, frame)
    with pytest.raises(UnreadableImage, match="frame 3 does not exist"):
        read_preview(path, 3, 64)


def test_planar_samples(tmp_path):
    # Samples stored one plane after another: no band reads, the page is decoded whole.
    planes = np.stack([rings(seed=s) for s in range(3)]).astype(np.uint16)
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, planes, photometric="minisblack", planarconfig="separate")
    assert_same_thumbnail(path)
    assert_reduced(path)


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize("shape", [ODD, (517, 301), (255, 257)])
def test_png_preview_is_the_full_frames_thumbnail(tmp_path, dtype, shape):
    values = rings(shape, scale=200.0 if dtype == "uint8" else 30000.0).astype(dtype)
    Image.fromarray(values).save(tmp_path / "image.png")
    assert_same_thumbnail(tmp_path / "image.png")


def test_rgb_png_and_jpeg(tmp_path):
    rgb = (np.stack([rings(seed=s) for s in range(3)], axis=-1) / 200).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.jpg", quality=90)
    assert_same_thumbnail(tmp_path / "rgb.png")
    assert_same_thumbnail(tmp_path / "rgb.jpg")


def test_no_reduction_where_it_would_change_the_thumbnails_shape(tmp_path):
    # 301x517 at 128 px: 4x4 means are 75x129, a 74x128 thumbnail; the full frame's is
    # 75x128 (the renderer sizes a thumbnail from the array it is given)
    assert preview_block(*ODD, 128) == 1 and preview_block(*ODD, 100) == 5
    values = rings().astype(np.uint16)
    tifffile.imwrite(tmp_path / "odd.tif", values, rowsperstrip=8)
    np.testing.assert_array_equal(read_preview(tmp_path / "odd.tif", 0, 128), values)


def test_small_images_come_as_they_are(tmp_path):
    values = rings((40, 60)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "small.tif", values, tile=(16, 16))
    preview = read_preview(tmp_path / "small.tif", 0, 64)
    assert preview.dtype == np.uint16
    np.testing.assert_array_equal(preview, values)


def write_pyramid(path, levels: list[np.ndarray], **options) -> None:
    with tifffile.TiffWriter(path) as tif:
        tif.write(levels[0], subifds=len(levels) - 1, **options)
        for level in levels[1:]:
            tif.write(level, subfiletype=1, **options)


def pyramid_of(base: np.ndarray, count: int) -> list[np.ndarray]:
    """Each level the 2x2 means of the one before, as a pyramid writer makes them."""
    levels = [base]
    for _ in range(count):
        levels.append(block_mean(levels[-1], 2).astype(base.dtype))
    return levels


def pyramid_base() -> np.ndarray:
    rows, cols = np.mgrid[:1000, :1400]
    radius = np.hypot(rows - 480, cols - 700)
    return (20000 * np.exp(-radius / 400) * (1.2 + np.cos(radius / 60))).astype(np.uint16)


def test_pyramid_preview_is_the_full_images_thumbnail(tmp_path):
    # Levels in float32 hold the exact means (integer levels are rounded by their writer,
    # which the log transform magnifies near the minimum).
    base = pyramid_base().astype(np.float32)
    path = tmp_path / "pyramid.tif"
    write_pyramid(path, pyramid_of(base, 3), tile=(128, 128), compression="zlib")
    # levels 1400, 700, 350 and 175 wide; the renderer averages 10x10 blocks for 128 px,
    # 4x4 for 300 px, 21x21 for 64 px: the 700 level in 5x5 blocks, the 350 level whole,
    # no level (21 is odd)
    assert read_preview(path, 0, 128).shape == (100, 140)
    np.testing.assert_array_equal(read_preview(path, 0, 300), pyramid_of(base, 2)[2])
    assert_same_thumbnail(path, sizes=(64, 128, 300), tolerance=1)


def test_pyramid_preview_reads_the_level(tmp_path):
    # Levels that are not the image's means show which one was read.
    base = pyramid_base()
    levels = [base] + [np.full((base.shape[0] // f, base.shape[1] // f), f, np.uint16)
                       for f in (2, 4, 8)]
    write_pyramid(tmp_path / "marked.tif", levels, tile=(64, 64))
    np.testing.assert_array_equal(read_preview(tmp_path / "marked.tif", 0, 300), 4)
    np.testing.assert_array_equal(read_preview(tmp_path / "marked.tif", 0, 128), 2)
    assert read_preview(tmp_path / "marked.tif", 0, 64).max() > 8  # the base


def test_a_huge_pyramid_is_previewed_from_a_level(tmp_path):
    side = 8200
    assert side * side > MAX_PREVIEW_PIXELS
    base = np.zeros((side, side), np.uint8)
    base[:, side // 2:] = 200
    path = tmp_path / "huge.tif"
    write_pyramid(path, pyramid_of(base, 6), tile=(256, 256), compression="zlib")
    preview = read_preview(path, 0, 128)
    assert preview.shape == (128, 128)  # level 6, 8200 / 64 = 128 wide: whole
    assert preview[:, :60].max() == 0 and preview[:, 70:].min() == 200
    # 100 px: blocks of 82, the 4100 level's in blocks of 41
    assert read_preview(path, 0, 100).shape == (100, 100)
    # 96 px: blocks of 85, which no level's scale divides; the smallest level that is
    # large enough (128) is read, though its thumbnail is resampled differently
    assert read_preview(path, 0, 96).shape == (128, 128)


def test_a_huge_compressed_image_without_levels_is_not_decoded(tmp_path):
    path = tmp_path / "huge.tif"
    tifffile.imwrite(path, np.zeros((8200, 8200), np.uint8), compression="zlib")
    with pytest.raises(TooLargeForPreview, match="bin it"):
        read_preview(path, 0, 128)


def test_truncated_tiles_are_unreadable(tmp_path):
    tifffile.imwrite(tmp_path / "whole.tif", rings().astype(np.uint16), tile=(64, 64))
    data = (tmp_path / "whole.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(UnreadableImage, match="truncated"):
        read_preview(tmp_path / "cut.tif", 0, 64)


def test_directory_source_reads_previews_for_thumbnails(tmp_path):
    values = rings().astype(np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", values, rowsperstrip=16)
    source = DirectorySource(str(tmp_path))
    np.testing.assert_array_equal(source.read("a.tif"), values)
    # a job's read with max_size (scattering features) still gets the full frame
    np.testing.assert_array_equal(source.read("a.tif", max_size=64), values)
    # block means, never strides: a one-pixel peak still shows in the preview
    values[150, 250] = 65535
    tifffile.imwrite(tmp_path / "a.tif", values, rowsperstrip=16)
    preview = source.preview("a.tif", 0, 64)
    np.testing.assert_array_equal(preview, block_mean(values, 8))
    assert preview[150 // 8, 250 // 8] >= 65535 / 64


@pytest.mark.parametrize("shape", [(1, 5000), (3, 5000), (5000, 2)])
def test_line_scans_longer_than_the_size_times_their_width_render(tmp_path, shape):
    """A block of more rows than the image has left no row of blocks (a division by zero
    in the renderer, and a line scan stopped the whole header scan)."""
    values = rings(shape).astype(np.uint16)
    tifffile.imwrite(tmp_path / "line.tif", values)
    assert_same_thumbnail(tmp_path / "line.tif")
    expected = (1, 128) if shape[0] < shape[1] else (128, 1)
    assert grey_levels(values, 128, Transform()).shape == expected


@pytest.mark.parametrize("name", ["stack.tif", "grey.png"])
def test_a_file_opened_once_gives_the_probe_and_the_preview(tmp_path, name):
    """The header scan opens each file once for its header and its thumbnail's preview."""
    stack = rings((200, 300)).astype(np.uint16)
    if name.endswith(".tif"):
        tifffile.imwrite(tmp_path / name, np.stack([stack, stack // 2, stack // 3]),
                         photometric="minisblack")
    else:
        Image.fromarray((stack // 256).astype(np.uint8)).save(tmp_path / name)
    source = DirectorySource(str(tmp_path))
    with source.open_file(name) as opened:
        assert opened.info() == source.probe(name)
        np.testing.assert_array_equal(opened.preview(0, 64), source.preview(name, 0, 64))
        with pytest.raises(UnreadableImage, match="frame 5 does not exist"):
            opened.preview(5, 64)


def test_opening_a_file_that_is_no_image_is_unreadable(tmp_path):
    (tmp_path / "note.tif").write_text("not an image")
    with pytest.raises(UnreadableImage, match="not a readable TIFF"):
        with DirectorySource(str(tmp_path)).open_file("note.tif"):
            pass
