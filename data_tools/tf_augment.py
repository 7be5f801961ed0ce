"""Keypoint-aware augmentation in TensorFlow ops: the default augmenter.

The same settings and steps as the imgaug augmenter (`augment`, `--augmenter imgaug`):
a horizontal flip that swaps `_left`/`_right` names, then a rotation and zoom about the
centre and a shift, then Gaussian blur, additive Gaussian noise and linear contrast,
each applied as often as `augment_settings.SOMETIMES` says. The geometric steps are one
3x3 matrix, composed with the letterbox's, so the pixels are resampled once and the
keypoints go through the very same matrix.

Every random number comes from stateless ops seeded by (the epoch's draw, the image's
index): the same seed gives the same augmentations in any thread and in any order.
"""
import math

import numpy as np
import tensorflow as tf

from data_tools import schema, tf_images
from data_tools.augment_settings import SOMETIMES, resolve


def geometry_matrix(size, flip, rotate, scale, shift_x, shift_y):
    """3x3 on input pixels: a horizontal flip if `flip`, then a rotation by `rotate`
    degrees (clockwise on screen, as imgaug's) and a zoom by `scale` about the centre,
    then a shift by (shift_x, shift_y) fractions of the side."""
    centre = (size - 1) / 2.0
    flip = tf.cast(flip, tf.float32)
    mirror = tf.stack([[1.0 - 2.0 * flip, 0.0, flip * (size - 1)],
                       [0.0, 1.0, 0.0],
                       [0.0, 0.0, 1.0]])
    angle = tf.cast(rotate, tf.float32) * (math.pi / 180.0)
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    # p' = scale * R (p - centre) + centre + shift * size, with y pointing down.
    tx = centre - cos * centre + sin * centre + shift_x * size
    ty = centre - sin * centre - cos * centre + shift_y * size
    move = tf.stack([[cos, -sin, tx], [sin, cos, ty], [0.0, 0.0, 1.0]])
    return move @ mirror


class Augmenter:
    """A resolved augmentation config; call it like `augment` inside a tf.data map."""

    def __init__(self, cfg=None):
        self.cfg = resolve(cfg)

    def __repr__(self):
        return f"tf_augment.Augmenter({self.cfg})"

    def draw(self, seed):
        """{step: float32 scalar} for one image; seed: int64 (2,)."""
        c = self.cfg
        u = tf.unstack(tf.random.stateless_uniform([11], seed=seed))
        low, high = c["scale"] or (1.0, 1.0)
        rotate, shift = float(c["rotate"] or 0), float(c["shift"] or 0)
        contrast_low, contrast_high = c["contrast"] or (1.0, 1.0)

        def sometimes(name, draw, value):
            applied = bool(c[name]) and draw < SOMETIMES[name]
            return tf.where(applied, value, 0.0)

        return {
            "flip": u[0] < float(c["flip"] or 0),
            "rotate": (2 * u[1] - 1) * rotate,
            "scale": low + u[2] * (high - low),
            "shift_x": (2 * u[3] - 1) * shift,
            "shift_y": (2 * u[4] - 1) * shift,
            "blur": sometimes("blur", u[5], u[6] * float(c["blur"] or 0)),
            "noise": sometimes("noise", u[7], u[8] * float(c["noise"] or 0) * 255),
            # 0 means "not applied"; an applied factor is in (contrast_low, contrast_high).
            "contrast": sometimes("contrast", u[9],
                                  contrast_low + u[10] * (contrast_high - contrast_low)),
        }

    def __call__(self, image, to_input, points, names, seed, size):
        """Augment one image on its way into the letterboxed input.

        image: uint8 (h, w, 3), any size; to_input: 3x3 from its pixels to input pixels
        (the letterbox; the identity for an image already letterboxed); points: (K, 3)
        in input pixels, absent (-1, -1, -1); names: the K keypoint names; seed: int64 (2,).
        Returns (float32 (size, size, 3) in [0, 255], float32 (K, 3) points). A point
        pushed off the image becomes absent, never clipped.
        """
        move = self.draw(seed)
        matrix = geometry_matrix(size, move["flip"], move["rotate"], move["scale"],
                                 move["shift_x"], move["shift_y"])
        noise_seed = tf.random.experimental.stateless_fold_in(seed, 1)
        finish, finish_args = photometric_step(move, self.cfg, noise_seed, size)
        pixels = tf_images.warp(image, matrix @ to_input, size, finish, finish_args)
        points = tf_images.move_points(points, matrix, size)
        return pixels, swap_sides(points, names, move["flip"])


def jitter_box(box, seed, shift, scale):
    """A box (x0, y0, x1, y1) moved by up to `shift` of its longer side on each axis and
    resized by a factor drawn from `scale` (low, high) about its centre: a second stage
    learns on boxes as imperfect as a first stage's."""
    u = tf.random.stateless_uniform([3], seed=tf.random.experimental.stateless_fold_in(seed, 2))
    box = tf.cast(box, tf.float32)
    centre = (box[:2] + box[2:]) / 2
    half = (box[2:] - box[:2]) / 2
    side = 2 * tf.reduce_max(half)
    low, high = scale
    factor = low + u[2] * (high - low)
    centre = centre + (2 * u[:2] - 1) * shift * side
    return tf.concat([centre - half * factor, centre + half * factor], 0)


def swap_sides(points, names, flipped):
    """After a mirror, each `_left` name takes its `_right` partner's point and back."""
    permutation = schema.flip_permutation(list(names))
    return tf.where(flipped, tf.gather(points, permutation), points)


def photometric(image, move, cfg, noise_seed):
    """Blur, noise and contrast of float32 (S, S, 3) pixels in [0, 255], as `move` drew."""
    finish, finish_args = photometric_step(move, cfg, noise_seed, image.shape[0])
    return finish(image, *finish_args)


def photometric_step(move, cfg, noise_seed, size):
    """(finish, its tensor arguments): the photometric steps for `tf_images.warp` to run
    inside its compiled resampling, where XLA fuses them into a few loops."""
    # Cut at two sigmas, about where imgaug's (OpenCV's) kernel size for sigma <= 1 ends.
    radius = max(1, math.ceil(2 * float(cfg["blur"]))) if cfg["blur"] else 0
    noise = move["noise"] * _noise_window(size, size, noise_seed)
    return _finisher(radius), (move["blur"], noise, move["contrast"])


_FINISHERS = {}


def _finisher(radius):
    """The photometric steps for a blur `radius`; one function object per radius, so the
    compiled resampling that takes it is traced once."""
    if radius not in _FINISHERS:
        def finish(image, blur, noise, contrast):
            if radius:
                image = tf.cond(blur > 0, lambda: gaussian_blur(image, blur, radius),
                                lambda: image)
            image = image + noise
            image = tf.where(contrast > 0, 128.0 + contrast * (image - 128.0), image)
            return tf.clip_by_value(image, 0.0, 255.0)
        _FINISHERS[radius] = finish
    return _FINISHERS[radius]


_NOISE_BANKS = {}


def _noise_window(height, width, seed):
    """(height, width, 1) standard normal noise: one value per pixel for all three
    channels, as imgaug's default. It is a window at a random place in a fixed bank twice
    the image's size, since drawing fresh normals for every image cost as much as the
    rest of the photometric steps (and XLA's CPU random numbers are slower still)."""
    if (height, width) not in _NOISE_BANKS:
        bank = np.random.default_rng(0).standard_normal((2 * height, 2 * width, 1))
        _NOISE_BANKS[height, width] = bank.astype(np.float32)
    bank = tf.constant(_NOISE_BANKS[height, width])
    corner = tf.random.stateless_uniform([2], seed=seed, maxval=tf.int32.max, dtype=tf.int32)
    corner = corner % tf.constant([height + 1, width + 1])
    return tf.slice(bank, tf.concat([corner, [0]], 0), [height, width, 1])


def gaussian_blur(image, sigma, radius):
    """(S, S, 3) blurred by a Gaussian of `sigma` pixels (a tensor), cut at `radius`;
    the edges are mirrored, so the border does not darken."""
    taps = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-0.5 * tf.square(taps / tf.maximum(sigma, 1e-3)))
    kernel = kernel / tf.reduce_sum(kernel)
    padded = tf.pad(image, [[radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    height, width = image.shape[0], image.shape[1]
    rows = tf.add_n([kernel[i] * padded[i:i + height] for i in range(2 * radius + 1)])
    return tf.add_n([kernel[i] * rows[:, i:i + width] for i in range(2 * radius + 1)])


def augment(image, keypoints, names, rng_seed, augmenter=None):
    """Augment one letterboxed image, eagerly, as the imgaug module's `augment` does:
    uint8 (S, S, 3) and float32 (K, 3) in, (uint8 image, float32 keypoints) out.
    rng_seed: an int or a pair of ints."""
    augmenter = augmenter or Augmenter()
    size = int(image.shape[0])
    seed = tf.constant(np.resize(np.asarray(rng_seed, np.int64), 2))
    pixels, points = augmenter(tf.constant(image), tf.eye(3), tf.constant(keypoints, tf.float32),
                               names, seed, size)
    return np.round(pixels.numpy()).astype(np.uint8), points.numpy()
