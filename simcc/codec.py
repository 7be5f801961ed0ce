"""SimCC codec: keypoints -> smoothed labels over x bins and y bins; bin logits -> keypoints.

    codec = make_codec(cfg, num_keypoints)
    ds = ds.map(codec.encode)                       # tf.data, TF ops
    model.compile(loss=[codec.loss])                # one output
    xy, conf = codec.decode(model.predict(images))  # numpy

Each axis of the S x S input is cut into B = S * split bins (split 2, Li et al.'s splitting
factor: bins of half a pixel); bin b's centre is input pixel (b + 0.5) / split - 0.5, the
pixel-centre convention of the whole package. The model gives, per keypoint, B logits for x
and B for y (simcc/model.py), read as the distributions softmax(beta * logits).

Labels and loss as RTMPose's (mmpose's SimCCLabel and KLDiscretLoss): per keypoint and axis
a Gaussian of peak 1 around its bin coordinate (sigma in bins), sharpened into a distribution
by softmax(beta * gaussian); the loss is the KL divergence from that label to the
prediction, summed over the axes and the keypoints that have a target. A keypoint that is
absent, or outside the input, gets rows of -1 (ABSENT), which add exactly 0 to the loss.

Decoding takes each axis's peak bin (the argmax; a bin is half a pixel, so no sub-bin step
is made) and the confidence is the smaller of the two peak probabilities. The answer is a
point with a certainty (`map_kind` None), so the test-time layer merges views and runs by
certainty; the pictures draw the two distributions beside each point (`stage_profiles`).

`targets` and `encode` import TensorFlow when they run (inside tf.data); `loss` and
`decode_graph` use keras.ops only. The module itself imports without TensorFlow.
"""
import numpy as np
from keras import ops

from engine.plugin.codec import Codec, stage_arrays
from engine.plugin.heatmaps import ABSENT, target_weights


class SimCCCodec(Codec):
    """Labels, loss and decoding for one output of x and y bin logits, (N, K, 2B)."""

    def __init__(self, cfg, num_keypoints):
        self.input_size = int(cfg["input_size"])
        self.num_keypoints = int(num_keypoints)
        self.num_stages = 1
        self.split = float(cfg.get("split", 2.0))
        self.bins = int(round(self.input_size * self.split))
        self.sigma = float(cfg.get("sigma", 5.66))
        self.beta = float(cfg.get("beta", 10.0))
        if cfg.get("decode"):
            raise ValueError(f"--decode {cfg['decode']} is for the heatmap methods: simcc "
                             f"reads each axis's peak bin")

    def to_bins(self, x):
        """Input pixel(s) -> bin coordinate(s) (bin centres at integers)."""
        return (x + 0.5) * self.split - 0.5

    def to_pixels(self, b):
        """Bin coordinate(s) -> input pixel(s)."""
        return (b + 0.5) / self.split - 0.5

    # --- training ------------------------------------------------------------------
    def targets(self, keypoints):
        """TF: (K, 3) keypoints in input pixels -> (K, 2B) float32 labels, x then y, each a
        distribution over its B bins; ABSENT rows where a keypoint has no target."""
        import tensorflow as tf

        keypoints = tf.cast(keypoints, tf.float32)
        centre = self.to_bins(keypoints[:, :2])                              # (K, 2)
        grid = tf.range(self.bins, dtype=tf.float32)
        gauss = tf.exp(-tf.square(grid[None, None, :] - centre[:, :, None])
                       / (2.0 * self.sigma ** 2))                            # (K, 2, B)
        labels = tf.nn.softmax(self.beta * gauss, axis=-1)
        # The heatmaps' rule for a target (present, and inside), on a grid of bins.
        valid = target_weights(keypoints, self.bins, 1.0 / self.split) > 0
        labels = tf.reshape(labels, (-1, 2 * self.bins))
        return tf.where(valid[:, None], labels, ABSENT)

    def encode(self, image, keypoints):
        import tensorflow as tf

        return tf.cast(image, tf.float32), (self.targets(keypoints),)

    def loss(self, y_true, y_pred):
        """KL(label || softmax(beta * logits)) per keypoint and axis, summed over both axes
        and the keypoints with a target: one value per image (N,)."""
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        shape = (-1, self.num_keypoints, 2, self.bins)
        labels = ops.reshape(y_true, shape)
        log_p = ops.log_softmax(self.beta * ops.reshape(y_pred, shape), axis=-1)
        has_target = labels[..., :1] >= 0
        # Masked before the product, so that an absent row's -1s give 0 and no gradient.
        labels = ops.where(has_target, labels, 0.0)
        log_p = ops.where(has_target, log_p, 0.0)
        kl = labels * (ops.log(ops.maximum(labels, 1e-12)) - log_p)
        return ops.sum(kl, axis=(1, 2, 3))

    def example_targets(self, batch_size):
        """Every keypoint's labels uniform over the bins."""
        return (np.full((batch_size, self.num_keypoints, 2 * self.bins), 1.0 / self.bins,
                        np.float32),)

    # --- inference -------------------------------------------------------------------
    def stage_profiles(self, outputs):
        """The model's outputs -> a list over stages of (px, py), each (N, K, B) float32:
        each keypoint's distribution over the x bins and over the y bins."""
        profiles = []
        for logits in stage_arrays(outputs):
            z = self.beta * logits.reshape(len(logits), self.num_keypoints, 2, self.bins)
            p = np.exp(z - z.max(axis=-1, keepdims=True))
            p /= p.sum(axis=-1, keepdims=True)
            profiles.append((p[:, :, 0], p[:, :, 1]))
        return profiles

    def profile_pixels(self):
        """(B,) the input pixel of each bin's centre."""
        return self.to_pixels(np.arange(self.bins, dtype=np.float64))

    def decode_stages(self, outputs):
        """A list of (xy (N, K, 2) input pixels, conf (N, K): the smaller axis's peak
        probability), one per stage."""
        decoded = []
        for px, py in self.stage_profiles(outputs):
            xy = np.stack([self.to_pixels(px.argmax(-1)), self.to_pixels(py.argmax(-1))], -1)
            conf = np.minimum(px.max(-1), py.max(-1))
            decoded.append((xy.astype(np.float32), conf.astype(np.float32)))
        return decoded

    def decode_graph(self, output):
        """keras.ops: (N, K, 2B) logits -> (N, K, 3) x, y, confidence, as `decode` gives
        them; reductions and comparisons only (no argmax: the converters lack its ops).
        The first maximum wins, as numpy's argmax."""
        z = self.beta * ops.reshape(ops.cast(output, "float32"),
                                    (-1, self.num_keypoints, 2, self.bins))
        peak = ops.max(z, axis=-1, keepdims=True)
        bins = ops.arange(self.bins, dtype="float32")
        index = ops.min(ops.where(z >= peak, bins, float(self.bins)), axis=-1)  # (N, K, 2)
        prob = 1.0 / ops.sum(ops.exp(z - peak), axis=-1)                         # (N, K, 2)
        return ops.concatenate([self.to_pixels(index), ops.min(prob, axis=-1, keepdims=True)],
                               axis=-1)


def make_codec(cfg, num_keypoints):
    return SimCCCodec(cfg, num_keypoints)
