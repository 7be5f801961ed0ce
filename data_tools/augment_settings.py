"""The augmentation settings (a preset's "augment" section), read by both augmenters:
`tf_augment` (TensorFlow ops, the default) and `augment` (imgaug, `--augmenter imgaug`).
"""
# "tf": TensorFlow ops (tf_augment), the default; "imgaug": imgaug in Python (augment).
AUGMENTERS = ("tf", "imgaug")

DEFAULTS = {
    "rotate": 20.0,         # degrees, uniform in ±rotate
    "shift": 0.1,           # fraction of the side, uniform in ±shift on each axis
    "scale": (0.8, 1.2),    # zoom range (same factor on both axes)
    "flip": 0.5,            # probability of a horizontal flip (swaps left/right names)
    "blur": 1.0,            # max Gaussian sigma in pixels, applied half the time
    "noise": 0.03,          # max noise std as a fraction of 255, applied half the time
    "contrast": (0.75, 1.25),  # linear contrast range, applied 30% of the time
}
# How often each photometric step is applied.
SOMETIMES = {"blur": 0.5, "noise": 0.5, "contrast": 0.3}


def resolve(cfg=None):
    """DEFAULTS updated with `cfg`; an unknown key is a ValueError (a typo would
    otherwise silently train without that augmentation). 0 or None disables a step."""
    cfg = dict(cfg or {})
    unknown = set(cfg) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown augmentation setting(s) {sorted(unknown)}; "
                         f"known: {sorted(DEFAULTS)}")
    return {**DEFAULTS, **cfg}
