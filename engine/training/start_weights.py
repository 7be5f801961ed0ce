"""`--weights RUN`: start a run from another run's weights (fine-tuning, pretraining).

    RUN (a run folder, or a .weights.h5 file) → its model rebuilt from its config.json,
    its checkpoint loaded (engine/models.load_weights: only a model of that shape takes it)
    → each of its variables carried into the new model; along a keypoint axis, channel by
    keypoint name, the new run's other keypoints keep their fresh initial values

A keypoint axis is found by building the new model a second time with one more keypoint:
the axes that grow are the keypoint axes, by m entries per keypoint. Every method lays
such an axis out the same way (docs/ADDING_A_METHOD.md): any entries that do not belong
to a keypoint first, then the keypoints in the config's order, each keypoint's m entries
together (a heatmap layer's K output channels; a CPM stage's input, the trunk's features
and then the K scores; a regressor's rows of x, y).

Everything is checked, and the weights read, before the run folder is made: a source of
another method, trunk or width is refused in one line.
"""
import dataclasses
from pathlib import Path

import numpy as np

from data_tools.errors import UsageError
from engine.plugin import models, registry
from engine.runs.run_dir import RunDir

FROM_SCRATCH = ("imagenet", "none")  # the --weights values that name no run
# Config keys that shape a model besides its method's own preset keys.
MODEL_KEYS = ("input_size", "backbone", "width", "box", "loss")


@dataclasses.dataclass
class StartWeights:
    """What a new run takes from RUN: for each of its weight variables, the source's array
    and, per axis, the source index of each entry (-1: the entry starts fresh)."""
    source: str
    file: str
    carried: list
    fresh: list
    arrays: list
    indices: list

    def apply(self, model):
        """Set `model`'s weights: carried entries from the source, the rest as initialised."""
        for variable, array, index in zip(model.weights, self.arrays, self.indices):
            value = np.array(variable.numpy())
            kept = [np.flatnonzero(axis >= 0) for axis in index]
            value[np.ix_(*kept)] = array[np.ix_(*[axis[k] for axis, k in zip(index, kept)])]
            variable.assign(value)

    def record(self):
        """What config.json keeps of it."""
        return {"file": self.file, "keypoints_carried": self.carried,
                "keypoints_fresh": self.fresh}

    def line(self):
        what = f"{len(self.carried)} of {len(self.carried) + len(self.fresh)} keypoints' channels"
        fresh = f"; fresh: {', '.join(self.fresh)}" if self.fresh else ""
        return f"weights from {self.source}: every layer, {what} carried over by name{fresh}"


def is_run_weights(spec):
    return spec is not None and str(spec).lower() not in FROM_SCRATCH


def source_of(spec):
    """(source config or None, weights file) of --weights RUN; a bad one is a UsageError."""
    path = Path(spec)
    if path.is_dir():
        run = RunDir(path)
        if not run.config_file.is_file():
            raise UsageError(f"--weights {spec}: not a run folder (no config.json)")
        weights = run.best_weights if run.best_weights.is_file() else run.last_weights
        if not weights.is_file():
            raise UsageError(f"--weights {spec}: the run has no checkpoint yet "
                             f"({run.best_weights.name} or {run.last_weights.name})")
        return run.read_config(), weights
    if path.is_file():
        if not path.name.endswith(".weights.h5"):
            raise UsageError(f"--weights {spec}: not a .weights.h5 file")
        owner = RunDir(path.parent.parent)  # a run's checkpoints/ file knows its model
        cfg = owner.read_config() if path.parent.name == "checkpoints" and \
            owner.config_file.is_file() else None
        return cfg, path
    raise UsageError(f"--weights {spec}: no such run folder or file (give imagenet, none, "
                     f"a run folder or a .weights.h5 file)")


def prepare(spec, cfg):
    """The StartWeights of --weights `spec` for a new run of config `cfg`, checked."""
    source_cfg, file, arrays = read_source(spec, cfg)
    shapes, grown = keypoint_axes(cfg)
    position = {name: i for i, name in enumerate(source_cfg["names"])}
    mapping = np.array([position.get(name, -1) for name in cfg["names"]])
    if len(arrays) != len(shapes):
        raise mismatch(spec, source_cfg, cfg, f"{len(arrays)} weight arrays against {len(shapes)}")
    indices = []
    for array, shape, bigger in zip(arrays, shapes, grown):
        if array.ndim != len(shape):
            raise mismatch(spec, source_cfg, cfg, f"an array of shape {array.shape} "
                           f"where this run's has {shape}")
        index = []
        for size, source_size, grown_size in zip(shape, array.shape, bigger):
            per = grown_size - size  # entries per keypoint along this axis (0: not a keypoint axis)
            lead = size - per * len(cfg["names"])
            if source_size != lead + per * len(source_cfg["names"]):
                raise mismatch(spec, source_cfg, cfg, f"an array of shape {array.shape} "
                               f"where this run's has {shape}")
            index.append(axis_index(lead, per, mapping))
        indices.append(index)
    carried = [n for n, i in zip(cfg["names"], mapping) if i >= 0]
    fresh = [n for n, i in zip(cfg["names"], mapping) if i < 0]
    if not carried:
        raise UsageError(f"--weights {spec}: its keypoints ({', '.join(source_cfg['names'])}) "
                         f"share none with this run's")
    return StartWeights(str(spec), str(file), carried, fresh, arrays, indices)


def read_source(spec, cfg):
    """(its config, its weights file, its weight arrays) of --weights `spec`, read into its
    own model (only a model of that shape takes them); a file outside a run folder has no
    config and is taken as of this run's model."""
    import keras
    source_cfg, file = source_of(spec)
    if source_cfg is not None and source_cfg["arch"] != cfg["arch"]:
        raise UsageError(f"--weights {spec}: a {source_cfg['arch']} run cannot start a "
                         f"{cfg['arch']} run (a run starts from its own method's weights)")
    bare = source_cfg is None
    source_cfg = dict(cfg if bare else source_cfg)
    source_cfg.setdefault("train_images", 1)  # the optimizer's schedule needs a length
    source_cfg["precision"] = "float32"
    models.set_precision("float32")
    model, _ = models.build(source_cfg)  # compiled: a checkpoint holds Adam's state too
    models.load_weights(model, file, f"the {cfg['arch']} model of this run "
                        f"({len(cfg['names'])} keypoints)" if bare else
                        f"the {source_cfg['arch']} model of its own config.json")
    arrays = [np.asarray(v.numpy()) for v in model.weights]
    keras.backend.clear_session()
    return source_cfg, file, arrays


def keypoint_axes(cfg):
    """(the shapes of the config's model's weights, the same with one more keypoint): the
    axes that grow are its keypoint axes."""
    import keras
    model, _ = models.build_uncompiled(cfg)
    probe, _ = models.build_uncompiled({**cfg, "names": [*cfg["names"], "probe"]})
    shapes = [tuple(v.shape) for v in model.weights], [tuple(v.shape) for v in probe.weights]
    keras.backend.clear_session()
    return shapes


def axis_index(lead, per, mapping):
    """The source index of each entry of an axis: the `lead` entries that are no keypoint's
    map to themselves, then `per` entries for each keypoint, from the source keypoint
    `mapping` names (-1: none)."""
    index = [np.arange(lead)]
    for source_keypoint in mapping:
        start = lead + per * source_keypoint
        index.append(np.arange(start, start + per) if source_keypoint >= 0 else np.full(per, -1))
    return np.concatenate(index).astype(np.int64)


def mismatch(spec, source_cfg, cfg, detail):
    """The UsageError of a source whose model is not this run's: it names the settings
    that differ (another trunk or width)."""
    keys = {*MODEL_KEYS, *(k for p in registry.get(cfg["arch"]).presets.values() for k in p)}
    differ = [f"{k} {source_cfg.get(k)} against {cfg.get(k)}" for k in sorted(keys)
              if source_cfg.get(k) != cfg.get(k) and k in {*source_cfg, *cfg}]
    why = "; ".join(differ) if differ else detail
    return UsageError(f"--weights {spec}: its model is not this run's ({why}): another "
                      f"trunk or width cannot take these weights")
