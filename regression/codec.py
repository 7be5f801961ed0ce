"""DeepPose codec: keypoints -> normalised coordinate targets; regressed numbers -> keypoints.

    codec = make_codec(cfg, num_keypoints)
    ds = ds.map(codec.encode)                       # tf.data, TF ops
    model.compile(loss=[codec.loss] * codec.num_stages)
    xy, conf = codec.decode(model.predict(images))  # numpy; conf is all ones

Coordinates live in the S x S letterboxed input (pixel centres at integers) and are
regressed in a frame centred on the image, t = 2 (x + 0.5) / S - 1 in [-1, 1], so
that an untrained model (which outputs 0) starts at the centre and no target is far.

cfg["box"] is the box the keypoints are normalised by (DeepPose's N(y; b)):
- "input": the whole input. y_true (K, 3) per image: (tx, ty, weight).
- "garment": a box around the garment, which the model *predicts* too, so test
  images need no box from elsewhere (a box from the ground truth at training and
  from a detector at test gives two different input distributions). y_true is
  (K+2, 3): row 0 the box centre (cx, cy), row 1 its half-size (hw, hh), both in
  the t frame, then the keypoints in box units u = (t - c) / h; decode composes
  t = c + u * h. The box is the present keypoints' extent plus a margin of 10% of
  that extent on each side (at least MIN_MARGIN_PX), not made square: as in DeepPose,
  x is normalised by the box width and y by its height, so both u lie in about
  [-0.85, 0.85].

A weight is 1 for a present keypoint (v >= 0) and 0 for an absent one, whose
coordinates are then 0; the box rows weigh 1 if any keypoint is present.

cfg["loss"] is the loss (LOSSES):
- "smoothl1": DeepPose's own kind, a smooth L1 on the coordinates (masked_coordinate_loss).
  The model outputs (R, 2) per image.
- "rle": Residual Log-likelihood Estimation (Li et al., ICCV 2021; `rle_loss`). The model
  also predicts a scale sigma per coordinate, outputs (R, 4) = (x, y, sigma_x, sigma_y),
  and the loss is the error's negative log-likelihood under a density learned with the
  model (regression/flow.py). The flow is the loss's own layer (`loss_layer`), trained
  with the model and saved in its checkpoints; decoding reads x, y as before, and gives
  1 - mean(sigma) as the confidence.

What was measured for RLE (`python run.py --arch regression --loss rle --category skirt`,
cpu preset, 28 epochs, default synthetic set: 543 train / 97 val skirts, mean shape NE
0.537; seed 0, best-epoch val NE; only the named detail changed):
    scale head trained into the trunk, log sigma in both terms (both reference codes): 0.310
    the same, log sigma once (the paper's equation):                                 0.319
    scale head reading the trunk without training it (regression/model.py, kept):   0.272
With the trunk learning from the scale's gradient too, the loss fell mostly by fitting
the scales (val NE flat at 0.41-0.42 from epoch 7 to 10 while the loss fell from 0.24 to
-0.26). The three seeds of the kept form against the smooth L1 are in docs/results/.

The interface is engine.plugin.codec.Codec, whose defaults it keeps for flip test-time
augmentation (the mirror's points mapped back and averaged) and pictures (points per
stage). `encode` imports TensorFlow when it runs (inside tf.data); `loss` uses
keras.ops only. The module itself imports without TensorFlow.
"""
import numpy as np
from keras import ops

from engine.plugin.codec import Codec, stage_arrays
from regression import METHOD

BOXES, LOSSES = METHOD.choices["box"], METHOD.choices["loss"]
MARGIN = 0.1          # of the keypoints' extent, on each side of the garment box
MIN_MARGIN_PX = 4.0   # so that one point, or points on a line, still give a box
SMOOTH_L1_BETA = 0.1  # in t units (5% of the input side): quadratic below, linear above


def masked_coordinate_loss(y_true, y_pred):
    """Smooth L1 between (..., R, 2) predictions and (..., R, 3) targets (x, y, weight).

    Summed over the weighted coordinates and divided by their number in the batch
    (at least 1), in float32, returned as one share per image whose batch mean is
    that value: Keras averages a loss's per-image values itself, also over the
    replicas of a tf.distribute strategy. An absent point (weight 0) adds exactly 0 and gets no
    gradient. Smooth L1 rather than L2: far from the target its gradient is a
    constant +-1 per coordinate (L1), so a few badly placed or mislabelled points
    do not dominate the batch and pull every prediction toward the mean shape,
    while the quadratic part below SMOOTH_L1_BETA lets the steps shrink near the
    target instead of L1's endless +-1 dithering. (Measured on synthetic skirts,
    10 epochs: val NE / mean-shape NE 0.75 with beta 0.1, 0.79 with beta 0.02, 0.76
    with plain L1, 0.75 with L2: within run-to-run noise, so the choice rests on the
    argument above.)
    """
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    weight = y_true[..., 2:3]
    # Where the weight is 0 the difference itself is 0, so no gradient flows (and
    # an inf/nan target placeholder could not leak in through 0 * x).
    diff = ops.where(weight > 0, y_pred - y_true[..., :2], 0.0)
    a = ops.abs(diff)
    per_coord = ops.where(a < SMOOTH_L1_BETA, 0.5 * a * a / SMOOTH_L1_BETA, a - 0.5 * SMOOTH_L1_BETA)
    count = ops.maximum(2.0 * ops.sum(weight), 1.0)
    images = ops.cast(ops.shape(y_true)[0], "float32")
    per_image = ops.sum(ops.reshape(per_coord * weight, (ops.shape(y_true)[0], -1)), axis=1)
    return per_image * images / count


def rle_loss(y_true, y_pred, flow):
    """RLE's negative log-likelihood of (..., R, 3) targets (x, y, weight) under (..., R, 4)
    predictions (mu_x, mu_y, sigma_x, sigma_y), in float32, one value per image whose batch
    mean is the mean over the weighted points of the batch (as masked_coordinate_loss).

    With e = (mu - y) / sigma the error in units of the predicted scale, a point's loss is

        sum over x, y of log sigma  - flow.log_prob(e)      the flow's density of y, and
        sum over x, y of log(2 sigma) + |e|                 a Laplace density of scale sigma,

    the "residual" form: the flow learns only how the errors depart from a Laplace
    distribution, which the paper shows trains faster than a flow alone. (The paper's
    equation counts log sigma once; its code, and mmpose's, count it in both terms, as
    here: it pulls sigma down harder, toward the errors' real size.) An absent point
    (weight 0) adds exactly 0 and gets no gradient.
    """
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    weight = y_true[..., 2]
    present = weight[..., None] > 0
    mu, sigma = y_pred[..., :2], y_pred[..., 2:4]
    # Masked before dividing, so that an absent point's placeholder target cannot leak in.
    sigma = ops.where(present, sigma, 1.0) + 1e-9  # a saturated sigmoid gives exactly 0
    e = ops.where(present, mu - y_true[..., :2], 0.0) / sigma
    flow_term = ops.sum(ops.log(sigma), axis=-1) - flow.log_prob(e)
    laplace_term = ops.sum(ops.log(2.0 * sigma) + ops.abs(e), axis=-1)
    per_point = (flow_term + laplace_term) * weight
    count = ops.maximum(ops.sum(weight), 1.0)
    images = ops.cast(ops.shape(y_true)[0], "float32")
    per_image = ops.sum(ops.reshape(per_point, (ops.shape(y_true)[0], -1)), axis=1)
    return per_image * images / count


def settings(cfg):
    """(box, loss) of a regression config, checked: the model's outputs and the codec's
    targets both follow them, so both read them here."""
    box = str(cfg.get("box", "input")).lower()
    if box not in BOXES:
        raise ValueError(f"regression: unknown box '{box}'; valid boxes: {', '.join(BOXES)}")
    loss = str(cfg.get("loss") or "smoothl1").lower()
    if loss not in LOSSES:
        raise ValueError(f"regression: unknown loss '{loss}'; valid losses: {', '.join(LOSSES)}")
    return box, loss


class RegressionCodec(Codec):
    """Targets and decoding for a one-stage coordinate regressor on an S x S input."""

    def __init__(self, cfg, num_keypoints):
        self.input_size = int(cfg["input_size"])
        self.num_keypoints = int(num_keypoints)
        self.box, self.loss_name = settings(cfg)
        self.num_stages = 1
        self.rows = self.num_keypoints + (2 if self.box == "garment" else 0)
        if cfg.get("decode"):
            raise ValueError(f"--decode {cfg['decode']} is for the heatmap methods: "
                             f"regression reads its coordinates directly")
        self.columns = 4 if self.loss_name == "rle" else 2
        self.flow = None
        if self.loss_name == "rle":
            from regression.flow import PlanarFlow
            self.flow = PlanarFlow(name="rle_flow")
            self.flow.build()

    # --- the [-1, 1] frame (numpy or TF, elementwise)
    def to_unit(self, xy):
        return 2.0 * (xy + 0.5) / self.input_size - 1.0

    def to_pixels(self, t):
        return (t + 1.0) * self.input_size / 2.0 - 0.5

    def targets(self, keypoints):
        """TF: (K, 3) keypoints in input pixels -> (rows, 3) float32 (x, y, weight)."""
        import tensorflow as tf

        keypoints = tf.cast(keypoints, tf.float32)
        present = keypoints[:, 2] >= 0
        weight = tf.cast(present, tf.float32)[:, None]
        t = tf.where(present[:, None], self.to_unit(keypoints[:, :2]), 0.0)
        if self.box == "input":
            return tf.concat([t, weight], axis=1)

        # The garment box, in pixels, then in the t frame (a length scales by 2 / S).
        big, any_present = 1e9, tf.reduce_any(present)
        lo = tf.reduce_min(tf.where(present[:, None], keypoints[:, :2], big), axis=0)
        hi = tf.reduce_max(tf.where(present[:, None], keypoints[:, :2], -big), axis=0)
        half_px = (hi - lo) / 2.0 + tf.maximum(MARGIN * (hi - lo), MIN_MARGIN_PX)
        centre = tf.where(any_present, self.to_unit((lo + hi) / 2.0), 0.0)
        half = tf.where(any_present, half_px * 2.0 / self.input_size, 1.0)
        u = tf.where(present[:, None], (t - centre) / half, 0.0)
        box_weight = tf.fill([2, 1], tf.cast(any_present, tf.float32))
        box_rows = tf.concat([tf.stack([centre, half]), box_weight], axis=1)
        return tf.concat([box_rows, tf.concat([u, weight], axis=1)], axis=0)

    def encode(self, image, keypoints):
        """TF, for ds.map: (S,S,3) image, (K,3) keypoints -> (image, (y_true,)), one per stage."""
        import tensorflow as tf

        return tf.cast(image, tf.float32), (self.targets(keypoints),)

    def example_targets(self, batch_size):
        """Every point at the centre, weight 1."""
        rows = np.zeros((batch_size, self.rows, 3), np.float32)
        rows[..., 2] = 1.0
        return (rows,)

    def loss(self, y_true, y_pred):
        if self.flow is not None:
            return rle_loss(y_true, y_pred, self.flow)
        return masked_coordinate_loss(y_true, y_pred)

    def loss_layer(self):
        """RLE's flow, whose weights train with the model; None for the smooth L1."""
        return self.flow

    def _decode_one(self, y):
        if y.ndim != 3 or y.shape[1:] != (self.rows, self.columns):
            raise ValueError(f"regression: expected outputs of shape (N, {self.rows}, "
                             f"{self.columns}), got {y.shape}")
        conf = np.ones(y.shape[:1] + (self.num_keypoints,), np.float32)
        if self.columns == 4:  # RLE: the predicted scale says how sure each point is
            conf = (1.0 - y[:, -self.num_keypoints:, 2:].mean(axis=-1)).astype(np.float32)
        y = y[..., :2]
        if self.box == "garment":
            y = y[:, :1] + y[:, 2:] * y[:, 1:2]
        xy = self.to_pixels(y).astype(np.float32)
        return xy, conf

    def decode_graph(self, output):
        """keras.ops: (N, rows, columns) -> (N, K, 3), as _decode_one."""
        y = ops.cast(output, "float32")
        k = self.num_keypoints
        if self.columns == 4:
            conf = 1.0 - ops.mean(y[:, -k:, 2:], axis=-1)
        else:
            conf = ops.ones_like(y[:, -k:, 0])
        xy = y[..., :2]
        if self.box == "garment":
            xy = xy[:, :1] + xy[:, 2:] * xy[:, 1:2]
        return ops.concatenate([self.to_pixels(xy), conf[..., None]], axis=-1)

    def decode_stages(self, outputs):
        """A list of (xy (N,K,2) input pixels, conf (N,K) ones), one per stage."""
        return [self._decode_one(y) for y in stage_arrays(outputs)]


def make_codec(cfg, num_keypoints):
    return RegressionCodec(cfg, num_keypoints)
