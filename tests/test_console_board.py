"""What training shows while it runs: the console's lines and bar, and TensorBoard's pictures
and per-stage val NE. Read from the shared tiny skirt runs (conftest): no training here."""
import csv
import io
import json
import re

import numpy as np
import pytest

from engine.comparison.lines import entries

EPOCH_LINE = re.compile(r"^epoch (\d+)/2: loss \S+, val NE \d\.\d{4}( \(stages( \d\.\d\d)+\))?, "
                        r"best \d\.\d{4} \(epoch \d\), \d+ img/s, \d+ s$")

STAGES = re.compile(r"\(stages ([\d. ]+)\)")


def stages_of(line):
    """The per-stage val NEs an epoch line lists (none for a one-stage method)."""
    found = STAGES.search(line)
    return found.group(1).split() if found else []


def history(run):
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_a_log_gets_one_short_line_per_epoch(tiny_skirt_runs):
    """Not a terminal (the fixture's captured stdout): one line per epoch and method, each
    short, with the val NE of every stage; no Keras progress output, no per-stage losses."""
    runs, _, result = tiny_skirt_runs
    lines = [line for line in result.stdout.splitlines() if line.startswith("epoch ")]
    trained = [json.loads((runs / f"skirt-{entry.label}" / "metrics.json").read_text())
               for entry in entries()]   # every method and regression's RLE
    assert len(lines) == 2 * len(trained) >= 2 * 7, result.stdout   # 2 epochs each
    for line in lines:
        assert EPOCH_LINE.match(line) and len(line) <= 120, line
    # A line per stage where a method has several (the CPM's 6, the hourglass's 2 stacks,
    # HRNet's 2 branches in the tiny preset), in each of the 2 epochs.
    listed = sorted(len(stages_of(line)) for line in lines if stages_of(line))
    assert listed == sorted(2 * [len(m["ne_per_stage"]) for m in trained
                                 if len(m["ne_per_stage"]) > 1])
    assert 6 in listed
    assert "Epoch 1/2" not in result.stdout and "stage1_loss" not in result.stdout
    assert "\r" not in result.stdout  # no bar in a log


def test_the_epoch_line_holds_historys_figures(tiny_skirt_runs):
    runs, _, result = tiny_skirt_runs
    rows = history(runs / "skirt-cpm")
    lines = [line for line in result.stdout.splitlines()
             if line.startswith("epoch ") and len(stages_of(line)) == 6]
    assert len(lines) == len(rows) == 2
    for row, line in zip(rows, lines):
        stages = " ".join(f"{float(row[f'val_ne_stage{s}']):.2f}" for s in range(1, 7))
        assert f"val NE {float(row['val_ne']):.4f} (stages {stages})" in line


def test_a_terminal_gets_a_bar_per_epoch_then_the_line():
    """On a terminal the bar shows the epoch, its steps, images/s and the loss, and is gone
    (closed) before validation, so that the epoch's summary line stands alone."""
    from engine.training.console import EpochBar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    bar = EpochBar(batch_size=8, stream=screen)
    bar.set_params({"epochs": 3, "steps": 5})  # as Keras' fit does
    bar.on_epoch_begin(1)
    for step in range(5):
        bar.on_train_batch_end(step, {"loss": 0.5 - step / 100})
    bar.bar.refresh()  # tqdm redraws at most every 0.1 s by itself
    shown = screen.getvalue()
    assert "epoch 2/3" in shown and "5/5" in shown and "img/s" in shown and "loss 0.46" in shown
    bar.on_test_begin()
    assert bar.bar is None

    log = io.StringIO()  # not a terminal: nothing at all
    quiet = EpochBar(batch_size=8, stream=log)
    quiet.set_params({"epochs": 3, "steps": 5})
    quiet.on_epoch_begin(0)
    quiet.on_train_batch_end(0, {"loss": 1.0})
    quiet.on_test_begin()
    assert log.getvalue() == ""


def board_events(run):
    """{tag: [(step, value or image bytes)]} of the run's tensorboard/validation/ files."""
    import tensorflow as tf
    found = {}
    for path in sorted((run / "tensorboard" / "validation").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                found.setdefault(value.tag, []).append((event.step, tensor))
    return found


@pytest.mark.parametrize("method, stages", [("cpm", 6), ("hourglass", 2), ("regression", 1)])
def test_tensorboard_has_the_stage_pictures_and_the_val_ne_per_stage(tiny_skirt_runs, method,
                                                                    stages):
    runs, _, _ = tiny_skirt_runs
    run = runs / f"skirt-{method}"
    events = board_events(run)
    rows = history(run)
    for s in range(1, stages + 1):
        logged = events[f"val_ne/stage{s}"]
        assert [step for step, _ in logged] == [0, 1]  # epochs from 0, as Keras' losses
        np.testing.assert_allclose([float(v) for _, v in logged],
                                   [float(r[f"val_ne_stage{s}"]) for r in rows], atol=1e-4)
    assert [float(v) for _, v in events["val_ne/final"]] == pytest.approx(
        [float(r["val_ne"]) for r in rows], abs=1e-4)
    import tensorflow as tf
    pictures = events["stages"]
    assert [step for step, _ in pictures] == [0, 1]
    from PIL import Image
    for step, (width, height, png) in pictures:
        drawn = Image.open(run / "heatmaps" / f"epoch_{step + 1:03d}.png")
        assert (int(width), int(height)) == drawn.size
        assert tf.io.decode_png(png).shape[:2] == (drawn.size[1], drawn.size[0])
