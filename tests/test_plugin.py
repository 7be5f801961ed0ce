"""The plug-in shape: every method is one folder that the registry lists, and the engine
never asks which method it holds.

These tests read the source: they fail when someone adds `if arch == "..."` to the engine,
an import circle between engine modules, or a file writer of their own.
"""
import ast
from pathlib import Path

import pytest

from engine.plugin import backbones, presets, registry
from engine.plugin.codec import Codec
from engine.plugin.method import OPTIONS, PRESETS

REPO = Path(__file__).resolve().parent.parent
ENGINE = sorted((REPO / "engine").glob("*/*.py"))
PACKAGE = [REPO / "run.py", *ENGINE, *sorted((REPO / "data_tools").glob("*.py"))]
METHOD_FOLDERS = [REPO / name for name in registry.METHODS]
METHOD_FOLDERS_FILES = [p for folder in METHOD_FOLDERS for p in sorted(folder.glob("*.py"))]


def _tree(path):
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _method_name(node):
    return isinstance(node, ast.Constant) and node.value in registry.METHODS


def test_no_engine_code_branches_on_a_method_name():
    """Outside the method folders and the registry, no comparison with a method's name,
    no dict keyed by one, no lookup by one."""
    found = []
    for path in [p for p in PACKAGE if p.name != "registry.py"]:
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                operands += [e for o in operands if isinstance(o, (ast.Tuple, ast.List, ast.Set))
                             for e in o.elts]
                hit = any(_method_name(o) for o in operands)
            elif isinstance(node, ast.Dict):
                hit = any(_method_name(k) for k in node.keys if k is not None)
            elif isinstance(node, ast.Subscript):
                hit = _method_name(node.slice)
            else:
                hit = False
            if hit:
                found.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not found, found


def _module(path):
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def _engine_imports(path):
    """The engine modules `path` imports (engine.<folder>.<module>), at any depth: imports
    inside functions count."""
    names = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("engine"):
            depth = node.module.count(".")
            names |= {f"{node.module}.{a.name}" for a in node.names} if depth == 1 else \
                {node.module}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("engine.")}
    return names


def test_no_import_circle_inside_the_engine():
    graph = {_module(p): _engine_imports(p) - {_module(p)} for p in ENGINE}

    def visit(module, path):
        if module in path:
            cycle = path[path.index(module):] + [module]
            raise AssertionError("import circle: " + " -> ".join(cycle))
        for other in graph.get(module, ()):
            visit(other, path + [module])

    for module in graph:
        visit(module, [])


def test_the_data_layer_imports_nothing_from_the_engine():
    """data_tools/ sits below the engine: the CSVs, images, pipeline and metrics need no
    model, so they import none of it (a layer that reached up would pull TensorFlow's whole
    engine into check-data and fit-shapes, and close import circles)."""
    reaching_up = {p.name: sorted(_engine_imports(p))
                   for p in sorted((REPO / "data_tools").glob("*.py")) if _engine_imports(p)}
    assert reaching_up == {}


def _imports_from(folders, into):
    """{module: the modules of `into` it imports} for the engine modules in `folders`."""
    found = {}
    for path in ENGINE:
        if path.parent.name in folders:
            hits = sorted(m for m in _engine_imports(path) if m.split(".")[1] in into)
            if hits:
                found[_module(path)] = hits
    return found


def test_the_plugin_interface_needs_no_pictures_and_no_command():
    """A method plugs into engine/plugin (and the backbones there); what it draws and how a
    command runs it sit above, so a new method's codec never drags matplotlib in."""
    assert _imports_from({"plugin"}, {"pictures", "commands"}) == {}


def test_no_library_module_imports_a_command():
    """engine/commands holds the verbs' thin main(args) functions; the library under them
    never reaches back up into a command."""
    library = {p.parent.name for p in ENGINE} - {"commands"}
    found = _imports_from(library, {"commands"})
    found |= {_module(p): sorted(m for m in _engine_imports(p) if m.startswith("engine.commands"))
              for p in METHOD_FOLDERS_FILES if any(m.startswith("engine.commands")
                                                   for m in _engine_imports(p))}
    assert found == {}


# The engine's folders, bottom up: each may import those before it, never one after it.
LAYERS = ("runs", "plugin", "inference", "pictures", "scoring", "training", "comparison",
          "commands")


def test_the_engine_folders_form_layers():
    assert {p.parent.name for p in ENGINE} == set(LAYERS)
    upward = {}
    for path in ENGINE:
        own = LAYERS.index(path.parent.name)
        above = sorted(m for m in _engine_imports(path) if LAYERS.index(m.split(".")[1]) > own)
        if above:
            upward[_module(path)] = above
    assert upward == {}


def test_one_atomic_write_helper():
    """Only data_tools/atomic.py renames a finished file into place; every writer uses it."""
    writers = []
    for path in PACKAGE + [p for folder in METHOD_FOLDERS for p in folder.glob("*.py")]:
        if path.name == "atomic.py":
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Attribute) and node.attr in ("replace", "mkstemp") and \
                    isinstance(node.value, ast.Name) and node.value.id in ("os", "tempfile"):
                writers.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not writers, writers


def test_no_method_imports_another():
    for folder in METHOD_FOLDERS:
        for path in folder.glob("*.py"):
            for node in ast.walk(_tree(path)):
                if isinstance(node, ast.ImportFrom):
                    modules = [node.module or ""]
                elif isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                else:
                    continue
                others = [m for m in modules if m.split(".")[0] in registry.METHODS
                          and m.split(".")[0] != folder.name]
                assert not others, f"{path.relative_to(REPO)} imports {others}"


@pytest.mark.parametrize("name", registry.METHODS)
def test_every_method_declares_itself_whole(name):
    method = registry.get(name)
    assert method.name == name and method.label and method.stage_noun
    assert set(method.presets) >= set(PRESETS) and set(method.options) <= set(OPTIONS)
    # Each backbone it declares is one it can build: its own or one of engine.plugin.backbones.
    own = {b for b in method.backbones if b not in backbones.BACKBONES}
    assert len(own) <= 1, own
    for preset in PRESETS:
        cfg = presets.resolve(preset, name)
        assert cfg["arch"] == name and cfg["input_size"] > 0
        if "backbone" in method.options:
            assert cfg["backbone"] in method.backbones
    codec = method.make_codec({**presets.resolve("tiny", name), "weights": "none"}, 4)
    assert isinstance(codec, Codec) and codec.num_stages >= 1
    # run.py's --decode choices come from the descriptors: they must be the codec's own.
    assert codec.decoders == method.decoders
    targets = codec.example_targets(2)
    assert len(targets) == codec.num_stages and all(len(t) == 2 for t in targets)


def test_methods_differ_in_plot_style():
    methods = registry.all_methods()
    assert len({m.color for m in methods}) == len(methods)
    assert len({m.marker for m in methods}) == len(methods)


def test_an_option_a_method_does_not_take_names_the_methods_that_do():
    from data_tools.errors import UsageError
    takers = registry.taking("box")
    others = [m for m in registry.METHODS if m not in takers]
    with pytest.raises(UsageError) as info:
        presets.method_overrides(others[0], box="garment")
    assert f"--arch {others[0]}" in str(info.value)
    assert all(name in str(info.value) for name in takers)
    assert presets.method_overrides(takers[0], box="garment", stages=None) == {"box": "garment"}
