"""Shared fixtures: a small synthetic FashionAI set, and running run.py like a user."""
import contextlib
import fcntl
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# pytest.ini runs two workers on a 2-core machine, each often running a run.py of its own:
# one thread per TensorFlow op keeps them from fighting over the cores (the same numbers,
# a tiny hourglass run 48 → 37 s with another beside it). Set before TensorFlow loads, so
# that in-process tests and run.py subprocesses (which inherit it) run alike.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")


def made_once(tmp_path_factory, name, make):
    """A folder made by `make(folder)` once per test session, then shared.

    pytest.ini runs the tests in two pytest-xdist workers: the first worker to ask makes
    the folder, under a lock, in the session's common temporary folder; the other waits
    and reuses it. Without xdist the folder is made in this session's own.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    root = tmp_path_factory.getbasetemp().parent  # the session's, above every worker's
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """A synthetic dataset: 30 images per category (24 train, 6 test)."""
    from data_tools import synth
    return made_once(tmp_path_factory, "synthetic",
                     lambda out: synth.generate(out, 30, seed=3, progress=False))


@pytest.fixture(scope="session")
def tiny_skirt_runs(synthetic, tmp_path_factory):
    """Every method trained once on the synthetic skirts, tiny preset, 2 epochs, by
    `compare --train`: (runs folder with skirt-<method> each, report folder, the process).

    Shared by the compare, predict, per-method and bad-input tests, so that no test trains
    the same tiny run again. A test that changes a run works on a copy of it.
    """
    def train(folder):
        result = run_cli("compare", "--train", "--preset", "tiny", "--epochs", 2,
                         "--category", "skirt", "--data-dir", synthetic,
                         "--runs-dir", folder / "runs", "--out", folder / "compare")
        assert result.returncode == 0, result.stdout + result.stderr
        (folder / "stdout.txt").write_text(result.stdout)
        (folder / "stderr.txt").write_text(result.stderr)

    folder = made_once(tmp_path_factory, "tiny-skirt-runs", train)
    result = subprocess.CompletedProcess(["run.py", "compare"], 0,
                                         (folder / "stdout.txt").read_text(),
                                         (folder / "stderr.txt").read_text())
    return folder / "runs", folder / "compare", result


def cli_env(**extra):
    """The environment of a run.py subprocess: CPU only, TensorFlow's C++ log quiet."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", **extra)


def run_cli(*args, cwd=None, timeout=600):
    """Run `python run.py ARGS` in a subprocess; returns the CompletedProcess."""
    return subprocess.run([sys.executable, str(REPO / "run.py"), *map(str, args)],
                          cwd=cwd or REPO, env=cli_env(), capture_output=True, text=True,
                          timeout=timeout)


def run_here(*args, cwd=None):
    """`run.py ARGS` in this process, for commands that stop on bad input before training.

    The same code path as run_cli (run.main, its exit status, what it prints), without a
    fresh interpreter importing TensorFlow for each call: a few seconds less per call.
    Returns a CompletedProcess like run_cli's.
    """
    import run
    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    try:
        os.chdir(cwd or REPO)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = run.main([str(a) for a in args])
            except SystemExit as e:  # argparse's usage errors exit
                code = e.code
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["run.py", *map(str, args)], code, out.getvalue(),
                                       err.getvalue())


def assert_one_line_error(result, *fragments):
    """Exit 2, no traceback, and the message on one stderr line containing the fragments."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
