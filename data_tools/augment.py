"""Keypoint-aware augmentation with imgaug (seed 000's list), `--augmenter imgaug`.

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
from data_tools.augment_settings import SOMETIMES, resolve
from data_tools.letterbox import PAD_VALUE

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
        self.cfg = resolve(cfg)

    def __repr__(self):
        return f"Augmenter({self.cfg})"

    def _geometric(self, flip, seeds):
        c = self.cfg
        scale = tuple(c["scale"]) if c["scale"] else (1.0, 1.0)
        rotate = float(c["rotate"] or 0)
        shift = float(c["shift"] or 0)
        moves = rotate or shift or scale != (1.0, 1.0)
        return _geometric_steps(flip, (-rotate, rotate) if moves else None, scale,
                                (-shift, shift), (-shift, shift), seeds)

    def _photometric(self, seeds):
        c = self.cfg

        def sometimes(name, augmenter):
            return iaa.Sometimes(SOMETIMES[name], augmenter, seed=next(seeds))

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
    """An Augmenter from a config dict (missing keys take augment_settings.DEFAULTS; 0/None
    disables)."""
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


def _geometric_steps(flip, rotate, scale, shift_x, shift_y, seeds):
    """imgaug's steps for a flip, then one affine move about the image centre.

    rotate (degrees), scale, shift_x, shift_y (fractions of the side): numbers, or
    (low, high) ranges imgaug draws from uniformly; rotate None: no affine move.
    """
    steps = [iaa.Fliplr(1.0, seed=next(seeds))] if flip else []
    if rotate is not None:
        steps.append(iaa.Affine(
            rotate=rotate, translate_percent={"x": shift_x, "y": shift_y}, scale=scale,
            order=1, mode="constant", cval=PAD_VALUE, seed=next(seeds)))
    return steps


def apply_geometry(image, keypoints, names, flip, rotate, scale, shift_x, shift_y):
    """One given move (no randomness): a horizontal flip if `flip`, then a rotation by
    `rotate` degrees and a zoom by `scale` about the centre, then a shift by
    (shift_x, shift_y) fractions of the side. Returns (image, keypoints) as `augment`."""
    seeds = iter(range(1, 4))
    pipeline = iaa.Sequential(_geometric_steps(
        flip, float(rotate), float(scale), float(shift_x), float(shift_y), seeds), seed=0)
    return _run(pipeline, bool(flip), image, keypoints, names)


def _apply(augmenter, image, keypoints, names, rng_seed):
    pipeline, flipped = augmenter.pipeline(rng_seed)
    return _run(pipeline, flipped, image, keypoints, names)


def _run(pipeline, flipped, image, keypoints, names):
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
