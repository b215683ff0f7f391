"""Reading images from files: a header probe and raw reads of one frame.

TIFF goes through tifffile (8/16/32-bit, float, multi-frame); PNG and JPEG through Pillow.
Values are returned as stored (no 8-bit conversion); colour images become float32
luminance. A preview (``read_preview``) is the frame block-averaged to a thumbnail's
scale, read in pieces where the format allows. Every failure is an ``UnreadableImage``
whose message says what is wrong and what to do, so one bad file never breaks a page or a
job.
"""
from __future__ import annotations

import math
import os
import stat
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from data.sources.base import ImageInfo, TooLargeForPreview, UnreadableImage
from data.thumbnails import block_mean, first_block, fit_size

TIFF_SUFFIXES = frozenset({".tif", ".tiff"})
SUPPORTED_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"}) | TIFF_SUFFIXES
MAX_PIXELS = 2**28
# A preview (max_size given) decodes at most this many pixels (256 MB as float32), or
# strides a file mapped from disk: a small compressed file may unpack to gigabytes.
MAX_PREVIEW_PIXELS = 2**26

# A preview read in pieces averages about this many full-resolution pixels at a time.
BAND_PIXELS = 2**20

# ITU-R 601-2 luma weights, the ones Pillow uses for RGB -> L.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)

# Pillow modes read as they are (dtype of np.asarray); any other mode is colour -> luminance.
_PIL_RAW_DTYPES = {"L": "uint8", "I;16": "uint16", "I;16L": "uint16", "I;16B": "uint16",
                   "I;16N": "uint16", "I": "int32", "F": "float32"}
# Pillow modes converted to another grey mode first: bilevel to 0/255, grey+alpha to grey.
_PIL_GREY_CONVERSIONS = {"1": "L", "LA": "L", "La": "L"}

_TIFF_COLOUR = {tifffile.PHOTOMETRIC.RGB, tifffile.PHOTOMETRIC.YCBCR}
_FIXED_AXES = "YXS"


def is_supported(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in SUPPORTED_SUFFIXES


def luminance(rgb: np.ndarray) -> np.ndarray:
    """float32 luminance of an (..., 3 or 4) colour array; an alpha channel is ignored."""
    return np.tensordot(rgb[..., :3].astype(np.float32, copy=False), LUMA_WEIGHTS, axes=1)


def stride_for(height: int, width: int, max_size: Optional[int]) -> int:
    """The integer step that brings the longer side to between max_size and 2 * max_size."""
    if not max_size:
        return 1
    return max(1, max(height, width) // max_size)


def preview_block(height: int, width: int, max_size: int) -> int:
    """The block a preview of a (height, width) image averages over: the renderer's own
    first step (``first_block``), or 1 where averaging first would change the shape of the
    thumbnail, which the renderer sizes from the array it is given."""
    block = first_block(height, width, max_size)
    if fit_size(height // block, width // block, max_size) != fit_size(height, width, max_size):
        return 1
    return block


def _check_regular_file(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise UnreadableImage(f"{path.name}: file not found; it was moved or deleted "
                              "after the data set was listed") from None
    except OSError as error:
        raise UnreadableImage(f"{path.name}: cannot open ({error.strerror}); check the "
                              "file's permissions") from None
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableImage(f"{path.name}: not a regular file (a pipe, device or folder); "
                              "remove it or give it another suffix")
    if info.st_size == 0:
        raise UnreadableImage(f"{path.name}: the file is empty (0 bytes); it was probably not "
                              "fully written or copied: copy it again or remove it")


def _check_size(path: Path, height: int, width: int) -> None:
    if height < 1 or width < 1:
        raise UnreadableImage(f"{path.name}: the image has no pixels ({width}x{height})")
    if height * width > MAX_PIXELS:
        raise UnreadableImage(
            f"{path.name}: the image is {width}x{height} = {height * width:,} pixels, more than "
            f"the {MAX_PIXELS:,} beamlabel reads; crop or bin it into smaller images")


def _check_frame(path: Path, frame: int, n_frames: int) -> None:
    if not 0 <= frame < n_frames:
        raise UnreadableImage(f"{path.name}: frame {frame} does not exist; the file has "
                              f"{n_frames} frame{'s' if n_frames != 1 else ''} (0 to "
                              f"{n_frames - 1})")


def _corrupt(path: Path, what: str, error: Exception) -> UnreadableImage:
    return UnreadableImage(f"{path.name}: {what} ({type(error).__name__}: {error}); the file "
                           "is corrupt or not an image: replace it or remove it")


@contextmanager
def _failures_as_unreadable(path: Path, what: str) -> Iterator[None]:
    """Decoders fail in many ways (OSError, ValueError, struct.error...): one message."""
    try:
        yield
    except UnreadableImage:
        raise
    except Exception as error:
        raise _corrupt(path, what, error) from error


# ---------------------------------------------------------------- TIFF

class _TiffLayout:
    """Where frames, rows, columns and colour samples are in the first series of a TIFF."""

    def __init__(self, path: Path, tif: tifffile.TiffFile, series=None):
        if series is None and not tif.series:
            raise UnreadableImage(f"{path.name}: the TIFF file holds no image")
        self.tif = tif
        self.series = tif.series[0] if series is None else series
        self.axes, shape = self.series.axes, self.series.shape
        if "Y" not in self.axes or "X" not in self.axes:
            raise UnreadableImage(f"{path.name}: the TIFF image is not 2-D (axes "
                                  f"{self.axes}, shape {shape}); save each frame as a 2-D image")
        dims = dict(zip(self.axes, shape))
        self.height, self.width, self.samples = dims["Y"], dims["X"], dims.get("S", 1)
        self.n_frames = math.prod(n for axis, n in zip(self.axes, shape)
                                  if axis not in _FIXED_AXES)
        keyframe = self.series.keyframe
        self.colour = keyframe.photometric in _TIFF_COLOUR and self.samples >= 3
        dtype = np.dtype(self.series.dtype)
        if dtype.kind == "c":
            raise UnreadableImage(f"{path.name}: complex-valued TIFF images are not supported; "
                                  "save the magnitude or intensity instead")
        self.dtype = "float32" if self.colour else ("uint8" if dtype.kind == "b" else dtype.name)
        # One page per frame is the usual case; otherwise frames live inside the pages
        # (e.g. a volume in one page), and the whole series is read to get one.
        self.page_per_frame = len(self.series.pages) == self.n_frames


def _frames_first(array: np.ndarray, axes: str) -> np.ndarray:
    """Reorder to (frames, Y, X, S) whatever the stored axis order."""
    if "S" not in axes:
        array, axes = array[..., np.newaxis], axes + "S"
    order = [i for i, a in enumerate(axes) if a not in _FIXED_AXES] + \
        [axes.index(a) for a in _FIXED_AXES]
    array = array.transpose(order)
    return array.reshape((-1,) + array.shape[-3:])


def _check_tiff_data_present(path: Path, page) -> None:
    offsets, counts = page.dataoffsets, page.databytecounts
    if offsets and counts:
        end = max(o + c for o, c in zip(offsets, counts))
        if end > path.stat().st_size:
            raise UnreadableImage(f"{path.name}: the TIFF file is truncated (image data ends at "
                                  f"byte {end:,}, the file has {path.stat().st_size:,}); it was "
                                  "probably not fully written or copied: copy it again")


@contextmanager
def _open_tiff(path: Path) -> Iterator[_TiffLayout]:
    with _failures_as_unreadable(path, "not a readable TIFF file"):
        tif = tifffile.TiffFile(path)
    with tif:
        with _failures_as_unreadable(path, "not a readable TIFF file"):
            layout = _TiffLayout(path, tif)
        yield layout


def _tiff_info(path: Path, layout: _TiffLayout) -> ImageInfo:
    _check_size(path, layout.height, layout.width)
    _check_tiff_data_present(path, layout.series.pages[-1])
    return ImageInfo(layout.n_frames, layout.height, layout.width, layout.dtype)


def _tiff_plane(path: Path, layout: _TiffLayout, frame: int) -> np.ndarray:
    """Frame ``frame`` decoded whole: raw values, or float32 luminance for colour."""
    with _failures_as_unreadable(path, f"cannot decode frame {frame}"):
        if layout.page_per_frame:
            page = layout.series.pages[frame]
            _check_tiff_data_present(path, page)
            plane = _frames_first(page.asarray(), layout.series.keyframe.axes)[0]
        else:
            plane = _frames_first(layout.series.asarray(), layout.axes)[frame]
    return _grey_or_luminance(plane, layout.colour)


def _grey_or_luminance(pixels: np.ndarray, colour: bool) -> np.ndarray:
    """(Y, X, S) decoded samples as the 2-D values a read returns."""
    if colour:
        return luminance(pixels)
    pixels = pixels[..., 0]
    return pixels.astype(np.uint8) if pixels.dtype.kind == "b" else pixels


def _read_tiff(path: Path, frame: int, max_size: Optional[int] = None) -> np.ndarray:
    with _open_tiff(path) as layout:
        _check_size(path, layout.height, layout.width)
        _check_frame(path, frame, layout.n_frames)
        if max_size and layout.height * layout.width > MAX_PREVIEW_PIXELS:
            return _mapped_tiff_preview(path, layout, max_size)
        return _tiff_plane(path, layout, frame)


def _tiff_preview(path: Path, base: _TiffLayout, frame: int, max_size: int) -> np.ndarray:
    _check_size(path, base.height, base.width)
    _check_frame(path, frame, base.n_frames)
    layout, block = _smallest_level(path, base, preview_block(base.height, base.width,
                                                              max_size))
    if layout.height * layout.width > MAX_PREVIEW_PIXELS:
        layout = _level_at_least(path, base, max_size)
        if layout is None:
            return _mapped_tiff_preview(path, base, max_size)
        block = preview_block(layout.height, layout.width, max_size)
    page = _page_in_pieces(layout, frame) if block > 1 else None
    if page is None:
        plane = _tiff_plane(path, layout, frame)
        return block_mean(plane, block) if block > 1 else plane
    _check_tiff_data_present(path, page)
    with _failures_as_unreadable(path, f"cannot decode frame {frame}"):
        return _block_means_by_band(page, layout, block)


def _smallest_level(path: Path, base: _TiffLayout, block: int) -> tuple[_TiffLayout, int]:
    """The smallest level of a pyramidal TIFF that gives the full image's block means
    (its scale divides ``block`` and its blocks cover the same pixels), and the block
    to average it over; the full image and ``block`` when there is none."""
    chosen = base, block
    for layout in _levels(path, base) if block > 1 else ():
        scale = round(base.width / layout.width)
        if scale < 2 or block % scale:
            continue
        rest = block // scale
        same_blocks = (layout.height // rest, layout.width // rest) == \
            (base.height // block, base.width // block)
        if same_blocks and layout.width < chosen[0].width:
            chosen = layout, rest
    return chosen


def _level_at_least(path: Path, base: _TiffLayout, max_size: int) -> Optional[_TiffLayout]:
    """For an image too large to decode: its smallest level whose longer side is still at
    least ``max_size`` and small enough to decode (its thumbnail may then differ from the
    full image's by the resampling), or None."""
    fitting = [layout for layout in _levels(path, base)
               if max(layout.height, layout.width) >= max_size and
               layout.height * layout.width <= MAX_PREVIEW_PIXELS]
    return min(fitting, key=lambda layout: layout.width, default=None)


def _levels(path: Path, base: _TiffLayout) -> Iterator[_TiffLayout]:
    """The reduced levels of a pyramidal TIFF that hold the same frames as the image."""
    for level in base.series.levels[1:]:
        try:
            layout = _TiffLayout(path, base.tif, level)
        except Exception:  # a level tifffile cannot lay out: the full image serves
            continue
        if layout.n_frames == base.n_frames and layout.colour == base.colour:
            yield layout


def _page_in_pieces(layout: _TiffLayout, frame: int):
    """The page of ``frame`` when its strips or tiles can be reduced one band at a time
    (larger than a band, a page per frame, one plane deep, samples interleaved); None
    otherwise."""
    if not layout.page_per_frame or layout.height * layout.width <= BAND_PIXELS:
        return None
    page = layout.series.pages[frame]
    keyframe = page.keyframe
    interleaved = keyframe.samplesperpixel == 1 or keyframe.planarconfig == 1
    if not interleaved or keyframe.imagedepth != 1 or keyframe.dtype is None or \
            np.dtype(keyframe.dtype).kind == "b":
        return None
    return page


def _bands(page, layout: _TiffLayout) -> Iterator[np.ndarray]:
    """Full-width runs of rows of ``page`` in order, as (rows, X, S) samples: a strip at a
    time, or a row of tiles at a time."""
    height, width = layout.height, layout.width
    band, band_top = None, 0
    for segment, (_, _, top, left, _), shape in page.segments(maxworkers=1):
        if band is not None and top != band_top:
            yield band
            band = None
        rows = min(shape[1], height - top)
        if segment is not None and left == 0 and shape[2] >= width:  # a strip: no copy
            yield segment[0, :rows, :width]
            continue
        if band is None:
            band = np.zeros((rows, width, shape[3]), page.keyframe.dtype)
            band_top = top
        if segment is not None:
            piece = segment[0, :rows, :width - left]
            band[:, left:left + piece.shape[1]] = piece
    if band is not None:
        yield band


def _block_means_by_band(page, layout: _TiffLayout, block: int) -> np.ndarray:
    """``block_mean`` of the page, computed as its strips or tiles are decoded: only a
    few rows of the full-resolution image are held at a time (about ``BAND_PIXELS``, so
    that the block sums are not called per small strip), and the values are those of
    ``block_mean`` over the whole plane."""
    wanted = max(block, BAND_PIXELS // layout.width // block * block)
    means, pending, held = [], [], 0
    for band in _bands(page, layout):
        pending.append(_grey_or_luminance(band, layout.colour))
        held += len(band)
        if held >= wanted:
            rows = np.concatenate(pending) if len(pending) > 1 else pending[0]
            whole = held // block * block
            means.append(block_mean(rows[:whole], block))
            pending, held = ([rows[whole:]], held - whole) if held > whole else ([], 0)
    if held >= block:
        rows = np.concatenate(pending) if len(pending) > 1 else pending[0]
        means.append(block_mean(rows, block))
    if not means:
        return np.zeros((0, layout.width // block), np.float32)
    return np.concatenate(means)


# ---------------------------------------------------------------- PNG / JPEG

@contextmanager
def _open_pil(path: Path) -> Iterator[Image.Image]:
    try:
        image = Image.open(path)
    except Image.DecompressionBombError as error:
        raise UnreadableImage(f"{path.name}: the image is too large to read safely ({error}); "
                              "crop or bin it into smaller images") from error
    except UnidentifiedImageError as error:
        raise _corrupt(path, "not a readable PNG or JPEG file", error) from error
    except Exception as error:
        raise _corrupt(path, "cannot open the image", error) from error
    with image:
        yield image


def _pil_dtype(mode: str) -> str:
    return _PIL_RAW_DTYPES.get(_PIL_GREY_CONVERSIONS.get(mode, mode), "float32")


def _pil_info(path: Path, image: Image.Image) -> ImageInfo:
    width, height = image.size
    _check_size(path, height, width)
    return ImageInfo(1, height, width, _pil_dtype(image.mode))


def _read_pil(path: Path, frame: int, max_size: Optional[int] = None) -> np.ndarray:
    with _open_pil(path) as image:
        _check_pil_image(path, image, frame, max_size)
        return _pil_values(path, image)


def _check_pil_image(path: Path, image: Image.Image, frame: int,
                     max_size: Optional[int]) -> None:
    width, height = image.size
    _check_size(path, height, width)
    if max_size and height * width > MAX_PREVIEW_PIXELS:
        raise _too_large_for_preview(path, height, width)
    _check_frame(path, frame, 1)


def _pil_values(path: Path, image: Image.Image) -> np.ndarray:
    with _failures_as_unreadable(path, "cannot decode the image"):
        image.load()
        mode = image.mode
        if mode in _PIL_GREY_CONVERSIONS:
            mode = _PIL_GREY_CONVERSIONS[mode]
            image = image.convert(mode)
        if mode in _PIL_RAW_DTYPES:
            return np.asarray(image).astype(_PIL_RAW_DTYPES[mode], copy=False)
        return luminance(np.asarray(image.convert("RGB")))


def _pil_preview(path: Path, image: Image.Image, frame: int, max_size: int) -> np.ndarray:
    """PNG has no reduced decode: it is decoded whole. A JPEG could be (its DCT scaling),
    but under the log transform of a thumbnail that moves grey levels by up to 24 at 1/8
    and 3 at 1/2 scale, so it is decoded whole too."""
    _check_pil_image(path, image, frame, max_size)
    values = _pil_values(path, image)
    block = preview_block(*values.shape, max_size)
    return block_mean(values, block) if block > 1 else values


# ---------------------------------------------------------------- public

def _is_tiff(path: Path) -> bool:
    return path.suffix.lower() in TIFF_SUFFIXES


class OpenedFile:
    """An image file opened once for its header and a preview (the header scan wants both
    and the file's header parsed once). Made by ``open_file``; valid inside its block."""

    def __init__(self, path: Path, info: Callable[[], ImageInfo],
                 preview: Callable[[int, int], np.ndarray]):
        self.path = path
        self._info, self._preview = info, preview

    def info(self) -> ImageInfo:
        """What ``probe_file`` gives; raises UnreadableImage."""
        return self._info()

    def preview(self, frame: int, max_size: int) -> np.ndarray:
        """What ``read_preview`` gives; raises UnreadableImage (TooLargeForPreview)."""
        return self._preview(frame, max_size)


@contextmanager
def open_file(path: Path) -> Iterator[OpenedFile]:
    """``path`` opened (its header parsed, no pixels decoded yet); raises UnreadableImage for
    a file that is no readable image."""
    path = Path(path)
    _check_regular_file(path)
    if _is_tiff(path):
        with _open_tiff(path) as layout:
            yield OpenedFile(path, partial(_tiff_info, path, layout),
                             partial(_tiff_preview, path, layout))
    else:
        with _open_pil(path) as image:
            yield OpenedFile(path, partial(_pil_info, path, image),
                             partial(_pil_preview, path, image))


def probe_file(path: Path) -> ImageInfo:
    """Frame count, size and dtype from the header only; raises UnreadableImage."""
    with open_file(path) as opened:
        return opened.info()


def read_frame(path: Path, frame: int = 0, max_size: Optional[int] = None) -> np.ndarray:
    """The raw 2-D values of one frame, dtype preserved (colour: float32 luminance).

    With ``max_size`` the result is strided by an integer step so that its longer side is
    between ``max_size`` and ``2 * max_size`` (or the full image when that is smaller).
    """
    path = Path(path)
    _check_regular_file(path)
    read = _read_tiff if _is_tiff(path) else _read_pil
    plane = read(path, frame, max_size)
    step = stride_for(*plane.shape, max_size)
    return plane[::step, ::step] if step > 1 else plane


def read_preview(path: Path, frame: int = 0, max_size: int = 128) -> np.ndarray:
    """One frame reduced for a thumbnail whose longer side is ``max_size``: float32 means
    over block x block squares, the block of ``data.thumbnails.first_block`` (the values
    ``data.thumbnails.downscale`` starts from, so the thumbnail is that of the full frame);
    the frame as ``read_frame`` gives it when no reduction is needed or one would change
    the thumbnail's shape (``preview_block``).

    Read as cheaply as the format allows: a pyramidal TIFF's smallest level that is still
    at least ``max_size`` instead of the full image, TIFF strips or tiles averaged as they
    are decoded (one band held at a time); PNG and JPEG are decoded whole. Raises
    UnreadableImage, or TooLargeForPreview for an image too large to decode for a preview.
    """
    with open_file(path) as opened:
        return opened.preview(frame, max_size)


def _too_large_for_preview(path: Path, height: int, width: int) -> TooLargeForPreview:
    return TooLargeForPreview(
        f"{path.name}: the image is {width}x{height} pixels and stored compressed or in "
        f"pieces: a preview decodes at most {MAX_PREVIEW_PIXELS:,} pixels; bin it, or "
        "store it uncompressed")


def _mapped_tiff_preview(path: Path, layout, max_size: int) -> np.ndarray:
    """A preview of a TIFF plane too large to decode, strided straight from the file
    mapped in memory (only the pixels kept are read): a single grey uncompressed plane;
    TooLargeForPreview for any other (compressed, tiled, a stack, colour)."""
    import tifffile

    plane = None
    if layout.n_frames == 1 and not layout.colour:
        try:
            plane = tifffile.memmap(path, mode="r")
        except (ValueError, OSError):
            pass  # compressed or tiled: cannot be mapped
    if plane is None or plane.ndim != 2:
        raise _too_large_for_preview(path, layout.height, layout.width)
    step = stride_for(*plane.shape, max_size)
    return np.array(plane[::step, ::step])
