"""What happens at the end of every epoch: score, record, checkpoint, draw.

One callback, in a fixed order chosen for crash safety: weights first (and with
--curriculum, the epoch's per-image losses), then history.csv, then state.json; then
the picture, TensorBoard and the console's line.
state.json names the last finished epoch; on resume, history rows past it are
dropped, so a kill between the steps never duplicates or loses an epoch.

A NaN or infinite loss is caught at the batch where it appears (like
keras.callbacks.TerminateOnNaN): training stops there and nothing of that epoch
is written, so the checkpoints stay those of the last good epoch.
"""
import math
import time

import keras
import numpy as np

from data_tools.metrics import fmt
from engine.training import interrupts
from engine.training.console import epoch_line


class EpochEnd(keras.callbacks.Callback):
    def __init__(self, run, evaluate, draw, history, state, train_images, batch_size,
                 board=None, curriculum=None):
        super().__init__()
        self.run = run
        self.evaluate = evaluate        # () -> metrics dict with ne, ne_per_stage
        self.draw = draw                # (epoch, metrics) -> the picture's path
        self.board = board              # a board.StageBoard, or None
        self.curriculum = curriculum    # an engine.training.curriculum.Curriculum, or None
        self.history = history          # rows so far (resume keeps them)
        self.state = state              # {"epoch", "best_ne", "best_epoch"}
        self.train_images = train_images
        self.batch_size = batch_size
        self.nan_epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.started = time.perf_counter()
        self.first_step_end = None
        self.train_rate = None

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            self.first_step_end = time.perf_counter()
        interrupts.check()  # Ctrl-C or SIGTERM, if its exception was lost on the way
        # Keras checks stop_training after every batch, so a NaN mid-epoch does not
        # run on to the epoch's end (on_epoch_end still comes, and writes nothing).
        loss = (logs or {}).get("loss")
        if loss is not None and not _finite(loss):
            self.nan_epoch = self.epoch + 1
            self.model.stop_training = True

    def on_test_begin(self, logs=None):
        # Validation runs inside the epoch; the throughput counts training alone.
        if self.train_rate is None:
            self.train_rate = self._rate(time.perf_counter())

    def _rate(self, now):
        """Training images/s from the end of the epoch's first step: that step also
        compiles (epoch 1) or waits for the pipeline to refill, which is not the rate."""
        if self.first_step_end is not None and self.train_images > self.batch_size:
            return (self.train_images - self.batch_size) / max(now - self.first_step_end, 1e-9)
        return self.train_images / max(now - self.started, 1e-9)

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.nan_epoch is not None or not _finite(logs.get("loss", 0.0)):
            # Keep the last good checkpoint: nothing of this epoch is written.
            self.nan_epoch = epoch + 1
            self.model.stop_training = True
            return
        train_rate = self.train_rate or self._rate(time.perf_counter())
        result = self.evaluate()
        row = {"epoch": epoch + 1}
        row.update({k: f"{float(v):.6g}" for k, v in sorted(logs.items())
                    if k != "learning_rate"})
        for s, ne in enumerate(result["ne_per_stage"], start=1):
            row[f"val_ne_stage{s}"] = fmt(ne)
        row["val_ne"] = fmt(result["ne"])
        row["learning_rate"] = f"{float(np.asarray(self.model.optimizer.learning_rate)):.6g}"
        row["images_per_s"] = f"{train_rate:.1f}"
        row["epoch_seconds"] = f"{time.perf_counter() - self.started:.1f}"

        self.run.save_weights(self.model, self.run.last_weights)
        if self.curriculum is not None:  # its losses of this epoch, before state.json says it
            self.curriculum.after_epoch(epoch + 1)
        improved = result["ne"] is not None and (
            self.state.get("best_ne") is None or result["ne"] < self.state["best_ne"])
        if improved:
            self.run.save_weights(self.model, self.run.best_weights)
            self.state.update(best_ne=result["ne"], best_epoch=epoch + 1)
        self.history.append(row)
        self.run.write_history(self.history)
        self.state["epoch"] = epoch + 1
        self.run.write_state(self.state)
        picture = self.draw(epoch + 1, result)
        if self.board is not None:
            self.board.write(epoch + 1, result, picture)
        print(epoch_line(epoch + 1, self.params.get("epochs", epoch + 1), logs.get("loss", 0.0),
                         result, self.state, train_rate, time.perf_counter() - self.started),
              flush=True)


def _finite(value):
    try:
        return math.isfinite(float(np.asarray(value)))
    except (TypeError, ValueError):
        return True

