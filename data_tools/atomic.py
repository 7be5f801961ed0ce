"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every writer of the package goes through `atomic_path`: CSV and JSON (`write_text`),
PNG (`write_bytes`), model weights and the HDF5 cache (a library writes to the
temporary path it is given). The temporary file sits beside the target, named
`.<name>.<pid>.tmp<suffix>`, so `os.replace` is an atomic rename and a run that was
killed mid-write leaves only files that `TEMP_PATTERNS` finds.
"""
import contextlib
import os
import shutil
from pathlib import Path

# The names of the temporary files (with and without a kept suffix), for clean-up.
TEMP_PATTERNS = (".*.tmp", ".*.tmp.*")


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """A temporary path beside `path` to write to: on success it is synced to disk and
    renamed onto `path`; on any failure (Ctrl-C, SIGTERM, a full disk) it is removed and
    `path` is untouched.

    suffix: kept at the end of the temporary name, for writers that insist on one
    (Keras wants `.weights.h5`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path):
    """A temporary folder path beside `path` for a writer that makes a whole folder (a
    SavedModel): on success it takes the place of `path` (an older folder there is removed
    only after the new one is in place); on any failure it is removed and `path` is as it
    was. The caller decides whether an existing `path` may be replaced at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    old = path.with_name(f".{path.name}.{os.getpid()}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        yield tmp
        if path.is_dir():
            os.replace(path, old)
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.is_dir() and not path.exists():
            os.replace(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_bytes(path, data):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def write_text(path, text):
    """A UTF-8 text file with the line endings as given (CSV writers choose their own)."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            f.write(text)


def remove_temp_files(*folders):
    """Delete the temporary files a killed writer (SIGKILL, power loss) left in `folders`.

    They never replaced a real file, so nothing they held is needed.
    """
    for folder in map(Path, folders):
        if folder.is_dir():
            for pattern in TEMP_PATTERNS:
                for tmp in folder.glob(pattern):
                    if tmp.is_dir():  # a killed atomic_dir's
                        shutil.rmtree(tmp, ignore_errors=True)
                    else:
                        tmp.unlink(missing_ok=True)
