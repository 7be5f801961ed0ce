"""HRNet: the model's branches and outputs at each preset, its codec (only the network's
answer is taught), and the pictures of what each branch adds."""
import numpy as np
import pytest
import keras

from engine.plugin import models, presets
from engine.plugin.heatmaps import ABSENT
from hrnet.codec import make_codec
from hrnet.model import build_model
from tests.conftest import random_images

K = 4
TINY = {**presets.resolve("tiny", "hrnet"), "weights": "none"}
CPU = {**presets.resolve("cpu", "hrnet"), "weights": "none"}


def test_one_output_per_branch_all_at_stride_4_in_float32():
    keras.utils.set_random_seed(0)
    net = build_model(K, CPU)
    assert list(net.output_names) == ["stage1", "stage2", "stage3", "stage4"]
    assert all(tuple(o.shape[1:]) == (32, 32, K) and o.dtype == "float32" for o in net.outputs)
    # Four branches at strides 4, 8, 16, 32, widths W, 2W, 4W, 8W (W = 16).
    fuses = {layer.name: layer.output.shape for layer in net.layers
             if layer.name.startswith("stage4_1_exchange_fuse")}
    assert {name[-1]: (s[1], s[-1]) for name, s in fuses.items()} == {
        "1": (32, 16), "2": (16, 32), "3": (8, 64), "4": (4, 128)}
    # The last exchange keeps the high branch only.
    assert [layer.name for layer in net.layers if layer.name.startswith("stage4_2_exchange_fuse")] \
        == ["stage4_2_exchange_fuse1"]


def test_the_last_output_reads_all_branches_and_the_others_fewer():
    """Output b is the one head's reading of branches 1..b: with the lower branches' terms
    made zero, every output is the first's."""
    keras.utils.set_random_seed(0)
    net = build_model(K, TINY)
    head = net.get_layer("head")
    assert head.kernel.shape == (1, 1, 16, K)     # one kernel for both outputs
    outputs = [keras.ops.convert_to_numpy(o) for o in net(random_images(2), training=False)]
    assert not np.allclose(outputs[0], outputs[1])
    for layer in net.layers:   # the lower branch's term into the last sum: zeroed
        if layer.name == "stage2_1_exchange_2to1_up_bn":
            layer.gamma.assign(np.zeros(layer.gamma.shape))
            layer.beta.assign(np.zeros(layer.beta.shape))
    outputs = [keras.ops.convert_to_numpy(o) for o in net(random_images(2), training=False)]
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-6)


def test_paper_preset_is_hrnet_w32():
    net = build_model(17, {**presets.resolve("paper", "hrnet"), "weights": "none"})
    assert net.outputs[-1].shape[1:] == (64, 64, 17)
    # Sun et al.: HRNet-W32 has 28.5 M parameters (COCO's 17 keypoints); 7.1 GMACs at
    # 256 x 192, so 2 x 7.1 x 4/3 GFLOP at 256 x 256.
    assert 28.0e6 < net.count_params() < 29.0e6
    assert models.forward_flops(net) == pytest.approx(2 * 7.1e9 * 4 / 3, rel=0.08)


@pytest.mark.parametrize("change, fragment", [
    ({"input_size": 60}, "input_size must be a multiple of 8"),    # two branches: 4 x 2
    ({"modules": (1, 1, 1, 1)}, "modules must be 1 to 3 counts"),
    ({"blocks": 0}, "blocks and stage1_blocks >= 1"),
    ({"width": 8}, "must be >= 16"),
])
def test_bad_config_is_one_clear_line(change, fragment):
    with pytest.raises(ValueError) as info:
        build_model(K, {**TINY, **change})
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_only_the_networks_answer_is_taught():
    codec = make_codec(CPU, K)
    assert codec.num_stages == 4 and codec.map_size == 32
    keypoints = np.array([[21.5, 13.5, 1], [30.2, 40.7, 0], [-1, -1, -1], [80, 10, 1]],
                         np.float32)
    _, targets = codec.encode(random_images(1, size=128)[0], keypoints)
    targets = [np.asarray(t) for t in targets]
    assert all(np.all(t == ABSENT) for t in targets[:3])
    np.testing.assert_array_equal(targets[3], np.asarray(codec.targets(keypoints)))
    assert targets[3].max() == pytest.approx(1.0)
    # An untaught output adds nothing to the loss and gets no gradient, whatever it holds.
    wild = np.random.default_rng(0).normal(size=(1, 32, 32, K)).astype(np.float32) * 100
    assert float(keras.ops.convert_to_numpy(codec.loss(targets[0][None], wild))[0]) == 0.0
