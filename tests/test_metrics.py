"""Normalized Error, PCK and the mean-shape baseline on hand-computed cases."""
import numpy as np
import pytest

from data_tools import metrics, schema

SKIRT = list(schema.keypoint_names("skirt"))  # waistband_left, waistband_right, hemline_l/r


def _skirt(points):
    return np.array(points, np.float64)


def test_ne_hand_computed():
    # waistband 0..100 apart → s = 100 for both images
    gt = _skirt([[[0, 0, 1], [100, 0, 1], [0, 200, 1], [100, 200, 0]],
                 [[0, 0, 1], [0, 100, 1], [50, 50, 1], [9, 9, -1]]])
    pred = gt[..., :2].copy()
    pred[0, 0] += [3, 4]      # error 5 → 0.05
    pred[0, 3] += [50, 0]     # occluded: not counted
    pred[1, 2] += [0, 30]     # 0.3
    pred[1, 3] += [99, 99]    # absent: not counted
    r = metrics.normalized_error(pred, gt, ["skirt", "skirt"], SKIRT)
    assert r["points"] == 6
    assert r["ne"] == pytest.approx((0.05 + 0.3) / 6)
    assert r["skipped_images"] == 0
    assert r["ne_per_keypoint"]["waistband_left"] == pytest.approx(0.025)
    assert r["ne_per_keypoint"]["hemline_left"] == pytest.approx(0.15)
    assert "hemline_right" not in r["ne_per_keypoint"]  # no visible point
    assert r["ne_per_category"] == {"skirt": pytest.approx(r["ne"])}


def test_images_without_normaliser_are_skipped_and_counted():
    gt = _skirt([[[0, 0, 1], [100, 0, 1], [5, 5, 1], [6, 6, 1]],
                 [[0, 0, 1], [-1, -1, -1], [5, 5, 1], [6, 6, 1]],    # pair missing
                 [[7, 7, 1], [7, 7, 1], [5, 5, 1], [6, 6, 1]]])      # zero distance
    pred = gt[..., :2] + 10
    r = metrics.normalized_error(pred, gt, ["skirt"] * 3, SKIRT)
    assert r["skipped_images"] == 2
    assert r["points"] == 4
    assert np.isfinite(r["ne"]) and r["ne"] == pytest.approx(np.hypot(10, 10) / 100)


def test_occluded_pair_still_normalises():
    gt = _skirt([[[0, 0, 0], [50, 0, 0], [5, 5, 1], [6, 6, 1]]])
    r = metrics.normalized_error(gt[..., :2] + [5, 0], gt, ["skirt"], SKIRT)
    assert r["skipped_images"] == 0 and r["ne"] == pytest.approx(0.1)


def test_no_countable_point_gives_none_not_nan():
    gt = _skirt([[[0, 0, 1], [0, 0, 1], [5, 5, 1], [6, 6, 1]]])
    r = metrics.normalized_error(gt[..., :2], gt, ["skirt"], SKIRT)
    assert r["ne"] is None and r["skipped_images"] == 1


def test_per_category_uses_each_categorys_pair():
    names = list(schema.KEYPOINTS)
    gt = np.full((2, 24, 3), -1.0)
    gt[0, schema.INDEX["armpit_left"]] = [0, 0, 1]
    gt[0, schema.INDEX["armpit_right"]] = [200, 0, 1]
    gt[1, schema.INDEX["waistband_left"]] = [0, 0, 1]
    gt[1, schema.INDEX["waistband_right"]] = [50, 0, 1]
    pred = gt[..., :2] + [10, 0]
    r = metrics.normalized_error(pred, gt, ["dress", "trousers"], names)
    assert r["ne_per_category"]["dress"] == pytest.approx(0.05)
    assert r["ne_per_category"]["trousers"] == pytest.approx(0.2)


def test_pck():
    gt = _skirt([[[0, 0, 1], [100, 0, 1], [0, 100, 1], [100, 100, 1]]])
    pred = gt[..., :2] + [[4, 0], [9, 0], [15, 0], [30, 0]]
    r = metrics.pck(pred, gt, ["skirt"], SKIRT)
    assert r == {"0.05": 0.25, "0.1": 0.5, "0.2": 0.75}


def test_mean_shape():
    pts = np.array([[[10, 20, 1], [-1, -1, -1]], [[30, 40, 0], [-1, -1, -1]]], np.float32)
    layout = metrics.mean_shape(pts, 100)
    np.testing.assert_allclose(layout, [[0.2, 0.3], [0.495, 0.495]])
