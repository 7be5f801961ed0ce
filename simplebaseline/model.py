"""Simple Baselines (Xiao et al., ECCV 2018): a backbone, then transposed convolutions to heatmaps.

backbone (stride 32) -> 3 x [ConvTranspose 4x4 / 2 (D wide, no bias) + BN + ReLU]
                     -> conv1x1 to K heatmaps at stride 4 (output `stage1`)

No skip connections: the paper's point is that the deconvolution head alone, on a
strong backbone, is enough. Backbones:
- "residual": a small ResNet built here for the tiny and cpu presets: conv7x7/2 +
  maxpool (stride 4), then four stages of basic residual blocks (two 3x3 convs)
  of cfg["width"] x 1, 2, 4, 8 channels (width >= 16, see MIN_WIDTH), each stage after
  the first halving the maps; cfg["blocks"] blocks per stage (ResNet-18 has 2).
- any keras.applications trunk of engine.plugin.backbones, whole (stride 32): ResNet50 in the
  paper preset, with --weights imagenet as for the other methods.
The head is cfg["deconv_width"] wide (256 in the paper). The output is float32 whatever
the precision policy; the model's outputs are a list of that one tensor.

Keras layers and keras.ops only (no TensorFlow), so it runs under any backend.
"""
import keras
from keras import layers

from engine.plugin.backbones import build_trunk, imagenet_normalization

STRIDE = 32          # the backbone's
DECONV_LAYERS = 3    # 32 -> 16 -> 8 -> 4: heatmaps at stride 4
BN_MOMENTUM = 0.9    # short runs: the moving statistics must catch up within an epoch
# TensorFlow 2.21's oneDNN CPU kernels corrupt memory (a segfault or "double free") when
# they train a stride-2 1x1 convolution with fewer than 16 input channels, as the residual
# trunk's projections are; with 16 or more its losses equal those without oneDNN.
MIN_WIDTH = 16


def _bn_relu(x, name):
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _basic_block(x, filters, stride, name):
    """ResNet's basic block: conv3x3 (stride) + BN + ReLU, conv3x3 + BN, plus the input
    (through a strided 1x1 conv + BN where the shape changes), then ReLU."""
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv1")(x)
    y = _bn_relu(y, f"{name}_1")
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv2")(y)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_2_bn")(y)
    skip = x
    if stride != 1 or x.shape[-1] != filters:
        skip = layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_skip")(x)
        skip = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_skip_bn")(skip)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([skip, y]))


def residual_trunk(inputs, width, blocks):
    """The small ResNet: (B, S, S, 3) in [0, 1] -> (B, S/32, S/32, 8 * width)."""
    x = imagenet_normalization("residual_normalize")(inputs)
    x = layers.Conv2D(width, 7, strides=2, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name="stem_conv")(x)
    x = _bn_relu(x, "stem")
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage in range(4):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(x, width * 2**stage, stride, f"res{stage + 1}_{block + 1}")
    return x


def build_model(num_keypoints, cfg):
    """The Simple Baselines network for `num_keypoints` heatmaps; cfg keys: input_size,
    backbone, width, blocks, deconv_width, weights (see engine.plugin.backbones)."""
    size = int(cfg["input_size"])
    backbone = str(cfg.get("backbone", "residual")).lower()
    deconv_width = int(cfg.get("deconv_width", 256))
    if size % STRIDE:
        raise ValueError(f"simplebaseline: input_size must be a multiple of {STRIDE}, got {size}")
    if backbone == "vgg":
        raise ValueError("simplebaseline: backbone 'vgg' ends at stride 8; use 'residual' or "
                         "a keras.applications backbone (resnet50, vgg16, ...)")

    inputs = keras.Input((size, size, 3), name="image")
    if backbone == "residual":
        width, blocks = int(cfg.get("width", 64)), int(cfg.get("blocks", 2))
        if blocks < 1:
            raise ValueError(f"simplebaseline: blocks must be >= 1, got {blocks}")
        if width < MIN_WIDTH:
            raise ValueError(f"simplebaseline: width must be >= {MIN_WIDTH}, got {width} (a "
                             f"narrower strided 1x1 convolution crashes TensorFlow's CPU kernels)")
        x = residual_trunk(inputs, width, blocks)
    else:
        x = build_trunk(inputs, cfg, full_depth=True)

    for i in range(1, DECONV_LAYERS + 1):
        x = layers.Conv2DTranspose(deconv_width, 4, strides=2, padding="same", use_bias=False,
                                   kernel_initializer="he_normal", name=f"deconv{i}")(x)
        x = _bn_relu(x, f"deconv{i}")
    # float32: under mixed precision the heatmaps (and so the loss) would be float16.
    # As in the paper's code, the last layer starts near zero (N(0, 0.001)): the first
    # maps are flat, and no step is spent undoing random ones.
    heatmaps = layers.Conv2D(num_keypoints, 1, dtype="float32", name="stage1",
                             kernel_initializer=keras.initializers.RandomNormal(stddev=0.001))(x)
    return keras.Model(inputs, [heatmaps], name="simplebaseline")
