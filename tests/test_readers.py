"""Reading real PNG, JPEG and TIFF files, good and bad."""
from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from data.readers import MAX_PIXELS, SUPPORTED_SUFFIXES, probe_file, read_frame
from data.sources import ImageInfo, UnreadableImage


def ramp(dtype, shape=(40, 60), scale=1):
    return (np.arange(np.prod(shape)).reshape(shape) * scale).astype(dtype)


def test_supported_suffixes():
    assert SUPPORTED_SUFFIXES == {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def test_8bit_png(tmp_path):
    values = (ramp(np.int64) % 256).astype(np.uint8)
    Image.fromarray(values).save(tmp_path / "a.png")
    assert probe_file(tmp_path / "a.png") == ImageInfo(1, 40, 60, "uint8")
    frame = read_frame(tmp_path / "a.png")
    assert frame.dtype == np.uint8
    np.testing.assert_array_equal(frame, values)


def test_16bit_png_keeps_its_values(tmp_path):
    values = ramp(np.uint16, scale=27)
    assert values.max() > 60000
    Image.fromarray(values).save(tmp_path / "a.png")
    assert probe_file(tmp_path / "a.png") == ImageInfo(1, 40, 60, "uint16")
    frame = read_frame(tmp_path / "a.png")
    assert frame.dtype == np.uint16
    np.testing.assert_array_equal(frame, values)


def test_jpeg(tmp_path):
    values = np.tile(np.linspace(0, 255, 60), (40, 1)).astype(np.uint8)
    Image.fromarray(values).save(tmp_path / "a.JPG", quality=95)
    assert probe_file(tmp_path / "a.JPG") == ImageInfo(1, 40, 60, "uint8")
    frame = read_frame(tmp_path / "a.JPG")
    assert frame.dtype == np.uint8 and frame.shape == (40, 60)
    assert np.abs(frame.astype(int) - values).mean() < 2  # lossy, but close


def test_rgb_png_becomes_luminance(tmp_path):
    rgb = np.zeros((10, 12, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    rgb[0, 0] = (0, 255, 0)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    assert probe_file(tmp_path / "c.png") == ImageInfo(1, 10, 12, "float32")
    frame = read_frame(tmp_path / "c.png")
    assert frame.dtype == np.float32 and frame.shape == (10, 12)
    assert frame[1, 1] == pytest.approx(0.299 * 200 + 0.587 * 100 + 0.114 * 50, rel=1e-5)
    assert frame[0, 0] == pytest.approx(0.587 * 255, rel=1e-5)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32])
def test_tiff_values_and_dtype(tmp_path, dtype):
    values = ramp(dtype, scale=3)
    if dtype == np.float32:
        values = values / 7 - 100
    tifffile.imwrite(tmp_path / "a.tif", values)
    assert probe_file(tmp_path / "a.tif") == ImageInfo(1, 40, 60, np.dtype(dtype).name)
    frame = read_frame(tmp_path / "a.tif")
    assert frame.dtype == dtype
    np.testing.assert_array_equal(frame, values)


@pytest.mark.parametrize("n_frames", [3, 5])
def test_multi_frame_tiff(tmp_path, n_frames):
    stack = np.stack([ramp(np.uint16) + 1000 * i for i in range(n_frames)])
    tifffile.imwrite(tmp_path / "stack.tiff", stack, photometric="minisblack")
    assert probe_file(tmp_path / "stack.tiff") == ImageInfo(n_frames, 40, 60, "uint16")
    for i in range(n_frames):
        np.testing.assert_array_equal(read_frame(tmp_path / "stack.tiff", i), stack[i])
    with pytest.raises(UnreadableImage, match=f"frame {n_frames} does not exist"):
        read_frame(tmp_path / "stack.tiff", n_frames)


def test_tiff_of_several_axes_counts_every_frame(tmp_path):
    stack = np.arange(2 * 3 * 8 * 9, dtype=np.uint16).reshape(2, 3, 8, 9)
    tifffile.imwrite(tmp_path / "tz.tif", stack, photometric="minisblack")
    assert probe_file(tmp_path / "tz.tif").n_frames == 6
    np.testing.assert_array_equal(read_frame(tmp_path / "tz.tif", 4), stack[1, 1])


def test_pillow_multi_page_tiff(tmp_path):
    pages = [Image.fromarray(np.full((8, 9), i * 10, np.uint8)) for i in range(4)]
    pages[0].save(tmp_path / "p.tif", save_all=True, append_images=pages[1:])
    assert probe_file(tmp_path / "p.tif").n_frames == 4
    assert read_frame(tmp_path / "p.tif", 3)[0, 0] == 30


def test_rgb_tiff_becomes_luminance(tmp_path):
    rgb = np.zeros((6, 7, 3), dtype=np.uint16)
    rgb[..., 1] = 1000
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    assert probe_file(tmp_path / "rgb.tif") == ImageInfo(1, 6, 7, "float32")
    assert read_frame(tmp_path / "rgb.tif")[0, 0] == pytest.approx(587, rel=1e-5)


def test_max_size_strides_by_an_integer_step(tmp_path):
    values = ramp(np.uint16, shape=(600, 1000))
    tifffile.imwrite(tmp_path / "big.tif", values)
    small = read_frame(tmp_path / "big.tif", max_size=128)
    np.testing.assert_array_equal(small, values[::7, ::7])  # 1000 // 128 = 7
    assert 128 <= max(small.shape) <= 256
    assert read_frame(tmp_path / "big.tif", max_size=2000).shape == (600, 1000)


def random_bytes(path, n=4096):
    path.write_bytes(np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8).tobytes())
    return path


@pytest.mark.parametrize("name", ["noise.tif", "noise.png", "noise.jpg"])
def test_random_bytes_are_unreadable(tmp_path, name):
    path = random_bytes(tmp_path / name)
    with pytest.raises(UnreadableImage, match="corrupt or not an image") as error:
        probe_file(path)
    assert name in str(error.value)
    with pytest.raises(UnreadableImage):
        read_frame(path)


def test_empty_file(tmp_path):
    (tmp_path / "empty.tif").touch()
    with pytest.raises(UnreadableImage, match="empty .0 bytes.*copy it again"):
        probe_file(tmp_path / "empty.tif")


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_truncated_tiff(tmp_path, compression):
    noise = np.random.default_rng(1).integers(0, 65535, (64, 64), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "whole.tif", noise, compression=compression)
    data = (tmp_path / "whole.tif").read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(UnreadableImage, match="truncated"):
        probe_file(cut)
    with pytest.raises(UnreadableImage, match="truncated"):
        read_frame(cut)


def test_truncated_png_fails_on_read(tmp_path):
    noise = np.random.default_rng(2).integers(0, 255, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(UnreadableImage, match="cut.png"):
        read_frame(tmp_path / "cut.png")


def test_huge_tiff_is_refused_from_its_header(tmp_path):
    # A sparse file: the header says 17000 x 17000, no data is written.
    tifffile.imwrite(tmp_path / "huge.tif", shape=(17000, 17000), dtype="uint8")
    assert 17000 * 17000 > MAX_PIXELS
    with pytest.raises(UnreadableImage, match="289,000,000 pixels.*crop or bin"):
        probe_file(tmp_path / "huge.tif")


def png_header_only(path, width, height):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + \
            struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def test_huge_png_is_refused(tmp_path):
    path = png_header_only(tmp_path / "huge.png", 40000, 40000)
    with pytest.raises(UnreadableImage, match="too large|pixels"):
        probe_file(path)


def test_complex_tiff_is_refused(tmp_path):
    tifffile.imwrite(tmp_path / "c.tif", np.ones((4, 4), np.complex64))
    with pytest.raises(UnreadableImage, match="complex"):
        probe_file(tmp_path / "c.tif")


def test_missing_file(tmp_path):
    with pytest.raises(UnreadableImage, match="not found"):
        read_frame(tmp_path / "gone.tif")


@pytest.mark.timeout(10)
def test_fifo_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.tif")
    with pytest.raises(UnreadableImage, match="not a regular file"):
        probe_file(tmp_path / "pipe.tif")


HUGE_SIDE = 8200  # 67 million pixels: more than a preview decodes


def test_a_huge_compressed_image_is_not_decoded_for_a_preview(tmp_path):
    from data.readers import MAX_PREVIEW_PIXELS
    from data.sources.base import TooLargeForPreview

    assert HUGE_SIDE ** 2 > MAX_PREVIEW_PIXELS
    path = tmp_path / "huge.tif"
    tifffile.imwrite(path, np.zeros((HUGE_SIDE, HUGE_SIDE), np.uint8), compression="zlib")
    assert path.stat().st_size < 2**20  # a small file that unpacks to 67 MB
    with pytest.raises(TooLargeForPreview, match="bin it"):
        read_frame(path, max_size=128)
    assert read_frame(path).shape == (HUGE_SIDE, HUGE_SIDE)  # training reads it in full


def test_a_huge_uncompressed_image_is_previewed_from_the_mapped_file(tmp_path):
    path = tmp_path / "huge.tif"
    image = np.zeros((HUGE_SIDE, HUGE_SIDE), np.uint8)
    image[::2, :] = 200
    tifffile.imwrite(path, image)
    preview = read_frame(path, max_size=128)
    assert 128 <= max(preview.shape) < 256 and preview.dtype == np.uint8
    assert preview[0, 0] == 200
