"""Convolutional Pose Machine (Wei et al. 2016), as in the released VGG-based CPM.

trunk (stride 8, shared) -> stage 1: 3 x conv3x3 -> conv1x1 (4x wide) -> conv1x1 to K
                         -> stage t = 2..T: concat(trunk, stage t-1) -> 5 x conv kxk
                            -> conv1x1 -> conv1x1 to K
Every stage ends in K belief maps, each a spatial softmax over the H x W cells,
in float32 whatever the precision policy. Output t is named `stage{t}`; the
model's outputs are the list of the T per-stage maps (B, M, M, K), M = S / 8.

Keras layers and keras.ops only (no TensorFlow), so it runs under any backend.
"""
import keras
from keras import layers

from cpm.codec import stage_count
from engine.plugin.backbones import build_trunk


def _conv(x, filters, kernel, name, relu=True):
    return layers.Conv2D(filters, kernel, padding="same", activation="relu" if relu else None,
                         kernel_initializer="he_normal" if relu else "glorot_uniform",
                         name=name)(x)


def _belief_maps(scores, stage):
    """(B, M, M, K) scores -> (B, M, M, K) float32 maps, each a softmax over its M*M cells."""
    h, w, k = scores.shape[1:]
    x = layers.Reshape((h * w, k), name=f"stage{stage}_flatten")(scores)
    x = layers.Softmax(axis=1, dtype="float32", name=f"stage{stage}_softmax")(x)
    # float32 here too: under mixed_float16 a default Reshape would cast back to float16.
    return layers.Reshape((h, w, k), dtype="float32", name=f"stage{stage}")(x)


def build_model(num_keypoints, cfg):
    """The CPM for `num_keypoints` belief maps; cfg keys: input_size, stages, stage_channels,
    stage_kernel, backbone, width, weights (see engine.plugin.backbones)."""
    size = int(cfg["input_size"])
    num_stages = stage_count(cfg)
    channels = int(cfg.get("stage_channels", 128))
    kernel = int(cfg.get("stage_kernel", 7))
    if num_stages < 1:
        raise ValueError(f"cpm: stages must be >= 1, got {num_stages}")

    inputs = keras.Input((size, size, 3), name="image")
    features = build_trunk(inputs, cfg)
    if str(cfg.get("backbone", "vgg")).lower() != "vgg":
        # A pretrained trunk ends wide (256-1024 channels); reduce it as CPM's conv4_4_CPM does.
        features = _conv(features, channels, 3, "trunk_reduce")

    outputs = []
    x = features
    for i in range(1, 4):
        x = _conv(x, channels, 3, f"stage1_conv{i}")
    x = _conv(x, 4 * channels, 1, "stage1_conv4")
    scores = _conv(x, num_keypoints, 1, "stage1_scores", relu=False)
    outputs.append(_belief_maps(scores, 1))

    for t in range(2, num_stages + 1):
        # Feed the pre-softmax scores: the softmax maps are ~1/(M*M) per cell, far too small an input.
        x = layers.Concatenate(name=f"stage{t}_concat")([features, scores])
        for i in range(1, 6):
            x = _conv(x, channels, kernel, f"stage{t}_conv{i}")
        x = _conv(x, channels, 1, f"stage{t}_conv6")
        scores = _conv(x, num_keypoints, 1, f"stage{t}_scores", relu=False)
        outputs.append(_belief_maps(scores, t))

    return keras.Model(inputs, outputs, name="cpm")
