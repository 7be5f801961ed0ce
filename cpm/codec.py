"""CPM codec: keypoints -> per-stage normalised Gaussian targets; belief maps -> keypoints.

    codec = make_codec(cfg, num_keypoints)
    ds = ds.map(codec.encode)                       # tf.data, TF ops
    model.compile(loss=[codec.loss] * codec.num_stages)
    xy, conf = codec.decode(model.predict(images))  # numpy, last stage

The interface is engine.plugin.codec.Codec; decoding and the maps come from
engine.plugin.heatmaps.HeatmapCodec. `encode` imports TensorFlow when it runs (inside
tf.data); `loss` uses keras.ops only. The module itself imports without TensorFlow.
"""
import numpy as np
from keras import ops

from engine.plugin.backbones import STRIDE
from engine.plugin.heatmaps import gaussian_targets, HeatmapCodec, sum_keypoints

EPSILON = 1e-7


def belief_map_loss(y_true, y_pred, hard_keypoints=None):
    """Cross-entropy between a softmax belief map and a target that sums to 1.

    -sum over H x W cells and K keypoints of y_true * log(max(y_pred, 1e-7)), in
    float32, one value per image: Keras averages them over the batch, and over every
    replica under a tf.distribute strategy (a loss that averaged the batch itself
    would be counted once per replica there). An absent keypoint's all-zero target
    adds exactly 0. hard_keypoints: engine.plugin.heatmaps.sum_keypoints.
    """
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.clip(ops.cast(y_pred, "float32"), EPSILON, 1.0)
    return sum_keypoints(-y_true * ops.log(y_pred), hard_keypoints)


def stage_count(cfg):
    """The stages of a CPM config: the model's outputs and the codec's targets."""
    return int(cfg.get("stages", 6))


class CPMCodec(HeatmapCodec):
    """Targets and decoding for a CPM with `cfg["stages"]` stages on an S/8 grid."""

    def __init__(self, cfg, num_keypoints):
        self.set_grid("cpm", cfg, num_keypoints, STRIDE)
        self.num_stages = stage_count(cfg)
        self.hard_keypoints = cfg.get("hard_keypoints")
        # Softmax belief maps: a sure map is the target itself, whose peak is below 1.
        self.map_kind, self.density_maps = "belief", True
        offsets = np.arange(-3 * self.map_size, 3 * self.map_size + 1)
        ring = np.exp(-offsets.astype(np.float64) ** 2 / (2 * self.sigma ** 2))
        self.sure_peak = float(1.0 / np.outer(ring, ring).sum())

    def targets(self, keypoints):
        """TF: (K,3) keypoints in input pixels -> one (M,M,K) map per keypoint summing to 1 (or 0)."""
        return gaussian_targets(keypoints, self.map_size, self.stride, self.sigma, normalize=True)

    def example_targets(self, batch_size):
        """Uniform maps, each summing to 1."""
        shape = (batch_size, self.map_size, self.map_size, self.num_keypoints)
        maps = np.full(shape, 1.0 / self.map_size**2, np.float32)
        return tuple(maps for _ in range(self.num_stages))

    def loss(self, y_true, y_pred):
        return belief_map_loss(y_true, y_pred, self.hard_keypoints)


def make_codec(cfg, num_keypoints):
    return CPMCodec(cfg, num_keypoints)
