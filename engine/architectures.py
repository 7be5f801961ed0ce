"""The architectures the engine can train, each one folder with model.py and codec.py.

The engine reaches them by name only, so no architecture imports another.
"""
import importlib

import numpy as np

ARCHS = ("cpm", "hourglass", "regression")


def load(arch):
    """(build_model, make_codec) of an architecture package."""
    model = importlib.import_module(f"{arch}.model")
    codec = importlib.import_module(f"{arch}.codec")
    return model.build_model, codec.make_codec


def stage_arrays(outputs, prefix):
    """A model's per-stage outputs as a list of float32 numpy arrays, in stage order.

    Keras gives a list for a multi-output model, a bare array for a one-output one,
    and a dict keyed by output name (`{prefix}1`, `{prefix}2`, ...) from some calls.
    """
    if isinstance(outputs, dict):
        outputs = [outputs[f"{prefix}{t}"] for t in range(1, len(outputs) + 1)]
    elif not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [np.asarray(o, np.float32) for o in outputs]
