"""Optional HDF5 cache of letterboxed images, so epochs skip JPEG decoding.

Layout of the file:
    images      uint8 (N, S, S, 3)  letterboxed RGB, one chunk per image
    transforms  float32 (N, 3)      (scale, dx, dy) as from letterbox.letterbox
    image_ids   str (N,)
    errors      str (N,)            "" or why the image could not be read
    attrs       input_size, version

A cache built from a whole category serves any subset of it (train and val
splits): the reader finds rows by image id.
"""
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np

from data_tools import letterbox

VERSION = 1
IN_MEMORY_LIMIT = 2 * 1024**3  # bytes; above this, rows are read from disk under a lock

log = logging.getLogger(__name__)


def _load(path, input_size):
    """(image, transform, error) for one file; a bad image is recorded, not raised."""
    try:
        image, transform = letterbox.letterbox(letterbox.read_image(path), input_size)
        return image, transform, ""
    except letterbox.ImageError as e:
        return None, None, e.reason


def build_cache(ann, input_size, path, progress=True, workers=None):
    """Write the letterboxed images of `ann` to `path` atomically (path.tmp, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n, size = len(ann), int(input_size)
    files = [ann.image_path(i) for i in range(n)]
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["input_size"] = size
            f.attrs["version"] = VERSION
            images = f.create_dataset("images", (n, size, size, 3), np.uint8,
                                      chunks=(1, size, size, 3))
            transforms = f.create_dataset("transforms", (n, 3), np.float32)
            errors = []
            # cv2 decoding releases the GIL, so threads decode in parallel;
            # map() keeps the order, so rows are written in sequence.
            with ThreadPoolExecutor(workers or os.cpu_count()) as pool:
                results = pool.map(lambda p: _load(p, size), files)
                for i, (image, transform, error) in enumerate(_progress(results, n, progress, path)):
                    if not error:
                        images[i] = image
                        transforms[i] = transform
                    errors.append(error)
            f.create_dataset("image_ids", data=list(ann.image_ids), dtype=h5py.string_dtype())
            f.create_dataset("errors", data=errors, dtype=h5py.string_dtype())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    bad = sum(bool(e) for e in errors)
    if bad:
        log.warning("%s: %d of %d images could not be read and are marked bad", path, bad, n)
    return path


def _progress(iterable, total, enabled, path):
    if not enabled:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, total=total, desc=f"caching {Path(path).name}", unit="img")


class CacheReader:
    """Letterboxed images by annotation row; safe to call from many threads."""

    def __init__(self, path, image_ids, in_memory_limit=IN_MEMORY_LIMIT):
        self.path = Path(path)
        self._file = h5py.File(self.path, "r")
        row_of = {s: i for i, s in enumerate(self._file["image_ids"].asstr()[()])}
        self._rows = np.array([row_of[s] for s in image_ids], np.int64)
        self._ids = list(image_ids)
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
            raise letterbox.ImageError(self._ids[index], self._errors[row])
        if self._file is None:
            return self.images[row], self.transforms[row]
        with self._lock:  # one HDF5 read at a time
            return self.images[row], self.transforms[row]

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


def _stale_reason(path, ann, input_size):
    """Why the file at `path` cannot serve `ann` at `input_size`, or None if it can."""
    if not Path(path).is_file():
        return "no cache yet"
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("version") != VERSION:
                return "cache format changed"
            if int(f.attrs.get("input_size", -1)) != int(input_size):
                return f"cache is for input size {f.attrs.get('input_size')}"
            cached = set(f["image_ids"].asstr()[()])
    except (OSError, KeyError) as e:
        return f"unreadable cache ({e})"
    missing = sum(s not in cached for s in ann.image_ids)
    return f"{missing} image(s) not in the cache" if missing else None


def open_cache(path, ann, input_size, progress=True):
    """A CacheReader for `ann`, (re)building the file first if it does not match."""
    reason = _stale_reason(path, ann, input_size)
    if reason:
        log.info("%s: %s; building it", path, reason)
        build_cache(ann, input_size, path, progress=progress)
    return CacheReader(path, ann.image_ids)
