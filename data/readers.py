"""Reading images from files: a header probe and raw reads of one frame.

TIFF goes through tifffile (8/16/32-bit, float, multi-frame); PNG and JPEG through Pillow.
Values are returned as stored (no 8-bit conversion); colour images become float32
luminance. Every failure is an ``UnreadableImage`` whose message says what is wrong and
what to do, so one bad file never breaks a page or a job.
"""
from __future__ import annotations

import math
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from data.sources.base import ImageInfo, TooLargeForPreview, UnreadableImage

TIFF_SUFFIXES = frozenset({".tif", ".tiff"})
SUPPORTED_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"}) | TIFF_SUFFIXES
MAX_PIXELS = 2**28
# A preview (max_size given) decodes at most this many pixels (256 MB as float32), or
# strides a file mapped from disk: a small compressed file may unpack to gigabytes.
MAX_PREVIEW_PIXELS = 2**26

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

    def __init__(self, path: Path, tif: tifffile.TiffFile):
        if not tif.series:
            raise UnreadableImage(f"{path.name}: the TIFF file holds no image")
        self.series = tif.series[0]
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


def _probe_tiff(path: Path) -> ImageInfo:
    with _open_tiff(path) as layout:
        _check_size(path, layout.height, layout.width)
        _check_tiff_data_present(path, layout.series.pages[-1])
        return ImageInfo(layout.n_frames, layout.height, layout.width, layout.dtype)


def _read_tiff(path: Path, frame: int, max_size: Optional[int] = None) -> np.ndarray:
    with _open_tiff(path) as layout:
        _check_size(path, layout.height, layout.width)
        _check_frame(path, frame, layout.n_frames)
        if max_size and layout.height * layout.width > MAX_PREVIEW_PIXELS:
            return _mapped_tiff_preview(path, layout, max_size)
        with _failures_as_unreadable(path, f"cannot decode frame {frame}"):
            if layout.page_per_frame:
                page = layout.series.pages[frame]
                _check_tiff_data_present(path, page)
                plane = _frames_first(page.asarray(), layout.series.keyframe.axes)[0]
            else:
                plane = _frames_first(layout.series.asarray(), layout.axes)[frame]
        if layout.colour:
            return luminance(plane)
        plane = plane[..., 0]
        return plane.astype(np.uint8) if plane.dtype.kind == "b" else plane


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


def _probe_pil(path: Path) -> ImageInfo:
    with _open_pil(path) as image:
        width, height = image.size
        _check_size(path, height, width)
        return ImageInfo(1, height, width, _pil_dtype(image.mode))


def _read_pil(path: Path, frame: int, max_size: Optional[int] = None) -> np.ndarray:
    with _open_pil(path) as image:
        width, height = image.size
        _check_size(path, height, width)
        if max_size and height * width > MAX_PREVIEW_PIXELS:
            raise _too_large_for_preview(path, height, width)
        _check_frame(path, frame, 1)
        with _failures_as_unreadable(path, "cannot decode the image"):
            image.load()
            mode = image.mode
            if mode in _PIL_GREY_CONVERSIONS:
                mode = _PIL_GREY_CONVERSIONS[mode]
                image = image.convert(mode)
            if mode in _PIL_RAW_DTYPES:
                return np.asarray(image).astype(_PIL_RAW_DTYPES[mode], copy=False)
            return luminance(np.asarray(image.convert("RGB")))


# ---------------------------------------------------------------- public

def _is_tiff(path: Path) -> bool:
    return path.suffix.lower() in TIFF_SUFFIXES


def probe_file(path: Path) -> ImageInfo:
    """Frame count, size and dtype from the header only; raises UnreadableImage."""
    path = Path(path)
    _check_regular_file(path)
    return _probe_tiff(path) if _is_tiff(path) else _probe_pil(path)


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
