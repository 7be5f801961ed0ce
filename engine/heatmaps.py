"""Heatmap helpers shared by the heatmap architectures (CPM, hourglass).

Coordinate convention (every architecture follows it):
keypoints are in input-pixel coordinates of the square letterboxed network input
of side S, pixel centres at integer coordinates. A heatmap of side M has stride
r = S / M; map coordinate u = (x + 0.5) / r - 0.5 (cell centres at integer u) and
back x = (u + 0.5) * r - 0.5. Visibility v: 1 visible, 0 occluded (still a
target), -1 absent (no target, no loss).

`gaussian_targets` and `target_weights` are TensorFlow ops (they run inside
tf.data; TensorFlow is imported when they are called, so this module imports
without it). Everything else is numpy.
"""
import numpy as np

from engine.architectures import stage_arrays


def to_map(x, stride):
    """Input-pixel coordinate(s) -> map coordinate(s) (numpy or python floats)."""
    return (np.asarray(x, np.float64) + 0.5) / stride - 0.5


def to_input(u, stride):
    """Map coordinate(s) -> input-pixel coordinate(s)."""
    return (np.asarray(u, np.float64) + 0.5) * stride - 0.5


def _map_centres(keypoints, map_size, stride):
    """TF: (K,3) keypoints -> map-frame centres (K,), (K,) and a (K,) bool 'has a target'."""
    import tensorflow as tf

    keypoints = tf.convert_to_tensor(keypoints, tf.float32)
    ux = (keypoints[:, 0] + 0.5) / stride - 0.5
    uy = (keypoints[:, 1] + 0.5) / stride - 0.5
    edge = float(map_size) - 0.5
    inside = (ux >= -0.5) & (ux < edge) & (uy >= -0.5) & (uy < edge)
    return ux, uy, (keypoints[:, 2] >= 0) & inside


def target_weights(keypoints, map_size, stride):
    """TF: (K,) float32, 1 where a keypoint has a target (v >= 0 and inside the map), else 0.

    The mask a masked loss (hourglass) multiplies by; the same rule that makes
    `gaussian_targets` give an all-zero map.
    """
    import tensorflow as tf

    _, _, valid = _map_centres(keypoints, map_size, stride)
    return tf.cast(valid, tf.float32)


def gaussian_targets(keypoints, map_size, stride, sigma=1.0, normalize=False):
    """TF: keypoints (K,3) float32 in input pixels -> (M,M,K) float32 Gaussian maps.

    Each map is exp(-d^2 / (2 sigma^2)) around the keypoint's map coordinate u
    (sigma in map cells). `normalize=True` scales each map to sum to 1 (CPM's
    softmax targets); `False` leaves the continuous peak at 1 (hourglass).
    Keypoints with v < 0, or whose centre lies outside the map, give all-zero maps.
    """
    import tensorflow as tf

    ux, uy, valid = _map_centres(keypoints, map_size, stride)
    grid = tf.range(map_size, dtype=tf.float32)
    dx2 = tf.square(grid[None, :] - ux[:, None])          # (K, M) along x
    dy2 = tf.square(grid[None, :] - uy[:, None])          # (K, M) along y
    d2 = dy2[:, :, None] + dx2[:, None, :]                # (K, M_y, M_x)
    maps = tf.exp(-d2 / (2.0 * float(sigma) ** 2))
    maps = maps * tf.cast(valid, tf.float32)[:, None, None]
    if normalize:
        total = tf.reduce_sum(maps, axis=[1, 2], keepdims=True)
        maps = maps / tf.maximum(total, 1e-12)
    return tf.transpose(maps, [1, 2, 0])                  # (M, M, K)


def decode_heatmaps(maps, stride):
    """numpy: maps (N,M,M,K) -> xy (N,K,2) input-pixel coordinates, conf (N,K) peak values.

    Argmax per map, then a quarter-cell shift toward the higher neighbour in x
    and in y (Simple Baselines; none where the neighbours tie or at the border),
    then map cell -> input pixel with x = (u + 0.5) * stride - 0.5.
    An all-zero map decodes to cell (0, 0) with conf 0.
    """
    maps = np.asarray(maps, np.float32)
    if maps.ndim != 4:
        raise ValueError(f"decode_heatmaps: expected maps of shape (N, M, M, K), got {maps.shape}")
    n, h, w, k = maps.shape
    flat = maps.transpose(0, 3, 1, 2).reshape(n, k, h * w)   # (N, K, H*W)
    idx = flat.argmax(axis=-1)                               # (N, K)
    conf = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
    py, px = np.divmod(idx, w)

    def value(yy, xx):
        yy = np.clip(yy, 0, h - 1)
        xx = np.clip(xx, 0, w - 1)
        return np.take_along_axis(flat, (yy * w + xx)[..., None], axis=-1)[..., 0]

    dx = np.where((px > 0) & (px < w - 1), np.sign(value(py, px + 1) - value(py, px - 1)), 0.0)
    dy = np.where((py > 0) & (py < h - 1), np.sign(value(py + 1, px) - value(py - 1, px)), 0.0)
    u = px + 0.25 * dx
    v = py + 0.25 * dy
    xy = np.stack([to_input(u, stride), to_input(v, stride)], axis=-1).astype(np.float32)
    return xy, conf.astype(np.float32)


class MapDecoding:
    """The decoding half of a heatmap codec (CPM, hourglass): per-stage maps -> keypoints.

    A codec that inherits it sets `stride` (input pixels per map cell) and
    `output_prefix` (its outputs are named `{prefix}1`, `{prefix}2`, ...).
    """

    def stage_maps(self, outputs):
        """The model's output(s) -> list of numpy (N,M,M,K) float32 maps, one per stage."""
        return stage_arrays(outputs, self.output_prefix)

    def decode_stages(self, outputs):
        """A list of (xy (N,K,2) input pixels, conf (N,K) peak values), one per stage."""
        return [decode_heatmaps(m, self.stride) for m in self.stage_maps(outputs)]

    def decode(self, outputs):
        """(xy (N,K,2) input pixels, conf (N,K) peak values) from the last stage."""
        return decode_heatmaps(self.stage_maps(outputs)[-1], self.stride)
