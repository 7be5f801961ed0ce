"""Simple Baselines: the model's shapes at each preset, its codec, and that it learns."""
import numpy as np
import pytest
import keras

from engine.inference.answers import decode_answer, view_answer
from engine.inference.test_time import View
from engine.plugin import models, presets
from simplebaseline.codec import make_codec
from simplebaseline.model import build_model
from tests.conftest import random_images

K = 4
TINY = {**presets.resolve("tiny", "simplebaseline"), "weights": "none"}


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_model(K, TINY)


def _layers(model, kind):
    return [layer for layer in model.layers if type(layer).__name__ == kind]


def test_one_float32_heatmap_stack_at_stride_4(model):
    assert model.name == "simplebaseline" and list(model.output_names) == ["stage1"]
    maps = model.predict(random_images(2), verbose=0)
    maps = maps[0] if isinstance(maps, list) else maps
    assert maps.shape == (2, 16, 16, K) and maps.dtype == np.float32
    assert np.all(np.isfinite(maps))


def test_head_is_three_4x4_stride_2_deconvolutions_with_bn_and_relu(model):
    deconvs = _layers(model, "Conv2DTranspose")
    assert [d.name for d in deconvs] == ["deconv1", "deconv2", "deconv3"]
    for d in deconvs:
        assert d.kernel_size == (4, 4) and d.strides == (2, 2) and d.filters == 16
        assert not d.use_bias       # BatchNorm follows
    assert {f"deconv{i}_bn" for i in (1, 2, 3)} <= {layer.name for layer in model.layers}
    # The backbone ends at stride 32 (2x2 at 64 px), the head brings it back to stride 4.
    assert tuple(deconvs[0].input.shape[1:3]) == (2, 2)
    final = model.get_layer("stage1")
    assert final.kernel_size == (1, 1) and final.filters == K


def test_maps_are_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        net = build_model(K, TINY)
        assert all(o.dtype == "float32" for o in net.outputs)
        maps = keras.ops.convert_to_numpy(net(random_images(2), training=False)[0])
        assert maps.dtype == np.float32 and np.all(np.isfinite(maps))
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_paper_preset_is_resnet50_with_256_wide_deconvolutions():
    cfg = {**presets.resolve("paper", "simplebaseline"), "weights": "none"}
    net = build_model(17, cfg)
    assert net.outputs[0].shape[1:] == (64, 64, 17)
    assert [d.filters for d in _layers(net, "Conv2DTranspose")] == [256, 256, 256]
    # Xiao et al. report 34.0 M parameters for ResNet-50 with this head (COCO's 17 maps).
    assert 33.5e6 < net.count_params() < 34.5e6


def test_cpu_preset_size():
    net = build_model(15, {**presets.resolve("cpu", "simplebaseline"), "weights": "none"})
    assert net.outputs[0].shape[1:] == (32, 32, 15)
    assert 0.2e9 < models.forward_flops(net) < 0.6e9


@pytest.mark.parametrize("change, fragment", [
    ({"input_size": 48}, "input_size must be a multiple of 32"),
    ({"backbone": "vgg"}, "stride 8"),
    ({"backbone": "nonsense"}, "unknown backbone"),
    ({"blocks": 0}, "blocks must be >= 1"),
    ({"width": 8}, "width must be >= 16"),
])
def test_bad_config_is_one_clear_line(change, fragment):
    with pytest.raises(ValueError) as info:
        build_model(K, {**TINY, **change})
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_targets_are_peak_one_gaussians_with_an_absent_sentinel():
    codec = make_codec(TINY, K)
    assert (codec.map_size, codec.stride, codec.num_stages, codec.sigma) == (16, 4.0, 1, 1.0)
    # x = 4u + 1.5 puts keypoint 0 on the centre of cell (u=5, v=3); 2 absent; 3 off the image
    keypoints = np.array([[21.5, 13.5, 1], [30.2, 40.7, 0], [-1, -1, -1], [80, 10, 1]],
                         np.float32)
    image, (maps,) = codec.encode(random_images(1)[0], keypoints)
    maps = np.asarray(maps)
    assert maps.shape == (16, 16, K)
    assert maps[3, 5, 0] == pytest.approx(1.0) and maps[..., 0].max() == pytest.approx(1.0)
    assert 0 < maps[..., 1].max() < 1      # occluded: still a target, centred between cells
    assert np.all(maps[..., 2] == -1) and np.all(maps[..., 3] == -1)
    # an absent map adds nothing to the loss, whatever is predicted there
    y_pred = np.where(maps < 0, 100.0, maps)[None]
    assert float(np.mean(keras.ops.convert_to_numpy(codec.loss(maps[None], y_pred)))) == 0.0


def test_decode_of_encode_and_flip():
    codec = make_codec(TINY, K)
    rng = np.random.default_rng(0)
    keypoints = np.concatenate([rng.uniform(6, 58, (5, K, 2)), np.ones((5, K, 1))], -1)
    keypoints = keypoints.astype(np.float32)
    targets = np.stack([codec.encode(i, k)[1][0] for i, k in zip(random_images(5), keypoints)])
    xy, conf = codec.decode([targets])
    assert xy.shape == (5, K, 2) and np.all(conf > 0.5)
    assert np.all(np.abs(xy - keypoints[..., :2]) <= 0.25 * codec.stride + 1e-4)
    # The mirror's maps (mirrored cells, left and right swapped) merge back to the same points.
    permutation = np.array([1, 0, 2, 3])
    mirror = targets[:, :, ::-1, :][..., permutation]
    side = codec.input_size
    views = [View(side, side), View(side, side, mirrored=True)]
    answer = sum(view_answer(codec, [m], v, permutation, side)
                 for m, v in zip((targets, mirror), views))
    merged, _ = decode_answer(codec, answer / 2)
    np.testing.assert_allclose(merged, xy, atol=1e-4)


@pytest.mark.slow
def test_a_few_training_steps_learn_peaks_not_flat_maps():
    """The last layer starts near zero, so the first loss is about that of flat all-zero
    maps; a few Adam steps on eight images must go well below it."""
    keras.utils.set_random_seed(0)
    codec = make_codec(TINY, K)
    net = build_model(K, TINY)
    net.compile(optimizer=keras.optimizers.Adam(3e-3), loss=[codec.loss])
    net.optimizer.build(net.trainable_variables)
    rng = np.random.default_rng(0)
    keypoints = np.concatenate([rng.uniform(4, 60, (8, K, 2)), np.ones((8, K, 1))], -1)
    keypoints[:, 3] = -1                                       # one keypoint always absent
    images = random_images(8, seed=2)
    targets = np.stack([codec.encode(i, k)[1][0]
                        for i, k in zip(images, keypoints.astype(np.float32))])
    flat = float(np.mean(keras.ops.convert_to_numpy(codec.loss(targets, 0 * targets))))
    history = net.fit(images, [targets], batch_size=4, epochs=15, shuffle=False, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[0] == pytest.approx(flat, rel=0.1) and losses[-1] < 0.5 * flat
