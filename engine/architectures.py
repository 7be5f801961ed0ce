"""The architectures the engine can train, each one folder with model.py and codec.py.

The engine reaches them by name only, so no architecture imports another.
"""
import importlib

ARCHS = ("cpm", "hourglass", "regression")


def load(arch):
    """(build_model, make_codec) of an architecture package."""
    model = importlib.import_module(f"{arch}.model")
    codec = importlib.import_module(f"{arch}.codec")
    return model.build_model, codec.make_codec
