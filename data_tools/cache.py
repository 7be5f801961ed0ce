"""Optional HDF5 cache of letterboxed images, so epochs skip JPEG decoding.

Layout of the file:
    images      uint8 (N, S, S, 3)  letterboxed RGB, one chunk per image
    transforms  float32 (N, 3)      (scale, dx, dy) as from letterbox.letterbox
    image_ids   str (N,)
    errors      str (N,)            "" or why the image could not be read
    attrs       input_size, version, data_dir, letterbox ("opencv" or "tf": whose
                letterbox made the images, the same as the run's reader)

A cache serves any subset of its images (train and val splits): the reader
finds rows by image id.
"""
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np

from data_tools import atomic, fashion_csv, letterbox

VERSION = 1
IN_MEMORY_LIMIT = 2 * 1024**3  # bytes; above this, rows are read from disk under a lock

log = logging.getLogger(__name__)


def _opencv_letterbox(path, input_size):
    return letterbox.letterbox(letterbox.read_image(path), input_size)


def _tf_letterbox(path, input_size):
    from data_tools import tf_images
    return tf_images.letterbox_file(path, input_size)


LETTERBOXES = {"opencv": _opencv_letterbox, "tf": _tf_letterbox}


def _load(path, input_size, how):
    """(image, transform, error) for one file; a bad image is recorded, not raised."""
    try:
        image, transform = LETTERBOXES[how](path, input_size)
        return image, transform, ""
    except letterbox.ImageError as e:
        return None, None, e.reason


def build_cache(ann, input_size, path, progress=True, workers=None, how="opencv"):
    """Write the letterboxed images of `ann` to `path` atomically (data_tools.atomic),
    letterboxed by OpenCV or by the TF reader (`how`), as the run reads images.

    An image that cannot be read does not stop the build: its row is marked bad
    and reading it later raises ImageError (which the pipeline skips).
    """
    return _build(ann.data_dir, list(ann.image_ids), input_size, path, progress, workers, how)


def _build(data_dir, image_ids, input_size, path, progress=True, workers=None, how="opencv"):
    path = Path(path)
    n, size = len(image_ids), int(input_size)
    files = [fashion_csv.image_file(data_dir, image_id) for image_id in image_ids]
    with atomic.atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs.update(input_size=size, version=VERSION, letterbox=how,
                       data_dir=str(Path(data_dir).resolve()))
        images = f.create_dataset("images", (n, size, size, 3), np.uint8,
                                  chunks=(1, size, size, 3))
        transforms = f.create_dataset("transforms", (n, 3), np.float32)
        errors = []
        # cv2 and TF decoding release the GIL, so threads decode in parallel;
        # map() keeps the order, so rows are written in sequence.
        with ThreadPoolExecutor(workers or os.cpu_count()) as pool:
            results = pool.map(lambda p: _load(p, size, how), files)
            for i, (image, transform, error) in enumerate(_progress(results, n, progress, path)):
                if not error:
                    images[i] = image
                    transforms[i] = transform
                errors.append(error)
        f.create_dataset("image_ids", data=image_ids, dtype=h5py.string_dtype())
        f.create_dataset("errors", data=errors, dtype=h5py.string_dtype())
    bad = sum(bool(e) for e in errors)
    if bad:
        log.warning("%s: %d of %d images could not be read and are marked bad", path, bad, n)
    return path


def _progress(iterable, total, enabled, path):
    if not enabled:
        return iterable
    from data_tools import progress
    return progress.wrap(iterable, total, f"caching {Path(path).name}")


class CacheReader:
    """Letterboxed images by annotation row; safe to call from many threads."""

    def __init__(self, path, image_ids, in_memory_limit=IN_MEMORY_LIMIT):
        self.path = Path(path)
        self._file = h5py.File(self.path, "r")
        row_of = {s: i for i, s in enumerate(self._file["image_ids"].asstr()[()])}
        self._rows = np.array([row_of[s] for s in image_ids], np.int64)
        data_dir = Path(self._file.attrs["data_dir"])
        self._paths = [fashion_csv.image_file(data_dir, s) for s in image_ids]  # for messages
        self._errors = self._file["errors"].asstr()[()]
        self.transforms = self._file["transforms"][()]
        self._lock = threading.Lock()
        self.images = self._file["images"]
        if self.images.size <= in_memory_limit:
            # One read up front, then plain numpy indexing: no HDF5 calls per sample.
            self.images = np.asarray(self.images)
            self._file.close()
            self._file = None

    def get(self, index):
        """(uint8 (S, S, 3), float32 (3,)) for row `index` of the annotations."""
        row = self._rows[index]
        if self._errors[row]:
            raise letterbox.ImageError(self._paths[index], self._errors[row])
        if self._file is None:
            return self.images[row], self.transforms[row]
        with self._lock:  # one HDF5 read at a time
            return self.images[row], self.transforms[row]

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


def _cached_ids(path, input_size, data_dir, how):
    """The ids a cache file holds for this input size, data folder and letterbox, or None."""
    if not Path(path).is_file():
        return None
    try:
        with h5py.File(path, "r") as f:
            if (f.attrs.get("version") != VERSION
                    or int(f.attrs.get("input_size", -1)) != int(input_size)
                    or f.attrs.get("letterbox", "opencv") != how
                    or f.attrs.get("data_dir") != str(Path(data_dir).resolve())):
                return None
            return list(f["image_ids"].asstr()[()])
    except (OSError, KeyError, ValueError) as e:
        log.warning("%s: unreadable cache (%s); rebuilding it", path, e)
        return None


def open_cache(path, ann, input_size, progress=True, how="opencv"):
    """A CacheReader for `ann`, (re)building the file first if it does not match.

    Ids of an existing cache for the same data folder and size are kept when it
    grows, so opening it for the train split and then the val split builds it
    once for both rather than twice each run.
    """
    cached = _cached_ids(path, input_size, ann.data_dir, how)
    have = set(cached or ())
    missing = [s for s in ann.image_ids if s not in have]
    if cached is None or missing:
        log.info("%s: %d image(s) not cached at size %d; building it", path,
                 len(missing), input_size)
        _build(ann.data_dir, (cached or []) + missing, input_size, path, progress, how=how)
    return CacheReader(path, ann.image_ids)
