"""Keypoint-aware augmentation with imgaug (seed 000's list).

Rotation, shift and scale (one `iaa.Affine`), a horizontal flip that swaps
`_left`/`_right` names, Gaussian blur, additive Gaussian noise and contrast.
Keypoints travel through imgaug as `KeypointsOnImage`, so they move with the pixels.

Determinism and threads: this runs inside `tf.numpy_function` under a parallel
`map`, so nothing shared may hold random state. Each call builds its own small
imgaug pipeline with seeds derived from `rng_seed` (about 0.2 ms; copying a
prebuilt pipeline with `deepcopy()` + `seed_()` costs about 0.5 ms).
"""
import numpy as np
import imgaug.augmenters as iaa
from imgaug.augmentables.kps import KeypointsOnImage

from data_tools import schema
from data_tools.letterbox import PAD_VALUE

DEFAULTS = {
    "rotate": 20.0,         # degrees, uniform in ±rotate
    "shift": 0.1,           # fraction of the side, uniform in ±shift on each axis
    "scale": (0.8, 1.2),    # zoom range (same factor on both axes)
    "flip": 0.5,            # probability of a horizontal flip (swaps left/right names)
    "blur": 1.0,            # max Gaussian sigma in pixels, applied half the time
    "noise": 0.03,          # max noise std as a fraction of 255, applied half the time
    "contrast": (0.75, 1.25),  # linear contrast range, applied 30% of the time
}
_SOMETIMES = {"blur": 0.5, "noise": 0.5, "contrast": 0.3}

ABSENT = np.float32(-1)

# imgaug puts pixel (0, 0)'s centre at (0.5, 0.5) for keypoints (Fliplr maps
# x → width - x; Affine shifts keypoints by width/2 but images by width/2 - 0.5);
# this package puts it at (0, 0).
_IMGAUG_OFFSET = 0.5


class Augmenter:
    """A resolved augmentation config; call it like `augment`.

    Holds no random state: every call builds its own seeded imgaug pipeline.
    """

    def __init__(self, cfg=None):
        cfg = dict(cfg or {})
        unknown = set(cfg) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown augmentation setting(s) {sorted(unknown)}; "
                             f"known: {sorted(DEFAULTS)}")
        self.cfg = {**DEFAULTS, **cfg}

    def __repr__(self):
        return f"Augmenter({self.cfg})"

    def _geometric(self, flip, seeds):
        c = self.cfg
        steps = [iaa.Fliplr(1.0, seed=next(seeds))] if flip else []
        scale = tuple(c["scale"]) if c["scale"] else (1.0, 1.0)
        if c["rotate"] or c["shift"] or scale != (1.0, 1.0):
            shift = float(c["shift"] or 0)
            steps.append(iaa.Affine(
                rotate=(-float(c["rotate"] or 0), float(c["rotate"] or 0)),
                translate_percent={"x": (-shift, shift), "y": (-shift, shift)},
                scale=scale, order=1, mode="constant", cval=PAD_VALUE, seed=next(seeds)))
        return steps

    def _photometric(self, seeds):
        c = self.cfg

        def sometimes(name, augmenter):
            return iaa.Sometimes(_SOMETIMES[name], augmenter, seed=next(seeds))

        steps = []
        if c["blur"]:
            steps.append(sometimes("blur", iaa.GaussianBlur(
                sigma=(0.0, float(c["blur"])), seed=next(seeds))))
        if c["noise"]:
            steps.append(sometimes("noise", iaa.AdditiveGaussianNoise(
                scale=(0.0, float(c["noise"]) * 255), seed=next(seeds))))
        if c["contrast"]:
            steps.append(sometimes("contrast", iaa.LinearContrast(
                tuple(c["contrast"]), seed=next(seeds))))
        return steps

    def pipeline(self, rng_seed):
        """(imgaug pipeline, flipped?) for one sample, fully determined by rng_seed."""
        state = np.random.SeedSequence(int(rng_seed) % 2**63).generate_state(16)
        flip = state[0] / 2**32 < float(self.cfg["flip"] or 0)
        seeds = iter(int(s) for s in state[1:])
        steps = self._geometric(flip, seeds) + self._photometric(seeds)
        return iaa.Sequential(steps, seed=next(seeds)), flip

    def __call__(self, image, keypoints, names, rng_seed):
        return _apply(self, image, keypoints, names, rng_seed)


def make_augmenter(cfg=None):
    """An Augmenter from a config dict (missing keys take DEFAULTS; 0/None disables)."""
    return cfg if isinstance(cfg, Augmenter) else Augmenter(cfg)


_DEFAULT = Augmenter()


def augment(image, keypoints, names, rng_seed, augmenter=None):
    """Augment one letterboxed image and its keypoints.

    image: uint8 (S, S, 3); keypoints: float32 (K, 3) x, y, v in input pixels,
    absent points (-1, -1, -1); names: the K keypoint names (for the flip swap).
    Returns (uint8 image, float32 (K, 3) keypoints). Absent points stay absent;
    a present point pushed off the image becomes absent, never clipped.
    """
    return _apply(augmenter or _DEFAULT, image, keypoints, names, rng_seed)


def _apply(augmenter, image, keypoints, names, rng_seed):
    pipeline, flipped = augmenter.pipeline(rng_seed)
    keypoints = np.asarray(keypoints, np.float32)
    present = keypoints[:, 2] >= 0
    # Only present points go through imgaug, so absent ones cannot be moved.
    kps = KeypointsOnImage.from_xy_array(keypoints[present, :2] + _IMGAUG_OFFSET,
                                         shape=image.shape)
    image_out, kps_out = pipeline(image=image, keypoints=kps)
    out = np.full_like(keypoints, ABSENT)
    out[present, :2] = kps_out.to_xy_array() - _IMGAUG_OFFSET
    out[present, 2] = keypoints[present, 2]
    out = drop_outside(out, image_out.shape)
    if flipped:
        # The mirrored left sleeve is now on the right: each name takes its partner's point.
        out = out[schema.flip_permutation(list(names))]
    return image_out, out


def drop_outside(keypoints, shape):
    """Mark present points that left the image (not on any pixel) as absent."""
    height, width = shape[:2]
    x, y = keypoints[:, 0], keypoints[:, 1]
    inside = (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)
    out = keypoints.copy()
    out[(keypoints[:, 2] >= 0) & ~inside] = ABSENT
    return out
