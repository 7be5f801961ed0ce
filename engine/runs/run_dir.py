"""The run folder: config, checkpoints, history, metrics, pictures, TensorBoard.

Every file is written atomically (data_tools.atomic), so a run killed at
any moment leaves each file either as it was or complete.
"""
import csv
import io
import json
from pathlib import Path

from data_tools.errors import UsageError
from data_tools import atomic


def run_name(category, arch, name=None):
    return f"{category}-{arch}" + (f"-{name}" if name else "")


def fresh_path(out, category, arch, name=None):
    """A new run folder; an existing one is never overwritten, the next free suffix is used."""
    base = Path(out) / run_name(category, arch, name)
    path, n = base, 2
    while path.exists():
        path, n = Path(f"{base}-{n}"), n + 1
    return path


class RunDir:
    def __init__(self, path):
        self.path = Path(path)
        self.checkpoints = self.path / "checkpoints"
        self.heatmaps = self.path / "heatmaps"
        self.tensorboard = self.path / "tensorboard"
        self.config_file = self.path / "config.json"
        self.history_file = self.path / "history.csv"
        self.metrics_file = self.path / "metrics.json"
        self.state_file = self.checkpoints / "state.json"
        self.last_weights = self.checkpoints / "last.weights.h5"
        self.best_weights = self.checkpoints / "best.weights.h5"
        self.skipped_file = self.path / "skipped_images.csv"

    def create(self):
        for folder in (self.path, self.checkpoints, self.heatmaps, self.tensorboard):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    # --- JSON files -------------------------------------------------------------
    def write_json(self, path, data):
        atomic.write_text(path, json.dumps(data, indent=2, default=_jsonable) + "\n")

    def read_json(self, path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def write_config(self, config):
        self.write_json(self.config_file, config)

    def read_config(self):
        if not self.config_file.is_file():
            raise UsageError(f"{self.path} is not a run folder: it has no config.json")
        return self.read_json(self.config_file)

    def write_metrics(self, metrics):
        self.write_json(self.metrics_file, metrics)

    # --- training state -----------------------------------------------------------
    def read_state(self):
        """The last finished epoch's state, or None for a run that finished none."""
        if not self.state_file.is_file():
            return None
        return self.read_json(self.state_file)

    def write_state(self, state):
        self.write_json(self.state_file, state)

    def save_weights(self, model, path):
        """model.save_weights, atomically (Keras wants the .weights.h5 suffix)."""
        with atomic.atomic_path(path, suffix=".weights.h5") as tmp:
            model.save_weights(tmp)

    def remove_stale_temp_files(self):
        """Delete the temporary files a killed run (SIGKILL, power loss) left half-written."""
        atomic.remove_temp_files(self.path, self.checkpoints, self.heatmaps)

    # --- history.csv ----------------------------------------------------------------
    def read_history(self):
        if not self.history_file.is_file():
            return []
        with open(self.history_file, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def write_history(self, rows):
        """Rewrite history.csv whole: one row per finished epoch, columns in first-seen order."""
        columns = []
        for row in rows:
            columns += [k for k in row if k not in columns]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic.write_text(self.history_file, out.getvalue())

    def write_skipped(self, faults):
        """The images left out of training, with the reason for each."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["image_id", "reason"])
        writer.writerows(faults)
        atomic.write_text(self.skipped_file, out.getvalue())


def _jsonable(value):
    """numpy scalars and arrays, tuples and paths as plain JSON."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
