"""SimCC: the CSPNeXt trunk and RTMCC head at each preset, the codec's half-pixel bins, KL
loss and decoding, and its refusals."""
import numpy as np
import pytest
import keras

from engine.inference.answers import decode_answer, view_answer
from engine.inference.test_time import View
from engine.plugin import models, presets
from engine.plugin.heatmaps import ABSENT
from simcc.codec import make_codec
from simcc.model import build_model
from tests.conftest import assert_one_line_error, random_images, run_here

K = 4
TINY = {**presets.resolve("tiny", "simcc"), "weights": "none"}


def test_one_float32_output_of_x_then_y_bins_at_half_a_pixel():
    keras.utils.set_random_seed(0)
    net = build_model(K, TINY)
    assert list(net.output_names) == ["stage1"]
    logits = keras.ops.convert_to_numpy(net(random_images(2), training=False))
    assert logits.shape == (2, K, 2 * 128) and logits.dtype == np.float32
    # The head starts near zero: the first distributions are close to uniform.
    probabilities = make_codec(TINY, K).stage_profiles([logits])[0][0]
    assert probabilities.max() < 2.0 / 128


def test_paper_preset_is_rtmpose_m_and_cpu_a_narrower_one_at_its_input_size():
    paper = build_model(17, {**presets.resolve("paper", "simcc"), "weights": "none"})
    # Jiang et al.: RTMPose-m has 13.59 M parameters at 256 x 192 (fewer bins: 384 for x).
    assert 13.4e6 < paper.count_params() < 13.9e6
    assert paper.get_layer("stage4_down_conv").filters == 768
    cpu = build_model(17, {**presets.resolve("cpu", "simcc"), "weights": "none"})
    assert cpu.get_layer("stage4_down_conv").filters == 256     # CSPNeXt widen 0.25
    assert cpu.get_layer("tokens").output.shape[-1] == 8 * 8     # 256 px at stride 32
    assert 0.4e9 < models.forward_flops(cpu) < 0.6e9


@pytest.mark.parametrize("change, fragment", [
    ({"input_size": 48}, "input_size must be a multiple of 32"),
    ({"depths": (1, 1, 1)}, "1 to 4 values each"),
    ({"stem_width": 8}, "must be >= 16"),
])
def test_bad_config_is_one_clear_line(change, fragment):
    with pytest.raises(ValueError) as info:
        build_model(K, {**TINY, **change})
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_dark_and_unknown_decoders_are_refused():
    with pytest.raises(ValueError, match="reads each axis's peak bin"):
        make_codec({**TINY, "decode": "dark"}, K)


def test_labels_peak_at_the_keypoints_bin_and_absent_rows_cost_nothing():
    codec = make_codec(TINY, K)
    assert (codec.bins, codec.split) == (128, 2.0)
    # x = 21.25 px is bin 43 exactly ((x + 0.5) * 2 - 0.5); y = 13.25 px is bin 27.
    keypoints = np.array([[21.25, 13.25, 1], [30.2, 40.7, 0], [-1, -1, -1], [80, 10, 1]],
                         np.float32)
    _, (labels,) = codec.encode(random_images(1)[0], keypoints)
    labels = np.asarray(labels).reshape(K, 2, 128)
    assert labels[0, 0].argmax() == 43 and labels[0, 1].argmax() == 27
    np.testing.assert_allclose(labels[:2].sum(-1), 1.0, atol=1e-5)
    assert np.all(labels[2] == ABSENT) and np.all(labels[3] == ABSENT)   # absent; outside
    # The loss is the KL divergence: 0 where the prediction is the label, and an absent
    # row adds nothing, whatever is predicted there.
    exact = np.where(labels >= 0, np.log(np.maximum(labels, 1e-30)) / codec.beta, 50.0)
    loss = keras.ops.convert_to_numpy(codec.loss(labels.reshape(1, K, -1),
                                                 exact.reshape(1, K, -1)))
    assert loss.shape == (1,) and abs(float(loss[0])) < 1e-4
    wrong = np.roll(exact, 10, axis=-1)
    assert float(keras.ops.convert_to_numpy(codec.loss(labels.reshape(1, K, -1),
                                                       wrong.reshape(1, K, -1)))[0]) > 1.0


def test_decode_of_labels_and_flip():
    codec = make_codec(TINY, K)
    rng = np.random.default_rng(0)
    keypoints = np.concatenate([rng.uniform(2, 62, (5, K, 2)), np.ones((5, K, 1))], -1)
    keypoints = keypoints.astype(np.float32)
    labels = np.stack([np.asarray(codec.targets(k)) for k in keypoints])
    logits = np.log(labels) / codec.beta
    xy, conf = codec.decode([logits])
    assert xy.shape == (5, K, 2) and np.all(np.abs(xy - keypoints[..., :2]) <= 0.25 + 1e-4)
    np.testing.assert_allclose(conf, np.minimum(labels.reshape(5, K, 2, -1).max(-1)[..., 0],
                                                labels.reshape(5, K, 2, -1).max(-1)[..., 1]),
                               rtol=1e-5)
    # The mirror's answer (x bins reversed, left and right swapped) merges back by certainty.
    permutation = np.array([1, 0, 2, 3])
    mirrored = logits.reshape(5, K, 2, -1).copy()
    mirrored[:, :, 0] = mirrored[:, :, 0, ::-1]
    mirrored = mirrored[:, permutation].reshape(5, K, -1)
    side = codec.input_size
    views = [View(side, side), View(side, side, mirrored=True)]
    answers = [view_answer(codec, [o], v, permutation, side)
               for o, v in zip((logits, mirrored), views)]
    np.testing.assert_allclose(answers[1][..., :2], answers[0][..., :2], atol=1e-4)
    merged, _ = decode_answer(codec, np.mean(answers, axis=0))
    np.testing.assert_allclose(merged, xy, atol=1e-4)


@pytest.mark.slow
def test_a_simcc_run_refuses_dark_in_one_line(tiny_skirt_runs, synthetic, tmp_path):
    """`--decode dark` asks for maps that SimCC does not have: evaluate and predict say so in
    one line, exit 2, and write nothing."""
    run = tiny_skirt_runs[0] / "skirt-simcc"
    why = ("--decode dark is for the heatmap methods", "simcc reads each axis's peak bin")
    assert_one_line_error(run_here("evaluate", "--run", run, "--decode", "dark"), *why)
    out = tmp_path / "submission.csv"
    assert_one_line_error(run_here("predict", "--run", run, "--images", synthetic / "Images" / "skirt",
                                   "--category", "skirt", "--out", out, "--decode", "dark"), *why)
    assert not out.exists()
