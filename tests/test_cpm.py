import numpy as np
import pytest
import keras
import tensorflow as tf

from cpm.codec import make_codec
from cpm.model import build_model
from engine.plugin import backbones
from tests.conftest import random_images

K = 4
TINY = {"input_size": 64, "backbone": "vgg", "width": 0.125, "stages": 6, "stage_channels": 16,
        "stage_kernel": 3, "sigma": 1.0, "weights": "none"}


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_model(K, TINY)


def test_outputs_are_six_softmax_maps(model):
    assert list(model.output_names) == [f"stage{t}" for t in range(1, 7)]
    out = model.predict(random_images(2), verbose=0)
    assert len(out) == 6
    for maps in out:
        assert maps.shape == (2, 8, 8, K) and maps.dtype == np.float32
        assert np.allclose(maps.sum(axis=(1, 2)), 1.0, atol=1e-5)


def test_maps_are_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        net = build_model(K, {**TINY, "stages": 2})
        assert all(o.dtype == "float32" for o in net.outputs)
        out = net(random_images(2), training=False)
        for maps in out:
            maps = keras.ops.convert_to_numpy(maps)
            assert maps.dtype == np.float32
            assert np.allclose(maps.sum(axis=(1, 2)), 1.0, atol=1e-5)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_loss_ignores_absent_keypoints_and_matches_hand_value():
    codec = make_codec(TINY, 2)
    y_true = np.zeros((2, 8, 8, 2), np.float32)
    y_true[0, 1, 2, 0] = 0.75
    y_true[0, 1, 3, 0] = 0.25      # keypoint 1 of image 0 is absent: all zero
    y_true[1, 5, 5, 1] = 1.0       # keypoint 0 of image 1 is absent
    y_pred = np.full((2, 8, 8, 2), 1.0 / 64, np.float32)
    y_pred[0, 1, 2, 0] = 0.5
    y_pred[0, 1, 3, 0] = 0.0       # clipped to 1e-7
    y_pred[1, 5, 5, 1] = 0.2
    expected = (-(0.75 * np.log(0.5) + 0.25 * np.log(1e-7)) - np.log(0.2)) / 2
    loss = float(np.mean(keras.ops.convert_to_numpy(codec.loss(y_true, y_pred))))
    assert loss == pytest.approx(expected, rel=1e-5)

    changed = y_pred.copy()
    changed[0, ..., 1] = np.random.default_rng(1).dirichlet(np.ones(64)).reshape(8, 8)
    changed[1, ..., 0] = 0.0
    loss2 = float(np.mean(keras.ops.convert_to_numpy(codec.loss(y_true, changed))))
    assert loss2 == loss
    zero = float(np.mean(keras.ops.convert_to_numpy(codec.loss(np.zeros_like(y_true), changed))))
    assert zero == 0.0


def test_encode_in_tf_data():
    codec = make_codec(TINY, K)
    assert (codec.map_size, codec.stride, codec.num_stages) == (8, 8.0, 6)
    keypoints = np.array([[[10, 20, 1], [30.5, 40.2, 0], [-1, -1, -1], [63, 0, 1]]] * 3, np.float32)
    ds = tf.data.Dataset.from_tensor_slices((random_images(3), keypoints)).map(codec.encode).batch(3)
    image, targets = next(iter(ds))
    assert image.shape == (3, 64, 64, 3) and image.dtype == tf.float32
    assert isinstance(targets, tuple) and len(targets) == 6
    for t in targets:
        assert t.shape == (3, 8, 8, K) and t.dtype == tf.float32
    sums = targets[0].numpy().sum(axis=(1, 2))
    assert np.allclose(sums[:, [0, 1, 3]], 1.0, atol=1e-5) and np.all(sums[:, 2] == 0)
    # decoding the targets gives back the keypoints to within a fraction of a cell
    xy, _ = codec.decode([t.numpy() for t in targets])
    error = np.abs(xy - keypoints[..., :2]) / codec.stride
    assert np.all(error[:, [0, 1]] <= 0.3)  # interior: within about a quarter cell
    assert np.all(error[:, 3] <= 0.5)       # on the border there is no neighbour to shift toward
    assert len(codec.decode_stages(list(targets))) == 6
    assert len(codec.stage_maps(list(targets))) == 6


@pytest.mark.slow
def test_adam_steps_reduce_the_loss():
    keras.utils.set_random_seed(0)
    cfg = {**TINY, "stages": 2}
    codec = make_codec(cfg, K)
    net = build_model(K, cfg)
    net.compile(optimizer=keras.optimizers.Adam(1e-3), loss=[codec.loss] * codec.num_stages)
    rng = np.random.default_rng(0)
    keypoints = np.concatenate([rng.uniform(4, 60, (4, K, 2)), np.ones((4, K, 1))], -1).astype(np.float32)
    images = random_images(4, seed=2)
    targets = [np.stack([codec.targets(k).numpy() for k in keypoints])] * codec.num_stages
    first = float(net.evaluate(images, targets, verbose=0)[0])
    for _ in range(15):
        net.train_on_batch(images, targets)
    last = float(net.evaluate(images, targets, verbose=0)[0])
    assert np.isfinite(first) and last < first - 0.1


def test_unknown_backbone():
    with pytest.raises(ValueError, match="valid backbones: vgg, vgg16"):
        build_model(K, {**TINY, "backbone": "mobilenet"})


def test_imagenet_normalization_is_torch_mode_and_saves():
    """(x - mean) / std per RGB channel, on an image that is not square, and the layer
    comes back from its saved config."""
    image = np.random.default_rng(0).random((2, 5, 7, 3)).astype(np.float32)
    expected = (image - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    layer = backbones.imagenet_normalization("norm")
    np.testing.assert_allclose(np.asarray(layer(image)), expected, rtol=1e-6, atol=1e-6)
    again = keras.layers.deserialize(keras.layers.serialize(layer))
    np.testing.assert_array_equal(np.asarray(again(image)), np.asarray(layer(image)))


@pytest.mark.parametrize("name", ["vgg16", "resnet50"])
def test_application_trunks_are_stride_8(name):
    inputs = keras.Input((64, 64, 3))
    features = backbones.build_trunk(inputs, {"backbone": name, "weights": "none"})
    assert tuple(features.shape[1:3]) == (8, 8)
    net = build_model(K, {**TINY, "backbone": name, "stages": 2})
    assert net.outputs[0].shape[1:] == (8, 8, K)


def test_missing_imagenet_weights_say_weights_none(monkeypatch):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://example.invalid/w.h5: None -- no network")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(RuntimeError) as info:
        backbones.build_trunk(keras.Input((64, 64, 3)), {"backbone": "resnet50", "weights": "imagenet"})
    message = str(info.value)
    assert "\n" not in message and "--weights none" in message
    assert "resnet50" in message and "ImageNet" in message
