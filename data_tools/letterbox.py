"""Read images and letterbox them to a square network input, with exact coordinates.

Convention: pixel centres sit at integer coordinates, so pixel (0, 0) covers
[-0.5, 0.5] x [-0.5, 0.5]. cv2.resize uses the same convention: with a scale
factor `s` it samples the source at `x_src = (x_dst + 0.5) / s - 0.5`. Passing
the factor itself (fx=fy=s, dsize=(0, 0)) makes OpenCV use exactly `s` on both
axes, so the mapping below is exact for the resized pixels, not merely within
the rounding of the resized size.

    forward:  x_in = (x + 0.5) * scale - 0.5 + dx
    inverse:  x    = (x_in - dx + 0.5) / scale - 0.5
"""
from pathlib import Path

import cv2
import numpy as np

PAD_VALUE = 128  # grey padding; augmentation fills uncovered pixels with the same value

# IMREAD_COLOR turns grayscale, RGBA and 16-bit files into 8-bit 3-channel BGR.
# EXIF orientation is ignored: keypoints were annotated on the stored pixel grid.
_IMREAD_FLAGS = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


class ImageError(Exception):
    """An image that cannot be used: missing, unreadable, corrupt or empty."""

    def __init__(self, path, reason):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def decode_image(data, path, flags=_IMREAD_FLAGS):
    """Decode encoded image bytes to BGR, or ImageError naming `path`."""
    if len(data) == 0:
        raise ImageError(path, "empty file")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if image is None:
        raise ImageError(path, "not a decodable image (corrupt or unknown format)")
    if image.ndim != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError(path, f"decoded to an unusable shape {image.shape}")
    return image


def read_bytes(path):
    """The file's bytes, or ImageError. Reading bytes ourselves (rather than
    cv2.imread) separates 'missing' from 'corrupt' and handles non-ASCII paths."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ImageError(path, "file not found") from None
    except OSError as e:
        raise ImageError(path, f"cannot read ({e.strerror or e})") from None


def read_image(path):
    """An image file as uint8 (H, W, 3) RGB; ImageError if it cannot be used."""
    bgr = decode_image(read_bytes(path), path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def image_sizes(ann, unreadable_ok=False):
    """(N, 2) float32 width, height of every image of `ann`, from the file headers: no
    image is decoded, so it is cheap even for thousands of images. With `unreadable_ok`,
    a missing or unreadable file's row is NaN instead of an error."""
    from PIL import Image
    sizes = []
    for n in range(len(ann)):
        try:
            with Image.open(ann.image_path(n)) as image:
                sizes.append(image.size)
        except (OSError, Image.DecompressionBombError):
            if not unreadable_ok:
                raise
            sizes.append((np.nan, np.nan))
    return np.array(sizes, np.float32).reshape(-1, 2)


def fit_scale(height, width, size):
    """The factor that makes the longer side `size`."""
    return size / max(height, width)


def _resize(image, scale):
    """Resize by exactly `scale` on both axes (see the module docstring)."""
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    height, width = image.shape[:2]
    if round(height * scale) >= 1 and round(width * scale) >= 1:
        return cv2.resize(image, (0, 0), fx=scale, fy=scale, interpolation=interpolation)
    # A sliver (e.g. 1 x 1000 pixels) would round to zero rows; keep one row.
    # The short side is then off by under a pixel, which only such slivers see.
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=interpolation)


def letterbox(image, size):
    """Scale the longer side to `size`, pad the rest with grey, centred.

    Returns (uint8 (size, size, 3), transform float32 (scale, dx, dy)).
    """
    height, width = image.shape[:2]
    scale = fit_scale(height, width, size)
    resized = _resize(image, scale)
    new_h, new_w = resized.shape[:2]
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out = cv2.copyMakeBorder(resized, top, size - new_h - top, left, size - new_w - left,
                             cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return out, np.array([scale, left, top], np.float32)


def transform_for(height, width, size):
    """The transform `letterbox` gives an image of this size, without reading its pixels."""
    scale = fit_scale(height, width, size)
    new_h, new_w = (max(1, round(n * scale)) for n in (height, width))
    return np.array([scale, (size - new_w) // 2, (size - new_h) // 2], np.float32)


def to_input(points_xy, transform):
    """Original-image pixels → letterboxed input pixels; points_xy is (..., 2)."""
    scale, dx, dy = (float(t) for t in transform)
    points = np.asarray(points_xy, np.float64)
    out = (points + 0.5) * scale - 0.5 + np.array([dx, dy])
    return out.astype(np.float32)


def to_original(points_xy, transform):
    """Letterboxed input pixels → original-image pixels; the exact inverse of to_input."""
    scale, dx, dy = (float(t) for t in transform)
    points = np.asarray(points_xy, np.float64)
    out = (points - np.array([dx, dy]) + 0.5) / scale - 0.5
    return out.astype(np.float32)
