"""Hourglass codec: keypoints -> per-stack peak-1 Gaussian targets; heatmaps -> keypoints.

    codec = make_codec(cfg, num_keypoints)
    ds = ds.map(codec.encode)                       # tf.data, TF ops
    model.compile(loss=[codec.loss] * codec.num_stages)
    xy, conf = codec.decode(model.predict(images))  # numpy, last stack

Targets are Newell's: a Gaussian of peak 1 (sigma in map cells) per keypoint on the
S/4 grid, regressed with a mean squared error (engine.plugin.heatmaps.MSEHeatmapCodec). A
keypoint with no target (absent, or outside the map) has its whole map set to -1, a
sentinel the masked loss skips: unlike an all-zero map, it does not teach the network
that the keypoint is nowhere.

The loss is Newell's plain MSE (cfg["peak_weight"] 0 in every preset); what makes it
learn in a short run is the heatmap layers' initialisation, N(0, 0.001) (hourglass/model.py).

Why, measured (issue 13). Until then the heatmap layers started from Keras' Glorot
default, and with plain MSE the maps went flat (val NE 1.05 after 28 epochs), so the
squared error of a cell was weighted by 1 + 100 * target, and the hourglass was bimodal:
a quarter of its points landed on a far-away second peak. The cause is the two together:
Glorot starts every map as random bumps of about unit height, and with the peak cells
weighing 101 times the others, the background costs too little for those bumps ever to be
cleaned away. Started near zero, the maps hold no bump to begin with; the peak weight alone
still leaves some second peaks, and plain MSE almost none.
`python run.py --arch hourglass --category skirt` (cpu preset, 28 epochs, default
synthetic set: 543 train / 97 val skirts, mean shape NE 0.537, seed 0), then
`python docs/results/hourglass-peaks.py RUN`; "second peak": a local maximum of at least
half the map's maximum, more than 3 cells from it, in a visible keypoint's last-stack map:
    64 features, Glorot,      peak_weight 100 (before): val NE 0.360, 24.9% of visible
                                                         points beyond 0.5, 98.9% second peaks
    88 features, N(0, 0.001), peak_weight 100:           val NE 0.066, 1.7%, 16.6%
    88 features, N(0, 0.001), plain MSE (now):           val NE 0.046, 0.9%, 1.1%
Width is not the cause: with the old init and loss, 128 features (4 x the FLOPs) still
put a quarter of the points far away (issue 13's measurement, val NE 0.255).
(88 features, ~0.5 GFLOP, is the cpu budget every method shares; tests/test_budgets.py.)

The interface is engine.plugin.codec.Codec; targets, loss, decoding and the maps come from
engine.plugin.heatmaps. `targets` and `encode` import TensorFlow when they run (inside tf.data);
`loss` uses keras.ops only. The module itself imports without TensorFlow.
"""
from engine.plugin.heatmaps import MSEHeatmapCodec

STRIDE = 4


def stack_count(cfg):
    """The stacks of an hourglass config: the model's outputs and the codec's targets."""
    return int(cfg.get("stacks", 4))


class HourglassCodec(MSEHeatmapCodec):
    """Targets and decoding for a stacked hourglass of `cfg["stacks"]` stacks on an S/4 grid."""

    def __init__(self, cfg, num_keypoints):
        super().__init__("hourglass", cfg, num_keypoints, STRIDE, stack_count(cfg))


def make_codec(cfg, num_keypoints):
    return HourglassCodec(cfg, num_keypoints)
