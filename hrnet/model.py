"""HRNet (Sun et al., CVPR 2019): a high-resolution branch kept from the stem to the heatmaps,
lower-resolution branches added stage by stage, and repeated exchanges between them.

stem: 2 x [conv3x3 / 2 + BN + ReLU] (stride 4, cfg["stem_width"] wide)
stage 1: cfg["stage1_blocks"] bottleneck blocks (stem_width planes, 4 x stem_width out)
stages 2, 3, 4: a new branch at half the resolution and twice the width (W, 2W, 4W, 8W,
    W = cfg["width"]) made from the lowest one by a strided conv3x3, then cfg["modules"][i]
    modules: cfg["blocks"] basic blocks on every branch, then an exchange unit in which
    every branch receives the sum of all branches (upsampled by conv1x1 + BN + nearest, or
    downsampled by strided conv3x3s).
head: the last exchange keeps the highest branch only (stride 4); a conv1x1 reads K
    heatmaps from it (output `stage<B>`, B the number of branches).

What each branch contributes: the last exchange sums the high branch and the lower branches'
terms, then a ReLU and the head read the maps. The model also gives the head's reading of
the partial sums, output `stage<b>` from branches 1 to b (b < B): the high branch alone,
then with the next-lower branch added, and so on; the last is the network's answer. The
partial readings are for pictures only: the codec teaches them nothing (hrnet/codec.py), so
the network trains as the paper's, and an exported model keeps the last output alone.

Keras layers and keras.ops only (no TensorFlow), so it runs under any backend.
"""
import keras
from keras import layers

from engine.plugin.backbones import imagenet_normalization

STEM_STRIDE = 4
EXPANSION = 4        # the bottleneck blocks' output is 4 x their planes
BN_MOMENTUM = 0.9    # short runs: the moving statistics must catch up within an epoch
MAX_BRANCHES = 4     # stages 2, 3, 4 each add one
# TensorFlow 2.21's oneDNN CPU kernels crash training a strided 1x1 convolution with fewer
# than 16 input channels (simplebaseline/model.py); every strided conv here is 3x3, but the
# narrowest branch is held to 16 all the same.
MIN_WIDTH = 16


def _conv_bn(x, filters, kernel, stride, name, relu=True):
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _basic_block(x, name):
    """conv3x3 + BN + ReLU, conv3x3 + BN, plus the input, ReLU (ResNet's basic block)."""
    filters = x.shape[-1]
    y = _conv_bn(x, filters, 3, 1, f"{name}_a")
    y = _conv_bn(y, filters, 3, 1, f"{name}_b", relu=False)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([x, y]))


def _block_run(x, blocks, name):
    """`blocks` basic blocks in a row: one branch's share of a module."""
    for i in range(blocks):
        x = _basic_block(x, f"{name}_{i + 1}")
    return x


def _bottleneck(x, planes, name):
    """conv1x1 + conv3x3 + conv1x1 (EXPANSION x planes), plus the input (projected where
    its width differs), ReLU."""
    y = _conv_bn(x, planes, 1, 1, f"{name}_a")
    y = _conv_bn(y, planes, 3, 1, f"{name}_b")
    y = _conv_bn(y, planes * EXPANSION, 1, 1, f"{name}_c", relu=False)
    skip = x if x.shape[-1] == planes * EXPANSION else \
        _conv_bn(x, planes * EXPANSION, 1, 1, f"{name}_skip", relu=False)
    return layers.ReLU(name=f"{name}_out")(layers.Add(name=f"{name}_add")([skip, y]))


def _term(x, source, target, widths, name):
    """Branch `source`'s tensor x as a term of branch `target`'s sum in an exchange."""
    if source == target:
        return x
    if source > target:  # lower resolution: conv1x1 to the target's width, then upsample
        x = _conv_bn(x, widths[target], 1, 1, f"{name}_up", relu=False)
        return layers.UpSampling2D(2 ** (source - target), interpolation="nearest",
                                   name=f"{name}_resize")(x)
    for step in range(target - source):  # higher resolution: strided conv3x3s
        last = step == target - source - 1
        x = _conv_bn(x, widths[target] if last else widths[source], 3, 2,
                     f"{name}_down{step + 1}", relu=not last)
    return x


def _exchange(branches, widths, name, outputs):
    """Every branch of `outputs` (indices) gets the ReLU'd sum of all branches' terms;
    returns (the new branches, the terms of the last one's sum)."""
    new, terms = [], []
    for target in outputs:
        terms = [_term(x, source, target, widths, f"{name}_{source + 1}to{target + 1}")
                 for source, x in enumerate(branches)]
        total = layers.Add(name=f"{name}_sum{target + 1}")(terms)
        new.append(layers.ReLU(name=f"{name}_fuse{target + 1}")(total))
    return new, terms


def build_model(num_keypoints, cfg):
    """HRNet for `num_keypoints` heatmaps at stride 4; cfg keys: input_size, width,
    stem_width, stage1_blocks, blocks, modules (one count per stage 2, 3, 4; its length
    sets how many branches: len + 1)."""
    size = int(cfg["input_size"])
    width = int(cfg.get("width", 32))
    stem_width = int(cfg.get("stem_width", 64))
    modules = [int(m) for m in cfg.get("modules", (1, 4, 3))]
    blocks = int(cfg.get("blocks", 4))
    stage1_blocks = int(cfg.get("stage1_blocks", 4))
    branches_total = len(modules) + 1
    if size % (STEM_STRIDE * 2 ** (branches_total - 1)):
        raise ValueError(f"hrnet: input_size must be a multiple of "
                         f"{STEM_STRIDE * 2 ** (branches_total - 1)}, got {size}")
    if not 2 <= branches_total <= MAX_BRANCHES or min(modules) < 1 or blocks < 1 \
            or stage1_blocks < 1:
        raise ValueError(f"hrnet: modules must be 1 to {MAX_BRANCHES - 1} counts >= 1, and "
                         f"blocks and stage1_blocks >= 1; got {modules}, {blocks}, {stage1_blocks}")
    if width < MIN_WIDTH or stem_width < MIN_WIDTH:
        raise ValueError(f"hrnet: width and stem_width must be >= {MIN_WIDTH}, got "
                         f"{width} and {stem_width}")
    widths = [width * 2 ** b for b in range(branches_total)]

    inputs = keras.Input((size, size, 3), name="image")
    x = imagenet_normalization("hrnet_normalize")(inputs)
    x = _conv_bn(x, stem_width, 3, 2, "stem1")
    x = _conv_bn(x, stem_width, 3, 2, "stem2")
    for b in range(stage1_blocks):
        x = _bottleneck(x, stem_width, f"layer1_{b + 1}")

    branches = [x]
    for stage, count in enumerate(modules, start=2):
        n = stage  # branches in this stage
        # Transition: the existing branches to their widths, plus a new lower one.
        branches = [x if x.shape[-1] == widths[b] else
                    _conv_bn(x, widths[b], 3, 1, f"transition{stage}_{b + 1}")
                    for b, x in enumerate(branches)]
        branches.append(_conv_bn(branches[-1], widths[n - 1], 3, 2,
                                 f"transition{stage}_{n}"))
        for m in range(count):
            name = f"stage{stage}_{m + 1}"
            branches = [_block_run(x, blocks, f"{name}_b{b + 1}") for b, x in enumerate(branches)]
            last = stage == branches_total and m == count - 1
            branches, terms = _exchange(branches, widths, f"{name}_exchange",
                                        [0] if last else range(n))

    # float32: under mixed precision the heatmaps (and so the loss) would be float16. The
    # head starts near zero (N(0, 0.001)), as in the paper's code: flat first maps. One head,
    # one kernel, called on each partial sum and on the whole.
    head = layers.Conv2D(num_keypoints, 1, dtype="float32", name="head",
                         kernel_initializer=keras.initializers.RandomNormal(stddev=0.001))
    outputs = []
    for b in range(1, branches_total):
        partial = terms[0] if b == 1 else layers.Add(name=f"partial{b}_sum")(terms[:b])
        partial = layers.ReLU(name=f"partial{b}_relu")(partial)
        outputs.append(layers.Identity(name=f"stage{b}", dtype="float32")(head(partial)))
    outputs.append(layers.Identity(name=f"stage{branches_total}", dtype="float32")(
        head(branches[0])))
    return keras.Model(inputs, outputs, name="hrnet")

