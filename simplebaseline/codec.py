"""Simple Baselines codec: keypoints -> peak-1 Gaussian heatmaps at stride 4; heatmaps -> keypoints.

    codec = make_codec(cfg, num_keypoints)
    ds = ds.map(codec.encode)                       # tf.data, TF ops
    model.compile(loss=[codec.loss])                # one stage
    xy, conf = codec.decode(model.predict(images))  # numpy

Targets as in Xiao et al. 2018: a Gaussian of peak 1 per keypoint on the S/4 grid
(sigma in map cells: 2 on the paper's 64-cell maps, the same share of the garment
on smaller ones), regressed with a mean squared error over the maps that have a
target (engine.plugin.heatmaps.MSEHeatmapCodec). Decoding is the paper's
argmax with a quarter-cell shift toward the higher neighbour.

The loss is the paper's plain MSE (cfg["peak_weight"] 0 in every preset). What made it
learn in a short CPU run is the paper's initialisation of the last layer (N(0, 0.001),
simplebaseline/model.py), not a weighting of the peak cells. Measured with
`python run.py --arch simplebaseline --category dress` (cpu preset, 28 epochs, default
synthetic set: 543 train / 97 val dresses, mean shape NE 0.561), only the loss weight
or the init changed, val NE of the best epoch:
    last layer N(0, 0.001), plain MSE:        0.0925 (seed 0), 0.0928 (seed 1)
    last layer N(0, 0.001), peak_weight 10:   0.0940 (seed 0), 0.0942 (seed 1)
    last layer N(0, 0.001), peak_weight 100:  0.1228 (seed 0)
    last layer Glorot (Keras' default), plain MSE: 1.63 after 10 epochs (seed 0), worse than
        the mean shape and not improving since epoch 2 (flat maps), so it was stopped.

The interface is engine.plugin.codec.Codec; targets, loss, decoding and the maps come from
engine.plugin.heatmaps. `targets` and `encode` import TensorFlow when they run (inside tf.data);
`loss` uses keras.ops only. The module itself imports without TensorFlow.
"""
from engine.plugin.heatmaps import MSEHeatmapCodec

STRIDE = 4


class SimpleBaselineCodec(MSEHeatmapCodec):
    """Targets and decoding for one stack of heatmaps on an S/4 grid."""

    def __init__(self, cfg, num_keypoints):
        super().__init__("simplebaseline", cfg, num_keypoints, STRIDE, num_stages=1)


def make_codec(cfg, num_keypoints):
    return SimpleBaselineCodec(cfg, num_keypoints)
