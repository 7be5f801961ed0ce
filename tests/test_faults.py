"""Faults mid-training, through the command line: a NaN loss, SIGTERM, SIGKILL.

Each ends with the run folder holding only whole files of finished epochs, and
`--resume` carries on so that history.csv has every epoch exactly once, in order.
"""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, cli_env, run_cli

pytestmark = pytest.mark.slow  # mostly trainings and scores of trained runs

# Two CPM stages, not six: a third of the graph to build, and the same fault handling.
TINY = ("--arch", "cpm", "--category", "dress", "--preset", "tiny", "--weights", "none",
        "--stages", "2")
TEMP_PATTERNS = (".*.tmp", ".*.tmp.weights.h5", ".*.png.*.png", ".tmp-*")


def _history_epochs(run):
    if not (run / "history.csv").is_file():
        return []
    with open(run / "history.csv", newline="") as f:
        return [row["epoch"] for row in csv.DictReader(f)]


def _state_epoch(run):
    return json.loads((run / "checkpoints" / "state.json").read_text())["epoch"]


def _temp_files(run):
    return [p for folder in (run, run / "checkpoints", run / "heatmaps")
            for pattern in TEMP_PATTERNS for p in folder.glob(pattern)]


def _default_sigint():
    # A background shell job inherits SIGINT ignored, and Python then keeps ignoring it;
    # a user's terminal delivers Ctrl-C with the default disposition.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_training(synthetic, out, epochs=50):
    return subprocess.Popen(
        [sys.executable, str(REPO / "run.py"), *TINY, "--data-dir", str(synthetic),
         "--out", str(out), "--epochs", str(epochs)],
        cwd=REPO, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_default_sigint)


def _wait_for_epoch(proc, run, epoch=1, timeout=180):
    """Poll until state.json says `epoch` finished (the process must still be training).

    state.json is written last of an epoch's files (engine/training/callbacks.py): history.csv shows
    the epoch a moment earlier, and a signal sent in between found no state.json yet."""
    deadline = time.monotonic() + timeout
    state = run / "checkpoints" / "state.json"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"training ended early ({proc.returncode}): {out}{err}")
        if state.is_file() and _state_epoch(run) >= epoch:
            return
        time.sleep(0.1)
    proc.kill()
    proc.communicate()
    raise AssertionError(f"epoch {epoch} did not finish within {timeout} s")


def _resume_to(synthetic, out, run, target):
    result = run_cli(*TINY, "--data-dir", synthetic, "--out", out, "--epochs", target,
                     "--resume")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert _history_epochs(run) == [str(e) for e in range(1, target + 1)]
    assert _state_epoch(run) == target
    assert (run / "metrics.json").is_file()
    return result


def test_nan_loss_stops_with_one_line_and_keeps_nothing_of_the_bad_epoch(synthetic, tmp_path):
    result = run_cli(*TINY, "--data-dir", synthetic, "--out", tmp_path, "--epochs", 2,
                     "--lr", 1e30)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if "NaN or infinite" in line]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "epoch 1" in lines[0]
    assert "Epoch 2/2" not in result.stdout     # stopped in epoch 1, not run on
    run = tmp_path / "dress-cpm"
    for name in ("history.csv", "metrics.json", "checkpoints/state.json",
                 "checkpoints/last.weights.h5", "checkpoints/best.weights.h5"):
        assert not (run / name).exists(), name
    assert not _temp_files(run)


def test_nan_in_the_middle_of_an_epoch_stops_at_that_batch(tmp_path):
    """Batch-level check: the epoch stops at the NaN batch and writes nothing."""
    import numpy as np
    import keras
    from engine.training.callbacks import EpochEnd

    class Run:
        saved = []
        last_weights = best_weights = tmp_path / "never.weights.h5"

        def save_weights(self, model, path):
            self.saved.append(path)

        def write_history(self, rows):
            self.saved.append("history")

        def write_state(self, state):
            self.saved.append("state")

    class CountBatches(keras.callbacks.Callback):
        batches = 0

        def on_train_batch_end(self, batch, logs=None):
            CountBatches.batches += 1

    x = np.ones((40, 2), "float32")
    x[12] = np.nan                       # batch 4 of 10 (batch size 4)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    run = Run()
    epoch_end = EpochEnd(run, lambda: {"ne": 0.1, "ne_per_stage": [0.1],
                                       "mean_shape_ne": 0.1},
                         lambda *a: None, [], {"epoch": 0, "best_ne": None,
                                               "best_epoch": None}, 40, 4)
    model.fit(x, np.zeros((40, 1), "float32"), batch_size=4, epochs=3, shuffle=False,
              verbose=0, callbacks=[epoch_end, CountBatches()])
    assert epoch_end.nan_epoch == 1
    assert CountBatches.batches == 4
    assert run.saved == []


@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "terminated"),
                                                 (signal.SIGINT, 130, "interrupted")])
def test_a_signal_saves_and_resume_continues(signum, code, word, synthetic, tmp_path):
    """SIGTERM (kill, a scheduler) and SIGINT (Ctrl-C) end cleanly with the resume hint."""
    run = tmp_path / "dress-cpm"
    proc = _start_training(synthetic, tmp_path)
    _wait_for_epoch(proc, run, 1)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, out + err
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if "--resume" in line]
    assert len(lines) == 1 and lines[0].startswith(word), err
    finished = _state_epoch(run)
    assert finished >= 1
    # history.csv may hold one row past state.json (killed in between); resume drops it.
    assert _history_epochs(run)[:finished] == [str(e) for e in range(1, finished + 1)]
    assert not _temp_files(run)
    result = _resume_to(synthetic, tmp_path, run, finished + 1)
    assert f"resuming after epoch {finished}" in result.stdout


def test_sigkill_mid_epoch_then_resume_has_every_epoch_once(synthetic, tmp_path):
    run = tmp_path / "dress-cpm"
    proc = _start_training(synthetic, tmp_path)
    _wait_for_epoch(proc, run, 1)
    time.sleep(1.0)                      # somewhere in epoch 2 on a tiny run
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    finished = _state_epoch(run)
    assert finished >= 1
    # What a kill in the middle of a write leaves behind: temporary files, never used.
    (run / "checkpoints" / ".last.999999.tmp.weights.h5").write_bytes(b"half")
    (run / ".history.csv.999999.tmp").write_text("epoch\n1\n")
    target = max(3, finished + 1)
    result = _resume_to(synthetic, tmp_path, run, target)
    assert f"resuming after epoch {finished}" in result.stdout
    assert not _temp_files(run)


def test_a_signal_lost_in_a_gc_callback_is_raised_again(monkeypatch):
    """A signal that lands in a garbage-collector callback (JAX has one) is not lost, and
    prints no traceback.

    An exception raised there would be printed as "Exception ignored" and swallowed, so
    the handler only records it; interrupts.check(), which training calls after every
    batch, raises it.
    """
    import gc
    from engine.training import interrupts

    fired, unraisable = [], []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)

    def callback(phase, info):
        if phase == "start" and not fired:
            fired.append(True)
            os.kill(os.getpid(), signal.SIGTERM)
            sum(range(1000))  # the handler runs here, inside the callback

    previous = interrupts.install()
    gc.callbacks.append(callback)
    try:
        gc.collect()  # returns: nothing was raised in the callback
        assert fired and not unraisable
        with pytest.raises(interrupts.Terminated):
            interrupts.check()
    finally:
        gc.callbacks.remove(callback)
        interrupts.restore(previous)
