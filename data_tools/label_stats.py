"""How a set of FashionAI labels looks, in the figures that tell two datasets apart.

Per category, computed from the labels and each image's longer side alone:

- mean-shape NE: the mean of each keypoint (over the rows where it is annotated, points
  divided by the image's longer side) fitted on four fifths of the rows, scored with the
  competition's NE on the fifth left out, each fifth in turn (seeded folds): how much the
  layouts vary, in the metric's units;
- the shares of visible, occluded and absent points;
- the normalising distance (armpits or waistband) ÷ the longer side, median;
- the garment's extent (the larger side of the box around its annotated points) ÷ the
  longer side, 10th percentile and median;
- how often a pair that usually runs left-to-right crosses (trousers' inner bottoms,
  blouses' inner cuffs): e.g. legs crossed.
"""
import warnings

import numpy as np

from data_tools import metrics, schema

FOLDS = 5
SPLIT_SEED = 0
# (category, the point usually on the image's left, its partner): a crossing is the first
# lying right of the second.
CROSSINGS = {
    "blouse": ("cuff_left_in", "cuff_right_in"),
    "outwear": ("cuff_left_in", "cuff_right_in"),
    "dress": ("cuff_left_in", "cuff_right_in"),
    "trousers": ("bottom_left_in", "bottom_right_in"),
}
COLUMNS = (
    ("images", "images", "{:d}"),
    ("mean_shape_ne", "mean-shape NE", "{:.3f}"),
    ("visible", "visible", "{:.2f}"),
    ("occluded", "occluded", "{:.2f}"),
    ("absent", "absent", "{:.2f}"),
    ("norm_distance_median", "NE distance ÷ side, median", "{:.3f}"),
    ("extent_p10", "extent ÷ side, p10", "{:.2f}"),
    ("extent_median", "extent ÷ side, median", "{:.2f}"),
    ("crossed", "crossed", "{:.3f}"),
)


def _mean_shape_ne(xy, v, sides, category):
    """NE of the mean layout (in units of the side), each row scored by the layout of the
    rows outside its fold (FOLDS folds, a seeded shuffle): every row counts once."""
    n = len(xy)
    fold = np.random.default_rng(SPLIT_SEED).permutation(n) % min(FOLDS, n)
    gt = np.concatenate([xy, v[..., None]], axis=2)
    # Points in units of each image's longer side: metrics.mean_shape with a side of 1.
    norm = np.concatenate([xy / sides[:, None, None], v[..., None]], axis=2)
    pred = np.zeros_like(xy)
    for f in np.unique(fold):
        fitted = (fold != f) if n > 1 else (fold == f)
        pred[fold == f] = metrics.mean_shape(norm[fitted], 1.0)[None] * sides[fold == f, None, None]
    names = list(schema.keypoint_names(category))
    return metrics.normalized_error(pred, gt, [category] * n, names)["ne"]


def category_stats(keypoints, sides, category):
    """The figures of one category: keypoints (N, K, 3) over its own K points, sides (N,)."""
    keypoints = np.asarray(keypoints, np.float64)
    sides = np.asarray(sides, np.float64)
    xy, v = keypoints[..., :2], keypoints[..., 2]
    names = list(schema.keypoint_names(category))
    present = v >= 0
    s = metrics.normalizers(keypoints, [category] * len(keypoints), names) / sides
    box = np.where(present[..., None], xy, np.nan)
    with warnings.catch_warnings():
        # A row with no annotated point has no extent: NaN, skipped below, is the answer.
        warnings.simplefilter("ignore", RuntimeWarning)
        extent = np.nanmax(np.nanmax(box, 1) - np.nanmin(box, 1), axis=1) / sides
    out = {
        "images": int(len(keypoints)),
        "mean_shape_ne": _mean_shape_ne(xy, v, sides, category),
        "visible": float((v == 1).mean()),
        "occluded": float((v == 0).mean()),
        "absent": float((v == -1).mean()),
        "norm_distance_median": _nan_stat(np.nanmedian, s),
        "extent_p10": _nan_stat(np.nanpercentile, extent, 10),
        "extent_median": _nan_stat(np.nanmedian, extent),
        "crossed": None,
    }
    if category in CROSSINGS:
        a, b = (names.index(p) for p in CROSSINGS[category])
        both = present[:, a] & present[:, b]
        if both.any():
            out["crossed"] = float((xy[both, a, 0] > xy[both, b, 0]).mean())
    return out


def _nan_stat(fn, values, *args):
    values = values[np.isfinite(values)]
    return float(fn(values, *args)) if values.size else None


def dataset_stats(ann, sides):
    """{category: figures} for every category `ann` has; sides: each row's longer side."""
    categories = np.asarray(ann.categories)
    out = {}
    for category in schema.CATEGORIES:
        rows = np.flatnonzero(categories == category)
        if len(rows):
            own = schema.keypoint_indices(category)
            out[category] = category_stats(ann.keypoints[rows][:, own], np.asarray(sides)[rows],
                                           category)
    return out


def _cell(value, fmt):
    return "-" if value is None else fmt.format(value)


def table_lines(stats, other=None, names=("this", "other")):
    """A Markdown table of the figures; with `other`, each cell is `this / other`."""
    header = ["category"] + [title for _, title, _ in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    if other is not None:
        lines.insert(0, f"figures: {names[0]} / {names[1]}")
    for category in schema.CATEGORIES:
        if category not in stats and (other is None or category not in other):
            continue
        cells = [category]
        for key, _, fmt in COLUMNS:
            here = _cell(stats.get(category, {}).get(key), fmt)
            cells.append(here if other is None else
                         f"{here} / {_cell(other.get(category, {}).get(key), fmt)}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines
