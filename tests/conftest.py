"""Shared fixtures: a small synthetic FashionAI set, and running run.py like a user."""
import contextlib
import fcntl
import io
import os
import shutil
import subprocess
import sys
import threading
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

    pytest.ini runs the tests in two pytest-xdist workers: the first process to ask makes
    the folder, under a lock, in the session's common temporary folder; the others wait
    and reuse it. Without xdist the folder is made in this session's own.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    return _made_under_lock(tmp_path_factory.getbasetemp().parent, name, make)  # above every worker's


def _made_under_lock(root, name, make):
    folder, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            done.touch()
    return folder


def _make_synthetic(out):
    from data_tools import synth
    synth.generate(out, 30, seed=3, progress=False)


def _tiny_skirt_runs_maker(data):
    def train(folder):
        result = run_cli("compare", "--train", "--preset", "tiny", "--epochs", 2,
                         "--category", "skirt", "--data-dir", data,
                         "--runs-dir", folder / "runs", "--out", folder / "compare")
        assert result.returncode == 0, result.stdout + result.stderr
        (folder / "stdout.txt").write_text(result.stdout)
        (folder / "stderr.txt").write_text(result.stderr)
    return train


def pytest_sessionstart(session):
    """On a whole-suite run under xdist, the controller (which runs no test) starts making
    the shared synthetic set and tiny runs at once, in a thread: the workers run other tests
    meanwhile, instead of one of them waiting about 100 s for the other to make them."""
    config = session.config
    if (os.environ.get("PYTEST_XDIST_WORKER") or not config.getoption("numprocesses", None)
            or config.args_source != pytest.Config.ArgsSource.TESTPATHS
            or config.option.keyword or config.option.markexpr):
        return
    root = config._tmp_path_factory.getbasetemp()  # the workers' common folder

    def make():
        data = _made_under_lock(root, "synthetic", _make_synthetic)
        _made_under_lock(root, "tiny-skirt-runs", _tiny_skirt_runs_maker(data))
    threading.Thread(target=make, name="shared tiny runs", daemon=True).start()


# Fixtures that train a model: every test that asks for one, directly or through another
# fixture, is marked slow.
TRAINING_FIXTURES = {"tiny_skirt_runs", "dress_run"}


def pytest_collection_modifyitems(items):
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """A synthetic dataset: 30 images per category (24 train, 6 test)."""
    return made_once(tmp_path_factory, "synthetic", _make_synthetic)


@pytest.fixture(scope="session")
def tiny_skirt_runs(synthetic, tmp_path_factory):
    """Every method trained once on the synthetic skirts, tiny preset, 2 epochs, by
    `compare --train`: (runs folder with skirt-<method> each, report folder, the process).

    Shared by the compare, predict, per-method and bad-input tests, so that no test trains
    the same tiny run again. A test that changes a run works on a copy of it.
    """
    folder = made_once(tmp_path_factory, "tiny-skirt-runs", _tiny_skirt_runs_maker(synthetic))
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


def random_images(n, seed=0, size=64):
    """n seeded random float32 images (n, size, size, 3) in [0, 1): a model's test input."""
    import numpy as np
    return np.random.default_rng(seed).random((n, size, size, 3), dtype=np.float32)
