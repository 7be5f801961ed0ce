"""Presets: `tiny` for tests, `cpu` for a laptop, `paper` for the papers' sizes on a GPU.

A preset is a flat dict of training settings plus one section per architecture;
`resolve` merges the architecture's section in and applies the user's overrides,
so a model's `build_model(num_keypoints, cfg)` sees one flat dict.
"""
import copy

PRESETS = {
    "tiny": {
        "input_size": 64, "batch_size": 8, "epochs": 2, "lr": 1e-3,
        "warmup_epochs": 0, "synthetic_images_per_category": 24,
        "augment": {"rotate": 10, "shift": 0.05, "scale": (0.9, 1.1)},
        "cpm": {"backbone": "vgg", "width": 0.125, "stages": 6, "stage_channels": 16,
                "stage_kernel": 3, "sigma": 1.0},
        "hourglass": {"stacks": 2, "features": 16, "depth": 2, "sigma": 1.0, "peak_weight": 100},
        "regression": {"backbone": "simple", "width": 8, "stages": 1, "box": "input"},
    },
    "cpu": {
        "input_size": 128, "batch_size": 16, "epochs": 28, "lr": 2e-3,
        "warmup_epochs": 1, "synthetic_images_per_category": 800,
        "augment": {"rotate": 15, "shift": 0.08, "scale": (0.85, 1.15)},
        "cpm": {"backbone": "vgg", "width": 0.25, "stages": 6, "stage_channels": 32,
                "stage_kernel": 7, "sigma": 1.0},
        "hourglass": {"stacks": 2, "features": 64, "depth": 4, "sigma": 1.0, "peak_weight": 100},
        "regression": {"backbone": "simple", "width": 32, "stages": 1, "box": "input"},
    },
    "paper": {
        "input_size": 256, "batch_size": 16, "epochs": 60, "lr": 1e-3,
        "warmup_epochs": 2, "synthetic_images_per_category": 800,
        "augment": {"rotate": 20, "shift": 0.1, "scale": (0.8, 1.2)},
        # Wei et al. 2016: VGG trunk to stride 8, 128-wide stages of 7x7 convs.
        "cpm": {"backbone": "vgg", "width": 1.0, "stages": 6, "stage_channels": 128,
                "stage_kernel": 7, "sigma": 1.0},
        # Newell et al. 2016: 64x64 maps from a 256 input, 256 features, depth-4 hourglasses;
        # 4 stacks rather than 8 (their ablation: most of the gain by 4, at half the cost).
        # peak_weight: see hourglass/codec.py; plain MSE (0) learns too slowly here.
        "hourglass": {"stacks": 4, "features": 256, "depth": 4, "sigma": 1.0, "peak_weight": 100},
        # DeepPose on an ImageNet backbone (Toshev & Szegedy 2014 used AlexNet).
        "regression": {"backbone": "resnet50", "width": 32, "stages": 1, "box": "input"},
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
    """One flat config for `arch` under preset `name`, with the non-None overrides applied."""
    preset = copy.deepcopy(PRESETS[name])
    arch_section = {}
    for key in [k for k, v in preset.items() if isinstance(v, dict) and k != "augment"]:
        section = preset.pop(key)
        if key == arch:
            arch_section = section
    cfg = {**preset, **arch_section, "preset": name, "arch": arch}
    for key, value in (overrides or {}).items():
        if value is not None:
            cfg[key] = value
    return cfg
