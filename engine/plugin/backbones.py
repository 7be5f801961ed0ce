"""Convolutional trunks that end at stride 8, built from Keras layers only.

`build_trunk(inputs, cfg)` takes the float32 RGB image in [0, 1] (B, S, S, 3)
and returns features of shape (B, S/8, S/8, C). Each trunk normalises its input
itself, so the data pipeline never needs to know which backbone is in use.

- "vgg": the CPM paper's VGG-like trunk (VGG19 conv1_1..conv4_2, then CPM's
  conv4_3_CPM/conv4_4_CPM), widths scaled by cfg["width"]; always trained from scratch.
- keras.applications: "vgg16", "vgg19", "resnet50", "densenet121", "densenet169",
  "densenet201", cut at their last stride-8 layer, weights from cfg["weights"]
  ("imagenet" (default) or "none"; a run's path, whose weights the engine loads later).

No TensorFlow here: the same trunk runs under any Keras 3 backend.
"""
import keras
from keras import layers, ops

# The layer each keras.applications network is cut at: its last stride-8 output.
# VGG: conv4_2, where the CPM paper cuts VGG19; ResNet50: the end of stage conv3;
# DenseNet: dense block 2 after transition 3's 1x1 conv (before its 2x2 pool).
_APPLICATIONS = {
    "vgg16": ("VGG16", "block4_conv2", "caffe"),
    "vgg19": ("VGG19", "block4_conv2", "caffe"),
    "resnet50": ("ResNet50", "conv3_block4_out", "caffe"),
    "densenet121": ("DenseNet121", "pool3_conv", "torch"),
    "densenet169": ("DenseNet169", "pool3_conv", "torch"),
    "densenet201": ("DenseNet201", "pool3_conv", "torch"),
}
BACKBONES = ("vgg", *_APPLICATIONS)
STRIDE = 8

_IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
_IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="engine")
class CaffePreprocess(layers.Layer):
    """[0, 1] RGB -> 0..255 BGR minus the ImageNet mean: keras.applications' "caffe" mode.

    A registered layer (not a Lambda) so that saved models deserialise safely.
    """

    def call(self, x):
        x = ops.flip(ops.cast(x, self.compute_dtype) * 255.0, axis=-1)
        return x - ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="engine")
class ChannelAffine(layers.Layer):
    """x * scale + offset, one (scale, offset) per channel of a (B, H, W, C) image.

    Computed on the image's rows, (B, H, W * C) against constants W * C long: onnxruntime
    broadcasts a C-long constant over a trailing axis of 3 element by element, on one
    core, which made exported models up to a quarter slower (docs/BENCHMARKS.md, "the
    input's normalisation"). The numbers are constants of the graph (a Normalization
    layer's tensors would become extra inputs that an exported ONNX file cannot feed),
    and there are no weights, so checkpoints are unchanged.
    """

    def __init__(self, scale, offset, **kwargs):
        super().__init__(**kwargs)
        self.scale = [float(v) for v in scale]
        self.offset = [float(v) for v in offset]

    def call(self, x):
        _, height, width, channels = x.shape
        rows = ops.reshape(ops.cast(x, self.compute_dtype), (-1, height, width * channels))
        scale = ops.convert_to_tensor(self.scale * width, dtype=self.compute_dtype)
        offset = ops.convert_to_tensor(self.offset * width, dtype=self.compute_dtype)
        return ops.reshape(rows * scale + offset, (-1, height, width, channels))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


def imagenet_normalization(name):
    """[0, 1] RGB -> (x - mean) / std with the ImageNet statistics ("torch" mode)."""
    return ChannelAffine(scale=[1.0 / s for s in _IMAGENET_STD_RGB],
                         offset=[-m / s for m, s in zip(_IMAGENET_MEAN_RGB, _IMAGENET_STD_RGB)],
                         name=name)


def _check_input(inputs):
    side = inputs.shape[1]
    if side is None or inputs.shape[2] != side:
        raise ValueError(f"build_trunk: the input must be square with a fixed side, got {inputs.shape}")
    if side % STRIDE or side < 32:
        raise ValueError(f"build_trunk: the input side must be a multiple of {STRIDE} and >= 32, got {side}")


def _weights_arg(cfg):
    """keras.applications' `weights`: "imagenet", or None (a run's own weights, --weights
    RUN, are loaded into the whole model by engine/training/start_weights.py)."""
    return "imagenet" if str(cfg.get("weights", "imagenet")).lower() == "imagenet" else None


def _vgg_trunk(inputs, cfg):
    """VGG19 conv1_1..conv4_2 + conv4_3_CPM (256) + conv4_4_CPM (128), widths x cfg["width"]."""
    width = float(cfg.get("width", 1.0))
    if width <= 0:
        raise ValueError(f"build_trunk: width must be > 0, got {width}")

    def c(n):
        return max(4, int(round(n * width)))

    def conv(x, filters, name):
        return layers.Conv2D(c(filters), 3, padding="same", activation="relu",
                             kernel_initializer="he_normal", name=name)(x)

    x = imagenet_normalization("trunk_normalize")(inputs)
    plan = [(1, 64, 2), (2, 128, 2), (3, 256, 4)]
    for block, filters, repeats in plan:
        for i in range(1, repeats + 1):
            x = conv(x, filters, f"conv{block}_{i}")
        x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
    x = conv(x, 512, "conv4_1")
    x = conv(x, 512, "conv4_2")
    x = conv(x, 256, "conv4_3_CPM")
    return conv(x, 128, "conv4_4_CPM")


def _application_trunk(inputs, name, cfg, full_depth=False):
    class_name, cut, mode = _APPLICATIONS[name]
    weights = _weights_arg(cfg)
    side = int(inputs.shape[1])
    try:
        network = getattr(keras.applications, class_name)(
            include_top=False, weights=weights, input_shape=(side, side, 3))
    except Exception as error:  # keras.utils.get_file raises a bare Exception on URL errors
        if weights is None:
            raise
        reason = " ".join(str(error).split())
        if len(reason) > 160:
            reason = reason[:157] + "..."
        raise RuntimeError(f"backbone '{name}': the ImageNet weights could not be fetched "
                           f"({reason}); use --weights none to train from scratch") from None
    end = network.output if full_depth else network.get_layer(cut).output
    features = keras.Model(network.input, end, name=f"{name}_trunk")
    if mode == "caffe":
        x = CaffePreprocess(name=f"{name}_preprocess")(inputs)
    else:
        x = imagenet_normalization(f"{name}_preprocess")(inputs)
    return features(x)


def build_trunk(inputs, cfg, full_depth=False):
    """Features at stride 8 for `inputs` (B, S, S, 3) float32 RGB in [0, 1]; see the module doc.

    full_depth=True keeps a keras.applications network whole (stride 32, its last
    convolutional features), for heads that pool globally, such as regression.
    The "vgg" trunk ends at stride 8 either way.
    """
    name = str(cfg.get("backbone", "vgg")).lower()
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone '{name}'; valid backbones: {', '.join(BACKBONES)}")
    _check_input(inputs)
    if name == "vgg":
        return _vgg_trunk(inputs, cfg)
    return _application_trunk(inputs, name, cfg, full_depth)
