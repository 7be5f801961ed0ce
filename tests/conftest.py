"""Shared fixtures: a small synthetic FashionAI set, and running run.py like a user."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """A synthetic dataset: 30 images per category (24 train, 6 test)."""
    from data_tools import synth
    out = tmp_path_factory.mktemp("synthetic")
    synth.generate(out, 30, seed=3, progress=False)
    return out


def cli_env(**extra):
    """The environment of a run.py subprocess: CPU only, TensorFlow's C++ log quiet."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", **extra)


def run_cli(*args, cwd=None, timeout=600):
    """Run `python run.py ARGS` in a subprocess; returns the CompletedProcess."""
    return subprocess.run([sys.executable, str(REPO / "run.py"), *map(str, args)],
                          cwd=cwd or REPO, env=cli_env(), capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(result, *fragments):
    """Exit 2, no traceback, and the message on one stderr line containing the fragments."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
