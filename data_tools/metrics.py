"""The competition's Normalized Error, PCK, and the mean-shape baseline.

All functions take ground truth as (N, K, 3) x, y, v arrays and predictions as
(N, K, 2), in the same pixel frame, with `names` the K keypoint names and
`categories` the N images' categories (the normalising pair depends on it).
"""
import numpy as np

from data_tools import schema

PCK_THRESHOLDS = (0.05, 0.1, 0.2)
FAR = 0.5  # an error beyond half the normalising distance: on another part of the garment


def normalizers(gt, categories, names):
    """Per image, the distance between the category's NE pair; NaN when it cannot be had.

    The pair counts when both points are annotated (v >= 0): an occluded armpit
    still has a known position.
    """
    s = np.full(len(gt), np.nan)
    for n, category in enumerate(categories):
        left, right = schema.NORM_PAIRS[category]
        if left not in names or right not in names:
            continue
        a, b = gt[n, names.index(left)], gt[n, names.index(right)]
        if a[2] >= 0 and b[2] >= 0:
            distance = float(np.hypot(*(a[:2] - b[:2])))
            if distance > 0:
                s[n] = distance
    return s


def _errors(pred, gt, categories, names):
    """Normalised error of every visible keypoint, NaN elsewhere, and the skipped images."""
    gt = np.asarray(gt, np.float64)
    pred = np.asarray(pred, np.float64)
    s = normalizers(gt, categories, names)
    usable = np.isfinite(s)
    distance = np.linalg.norm(pred[..., :2] - gt[..., :2], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        err = distance / s[:, None]
    counted = (gt[..., 2] == 1) & usable[:, None]
    err = np.where(counted, err, np.nan)
    return err, int((~usable).sum())


def point_errors(pred, gt, categories, names):
    """(N, K) the normalised error of every visible keypoint, NaN elsewhere."""
    return _errors(pred, gt, categories, names)[0]


def _mean(values):
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


def normalized_error(pred, gt, categories, names):
    """NE overall, per keypoint and per category, with the counts behind them."""
    err, skipped = _errors(pred, gt, categories, names)
    categories = np.asarray(categories)
    per_category = {}
    for category in schema.CATEGORIES:
        rows = categories == category
        if rows.any():
            per_category[category] = _mean(err[rows])
    return {
        "ne": _mean(err),
        # The far misses (a point on the wrong garment part), which a mean hides.
        "beyond_half": _mean((err[np.isfinite(err)] > FAR) * 1.0),
        "points": int(np.isfinite(err).sum()),
        "images": int(len(err)),
        "skipped_images": skipped,
        "ne_per_keypoint": {name: _mean(err[:, k]) for k, name in enumerate(names)
                            if np.isfinite(err[:, k]).any()},
        "ne_per_category": per_category,
    }


def pck(pred, gt, categories, names, thresholds=PCK_THRESHOLDS):
    """Fraction of visible keypoints within t·s of the truth, for each threshold t."""
    err, _ = _errors(pred, gt, categories, names)
    err = err[np.isfinite(err)]
    if not err.size:
        return {str(t): None for t in thresholds}
    return {str(t): float((err <= t).mean()) for t in thresholds}


def mean_shape(keypoints, input_size):
    """The training set's mean layout in the letterboxed frame, as fractions of its side.

    keypoints: (N, K, 3) in input pixels. A keypoint never annotated gets the centre.
    """
    keypoints = np.asarray(keypoints, np.float64)
    present = keypoints[..., 2] >= 0
    total = np.where(present[..., None], keypoints[..., :2], 0).sum(axis=0)
    count = present.sum(axis=0)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        layout = np.where(count > 0, total / np.maximum(count, 1), (input_size - 1) / 2)
    return layout / input_size


def fmt(value, digits=4, missing="nan"):
    """A figure as the logs, history.csv and reports print it; `missing` for None."""
    return missing if value is None else f"{value:.{digits}f}"
