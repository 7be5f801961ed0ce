"""RTMPose-style SimCC (Li et al., ECCV 2022; Jiang et al. 2023): a CSPNeXt trunk, then per
keypoint two 1-D classifications, over x bins and over y bins.

trunk (CSPNeXt, RTMDet's and RTMPose's backbone; SiLU, BN throughout):
    stem: conv3x3 / 2 (C/2), conv3x3 (C/2), conv3x3 (C)             C = cfg["stem_width"]
    a stage per value of cfg["widths"] (its blocks: cfg["depths"]; RTMPose has 4, stride
        32): conv3x3 / 2, [SPP on the last], a CSP layer: two conv1x1 halves, one through
        the CSPNeXt blocks (conv3x3, then a depthwise 5x5 + pointwise conv, plus the input
        where the stage keeps it), joined, channel attention, conv1x1  -> stride 2^(n+1)
head (RTMCC):
    conv (cfg["final_kernel"]) to K maps; each keypoint's map flattened to a vector (its
    token); ScaleNorm + Dense to cfg["hidden"]; one gated attention unit across the K tokens
    (Hua et al. 2022's GAU, as RTMPose: SiLU, expansion 2, attention width cfg["attention"],
    squared-ReLU attention); then two Dense layers to the x bins and the y bins (S x split
    each, cfg["split"] bins per pixel).
output `stage1`: (N, K, 2 * S * split) float32 logits, the x bins then the y bins.

Keras layers and keras.ops only (no TensorFlow), so it runs under any backend.
"""
import math

import keras
from keras import layers, ops

from engine.plugin.backbones import imagenet_normalization

BN_MOMENTUM = 0.9    # short runs: the moving statistics must catch up within an epoch
SPP_POOLS = (5, 9, 13)
MIN_WIDTH = 16       # hrnet/model.py: TensorFlow's CPU kernels and narrow strided convs


def _conv_bn(x, filters, kernel, stride, name, depthwise=False):
    if depthwise:
        x = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", use_bias=False,
                                   name=f"{name}_dw")(x)
    else:
        x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                          kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.Activation("silu", name=f"{name}_silu")(x)


def _cspnext_block(x, residual, name):
    """conv3x3, then a depthwise 5x5 + pointwise conv, plus the input if `residual`."""
    filters = x.shape[-1]
    y = _conv_bn(x, filters, 3, 1, f"{name}_a")
    y = _conv_bn(y, filters, 5, 1, f"{name}_b", depthwise=True)
    y = _conv_bn(y, filters, 1, 1, f"{name}_c")
    return layers.Add(name=f"{name}_add")([x, y]) if residual else y


def _channel_attention(x, name):
    """Each channel scaled by a hard sigmoid of a conv1x1 of the channels' means."""
    w = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    w = layers.Conv2D(x.shape[-1], 1, name=f"{name}_fc")(w)
    w = layers.Activation("hard_sigmoid", name=f"{name}_gate")(w)
    return layers.Multiply(name=f"{name}_scale")([x, w])


def _csp_layer(x, filters, blocks, residual, name):
    half = filters // 2
    main = _conv_bn(x, half, 1, 1, f"{name}_main")
    short = _conv_bn(x, half, 1, 1, f"{name}_short")
    for b in range(blocks):
        main = _cspnext_block(main, residual, f"{name}_block{b + 1}")
    y = layers.Concatenate(name=f"{name}_join")([main, short])
    return _conv_bn(_channel_attention(y, f"{name}_attention"), filters, 1, 1, f"{name}_out")


def _spp(x, name):
    """Spatial pyramid pooling: conv1x1 to half, max pools of SPP_POOLS beside it, conv1x1."""
    filters = x.shape[-1]
    y = _conv_bn(x, filters // 2, 1, 1, f"{name}_in")
    pools = [layers.MaxPooling2D(k, strides=1, padding="same", name=f"{name}_pool{k}")(y)
             for k in SPP_POOLS]
    return _conv_bn(layers.Concatenate(name=f"{name}_join")([y, *pools]), filters, 1, 1,
                    f"{name}_out")


def cspnext_trunk(inputs, stem_width, widths, depths):
    """(B, S, S, 3) in [0, 1] -> (B, S/s, S/s, widths[-1]), s = 2 ** (len(widths) + 1)."""
    x = imagenet_normalization("cspnext_normalize")(inputs)
    x = _conv_bn(x, stem_width // 2, 3, 2, "stem1")
    x = _conv_bn(x, stem_width // 2, 3, 1, "stem2")
    x = _conv_bn(x, stem_width, 3, 1, "stem3")
    for s, (width, depth) in enumerate(zip(widths, depths), start=1):
        last = s == len(widths)
        x = _conv_bn(x, width, 3, 2, f"stage{s}_down")
        if last:
            x = _spp(x, f"stage{s}_spp")
        # As in CSPNeXt, the last stage's blocks keep no identity path.
        x = _csp_layer(x, width, depth, not last, f"stage{s}_csp")
    return x


class ScaleNorm(layers.Layer):
    """x / ||x|| * sqrt(d) * g over the last axis, g one learned scalar (RTMPose's norm)."""

    def build(self, input_shape):
        self.g = self.add_weight(shape=(), initializer="ones", name="g")

    def call(self, x):
        scale = math.sqrt(x.shape[-1])
        norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
        return x * (scale * self.g) / ops.maximum(norm, 1e-5)


class GatedAttention(layers.Layer):
    """The gated attention unit's core across the K tokens: u * (A v), with q and k scaled
    and offset copies of the shared `base`, and A = relu(q k^T / sqrt(s))^2.

    Input (B, K, 2e + s): u, v (e each) and base (s), after the unit's Dense + SiLU."""

    def __init__(self, expanded, attention, **kwargs):
        super().__init__(**kwargs)
        self.expanded, self.attention = int(expanded), int(attention)

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(2, self.attention), name="gamma",
                                     initializer=keras.initializers.RandomNormal(stddev=0.02))
        self.beta = self.add_weight(shape=(2, self.attention), initializer="zeros", name="beta")

    def call(self, x):
        e = self.expanded
        u, v, base = x[..., :e], x[..., e:2 * e], x[..., 2 * e:]
        q = base * self.gamma[0] + self.beta[0]
        k = base * self.gamma[1] + self.beta[1]
        scores = ops.matmul(q, ops.transpose(k, (0, 2, 1))) / math.sqrt(self.attention)
        return u * ops.matmul(ops.square(ops.relu(scores)), v)


def rtmcc_head(features, num_keypoints, size, cfg):
    """Trunk features (B, h, w, C) -> (B, K, 2 * size * split) logits, x bins then y bins."""
    hidden, attention = int(cfg.get("hidden", 256)), int(cfg.get("attention", 128))
    bins = int(round(size * float(cfg.get("split", 2.0))))
    # As RTMPose's code initialises its head: convs N(0, 0.001), dense layers N(0, 0.01),
    # so that the first distributions are near uniform.
    conv_init = keras.initializers.RandomNormal(stddev=0.001)
    dense_init = keras.initializers.RandomNormal(stddev=0.01)
    x = layers.Conv2D(num_keypoints, int(cfg.get("final_kernel", 7)), padding="same",
                      kernel_initializer=conv_init, name="final_conv")(features)
    h, w = x.shape[1], x.shape[2]
    x = layers.Permute((3, 1, 2), name="tokens_first")(x)
    x = layers.Reshape((num_keypoints, h * w), name="tokens")(x)
    x = ScaleNorm(name="tokens_norm")(x)
    x = layers.Dense(hidden, use_bias=False, kernel_initializer=dense_init,
                     name="tokens_dense")(x)
    # The gated attention unit, with its shortcut.
    y = ScaleNorm(name="gau_norm")(x)
    y = layers.Dense(4 * hidden + attention, activation="silu", use_bias=False,
                     kernel_initializer=dense_init, name="gau_expand")(y)
    y = GatedAttention(2 * hidden, attention, name="gau_attention")(y)
    y = layers.Dense(hidden, use_bias=False, kernel_initializer=dense_init,
                     name="gau_project")(y)
    x = layers.Add(name="gau_add")([x, y])
    bins_x = layers.Dense(bins, use_bias=False, kernel_initializer=dense_init, dtype="float32",
                          name="bins_x")(x)
    bins_y = layers.Dense(bins, use_bias=False, kernel_initializer=dense_init, dtype="float32",
                          name="bins_y")(x)
    return layers.Concatenate(name="stage1", dtype="float32")([bins_x, bins_y])


def build_model(num_keypoints, cfg):
    """SimCC on a CSPNeXt trunk for `num_keypoints` keypoints; cfg keys: input_size,
    stem_width, widths, depths (one each per stage), final_kernel, hidden, attention, split."""
    size = int(cfg["input_size"])
    stem_width = int(cfg.get("stem_width", 48))
    widths = [int(w) for w in cfg.get("widths", (96, 192, 384, 768))]
    depths = [int(d) for d in cfg.get("depths", (2, 4, 4, 2))]
    stride = 2 ** (len(widths) + 1)
    if size % stride:
        raise ValueError(f"simcc: input_size must be a multiple of {stride}, got {size}")
    if not 1 <= len(widths) <= 4 or len(depths) != len(widths) or min(depths) < 1:
        raise ValueError(f"simcc: widths and depths must be 1 to 4 values each (one per "
                         f"stage), depths >= 1; got {widths} and {depths}")
    if min(widths) < MIN_WIDTH or stem_width < MIN_WIDTH:
        raise ValueError(f"simcc: widths and stem_width must be >= {MIN_WIDTH}")
    inputs = keras.Input((size, size, 3), name="image")
    features = cspnext_trunk(inputs, stem_width, widths, depths)
    return keras.Model(inputs, [rtmcc_head(features, num_keypoints, size, cfg)], name="simcc")
