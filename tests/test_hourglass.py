import ast
from pathlib import Path

import numpy as np
import pytest
import keras
import tensorflow as tf

import hourglass
from engine.plugin.heatmaps import masked_mse
from hourglass.codec import make_codec
from hourglass.model import build_model
from tests.conftest import random_images

K = 4
TINY = {"input_size": 64, "stacks": 2, "features": 16, "depth": 3, "sigma": 1.0}
PAPER = {"input_size": 256, "stacks": 4, "features": 256, "depth": 4, "sigma": 1.0}


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_model(K, TINY)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_outputs_are_one_float32_map_per_stack(model):
    assert model.name == "hourglass"
    assert list(model.output_names) == ["stack1", "stack2"]
    out = model.predict(random_images(2), verbose=0)
    assert len(out) == 2
    for maps in out:
        assert maps.shape == (2, 16, 16, K) and maps.dtype == np.float32
        assert np.all(np.isfinite(maps))
    # The stacks differ: the second one sees the first one's predictions.
    assert not np.allclose(out[0], out[1])


def test_maps_are_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        net = build_model(K, TINY)
        assert all(o.dtype == "float32" for o in net.outputs)
        for maps in net(random_images(2), training=False):
            maps = _np(maps)
            assert maps.dtype == np.float32 and maps.shape == (2, 16, 16, K)
            assert np.all(np.isfinite(maps))
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("change, fragment", [
    ({"input_size": 48}, "input_size must be a multiple of 32"),   # 4 * 2**3
    ({"input_size": 64, "depth": 5}, "input_size must be a multiple of 128"),
    ({"depth": 0}, "depth must be >= 1"),
    ({"stacks": 0}, "stacks must be >= 1"),
    ({"features": 10}, "features must be a multiple of 4"),
])
def test_bad_config_is_one_clear_line(change, fragment):
    with pytest.raises(ValueError) as info:
        build_model(K, {**TINY, **change})
    message = str(info.value)
    assert message.startswith("hourglass: ") and fragment in message and "\n" not in message


def test_paper_config_has_about_13m_parameters():
    net = build_model(16, PAPER)
    assert net.outputs[0].shape[1:] == (64, 64, 16) and len(net.outputs) == 4
    assert 12e6 < net.count_params() < 14e6     # 12.9M; Newell's 8 stacks are ~25M


def test_no_tensorflow_in_the_model_or_at_codec_import():
    folder = Path(hourglass.__file__).parent

    def imports(tree):
        for node in tree:
            if isinstance(node, ast.Import):
                yield from (a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                yield node.module

    model_tree = ast.parse((folder / "model.py").read_text())
    assert not any(n.startswith("tensorflow") for n in imports(ast.walk(model_tree)))
    codec_tree = ast.parse((folder / "codec.py").read_text())
    assert not any(n.startswith("tensorflow") for n in imports(codec_tree.body))
    assert not any(isinstance(n, ast.Attribute) and n.attr == "Lambda" for n in ast.walk(model_tree))


def test_encode_gives_peak_one_and_absent_sentinel():
    codec = make_codec(TINY, K)
    assert (codec.map_size, codec.stride, codec.num_stages, codec.sigma) == (16, 4.0, 2, 1.0)
    # x = 4u + 1.5 puts keypoint 0 on the centre of cell (u=5, v=3); 2 absent; 3 off the image
    keypoints = np.array([[[21.5, 13.5, 1], [30.2, 40.7, 0], [-1, -1, -1], [80, 10, 1]]] * 3,
                         np.float32)
    ds = tf.data.Dataset.from_tensor_slices((random_images(3), keypoints)).map(codec.encode).batch(3)
    image, targets = next(iter(ds))
    assert image.shape == (3, 64, 64, 3) and image.dtype == tf.float32
    assert isinstance(targets, tuple) and len(targets) == 2
    for t in targets:
        assert t.shape == (3, 16, 16, K) and t.dtype == tf.float32
    maps = targets[0].numpy()
    assert maps[0, 3, 5, 0] == pytest.approx(1.0) and maps[0, ..., 0].max() == maps[0, 3, 5, 0]
    assert 0.0 < maps[0, ..., 1].max() < 1.0 and maps[0, ..., 1].min() >= 0.0
    assert np.all(maps[..., 2] == -1.0) and np.all(maps[..., 3] == -1.0)


def test_masked_mse_counts_only_maps_with_a_target():
    y_true = np.zeros((2, 4, 4, 2), np.float32)
    y_true[0, 1, 2, 0] = 1.0
    y_true[0, ..., 1] = -1.0        # keypoint 1 of image 0 is absent
    y_true[1, 3, 3, 1] = 0.5
    assert float(np.mean(_np(masked_mse(y_true, np.maximum(y_true, 0.0))))) == 0.0

    y_pred = np.zeros_like(y_true)
    y_pred[1, 0, 0, 0] = 2.0
    expected = ((1.0 / 16) + (4.0 / 16 + 0.25 / 16)) / 2
    loss = float(np.mean(_np(masked_mse(y_true, y_pred))))
    assert loss == pytest.approx(expected, rel=1e-6)

    changed = y_pred.copy()
    changed[0, ..., 1] = np.random.default_rng(1).normal(0, 100, (4, 4))
    assert float(np.mean(_np(masked_mse(y_true, changed)))) == loss
    changed[0, 0, 0, 1] = np.inf
    assert float(np.mean(_np(masked_mse(y_true, changed)))) == loss

    prediction = tf.Variable(changed)
    with tf.GradientTape() as tape:
        value = tf.reduce_mean(masked_mse(tf.constant(y_true), prediction))
    grad = tape.gradient(value, prediction).numpy()
    assert np.all(grad[0, ..., 1] == 0.0)
    assert grad[0, 1, 2, 0] == pytest.approx(2 * (0.0 - 1.0) / 16 / 2)


def test_peak_weight_weighs_the_target_cells():
    y_true = np.zeros((1, 4, 4, 2), np.float32)
    y_true[0, 1, 2, 0] = 1.0
    y_true[0, ..., 1] = -1.0                       # absent: still no loss
    y_pred = np.full_like(y_true, 0.5)
    plain = float(np.mean(_np(masked_mse(y_true, y_pred))))
    assert plain == pytest.approx((15 * 0.25 + 0.25) / 16)
    weighted = float(np.mean(_np(masked_mse(y_true, y_pred, peak_weight=100))))
    assert weighted == pytest.approx((15 * 0.25 + 101 * 0.25) / 16)
    codec = make_codec({**TINY, "peak_weight": 100}, 2)
    assert float(np.mean(_np(codec.loss(y_true, y_pred)))) == pytest.approx(weighted)


def test_decode_of_encode_is_within_a_quarter_cell():
    codec = make_codec(TINY, K)
    rng = np.random.default_rng(0)
    keypoints = np.concatenate([rng.uniform(6, 58, (5, K, 2)), np.ones((5, K, 1))], -1)
    keypoints = keypoints.astype(np.float32)
    targets = [np.stack(t) for t in zip(*(codec.encode(i, k)[1] for i, k in
                                          zip(random_images(5), keypoints)))]
    assert len(codec.stage_maps(targets)) == 2 and len(codec.decode_stages(targets)) == 2
    xy, conf = codec.decode(targets)
    assert xy.shape == (5, K, 2) and conf.shape == (5, K)
    assert np.all(np.abs(xy - keypoints[..., :2]) <= 0.25 * codec.stride + 1e-4)
    # a dict (by output name) or a bare array decode the same way
    by_name = {f"stack{s}": m for s, m in enumerate(targets, 1)}
    assert np.array_equal(codec.decode(by_name)[0], xy)
    assert np.array_equal(codec.decode(targets[-1])[0], xy)


@pytest.mark.slow
def test_a_few_training_steps_learn_peaks_not_flat_maps():
    """The heatmap layers start near zero, so the first loss is about that of flat all-zero
    maps (Newell's plain MSE); a few Adam steps on eight images must go well below it."""
    keras.utils.set_random_seed(0)
    codec = make_codec(TINY, K)
    net = build_model(K, TINY)
    net.compile(optimizer=keras.optimizers.Adam(3e-3), loss=[codec.loss] * codec.num_stages)
    net.optimizer.build(net.trainable_variables)
    rng = np.random.default_rng(0)
    keypoints = np.concatenate([rng.uniform(4, 60, (8, K, 2)), np.ones((8, K, 1))], -1)
    keypoints[:, 3] = -1                                       # one keypoint always absent
    images = random_images(8, seed=2)
    encoded = [codec.encode(i, k)[1] for i, k in zip(images, keypoints.astype(np.float32))]
    targets = [np.stack(t) for t in zip(*encoded)]
    flat = sum(float(np.mean(keras.ops.convert_to_numpy(codec.loss(t, 0 * t)))) for t in targets)
    history = net.fit(images, targets, batch_size=4, epochs=20, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[0] == pytest.approx(flat, rel=0.1) and losses[-1] < 0.5 * flat
