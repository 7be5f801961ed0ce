"""The codec interface: how a method turns keypoints into targets and outputs into keypoints.

    ds.map(codec.encode)                              tf.data: image, keypoints -> targets
    model.compile(loss=[codec.loss] * codec.num_stages)
    codec.decode_stages(outputs)                      numpy: outputs -> keypoints per stage
    codec.decode_graph(last_output)                   keras.ops, in an exported model

Every method's codec is a `Codec`; the engine calls only what is written here, so it
never needs to know which method it holds.

Conventions, the same in every method:
- N images, K keypoints, S the side of the square letterboxed input.
- Keypoints are in input pixels, pixel centres at integers (the top-left pixel's centre
  is (0, 0), the input spans -0.5 .. S - 0.5); (K, 3) rows x, y, v with v 1 visible,
  0 occluded (still a target) and -1 absent (no target, no loss).
- `outputs`: what the model returns for a batch, one array per stage in stage order
  (a list; a one-output model's bare array and Keras' dict by output name are accepted
  too, see `stage_arrays`).

What may be imported where: `encode` runs inside tf.data and may use TensorFlow (imported
when it runs); `loss` uses keras.ops only, so training runs under any Keras backend;
everything else takes and gives numpy. A codec module imports without TensorFlow.
"""
import abc

import numpy as np


def stage_arrays(outputs):
    """A model's outputs as a list of float32 numpy arrays, one per stage, in stage order.

    Keras gives a list for a multi-output model, a bare array for a one-output one, and
    a dict keyed by output name from some calls (names end in the stage number:
    `stage1`, `stage2`, ... or `stack1`, ...).
    """
    if isinstance(outputs, dict):
        outputs = [outputs[name] for name in sorted(outputs, key=_trailing_number)]
    elif not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    return [np.asarray(o, np.float32) for o in outputs]


def _trailing_number(name):
    digits = len(name) - len(name.rstrip("0123456789"))
    return int(name[-digits:]) if digits else 0


class Codec(abc.ABC):
    """Targets in, keypoints out, and the loss between them, for one method.

    Attributes every codec sets: `input_size` (S), `num_keypoints` (K) and `num_stages`
    (how many outputs the model has, each with its own target and loss); `decoders`.
    """

    input_size: int
    num_keypoints: int
    num_stages: int
    # The decoders a codec offers, its default first; cfg["decode"] (`--decode`) picks
    # another. Heatmap codecs: ("argmax", "dark"). One that reads its outputs directly
    # offers none to choose from.
    decoders: tuple = ()

    # --- training ------------------------------------------------------------------
    @abc.abstractmethod
    def encode(self, image, keypoints):
        """TF ops, for `ds.map`: image float32 (S, S, 3) in [0, 1], keypoints float32 (K, 3)
        -> (image float32 (S, S, 3), a tuple of `num_stages` float32 targets).

        Keypoints that are absent, or outside the input, must give targets that add
        nothing to the loss.
        """

    @abc.abstractmethod
    def loss(self, y_true, y_pred):
        """keras.ops: one stage's batched targets and output -> float32 (N,), one value per
        image. Keras averages them over the batch and over the replicas of a tf.distribute
        strategy (a loss that averaged the batch itself would be counted once per replica)."""

    def loss_layer(self):
        """A keras Layer holding the loss's own trainable weights (RLE's flow), or None.

        The engine attaches it to the model (models.build_uncompiled), so that it trains
        with the model, is saved in its checkpoints and loads with it; it is not part of the
        network, and predicting does not call it.
        """
        return None

    @abc.abstractmethod
    def example_targets(self, batch_size):
        """numpy targets of the structure `encode` gives, batched: a tuple of `num_stages`
        float32 arrays whose first axis is `batch_size`. `run.py bench` trains on them
        in memory, without tf.data (also under JAX)."""

    # --- inference -------------------------------------------------------------------
    @abc.abstractmethod
    def decode_stages(self, outputs):
        """numpy: a batch's outputs -> a list over stages of (xy float32 (N, K, 2) in input
        pixels, conf float32 (N, K) confidences: larger is surer; a codec without a notion
        of confidence gives ones)."""

    def decode(self, outputs):
        """(xy (N, K, 2), conf (N, K)) of the last stage: the model's answer."""
        return self.decode_stages(outputs)[-1]

    def decode_graph(self, output):
        """keras.ops: the last stage's batched output tensor -> (N, K, 3) float32 rows x, y
        (input pixels), confidence, as `decode` gives them: the decoding an exported model
        carries (`run.py export --decode`), so that the file alone maps an image to
        keypoints. Elementwise ops and reductions only, which every converter takes."""
        raise NotImplementedError(f"{type(self).__name__} has no graph decoding")

    # --- test-time views, ensembles and pictures ----------------------------------------
    # What kind of maps the outputs are (engine/inference/answers.py averages maps only
    # with maps of their kind), None where they are points. A codec of maps also sets
    # `density_maps` (maps that keep their sum on another grid: softmax) and `sure_peak`
    # (a map's value at its surest), and has `decode_maps` and `targets(keypoints)`.
    map_kind = None

    def stage_maps(self, outputs):
        """A batch's outputs as maps: a list over stages of float32 (N, M, M, K), or None where
        the outputs are points (the pictures then draw the points, engine/pictures/stages.py)."""
        return None

    def stage_profiles(self, outputs):
        """A batch's outputs as each keypoint's 1-D distributions over x and over y, where the
        codec reads its points off such (SimCC): a list over stages of (px, py), each float32
        (N, K, B) over B bins whose centres are the input pixels `profile_pixels()`; or None.
        The pictures draw them beside the points (engine/pictures/profiles.py)."""
        return None

    def profile_pixels(self):
        """(B,) the input pixel of each bin's centre, for `stage_profiles`."""
        raise NotImplementedError(f"{type(self).__name__} gives no 1-D distributions")
