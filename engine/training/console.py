"""What training prints: a progress bar per epoch on a terminal, one short line per epoch.

Keras' own progress output (verbose=1 or 2) prints every per-stage loss, twelve of them for
a 6-stage CPM, in a 600-character line, and the figure people look for, the val NE, comes
from our evaluation on a line of its own. Here the bar shows steps, images/s, the loss and
the time left; after it, `epoch_line` sums the epoch up. Without a terminal (a log file, CI)
there is no bar, only the summary lines. The per-stage losses are in history.csv and
TensorBoard.
"""
import sys
import time

import keras
from tqdm import tqdm

from data_tools.metrics import fmt


class EpochBar(keras.callbacks.Callback):
    """One tqdm bar per epoch, on a terminal only; closed before the epoch's summary line.
    The epochs and the steps per epoch are Keras' own (`self.params`)."""

    def __init__(self, batch_size, stream=None):
        super().__init__()
        self.batch_size = batch_size
        self.stream = stream or sys.stdout
        self.bar = None

    def on_epoch_begin(self, epoch, logs=None):
        if not self.stream.isatty():
            return
        self.bar = tqdm(total=self.params["steps"], unit="step", file=self.stream,
                        desc=f"epoch {epoch + 1}/{self.params['epochs']}", leave=False,
                        dynamic_ncols=True)
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.bar is None:
            return
        seconds = max(time.perf_counter() - self.started, 1e-9)
        loss = (logs or {}).get("loss")
        self.bar.set_postfix_str(f"{(batch + 1) * self.batch_size / seconds:.0f} img/s"
                                 + (f", loss {float(loss):.4g}" if loss is not None else ""),
                                 refresh=False)
        self.bar.update(1)

    def on_test_begin(self, logs=None):
        self.close()  # validation and the summary line come next

    def on_epoch_end(self, epoch, logs=None):
        self.close()

    def on_train_end(self, logs=None):
        self.close()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def epoch_line(epoch, epochs, loss, result, state, images_per_s, seconds):
    """`epoch 3/28: loss 1.23, val NE 0.1703 (stages 0.31 0.22 0.17), best 0.1703 (epoch 3),
    70 img/s, 12 s`: one short line that ends an epoch."""
    stages = result["ne_per_stage"]
    per_stage = f" (stages {' '.join(fmt(v, 2) for v in stages)})" if len(stages) > 1 else ""
    best = (f"best {fmt(state['best_ne'])} (epoch {state['best_epoch']})"
            if state.get("best_ne") is not None else "best n/a")
    return (f"epoch {epoch}/{epochs}: loss {float(loss):.4g}, val NE {fmt(result['ne'])}"
            f"{per_stage}, {best}, {images_per_s:.0f} img/s, {seconds:.0f} s")

