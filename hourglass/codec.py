"""Hourglass codec: keypoints -> per-stack peak-1 Gaussian targets; heatmaps -> keypoints.

    codec = make_codec(cfg, num_keypoints)
    ds = ds.map(codec.encode)                       # tf.data, TF ops
    model.compile(loss=[codec.loss] * codec.num_stages)
    xy, conf = codec.decode(model.predict(images))  # numpy, last stack

Targets are Newell's: a Gaussian of peak 1 (sigma in map cells) per keypoint on the
S/4 grid, regressed with a mean squared error. A keypoint with no target (absent, or
outside the map) has its whole map set to -1, a sentinel the masked loss skips: unlike
an all-zero map, it does not teach the network that the keypoint is nowhere.

The squared error of a cell is weighted by 1 + peak_weight * target (cfg, 100 in every
preset). With Newell's plain MSE (peak_weight 0) the ~1000 background cells of a map
outweigh its ~9 peak cells and the network sits at all-zero maps for a long time:
on 16 synthetic skirts at the cpu preset, 150 Adam steps left the training NE at
0.32-0.55 with plain MSE, 0.031 with peak_weight 10 and 0.015 with 100 (the CPM: 0.036).
On 543 synthetic skirts at the cpu preset (mean shape 0.54): plain MSE ended 28 epochs at
val NE 1.05; peak_weight 10 was at 0.86 after 8 epochs, 100 at 0.59 after 6 and 0.41
after 28.

`targets` and `encode` import TensorFlow when they run (inside tf.data);
`loss` uses keras.ops only; `decode`, `decode_stages` and `stage_maps` are numpy. The
module itself imports without TensorFlow.
"""
import numpy as np
from keras import ops

from engine.heatmaps import MapDecoding, gaussian_targets, target_weights

STRIDE = 4
ABSENT = -1.0


def masked_mse(y_true, y_pred, peak_weight=0.0):
    """Mean squared error over the maps that have a target (y_true >= 0), in float32.

    Per image: the sum over counted maps of the mean over the M x M cells of
    w * (y_pred - y_true)^2, with w = 1 + peak_weight * y_true: one value per image,
    which Keras averages over the batch (and over the replicas of a tf.distribute
    strategy, which a loss that averaged the batch itself would defeat). A map marked absent (-1) adds exactly 0 to the loss and passes exactly 0
    gradient, whatever is predicted there. peak_weight 0 is Newell's plain MSE.
    """
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    # Mask the difference before squaring (not the squares after): a masked cell then
    # gets a zero gradient even where the prediction is inf or NaN.
    diff = ops.where(y_true >= 0, y_pred - y_true, 0.0)
    weight = 1.0 + float(peak_weight) * ops.maximum(y_true, 0.0)
    cells = ops.cast(ops.shape(y_true)[1] * ops.shape(y_true)[2], "float32")
    return ops.sum(weight * ops.square(diff), axis=(1, 2, 3)) / cells


class Codec(MapDecoding):
    """Targets and decoding for a stacked hourglass of `cfg["stacks"]` stacks on an S/4 grid."""

    def __init__(self, cfg, num_keypoints):
        self.input_size = int(cfg["input_size"])
        if self.input_size % STRIDE:
            raise ValueError(f"hourglass: input_size must be a multiple of {STRIDE}, "
                             f"got {self.input_size}")
        self.num_keypoints = int(num_keypoints)
        self.output_prefix = "stack"
        self.map_size = self.input_size // STRIDE
        self.stride = self.input_size / self.map_size
        self.num_stages = int(cfg.get("stacks", 4))
        self.sigma = float(cfg.get("sigma", 1.0))
        self.peak_weight = float(cfg.get("peak_weight", 0.0))

    def targets(self, keypoints):
        """TF: (K,3) keypoints in input pixels -> (M,M,K) peak-1 Gaussians, -1 maps where none."""
        import tensorflow as tf

        maps = gaussian_targets(keypoints, self.map_size, self.stride, self.sigma, normalize=False)
        has_target = target_weights(keypoints, self.map_size, self.stride) > 0
        return tf.where(has_target[None, None, :], maps, ABSENT)

    def encode(self, image, keypoints):
        """TF, for ds.map: (S,S,3) image, (K,3) keypoints -> (image, num_stages identical targets)."""
        import tensorflow as tf

        target = self.targets(keypoints)
        return tf.cast(image, tf.float32), tuple(target for _ in range(self.num_stages))

    def example_targets(self, batch_size):
        """numpy targets of the structure encode gives (all-zero maps), for `run.py bench`,
        which trains on in-memory batches without tf.data (also under JAX)."""
        maps = np.zeros((batch_size, self.map_size, self.map_size, self.num_keypoints), np.float32)
        return tuple(maps for _ in range(self.num_stages))

    def loss(self, y_true, y_pred):
        """masked_mse with this preset's peak weight."""
        return masked_mse(y_true, y_pred, self.peak_weight)


def make_codec(cfg, num_keypoints):
    return Codec(cfg, num_keypoints)
