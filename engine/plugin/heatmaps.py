"""Heatmaps: Gaussian targets, argmax decoding, and the codec base of every heatmap method.

Coordinate convention (every architecture follows it):
keypoints are in input-pixel coordinates of the square letterboxed network input
of side S, pixel centres at integer coordinates. A heatmap of side M has stride
r = S / M; map coordinate u = (x + 0.5) / r - 0.5 (cell centres at integer u) and
back x = (u + 0.5) * r - 0.5. Visibility v: 1 visible, 0 occluded (still a
target), -1 absent (no target, no loss).

`gaussian_targets`, `peak_one_targets` and `target_weights` are TensorFlow ops (they
run inside tf.data; TensorFlow is imported when they are called, so this module imports
without it); `masked_mse` is keras.ops. Everything else is numpy. `HeatmapCodec` is the
shared half of the codecs whose outputs are maps: decoding, and the maps that the test-time
layer merges and the pictures draw; `MSEHeatmapCodec` adds peak-1 targets and the masked MSE.
"""
import abc

import numpy as np
from keras import ops

from engine.plugin.codec import Codec, stage_arrays
from engine.plugin.method import HEATMAP_DECODERS

ABSENT = -1.0  # the value of every cell of a map whose keypoint has no target (masked_mse)


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

    The mask a masked loss multiplies by; the same rule that makes
    `gaussian_targets` give an all-zero map.
    """
    import tensorflow as tf

    _, _, valid = _map_centres(keypoints, map_size, stride)
    return tf.cast(valid, tf.float32)


def gaussian_targets(keypoints, map_size, stride, sigma=1.0, normalize=False):
    """TF: keypoints (K,3) float32 in input pixels -> (M,M,K) float32 Gaussian maps.

    Each map is exp(-d^2 / (2 sigma^2)) around the keypoint's map coordinate u
    (sigma in map cells). `normalize=True` scales each map to sum to 1 (CPM's
    softmax targets); `False` leaves the continuous peak at 1 (MSE targets).
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


def peak_one_targets(keypoints, map_size, stride, sigma=1.0):
    """TF: (K,3) keypoints -> (M,M,K) float32 Gaussians of peak 1, for a mean squared error.

    A keypoint with no target (absent, or outside the map) has its whole map set to
    ABSENT, a sentinel that `masked_mse` skips: unlike an all-zero map, it does not teach
    the network that the keypoint is nowhere.
    """
    import tensorflow as tf

    maps = gaussian_targets(keypoints, map_size, stride, sigma, normalize=False)
    has_target = target_weights(keypoints, map_size, stride) > 0
    return tf.where(has_target[None, None, :], maps, ABSENT)


def sum_keypoints(cell_losses, hard_keypoints=None):
    """keras.ops: per-cell losses (N, M, M, K) -> one value per image (N,).

    Without `hard_keypoints`, their sum. With it (online hard keypoint mining, Chen et
    al.'s CPN: 8 of 17), only the `hard_keypoints` keypoints of each image whose maps cost
    most count, scaled by K / hard_keypoints so that one keypoint weighs what it weighs in
    the full sum and the learning rate keeps its meaning. A keypoint without a target
    costs exactly 0 and so never outweighs one that has; where an image has fewer targets
    than `hard_keypoints`, the rest of its picks add 0.
    """
    if not hard_keypoints:
        return ops.sum(cell_losses, axis=(1, 2, 3))
    per_keypoint = ops.sum(cell_losses, axis=(1, 2))
    hardest, _ = ops.top_k(per_keypoint, int(hard_keypoints), sorted=False)
    return ops.sum(hardest, axis=-1) * (per_keypoint.shape[-1] / int(hard_keypoints))


def masked_mse(y_true, y_pred, peak_weight=0.0, hard_keypoints=None):
    """Mean squared error over the maps that have a target (y_true >= 0), in float32.

    Per image: the sum over counted maps of the mean over the M x M cells of
    w * (y_pred - y_true)^2, with w = 1 + peak_weight * y_true: one value per image,
    which Keras averages over the batch (and over the replicas of a tf.distribute
    strategy, which a loss that averaged the batch itself would defeat). A map marked
    absent (ABSENT) adds exactly 0 to the loss and passes exactly 0 gradient, whatever
    is predicted there. peak_weight 0 is the plain MSE of Newell et al. and Xiao et al.
    hard_keypoints: see sum_keypoints. keras.ops only, so it runs under any backend.
    """
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    # Mask the difference before squaring (not the squares after): a masked cell then
    # gets a zero gradient even where the prediction is inf or NaN.
    diff = ops.where(y_true >= 0, y_pred - y_true, 0.0)
    weight = 1.0 + float(peak_weight) * ops.maximum(y_true, 0.0)
    cells = ops.cast(ops.shape(y_true)[1] * ops.shape(y_true)[2], "float32")
    return sum_keypoints(weight * ops.square(diff), hard_keypoints) / cells


DECODERS = HEATMAP_DECODERS


def decode_heatmaps(maps, stride, decoder="argmax", sigma=1.0):
    """numpy: maps (N,M,M,K) -> xy (N,K,2) input-pixel coordinates, conf (N,K) peak values.

    decoder "argmax": the argmax of each map, then a quarter-cell shift toward the
    higher neighbour in x and in y (Simple Baselines; none where the neighbours tie or
    at the border). "dark": the argmax refined by DARK (`dark_offsets`), for maps whose
    peaks are Gaussians of `sigma` cells. Then map cell -> input pixel with
    x = (u + 0.5) * stride - 0.5. An all-zero map decodes to cell (0, 0) with conf 0.
    """
    maps = np.asarray(maps, np.float32)
    if maps.ndim != 4:
        raise ValueError(f"decode_heatmaps: expected maps of shape (N, M, M, K), got {maps.shape}")
    if decoder not in DECODERS:
        raise ValueError(f"unknown decoder '{decoder}'; valid decoders: {', '.join(DECODERS)}")
    n, h, w, k = maps.shape
    flat = maps.transpose(0, 3, 1, 2).reshape(n, k, h * w)   # (N, K, H*W)
    idx = flat.argmax(axis=-1)                               # (N, K)
    conf = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
    py, px = np.divmod(idx, w)
    if decoder == "dark":
        du, dv = dark_offsets(maps, px, py, sigma)
    else:
        du, dv = quarter_offsets(flat, px, py, h, w)
    u, v = px + du, py + dv
    xy = np.stack([to_input(u, stride), to_input(v, stride)], axis=-1).astype(np.float32)
    return xy, conf.astype(np.float32)


def quarter_offsets(flat, px, py, h, w):
    """(du, dv), each (N, K): +-0.25 cell toward the higher neighbour of the argmax cell."""
    def value(yy, xx):
        yy = np.clip(yy, 0, h - 1)
        xx = np.clip(xx, 0, w - 1)
        return np.take_along_axis(flat, (yy * w + xx)[..., None], axis=-1)[..., 0]

    du = np.where((px > 0) & (px < w - 1), np.sign(value(py, px + 1) - value(py, px - 1)), 0.0)
    dv = np.where((py > 0) & (py < h - 1), np.sign(value(py + 1, px) - value(py - 1, px)), 0.0)
    return 0.25 * du, 0.25 * dv


def decode_heatmaps_graph(maps, stride):
    """keras.ops: maps (N, M, M, K) -> (N, K, 3) x, y in input pixels and the peak value,
    the "argmax" decoder of `decode_heatmaps` as graph ops, for an exported model.

    Written with reductions and comparisons only: Keras' argmax and take_along_axis lower
    to ops (Bitcast, gathers) that the ONNX and LiteRT converters lack. The first maximum
    in row-major order wins, as numpy's argmax.
    """
    maps = ops.cast(maps, "float32")
    h, w, k = maps.shape[1:]
    flat = ops.reshape(ops.transpose(maps, (0, 3, 1, 2)), (-1, k, h * w))
    peak = ops.max(flat, axis=-1, keepdims=True)
    cells = ops.arange(h * w, dtype="int32")
    index = ops.min(ops.where(flat >= peak, cells, h * w), axis=-1)  # (N, K)
    px, py = index % w, index // w

    def value(offset):  # the map's value `offset` cells after the argmax, flattened
        return ops.sum(ops.where(cells == (index + offset)[..., None], flat, 0.0), axis=-1)

    du = ops.where((px > 0) & (px < w - 1), ops.sign(value(1) - value(-1)), 0.0)
    dv = ops.where((py > 0) & (py < h - 1), ops.sign(value(w) - value(-w)), 0.0)
    u = ops.cast(px, "float32") + 0.25 * du
    v = ops.cast(py, "float32") + 0.25 * dv
    return ops.stack([(u + 0.5) * stride - 0.5, (v + 0.5) * stride - 0.5, peak[..., 0]],
                     axis=-1)


DARK_KERNEL_SIGMAS = 2.5   # the blur's radius in sigmas: 11 cells for sigma 2, as in DARK's code
EXACT_TOLERANCE = 1e-6     # a log-map this close to a quadratic is taken as an exact Gaussian


def dark_offsets(maps, px, py, sigma):
    """DARK (Zhang et al., CVPR 2020): (du, dv), each (N, K), the sub-cell offset of each
    map's maximum from its argmax cell (px, py).

    A Gaussian's logarithm is a quadratic, whose maximum one Newton step from any point
    finds exactly: offset = -H^-1 g, with g and H the log-map's gradient and Hessian at
    the argmax (central differences; second-order one-sided ones at the map's edge, all
    exact for a quadratic). Two cases:

    - an exact Gaussian (the log-map is a quadratic on the 5x5 cells around the argmax,
      clipped by the edge): refined on the map itself, which is exact up to the edge, and
      beyond it when the centre lies outside the map;
    - any other map: first smoothed by a Gaussian of the targets' sigma ("modulation"),
      zero beyond the edge, its maximum kept; then refined where the central differences'
      stencil fits inside the map (2 cells from the edge), and left on its cell nearer the
      edge, as DARK's own decoder does. Against DARK's code (mmpose's
      `refine_keypoints_dark`, kernel 11) on 64x64 maps of sigma 2, this is the same
      figure for noisy maps in every band of the map, and exact where it is not.

    Where H is not negative definite (a flat or saddle-shaped top) the argmax cell is kept:
    the step would lead to a minimum or a saddle.
    """
    n, h, w, k = maps.shape
    if h < 3 or w < 3:
        return np.zeros(px.shape), np.zeros(py.shape)
    planes = maps.transpose(0, 3, 1, 2).reshape(n * k, h, w).astype(np.float64)
    px, py = px.reshape(-1), py.reshape(-1)
    exact = _is_exact_gaussian(planes, px, py)
    du, dv = _newton_step(np.where(exact[:, None, None], planes, _modulate(planes, sigma)), px, py)
    stencil_fits = (px >= 2) & (px < w - 2) & (py >= 2) & (py < h - 2)
    keep = exact | stencil_fits
    return np.where(keep, du, 0.0).reshape(n, k), np.where(keep, dv, 0.0).reshape(n, k)


def _modulate(planes, sigma):
    """Each plane blurred by a Gaussian of `sigma` with zeros beyond the edge (a heatmap's
    background), scaled back to its own maximum."""
    import cv2

    radius = max(1, int(np.ceil(DARK_KERNEL_SIGMAS * sigma)))
    size = 2 * radius + 1
    smooth = np.stack([cv2.GaussianBlur(p, (size, size), sigma, borderType=cv2.BORDER_CONSTANT)
                       for p in planes])
    peak = np.maximum(planes.max(axis=(1, 2), keepdims=True), 0)
    return smooth * peak / np.maximum(smooth.max(axis=(1, 2), keepdims=True), 1e-12)


def _is_exact_gaussian(planes, px, py):
    """(P,) whether each plane's log is a quadratic (least squares, to EXACT_TOLERANCE) on
    the 5x5 cells around its argmax, clipped by the edge."""
    _, h, w = planes.shape
    exact = np.zeros(len(planes), bool)
    for i, (x, y) in enumerate(zip(px, py)):
        ys, xs = np.mgrid[max(y - 2, 0):min(y + 3, h), max(x - 2, 0):min(x + 3, w)]
        values = planes[i, ys, xs].ravel()
        if values.min() <= 0:
            continue
        xs, ys = xs.ravel() - x, ys.ravel() - y
        design = np.stack([np.ones_like(xs), xs, ys, xs * xs, xs * ys, ys * ys], 1).astype(np.float64)
        log = np.log(values)
        fit, *_ = np.linalg.lstsq(design, log, rcond=None)
        exact[i] = np.abs(design @ fit - log).max() <= EXACT_TOLERANCE * max(1.0, np.abs(log).max())
    return exact


def _newton_step(planes, px, py):
    """(du, dv), each (P,): -H^-1 g of log(planes) (P, H, W) at cells (px, py), 0 where
    that is no step toward a maximum."""
    log = np.log(np.maximum(planes, 1e-10))
    gy, gx = np.gradient(log, axis=(1, 2), edge_order=2)
    gyy, gyx = np.gradient(gy, axis=(1, 2), edge_order=2)
    gxy, gxx = np.gradient(gx, axis=(1, 2), edge_order=2)
    at = (np.arange(len(planes)), py, px)
    dx, dy = gx[at], gy[at]
    dxx, dyy, dxy = gxx[at], gyy[at], (gxy[at] + gyx[at]) / 2
    det = dxx * dyy - dxy * dxy
    usable = (det > 1e-12) & (dxx < 0)
    safe = np.where(usable, det, 1.0)
    # -H^-1 g for the 2 x 2 Hessian [[dxx, dxy], [dxy, dyy]].
    du = -(dyy * dx - dxy * dy) / safe
    dv = -(dxx * dy - dxy * dx) / safe
    return np.where(usable, du, 0.0), np.where(usable, dv, 0.0)


class HeatmapCodec(Codec):
    """A codec whose every stage is a stack of K heatmaps on an M x M grid of stride r = S / M.

    A subclass calls `set_grid` in its __init__, sets `num_stages`, and gives `targets`
    (one stage's maps for one image, TF), `loss` and `example_targets`; decoding and the
    maps (`stage_maps`, `map_kind`) are shared here.
    """

    decoders = DECODERS

    def set_grid(self, method, cfg, num_keypoints, stride):
        """input_size, num_keypoints, stride and map_size for an S/stride map grid; the
        targets' sigma (cells, cfg["sigma"], default 1) and the decoder (cfg["decode"],
        one of DECODERS, default argmax)."""
        self.input_size = int(cfg["input_size"])
        if self.input_size % stride:
            raise ValueError(f"{method}: input_size must be a multiple of {stride}, "
                             f"got {self.input_size}")
        self.num_keypoints = int(num_keypoints)
        self.map_size = self.input_size // stride
        self.stride = self.input_size / self.map_size
        self.sigma = float(cfg.get("sigma", 1.0))
        self.decoder = cfg.get("decode") or "argmax"
        if self.decoder not in DECODERS:
            raise ValueError(f"{method}: unknown decoder '{self.decoder}'; valid decoders: "
                             f"{', '.join(DECODERS)}")

    def decode_maps(self, maps):
        """(xy, conf) of one stage's maps (N, M, M, K), with this codec's decoder."""
        return decode_heatmaps(maps, self.stride, self.decoder, self.sigma)

    @abc.abstractmethod
    def targets(self, keypoints):
        """TF: (K, 3) keypoints in input pixels -> (M, M, K) float32 maps of one stage."""

    def encode(self, image, keypoints):
        """TF, for ds.map: every stage is taught the same maps."""
        import tensorflow as tf

        target = self.targets(keypoints)
        return tf.cast(image, tf.float32), tuple(target for _ in range(self.num_stages))

    def decode_graph(self, output):
        """keras.ops: the last stage's maps -> (N, K, 3), the argmax decoder (an exported
        model's; DARK's smoothing and Newton step stay in numpy)."""
        if self.decoder != "argmax":
            raise ValueError(f"an exported model decodes with argmax; this run's decoder is "
                             f"{self.decoder}")
        return decode_heatmaps_graph(output, self.stride)

    def stage_maps(self, outputs):
        """The model's outputs -> a list of numpy (N, M, M, K) float32 maps, one per stage."""
        return stage_arrays(outputs)

    def decode_stages(self, outputs):
        """A list of (xy (N,K,2) input pixels, conf (N,K) peak values), one per stage."""
        return [self.decode_maps(m) for m in self.stage_maps(outputs)]

    # Peak-1 maps (MSE targets): averaged with other peak-1 maps on the same grid; a map
    # at its surest peaks at 1.
    map_kind = "peak-1"
    density_maps = False
    sure_peak = 1.0


class MSEHeatmapCodec(HeatmapCodec):
    """Peak-1 Gaussian targets and a masked mean squared error, every stage the same: the
    codec of Newell et al.'s hourglass and of Xiao et al.'s Simple Baselines.

    cfg keys: sigma (map cells, default 1), peak_weight (masked_mse; default 0, the
    papers' plain MSE) and hard_keypoints (sum_keypoints; default None, every keypoint).
    """

    def __init__(self, method, cfg, num_keypoints, stride, num_stages):
        self.set_grid(method, cfg, num_keypoints, stride)
        self.num_stages = int(num_stages)
        self.peak_weight = float(cfg.get("peak_weight", 0.0))
        self.hard_keypoints = cfg.get("hard_keypoints")

    def targets(self, keypoints):
        """TF: (K,3) keypoints in input pixels -> (M,M,K) peak-1 Gaussians, -1 maps where none."""
        return peak_one_targets(keypoints, self.map_size, self.stride, self.sigma)

    def example_targets(self, batch_size):
        """All-zero maps."""
        maps = np.zeros((batch_size, self.map_size, self.map_size, self.num_keypoints), np.float32)
        return tuple(maps for _ in range(self.num_stages))

    def loss(self, y_true, y_pred):
        """masked_mse with this config's peak weight and hard keypoints."""
        return masked_mse(y_true, y_pred, self.peak_weight, self.hard_keypoints)
