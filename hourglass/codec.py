"""Hourglass codec: keypoints -> per-stack peak-1 Gaussian targets; heatmaps -> keypoints.

    codec = make_codec(cfg, num_keypoints)
    ds = ds.map(codec.encode)                       # tf.data, TF ops
    model.compile(loss=[codec.loss] * codec.num_stages)
    xy, conf = codec.decode(model.predict(images))  # numpy, last stack

Targets are Newell's: a Gaussian of peak 1 (sigma in map cells) per keypoint on the
S/4 grid, regressed with a mean squared error (engine.heatmaps.MSEHeatmapCodec). A
keypoint with no target (absent, or outside the map) has its whole map set to -1, a
sentinel the masked loss skips: unlike an all-zero map, it does not teach the network
that the keypoint is nowhere.

The squared error of a cell is weighted by 1 + peak_weight * target (cfg, 100 in every
preset). With Newell's plain MSE (peak_weight 0) the ~1000 background cells of a map
outweigh its ~9 peak cells and the network sits at all-zero maps for a long time:
on 16 synthetic skirts at the cpu preset, 150 Adam steps left the training NE at
0.32-0.55 with plain MSE, 0.031 with peak_weight 10 and 0.015 with 100 (the CPM: 0.036).
On 543 synthetic skirts at the cpu preset (mean shape 0.54): plain MSE ended 28 epochs at
val NE 1.05; peak_weight 10 was at 0.86 after 8 epochs, 100 at 0.59 after 6 and 0.41
after 28.

The interface is engine.codec.Codec; targets, loss, decoding, flip and pictures come from
engine.heatmaps. `targets` and `encode` import TensorFlow when they run (inside tf.data);
`loss` uses keras.ops only. The module itself imports without TensorFlow.
"""
from engine.heatmaps import MSEHeatmapCodec

STRIDE = 4


class HourglassCodec(MSEHeatmapCodec):
    """Targets and decoding for a stacked hourglass of `cfg["stacks"]` stacks on an S/4 grid."""

    def __init__(self, cfg, num_keypoints):
        super().__init__("hourglass", cfg, num_keypoints, STRIDE, cfg.get("stacks", 4))


def make_codec(cfg, num_keypoints):
    return HourglassCodec(cfg, num_keypoints)
