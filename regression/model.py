"""DeepPose (Toshev & Szegedy 2014): a CNN that regresses the keypoints' coordinates.

trunk -> conv1x1 to 16 + BN + ReLU -> flatten -> dense to 2R -> reshape (R, 2), R = K
(or K + 2 with the garment box, see codec); with cfg["loss"] "rle", a second dense layer
gives a scale per coordinate and the output is (R, 4) (regression/codec.py). One stage: DeepPose's cascade of
refining regressors on crops is not built. The output, named `stage1`, is float32
whatever the precision policy; the model's outputs are a list of that one tensor.

Trunks: "simple", a 4-conv net built here (4 x conv3x3 + BN + ReLU + maxpool 2,
cfg["width"], 2x, 4x, 8x channels; stride 16), or any engine.plugin.backbones trunk
(keras.applications networks whole, stride 32; the CPM "vgg" trunk, stride 8).

What makes it train rather than collapse to one output for every image (seed 000),
measured on synthetic skirts (the cpu preset's 128 input, lr and schedule, 205
training images, 15 epochs unless said; the figure is val NE / mean-shape NE, where
1.0 is no better than always predicting the mean layout):
- A head that keeps *where* the features are. Global average pooling throws the
  positions away; its predictions stay at the mean shape (ratio 1.00 after 15
  epochs); coordinate channels before global average or max pooling help little
  (0.91, 0.96). Flattening a small 16-channel map, DeepPose's own design (AlexNet's
  fully connected layers on its last 6x6 map), gives the dense layer one weight per
  place: 0.74, and 0.58 with 544 images in 12 epochs. A hidden 256-unit layer or 32
  channels did not help (0.58, 0.61).
- BatchNorm after every convolution: without it the net stays at the mean (0.99, 10 epochs).
  Momentum 0.9, not 0.99: a short run has few steps, and the moving statistics
  must have caught up by the first validation.
- A zero-initialised output layer, so every prediction starts at the centre of the
  [-1, 1] target frame (codec) and the first steps are not spent undoing random
  outputs hundreds of pixels off: 0.79 against 0.98 with a Glorot init (10 epochs).
- Inputs normalised with the ImageNet statistics (every trunk does this).
With all of these, the cpu preset (28 epochs, 543 training skirts) reaches val NE
0.24 against the mean shape's 0.54 (0.32 with the garment box), and its 97
validation predictions are 97 different layouts.

Keras layers and keras.ops only (no TensorFlow), so it runs under any backend.
"""
import keras
from keras import layers, ops

from engine.plugin.backbones import build_trunk, imagenet_normalization
from regression.codec import settings

CASCADE_ERROR = "regression: only --stages 1 is built (DeepPose's cascade of refining stages is not)"
HEAD_CHANNELS = 16
BN_MOMENTUM = 0.9


class StopGradient(layers.Layer):
    """The identity forward, no gradient backward."""

    def call(self, x):
        return ops.stop_gradient(x)


def _conv_bn_relu(x, filters, kernel, name):
    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _simple_trunk(inputs, width):
    x = imagenet_normalization("simple_normalize")(inputs)
    for i in range(4):
        x = _conv_bn_relu(x, width * 2 ** i, 3, f"simple{i + 1}")
        x = layers.MaxPooling2D(2, name=f"simple{i + 1}_pool")(x)
    return x


def build_model(num_keypoints, cfg):
    """The regressor for `num_keypoints` points; cfg keys: input_size, stages, backbone,
    width, box, weights (see engine.plugin.backbones)."""
    size = int(cfg["input_size"])
    if int(cfg.get("stages", 1)) != 1:
        raise ValueError(CASCADE_ERROR)
    box, loss = settings(cfg)
    rows = int(num_keypoints) + (2 if box == "garment" else 0)
    backbone = str(cfg.get("backbone", "simple")).lower()
    width = float(cfg.get("width", 32))

    inputs = keras.Input((size, size, 3), name="image")
    if backbone == "simple":
        if size % 16:
            raise ValueError(f"regression: input_size must be a multiple of 16, got {size}")
        features = _simple_trunk(inputs, max(1, int(round(width))))
    else:
        # Here width counts the first convolution's channels, as in the simple net; the
        # CPM trunk takes it as a multiple of VGG's 64 (the applications ignore it).
        features = build_trunk(inputs, {**cfg, "width": width / 64}, full_depth=True)

    x = _conv_bn_relu(features, HEAD_CHANNELS, 1, "head")
    x = layers.Flatten(name="head_flatten")(x)
    out = layers.Dense(2 * rows, kernel_initializer="zeros", dtype="float32", name="stage1_dense")(x)
    if loss == "rle":
        # RLE's scale per coordinate, in (0, 1) of the [-1, 1] frame (regression/codec.py).
        # It reads the trunk's features without training them: the trunk learns to place
        # the points, from the coordinates' gradient alone (the ablation is in the codec).
        sigma = layers.Dense(2 * rows, activation="sigmoid", dtype="float32",
                             name="stage1_sigma")(StopGradient(name="stage1_sigma_input")(x))
        out = layers.Concatenate(dtype="float32", name="stage1_mu_sigma")([
            layers.Reshape((rows, 2), dtype="float32", name="stage1_mu")(out),
            layers.Reshape((rows, 2), dtype="float32", name="stage1_sigma_rows")(sigma)])
        columns = 4
    else:
        columns = 2
    # float32 here too: under mixed_float16 a default Reshape would cast back to float16.
    out = layers.Reshape((rows, columns), dtype="float32", name="stage1")(out)
    return keras.Model(inputs, [out], name="regression")
