"""The methods this package trains: one package each, listed on one line.

Adding a method is a folder with model.py, codec.py and a METHOD descriptor in its
__init__.py (engine/plugin/method.py), plus its name on the METHODS line below. Nothing else
in the engine or in run.py names a method.
"""
import importlib

METHODS = ("cpm", "hourglass", "regression", "simplebaseline", "hrnet", "simcc")


def get(name):
    """The descriptor of method `name` (engine.plugin.method.Method)."""
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; the methods are {', '.join(METHODS)}")
    method = importlib.import_module(name).METHOD
    if method.name != name:
        raise RuntimeError(f"package {name} declares the method {method.name!r}")
    return method


def all_methods():
    """Every method's descriptor, in the order of METHODS."""
    return [get(name) for name in METHODS]


def taking(option):
    """The names of the methods that take the command-line option `option`."""
    return [m.name for m in all_methods() if option in m.options]
