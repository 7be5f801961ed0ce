"""Presets: `tiny` for tests, `cpu` for a laptop, `paper` for the papers' sizes on a GPU.

A preset here holds the training settings every method shares; each method's
descriptor (engine/plugin/method.py) holds its own model's section of each preset.
`resolve` merges the two and applies the user's overrides, so a model's
`build_model(num_keypoints, cfg)` sees one flat dict.
"""
import copy

from data_tools.errors import UsageError
from engine.plugin import registry

PRESETS = {
    "tiny": {
        "input_size": 64, "batch_size": 8, "epochs": 2, "lr": 1e-3,
        "warmup_epochs": 0, "synthetic_images_per_category": 24,
        "augment": {"rotate": 10, "shift": 0.05, "scale": (0.9, 1.1)},
    },
    "cpu": {
        "input_size": 128, "batch_size": 16, "epochs": 28, "lr": 2e-3,
        "warmup_epochs": 1, "synthetic_images_per_category": 800,
        "augment": {"rotate": 15, "shift": 0.08, "scale": (0.85, 1.15)},
    },
    "paper": {
        "input_size": 256, "batch_size": 16, "epochs": 60, "lr": 1e-3,
        "warmup_epochs": 2, "synthetic_images_per_category": 800,
        "augment": {"rotate": 20, "shift": 0.1, "scale": (0.8, 1.2)},
    },
}
PRESET_NAMES = ("auto", *PRESETS)
# The synthetic default set is shared by every run that uses the cpu or paper preset.
DEFAULT_SYNTHETIC_IMAGES = PRESETS["cpu"]["synthetic_images_per_category"]


def pick(name, has_gpu):
    """The preset actually used: `auto` is `paper` on a GPU and `cpu` otherwise."""
    if name == "auto":
        return "paper" if has_gpu else "cpu"
    return name


def resolve(name, arch, overrides=None):
    """One flat config for method `arch` under preset `name`, with the non-None overrides applied."""
    shared = copy.deepcopy(PRESETS[name])
    own = copy.deepcopy(dict(registry.get(arch).presets[name]))
    cfg = {**shared, **own, "preset": name, "arch": arch}
    for key, value in (overrides or {}).items():
        if value is not None:
            cfg[key] = value
    return cfg


def method_overrides(arch, **options):
    """{config key: value} of the method options given (backbone, stages, ...; None: not
    given), each under the key the method's descriptor names; one that the method does
    not take is a UsageError."""
    method = registry.get(arch)
    overrides = {}
    for option, value in options.items():
        if value is None:
            continue
        if option not in method.options:
            flag = option.replace("_", "-")
            raise UsageError(f"--{flag} does not apply to --arch {method.name} (it applies "
                             f"to --arch {', '.join(registry.taking(option))})")
        overrides[method.options[option]] = value
    return overrides
