import numpy as np
import pytest
import keras
import tensorflow as tf

from engine.pictures import stages
from regression.codec import make_codec, masked_coordinate_loss
from regression.model import build_model
from tests.conftest import random_images

K = 4
TINY = {"input_size": 64, "backbone": "simple", "width": 8, "stages": 1, "box": "input",
        "weights": "none"}


def _only(outputs):
    """The one output, whether Keras hands back a bare array or a list of one."""
    if isinstance(outputs, (list, tuple)):
        assert len(outputs) == 1
        outputs = outputs[0]
    return keras.ops.convert_to_numpy(outputs)


def _keypoints(n, seed=0, size=64):
    """(n, K, 3) random keypoints in input pixels, some of them absent."""
    rng = np.random.default_rng(seed)
    kps = np.concatenate([rng.uniform(0, size - 1, (n, K, 2)), np.ones((n, K, 1))], -1)
    kps[0, 1] = -1
    kps[1, 3] = -1
    return kps.astype(np.float32)


@pytest.mark.parametrize("box,rows", [("input", K), ("garment", K + 2)])
def test_simple_output_shape(box, rows):
    keras.utils.set_random_seed(0)
    net = build_model(K, {**TINY, "box": box})
    assert net.name == "regression" and list(net.output_names) == ["stage1"]
    out = _only(net.predict(random_images(2), verbose=0))
    assert out.shape == (2, rows, 2) and out.dtype == np.float32


@pytest.mark.parametrize("name,size", [("vgg", 64), ("vgg16", 32), ("resnet50", 32), ("densenet121", 32)])
def test_backbones_build(name, size):
    net = build_model(K, {**TINY, "backbone": name, "input_size": size})
    assert net.outputs[0].shape[1:] == (K, 2)
    out = _only(net(random_images(1, size=size), training=False))
    assert out.shape == (1, K, 2) and np.all(np.isfinite(out))


def test_float32_output_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        net = build_model(K, TINY)
        assert net.outputs[0].dtype == "float32"
        out = _only(net(random_images(2), training=False))
        assert out.dtype == np.float32
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_cascade_is_refused():
    with pytest.raises(ValueError, match="--stages 1"):
        build_model(K, {**TINY, "stages": 2})


def test_unknown_box():
    with pytest.raises(ValueError, match="unknown box 'person'"):
        make_codec({**TINY, "box": "person"}, K)


@pytest.mark.parametrize("box", ["input", "garment"])
def test_encode_decode_round_trip(box):
    codec = make_codec({**TINY, "box": box}, K)
    assert codec.num_stages == 1
    keypoints = _keypoints(3)
    keypoints[2] = -1                      # an image with no keypoint at all
    ds = tf.data.Dataset.from_tensor_slices((random_images(3), keypoints)).map(codec.encode).batch(3)
    image, targets = next(iter(ds))
    assert image.dtype == tf.float32 and isinstance(targets, tuple) and len(targets) == 1
    y_true = targets[0].numpy()
    rows = K + 2 if box == "garment" else K
    assert y_true.shape == (3, rows, 3) and y_true.dtype == np.float32
    present = keypoints[..., 2] >= 0
    assert np.array_equal(y_true[:, -K:, 2], present.astype(np.float32))
    assert np.all(y_true[:, -K:, :2][~present] == 0)
    # the points are within [-1, 1]: a zero-initialised output starts near all of them
    assert np.all(np.abs(y_true[:, -K:, :2]) < 1.0)
    if box == "garment":
        assert np.array_equal(y_true[:, :2, 2], [[1, 1], [1, 1], [0, 0]])
        assert np.all(np.abs(y_true[:, 0, :2]) < 1.0)
        # half-size = half the present points' extent + 10% of it, at least 4 pixels
        extent = np.ptp(keypoints[0, [0, 2, 3], :2], axis=0)
        half_px = extent / 2 + np.maximum(0.1 * extent, 4.0)
        assert half_px[0] == extent[0] / 2 + 4.0      # this image has a narrow box
        np.testing.assert_allclose(y_true[0, 1, :2], half_px * 2 / 64, rtol=1e-5)

    xy, conf = codec.decode([y_true[..., :2]])
    assert xy.shape == (3, K, 2) and xy.dtype == np.float32 and np.all(conf == 1)
    np.testing.assert_allclose(xy[present], keypoints[..., :2][present], atol=1e-3)
    # A regressor has points only: no maps, so no per-keypoint map picture.
    assert codec.stage_maps([y_true[..., :2]]) is None
    assert stages.draw_keypoints(codec, "unused.png", None, [y_true[..., :2]], []) is None
    for outputs in (y_true[..., :2], {"stage1": y_true[..., :2]}):
        (stage_xy, _), = codec.decode_stages(outputs)
        np.testing.assert_allclose(stage_xy, xy)


def test_unit_frame():
    codec = make_codec(TINY, K)
    # pixel centres 0 and S-1 sit half a pixel inside the [-1, 1] frame
    assert codec.to_unit(np.float32(0)) == pytest.approx(-1 + 1 / 64)
    assert codec.to_unit(np.float32(31.5)) == pytest.approx(0.0)
    assert codec.to_pixels(codec.to_unit(np.float32(63))) == pytest.approx(63)


def test_loss_ignores_absent_keypoints():
    y_true = np.zeros((2, 3, 3), np.float32)
    y_true[0, 0] = (0.5, -0.5, 1)
    y_true[1, 2] = (-0.25, 0.75, 1)
    y_true[0, 1] = (0.0, 0.0, 0)               # absent
    y_pred = np.zeros((2, 3, 2), np.float32)
    y_pred[0, 0] = (0.0, 0.0)
    y_pred[1, 2] = (-0.25, 0.25)
    y_pred[0, 1] = (7.0, -9.0)                 # anything: this point is absent
    # |d| above the smooth-L1 knee: |d| - beta / 2, over the 4 weighted coordinates
    beta = 0.1
    expected = ((0.5 - beta / 2) * 3 + 0) / 4
    loss = float(np.mean(keras.ops.convert_to_numpy(masked_coordinate_loss(y_true, y_pred))))
    assert loss == pytest.approx(expected, rel=1e-6)

    changed = y_pred.copy()
    changed[0, 1] = (-3.0, 100.0)
    changed[0, 2] = changed[1, 0] = changed[1, 1] = (5.0, 5.0)
    assert float(np.mean(keras.ops.convert_to_numpy(masked_coordinate_loss(y_true, changed)))) == loss
    assert float(np.mean(keras.ops.convert_to_numpy(masked_coordinate_loss(np.zeros_like(y_true), y_pred)))) == 0.0

    pred = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        value = tf.reduce_mean(masked_coordinate_loss(tf.constant(y_true), pred))
    grad = tape.gradient(value, pred).numpy()
    assert np.all(grad[0, 1] == 0) and np.all(grad[0, 2] == 0) and np.all(grad[1, :2] == 0)
    assert np.all(grad[0, 0] != 0) and grad[1, 2, 1] != 0


def _squares(n, rng, size=64):
    """Images of one bright square on noise at a random place; keypoints = its 4 corners."""
    images = rng.uniform(0, 0.3, (n, size, size, 3)).astype(np.float32)
    keypoints = np.ones((n, K, 3), np.float32)
    for i in range(n):
        side = rng.integers(12, 24)
        x0, y0 = rng.integers(2, size - side - 2, 2)
        images[i, y0:y0 + side, x0:x0 + side] = rng.uniform(0.7, 1.0, 3)
        x1, y1 = x0 + side - 1, y0 + side - 1
        keypoints[i, :, :2] = [(x0, y0), (x1, y0), (x0, y1), (x1, y1)]
    return images, keypoints


@pytest.mark.slow
def test_learns_positions_on_a_trivial_set():
    """The seed 000 failure (one constant output for every image) must not happen."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images, keypoints = _squares(48, rng)
    train, held = slice(0, 32), slice(32, 48)
    codec = make_codec(TINY, K)
    y_true = np.stack([codec.targets(k).numpy() for k in keypoints])
    net = build_model(K, TINY)
    net.compile(optimizer=keras.optimizers.Adam(2e-3), loss=[codec.loss])
    net.fit(images[train], y_true[train], batch_size=8, epochs=40, verbose=0)

    xy, _ = codec.decode(net.predict(images[held], verbose=0))
    truth = keypoints[held, :, :2]
    error = np.linalg.norm(xy - truth, axis=-1).mean()
    mean_shape = keypoints[train, :, :2].mean(axis=0)
    baseline = np.linalg.norm(mean_shape - truth, axis=-1).mean()
    assert xy.std(axis=0).mean() > 3.0          # pixels: the predictions follow the images
    assert error < 0.6 * baseline, (error, baseline)


# --- RLE (Li et al. 2021) ----------------------------------------------------------------------
def _identity_flow():
    """A flow whose couplings all output 0: it maps e to itself, log p(e) = log N(e; 0, I)."""
    from regression.flow import PlanarFlow
    flow = PlanarFlow(name="identity_flow")
    flow.build()
    for weight in flow.weights:
        weight.assign(np.zeros(weight.shape, np.float32))
    return flow


def test_rle_loss_of_a_worked_example():
    from regression.codec import rle_loss
    flow = _identity_flow()
    # one image, two points: the first as worked out below, the second absent
    y_true = np.array([[[0.0, 0.0, 1.0], [5.0, -5.0, 0.0]]], np.float32)
    y_pred = np.array([[[0.1, -0.2, 0.5, 0.25], [0.3, 0.3, 0.7, 0.7]]], np.float32)
    # e = (mu - y) / sigma = (0.2, -0.8); an identity flow's log-density is that of N(0, I)
    log_sigma = np.log(0.5) + np.log(0.25)
    flow_term = log_sigma - (-0.5 * (0.2**2 + 0.8**2) - np.log(2 * np.pi))
    laplace_term = np.log(2 * 0.5) + np.log(2 * 0.25) + 0.2 + 0.8
    got = keras.ops.convert_to_numpy(rle_loss(y_true, y_pred, flow))
    assert got.shape == (1,)
    assert got[0] == pytest.approx(flow_term + laplace_term, abs=1e-5)


def test_rle_loss_ignores_absent_points_and_learns_its_flow():
    from regression.codec import rle_loss
    codec = make_codec({**TINY, "loss": "rle"}, K)
    y_true = np.zeros((2, K, 3), np.float32)
    y_true[..., 2] = 1
    y_true[0, 1, 2] = 0                                     # absent: no loss, no gradient
    y_pred = tf.Variable(np.full((2, K, 4), 0.3, np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(rle_loss(y_true, y_pred, codec.flow))
    grads = tape.gradient(loss, [y_pred, *codec.loss_layer().trainable_variables])
    assert np.all(grads[0].numpy()[0, 1] == 0) and np.any(grads[0].numpy()[0, 0] != 0)
    assert any(np.any(g.numpy() != 0) for g in grads[1:])   # the flow is trained too
    moved = np.array(y_true)
    moved[0, 1, :2] = 1e6                                   # an absent point's placeholder
    again = tf.reduce_mean(rle_loss(moved, y_pred, codec.flow))
    assert float(again) == pytest.approx(float(loss))


def test_rle_model_predicts_a_scale_and_decodes_points_and_confidence():
    keras.utils.set_random_seed(0)  # an unseeded model's scales may round to 1.0 in float32
    cfg = {**TINY, "loss": "rle"}
    codec = make_codec(cfg, K)
    out = _only(build_model(K, cfg)(random_images(3)))
    assert out.shape == (3, K, 4) and np.all((out[..., 2:] > 0) & (out[..., 2:] < 1))
    xy, conf = codec.decode([out])
    assert xy.shape == (3, K, 2)
    assert np.allclose(conf, 1 - out[..., 2:].mean(axis=-1))
    smooth = make_codec(TINY, K)
    assert smooth.loss_layer() is None and np.all(smooth.decode([out[..., :2]])[1] == 1)
    assert np.allclose(smooth.decode([out[..., :2]])[0], xy)


@pytest.mark.parametrize("cfg, message", [
    ({"loss": "l2"}, "valid losses: smoothl1, rle"),
    ({"decode": "dark"}, "heatmap methods"),
])
def test_bad_loss_or_decoder_is_refused(cfg, message):
    with pytest.raises(ValueError, match=message):
        make_codec({**TINY, **cfg}, K)
