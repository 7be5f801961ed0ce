import numpy as np
import pytest

from data_tools import augment as imgaug_augment
from data_tools import schema, tf_augment
from data_tools.augment_settings import DEFAULTS

NAMES = list(schema.keypoint_names("trousers"))  # 3 left/right pairs and the crotch
OFF = {"rotate": 0, "shift": 0, "scale": (1, 1), "flip": 0,
       "blur": 0, "noise": 0, "contrast": 0}
ABSENT = [-1, -1, -1]


@pytest.fixture(params=["tf", "imgaug"])
def augmenter(request):
    """(make_augmenter, augment) of each augmenter: both must behave alike."""
    if request.param == "imgaug":
        return imgaug_augment.make_augmenter, imgaug_augment.augment

    def make(cfg):
        resolved = tf_augment.Augmenter(cfg)
        return lambda image, keypoints, names, rng_seed: tf_augment.augment(
            image, keypoints, names, rng_seed, resolved)
    return make, tf_augment.augment


def _points(*xyv):
    return np.array(xyv, np.float32).reshape(-1, 3)


def _dots(size, keypoints, sigma=1.2):
    """A dark image with a small bright Gaussian dot at each present keypoint."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    image = np.zeros((size, size), np.float32)
    for x, y, v in keypoints:
        if v >= 0:
            image = np.maximum(image, np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)))
    return np.repeat((image * 255).round().astype(np.uint8)[..., None], 3, axis=2)


def test_flip_mirrors_coordinates_and_swaps_names(augmenter):
    make_augmenter, _ = augmenter
    size = 64
    image = np.random.default_rng(0).integers(0, 255, (size, size, 3), np.uint8)
    # waistband_left present, waistband_right absent, the rest present.
    keypoints = _points((10, 5, 1), (-1, -1, -1), (30, 40, 0), (20, 50, 1),
                        (12, 60, 1), (44, 50, 1), (52, 61, 0))
    flip = make_augmenter({**OFF, "flip": 1.0})
    out_image, out = flip(image, keypoints, NAMES, rng_seed=3)

    np.testing.assert_array_equal(out_image, image[:, ::-1])
    mirrored = keypoints.copy()
    present = keypoints[:, 2] >= 0
    mirrored[present, 0] = size - 1 - keypoints[present, 0]  # pixel centres at integers
    expected = {
        "waistband_left": ABSENT,                         # partner was absent
        "waistband_right": by_name_of(mirrored, "waistband_left"),
        "crotch": by_name_of(mirrored, "crotch"),
        "bottom_left_in": by_name_of(mirrored, "bottom_right_in"),
        "bottom_left_out": by_name_of(mirrored, "bottom_right_out"),
        "bottom_right_in": by_name_of(mirrored, "bottom_left_in"),
        "bottom_right_out": by_name_of(mirrored, "bottom_left_out"),
    }
    for i, name in enumerate(NAMES):
        np.testing.assert_allclose(out[i], expected[name], atol=1e-4, err_msg=name)


def by_name_of(points, name):
    return points[NAMES.index(name)]


def test_no_flip_with_probability_zero(augmenter):
    make_augmenter, _ = augmenter
    image = np.zeros((32, 32, 3), np.uint8)
    keypoints = _points(*[(3 + 3 * i, 7, 1) for i in range(len(NAMES))])
    for seed in range(20):
        _, out = make_augmenter(OFF)(image, keypoints, NAMES, seed)
        np.testing.assert_allclose(out, keypoints, atol=1e-4)


@pytest.mark.parametrize("seed", range(8))
def test_keypoints_move_with_the_pixels(seed, augmenter):
    make_augmenter, _ = augmenter
    size = 128
    keypoints = _points((40, 40, 1), (88, 40, 1), (64, 64, 0), (40, 88, 1),
                        (64, 96, 1), (88, 88, 1), (52, 72, 1))
    geometric = make_augmenter({**OFF, "rotate": 30, "shift": 0.1, "scale": (0.8, 1.2)})
    out_image, out = geometric(_dots(size, keypoints), keypoints, NAMES, seed)
    gray = out_image[..., 0].astype(np.float32)
    assert (out[:, 2] == keypoints[:, 2]).all(), "all stay inside with these ranges"
    for x, y, _ in out:
        cx, cy = int(round(x)), int(round(y))
        window = gray[cy - 4:cy + 5, cx - 4:cx + 5]
        wy, wx = np.unravel_index(np.argmax(window), window.shape)
        assert window.max() > 100, "the dot is near the returned point"
        assert np.hypot(cx - 4 + wx - x, cy - 4 + wy - y) <= 1.5


def test_point_pushed_out_becomes_absent(augmenter):
    make_augmenter, _ = augmenter
    keypoints = _points((2, 64, 1), (64, 64, 1), *[(-1, -1, -1)] * (len(NAMES) - 2))
    zoom = make_augmenter({**OFF, "scale": (2.0, 2.0)})
    _, out = zoom(np.zeros((128, 128, 3), np.uint8), keypoints, NAMES, 0)
    np.testing.assert_array_equal(out[0], ABSENT)        # x = 63.5 + (2 - 63.5) * 2 < 0
    np.testing.assert_allclose(out[1], (64.5, 64.5, 1), atol=1e-3)
    np.testing.assert_array_equal(out[2:], [ABSENT] * (len(NAMES) - 2))


@pytest.mark.parametrize("seed", range(10))
def test_absent_stays_absent_under_full_augmentation(seed, augmenter):
    _, augment = augmenter
    keypoints = _points((30, 30, 1), (-1, -1, -1), (64, 64, 1), (-1, -1, -1),
                        (40, 90, 0), (90, 90, 1), (-1, -1, -1))
    _, out = augment(np.full((128, 128, 3), 60, np.uint8), keypoints, NAMES, seed)
    # Absent partners may swap name on a flip, so count rather than compare by index.
    absent = (out == -1).all(axis=1)
    assert absent.sum() >= 3
    present = out[~absent]
    assert (present[:, :2] >= -0.5).all() and (present[:, :2] < 127.5).all()
    assert set(present[:, 2]) <= {0.0, 1.0}


def test_same_seed_same_output_and_seeds_differ(augmenter):
    _, augment = augmenter
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (96, 96, 3), np.uint8)
    keypoints = _points(*[(20 + 8 * i, 30 + 5 * i, 1) for i in range(len(NAMES))])
    a_img, a_kp = augment(image, keypoints, NAMES, 42)
    b_img, b_kp = augment(image, keypoints, NAMES, 42)
    c_img, c_kp = augment(image, keypoints, NAMES, 43)
    np.testing.assert_array_equal(a_img, b_img)
    np.testing.assert_array_equal(a_kp, b_kp)
    assert not np.array_equal(a_img, c_img)
    assert a_img.dtype == np.uint8 and a_kp.dtype == np.float32


def test_unknown_setting_is_refused(augmenter):
    make_augmenter, _ = augmenter
    with pytest.raises(ValueError, match="rotation"):
        make_augmenter({"rotation": 10})
    assert set(DEFAULTS) >= {"rotate", "shift", "scale", "flip", "blur", "noise", "contrast"}
