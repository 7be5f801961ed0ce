"""HRNet codec: keypoints -> peak-1 Gaussian heatmaps at stride 4 for the network's answer;
heatmaps -> keypoints.

    codec = make_codec(cfg, num_keypoints)
    ds = ds.map(codec.encode)                       # tf.data, TF ops
    model.compile(loss=[codec.loss] * codec.num_stages)
    xy, conf = codec.decode(model.predict(images))  # numpy, the last output

Targets as in Sun et al. 2019 (and Xiao et al. before them): a Gaussian of peak 1 per
keypoint on the S/4 grid, regressed with a mean squared error over the maps that have a
target (engine.plugin.heatmaps.MSEHeatmapCodec).

The model has one output per branch (hrnet/model.py): the head's reading of branches 1..b,
the last being the network's answer. Only the last is taught: the others get maps marked
absent, which add exactly 0 to the loss and pass no gradient, so training is the paper's,
and the earlier outputs show what the higher branches alone would answer.

The interface is engine.plugin.codec.Codec; targets, loss, decoding and the maps come from
engine.plugin.heatmaps. `targets` and `encode` import TensorFlow when they run (inside
tf.data); `loss` uses keras.ops only. The module itself imports without TensorFlow.
"""
from engine.plugin.heatmaps import ABSENT, MSEHeatmapCodec

STRIDE = 4


def branch_count(cfg):
    """The branches of an HRNet config: one per stage after the first (cfg["modules"] holds
    a count per stage 2, 3, 4), plus the high one; the model's outputs and the codec's
    targets."""
    return len(cfg.get("modules", (1, 4, 3))) + 1


class HRNetCodec(MSEHeatmapCodec):
    """Targets and decoding for HRNet's heatmaps on an S/4 grid, the last output taught."""

    def __init__(self, cfg, num_keypoints):
        super().__init__("hrnet", cfg, num_keypoints, STRIDE, branch_count(cfg))

    def encode(self, image, keypoints):
        """TF, for ds.map: the last output is taught the maps; the partial readings get
        maps marked absent (no loss, no gradient)."""
        import tensorflow as tf

        target = self.targets(keypoints)
        untaught = tf.fill(tf.shape(target), ABSENT)
        return (tf.cast(image, tf.float32),
                tuple(untaught for _ in range(self.num_stages - 1)) + (target,))


def make_codec(cfg, num_keypoints):
    return HRNetCodec(cfg, num_keypoints)
