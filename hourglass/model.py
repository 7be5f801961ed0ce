"""Stacked Hourglass network (Newell et al. 2016), as in the authors' Torch code (hg.lua).

stem (stride 4): conv7x7/2 (F/4) + BN + ReLU -> residual to F/2 -> maxpool 2
                 -> residual -> residual to F
stack s = 1..S:  hourglass (depth D) -> residual -> conv1x1 + BN + ReLU
                 -> conv1x1 to K heatmaps (output `stack{s}`)
                 -> next input = input + conv1x1(features) + conv1x1(heatmaps)
Residual module: pre-activation bottleneck BN-ReLU-conv1x1(F/2)-BN-ReLU-conv3x3(F/2)
-BN-ReLU-conv1x1(F), plus the input (through a conv1x1 where the widths differ).
Hourglass of depth d: residual at full size + [maxpool, residual, hourglass d-1
(a residual at d = 1), residual, nearest upsampling].

Every stack's heatmaps (B, M, M, K), M = S_in / 4, are a model output (intermediate
supervision), float32 whatever the precision policy; the model's outputs are that list.
The paper's 256 wide stem (64 -> 128 -> 256) is scaled as F/4 -> F/2 -> F, so narrow
presets keep its proportions. BatchNorm uses Torch's defaults (momentum 0.1, eps 1e-5).

Keras layers and keras.ops only (no TensorFlow), so it runs under any backend.
"""
import keras
from keras import layers

from engine.plugin.backbones import imagenet_normalization
from hourglass.codec import stack_count

STRIDE = 4


def _bn_relu(x, name):
    # Torch's BatchNorm defaults: the running statistics follow training 10x faster than
    # Keras' 0.99, which matters for the short CPU presets.
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _residual(x, filters, name):
    """Newell's pre-activation bottleneck residual module, `filters` channels out."""
    half = filters // 2
    y = _bn_relu(x, f"{name}_a")
    y = layers.Conv2D(half, 1, name=f"{name}_a_conv")(y)
    y = _bn_relu(y, f"{name}_b")
    y = layers.Conv2D(half, 3, padding="same", name=f"{name}_b_conv")(y)
    y = _bn_relu(y, f"{name}_c")
    y = layers.Conv2D(filters, 1, name=f"{name}_c_conv")(y)
    skip = x
    if x.shape[-1] != filters:
        # As in Newell's code the projection sees the raw input, not the pre-activated one.
        skip = layers.Conv2D(filters, 1, name=f"{name}_skip")(x)
    return layers.Add(name=f"{name}_add")([skip, y])


def _hourglass(x, depth, filters, stack):
    """One hourglass: the recursion halves the maps `depth` times and comes back up."""
    name = f"{stack}_hg{depth}"
    upper = _residual(x, filters, f"{name}_up")
    lower = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    lower = _residual(lower, filters, f"{name}_low1")
    if depth > 1:
        lower = _hourglass(lower, depth - 1, filters, stack)
    else:
        lower = _residual(lower, filters, f"{name}_low2")
    lower = _residual(lower, filters, f"{name}_low3")
    lower = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_upsample")(lower)
    return layers.Add(name=f"{name}_add")([upper, lower])


def _check(size, stacks, features, depth):
    if stacks < 1:
        raise ValueError(f"hourglass: stacks must be >= 1, got {stacks}")
    if depth < 1:
        raise ValueError(f"hourglass: depth must be >= 1, got {depth}")
    if features < 8 or features % 4:
        # The stem's F/4-wide conv and the F/4 bottleneck of its residuals to F/2 must be whole.
        raise ValueError(f"hourglass: features must be a multiple of 4 and >= 8, got {features}")
    multiple = STRIDE * 2 ** depth
    if size < multiple or size % multiple:
        raise ValueError(f"hourglass: input_size must be a multiple of {multiple} "
                         f"(stride {STRIDE} x 2**depth, depth {depth}), got {size}")


def build_model(num_keypoints, cfg):
    """The stacked hourglass for `num_keypoints` heatmaps; cfg keys: input_size, stacks,
    features, depth."""
    size = int(cfg["input_size"])
    stacks = stack_count(cfg)
    features = int(cfg.get("features", 256))
    depth = int(cfg.get("depth", 4))
    _check(size, stacks, features, depth)

    inputs = keras.Input((size, size, 3), name="image")
    x = imagenet_normalization("hourglass_normalize")(inputs)
    x = layers.Conv2D(features // 4, 7, strides=2, padding="same", name="stem_conv")(x)
    x = _bn_relu(x, "stem")
    x = _residual(x, features // 2, "stem_res1")
    x = layers.MaxPooling2D(2, name="stem_pool")(x)
    x = _residual(x, features // 2, "stem_res2")
    x = _residual(x, features, "stem_res3")

    outputs = []
    for s in range(1, stacks + 1):
        y = _hourglass(x, depth, features, f"s{s}")
        y = _residual(y, features, f"s{s}_res")
        y = layers.Conv2D(features, 1, name=f"s{s}_lin_conv")(y)
        y = _bn_relu(y, f"s{s}_lin")
        # Near zero at the start (N(0, 0.001), as Xiao et al.'s code does for its last
        # layer): the maps start flat at 0, the value of almost every target cell, instead
        # of at Glorot-sized noise (see hourglass/codec.py for what this changes).
        heatmaps = layers.Conv2D(num_keypoints, 1, name=f"s{s}_heatmaps",
                                 kernel_initializer=keras.initializers.RandomNormal(stddev=0.001))(y)
        # float32 here: under mixed_float16 the maps (and so the loss) would be float16.
        outputs.append(layers.Activation("linear", dtype="float32", name=f"stack{s}")(heatmaps))
        if s < stacks:
            # Re-inject the features and the predictions into the next stack's input.
            x = layers.Add(name=f"s{s}_reinject")([
                x,
                layers.Conv2D(features, 1, name=f"s{s}_features_back")(y),
                layers.Conv2D(features, 1, name=f"s{s}_heatmaps_back")(heatmaps),
            ])

    return keras.Model(inputs, outputs, name="hourglass")
