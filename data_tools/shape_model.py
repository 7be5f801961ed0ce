"""A statistical model of FashionAI garments' keypoints, fitted to labels alone (no images).

`fit` turns a FashionAI train.csv into a few figures per category; `sample` draws new
garments from them; the synthetic generator draws its garments through the sampled points.
The model holds no row of the data it was fitted to, only these figures:

- shape: the mean layout of the category's keypoints in a canonical frame (centred, unit
  RMS radius, upright) and its main modes of variation, found by a PCA of the rows after a
  similarity (Procrustes) fit has taken out each garment's size, rotation and position.
  Absent points take part through iterative imputation, so every mode moves every point.
  What the kept modes leave over is a per-coordinate residual spread.
- latent figures: per row, log size, rotation, centre x and y (in units of the image's
  longer side) and the row's mode coefficients. Each has its own quantiles (so skewed and
  two-humped figures, such as sleeve length, keep their form) and they are tied by the
  correlation of their normal scores: a Gaussian copula, so large garments stay centred.
- visibility: which points are absent, drawn as a whole pattern from those that at least
  MIN_PATTERN_ROWS rows share, which keeps what goes together (no sleeves: four cuffs
  absent at once); and which of the rest are occluded, drawn the same way (both armpits
  under the arms), the rows outside those patterns point by point by their own chances.

The file is JSON, `{"format": FORMAT, "version": VERSION, "categories": {...}}`.
"""
import json
import math
import os
from pathlib import Path
from statistics import NormalDist

import numpy as np

from data_tools import atomic, metrics, schema
from data_tools.errors import DataError

FORMAT = "fashionai-shape-model"
VERSION = 1
SHIPPED = Path(__file__).with_name("fashionai_shapes.json")
MIN_ROWS = 50            # below this a category's modes and patterns are noise
MIN_PATTERN_ROWS = 5     # a visibility pattern is kept as such when this many rows share it
VARIANCE_KEPT = 0.99     # the PCA keeps the modes that explain this share of the variance
QUANTILES = np.linspace(0.005, 0.995, 41)   # no single row's extreme is kept
PLACEMENT = ("log_size", "rotation", "centre_x", "centre_y")
NORM_FLOOR_QUANTILE = 0.005   # the NE distance a drawn garment must reach (see fit_category)
MAX_DRAWS = 20           # draws of a garment before the last one is taken as it is
DEFAULT_SIDE = 512.0     # the longer side of a FashionAI image, as a rule

_NORMAL = NormalDist()


# --------------------------------------------------------------------------- #
# fitting                                                                      #
# --------------------------------------------------------------------------- #

def _similarity(src, dst):
    """Least-squares scale, rotation, translation taking src (n, 2) onto dst (n, 2)."""
    sc, dc = src.mean(0), dst.mean(0)
    s, d = src - sc, dst - dc
    norm = float((s ** 2).sum())
    a = float((s * d).sum()) / norm
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()) / norm
    scale, angle = math.hypot(a, b), math.atan2(b, a)
    rot = _rotation(angle)
    return scale, angle, dc - scale * rot @ sc


def _rotation(angle):
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def _normalise_mean(mean):
    """Centre the layout and give it a unit RMS radius (its orientation stays the data's)."""
    mean = mean - mean.mean(0)
    return mean / math.sqrt(float((mean ** 2).sum(1).mean()))


def _procrustes(xy, present, rounds=4):
    """Canonical coordinates (N, K, 2) of every row and its placement (N, 4).

    Placement: log scale, rotation, and where the canonical origin lands (x, y), the
    transform that takes the canonical layout to the row's points.
    """
    mean = _normalise_mean(np.nanmean(np.where(present[..., None], xy, np.nan), axis=0))
    for _ in range(rounds):
        canon = np.full_like(xy, np.nan)
        placement = np.zeros((len(xy), 4))
        for n in range(len(xy)):
            p = present[n]
            scale, angle, shift = _similarity(mean[p], xy[n, p])
            placement[n] = (math.log(scale), angle, *shift)
            canon[n, p] = (xy[n, p] - shift) @ _rotation(angle) / scale
        new = np.nanmean(canon, axis=0)
        # Keep the frame upright: the new mean is put back onto the old one's orientation.
        _, angle, _ = _similarity(_normalise_mean(new), mean)
        mean = _normalise_mean(new) @ _rotation(angle).T
    return canon, placement


def _pca_with_gaps(y, missing, rounds=20):
    """PCA of (N, D) rows whose `missing` cells are imputed from the kept modes in turn."""
    y = np.where(missing, np.nanmean(np.where(missing, np.nan, y), axis=0), y)
    for _ in range(rounds):
        mu = y.mean(0)
        _, sv, vt = np.linalg.svd(y - mu, full_matrices=False)
        share = np.cumsum(sv ** 2) / (sv ** 2).sum()
        m = int(np.searchsorted(share, VARIANCE_KEPT) + 1)
        basis = vt[:m]
        recon = mu + (y - mu) @ basis.T @ basis
        y = np.where(missing, recon, y)
    coef = (y - mu) @ basis.T
    residual = (y - mu) - coef @ basis
    return mu, basis, coef, residual.std(0)


def _copula(columns):
    """Each column's quantiles and the correlation of the columns' normal scores."""
    n = len(columns)
    ranks = np.argsort(np.argsort(columns, axis=0), axis=0)
    scores = np.vectorize(_NORMAL.inv_cdf)((ranks + 0.5) / n)
    corr = np.corrcoef(scores, rowvar=False) if columns.shape[1] > 1 else np.ones((1, 1))
    return np.quantile(columns, QUANTILES, axis=0).T, corr


def _patterns(flags):
    """The patterns of a (N, K) boolean table that MIN_PATTERN_ROWS rows or more share, most
    common first, with their shares of all rows, and which rows none of them covers."""
    patterns, inverse, counts = np.unique(flags.astype(np.int64), axis=0, return_inverse=True,
                                          return_counts=True)
    keep = counts >= MIN_PATTERN_ROWS
    order = np.argsort(-counts[keep], kind="stable")
    shares = counts[keep][order] / len(flags)
    return patterns[keep][order], shares, ~keep[inverse.reshape(-1)]


def _visibility(v):
    """Which points are absent, as whole patterns (no sleeve: four cuffs at once); which
    present points are occluded, as patterns too, the rows left over by each point's chance."""
    absent, absent_shares, _ = _patterns(v == -1)
    occluded, occluded_shares, left_over = _patterns(v == 0)
    rest = 1.0 - float(occluded_shares.sum())
    rest_rows = (v == 0)[left_over] if left_over.any() else (v == 0)
    return {
        "absent_patterns": absent.tolist(),
        "absent_shares": absent_shares.round(6).tolist(),
        "occluded_patterns": occluded.tolist(),
        "occluded_shares": occluded_shares.round(6).tolist(),
        "occluded_rest_share": round(rest, 6),
        "occluded_rest_chances": rest_rows.mean(0).round(6).tolist(),
    }


def fit_category(keypoints, sides, category):
    """The model of one category from its rows: keypoints (N, K, 3) in pixels, sides (N,)."""
    xy = keypoints[..., :2] / sides[:, None, None]
    v = keypoints[..., 2].astype(int)
    present = v >= 0
    # A similarity needs two distinct points.
    spread = np.where(present[..., None], xy, -np.inf).max(1) - \
        np.where(present[..., None], xy, np.inf).min(1)
    usable = (present.sum(1) >= 2) & (spread.max(1) > 0)
    xy, present, v = xy[usable], present[usable], v[usable]
    canon, placement = _procrustes(xy, present)
    k = canon.shape[1]
    mu, basis, coef, residual = _pca_with_gaps(canon.reshape(len(canon), 2 * k),
                                               ~np.repeat(present, 2, axis=1))
    quantiles, corr = _copula(np.concatenate([placement, coef], axis=1))
    distances = metrics.normalizers(np.concatenate([xy, v[..., None]], axis=2),
                                    [category] * len(xy), list(schema.keypoint_names(category)))
    return {
        "rows": int(len(xy)),
        # The copula can pair a small garment with a narrow layout more often than the data
        # does; drawing again below this floor keeps NE's denominator off a tail it lacks.
        "norm_distance_floor": round(float(np.nanquantile(distances, NORM_FLOOR_QUANTILE)), 5),
        "mean": mu.reshape(k, 2).round(5).tolist(),
        "modes": basis.reshape(-1, k, 2).round(5).tolist(),
        "residual_sd": residual.reshape(k, 2).round(5).tolist(),
        "latent_names": [*PLACEMENT, *(f"mode{i + 1}" for i in range(len(basis)))],
        "latent_quantiles": quantiles.round(5).tolist(),
        "latent_correlation": corr.round(4).tolist(),
        "visibility": _visibility(v),
    }


def fit(ann, sides=None):
    """The model of every category in `ann` (an Annotations); sides: each row's longer side.

    A category with no rows is left out; one with fewer than MIN_ROWS is refused.
    """
    sides = np.full(len(ann), DEFAULT_SIDE) if sides is None else np.asarray(sides, float)
    categories = np.asarray(ann.categories)
    model = {"format": FORMAT, "version": VERSION, "categories": {}}
    for category in schema.CATEGORIES:
        rows = np.flatnonzero(categories == category)
        if len(rows) == 0:
            continue
        if len(rows) < MIN_ROWS:
            raise DataError(f"{category} has {len(rows)} rows; fitting a shape model needs "
                            f"at least {MIN_ROWS}", ann.csv_path)
        own = schema.keypoint_indices(category)
        model["categories"][category] = fit_category(
            ann.keypoints[rows][:, own].astype(np.float64), sides[rows], category)
    if not model["categories"]:
        raise DataError("no rows to fit a shape model to", ann.csv_path)
    return model


# --------------------------------------------------------------------------- #
# the file                                                                     #
# --------------------------------------------------------------------------- #

def save(model, path):
    atomic.write_text(path, json.dumps(model, separators=(",", ":")) + "\n")


def load(path=None):
    """The model in `path` (default: the one shipped, fitted to the real FashionAI labels)."""
    path = Path(SHIPPED if path is None else path)
    try:
        model = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"shape model {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"shape model {path} is not readable JSON ({e.__class__.__name__})") from None
    if not isinstance(model, dict) or model.get("format") != FORMAT:
        raise DataError(f"shape model {path} is not a {FORMAT} file")
    if model.get("version") != VERSION:
        raise DataError(f"shape model {path} is version {model.get('version')!r}; this "
                        f"package reads version {VERSION} (refit it with `run.py fit-shapes`)")
    categories = model.get("categories")
    if not isinstance(categories, dict) or not categories:
        raise DataError(f"shape model {path} has no categories")
    try:
        return {"format": FORMAT, "version": VERSION, "path": os.fspath(path),
                "categories": {c: _checked(c, m) for c, m in categories.items()}}
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"shape model {path} is malformed: {e}") from None


def _checked(category, m):
    """One category's figures as arrays, with their shapes checked against the schema."""
    if category not in schema.CATEGORIES:
        raise ValueError(f"unknown category {category!r}")
    k = len(schema.keypoint_names(category))
    vis = m["visibility"]
    out = {
        "mean": np.asarray(m["mean"], np.float64),
        "modes": np.asarray(m["modes"], np.float64).reshape(-1, k, 2),
        "residual_sd": np.asarray(m["residual_sd"], np.float64),
        "quantiles": np.asarray(m["latent_quantiles"], np.float64),
        "correlation": np.asarray(m["latent_correlation"], np.float64),
        "absent_patterns": np.asarray(vis["absent_patterns"], bool).reshape(-1, k),
        "absent_shares": np.asarray(vis["absent_shares"], np.float64),
        "occluded_patterns": np.asarray(vis["occluded_patterns"], bool).reshape(-1, k),
        "occluded_shares": np.asarray(vis["occluded_shares"], np.float64),
        "occluded_rest_share": float(vis["occluded_rest_share"]),
        "occluded_rest_chances": np.asarray(vis["occluded_rest_chances"], np.float64),
        "norm_distance_floor": float(m["norm_distance_floor"]),
    }
    latent = 4 + len(out["modes"])
    expected = {"mean": (k, 2), "residual_sd": (k, 2), "quantiles": (latent, len(QUANTILES)),
                "correlation": (latent, latent), "occluded_rest_chances": (k,),
                "absent_shares": (len(out["absent_patterns"]),),
                "occluded_shares": (len(out["occluded_patterns"]),)}
    for name, shape in expected.items():
        if out[name].shape != shape:
            raise ValueError(f"{category} {name} has shape {out[name].shape}, not {shape}")
    if not all(np.isfinite(a).all() for a in out.values() if isinstance(a, np.ndarray)):
        raise ValueError(f"{category} has a non-finite figure")
    if not len(out["absent_patterns"]):
        raise ValueError(f"{category} has no absent pattern")
    out["cholesky"] = np.linalg.cholesky(out["correlation"] + 1e-9 * np.eye(latent))
    return out


# --------------------------------------------------------------------------- #
# sampling                                                                     #
# --------------------------------------------------------------------------- #

def sample_latent(m, rng):
    """Placement (4,) and mode coefficients, drawn through the copula."""
    z = m["cholesky"] @ rng.standard_normal(len(m["correlation"]))
    u = np.array([_NORMAL.cdf(float(x)) for x in z])
    return np.array([np.interp(u[i], QUANTILES, m["quantiles"][i]) for i in range(len(u))])


def sample_shape(m, latent, rng):
    """Canonical layout (K, 2) for the latent's mode coefficients, plus the residual."""
    coef = latent[4:]
    canon = m["mean"] + np.tensordot(coef, m["modes"], axes=1)
    return canon + rng.standard_normal(canon.shape) * m["residual_sd"]


def place(canon, placement, side):
    """Canonical layout → pixels: scale, rotate, move (placement in units of `side`)."""
    log_size, angle, cx, cy = placement
    return (math.exp(log_size) * canon @ _rotation(angle).T + (cx, cy)) * side


def sample_points(m, category, side, rng):
    """A garment's points (K, 2) in pixels of an image whose longer side is `side`."""
    a, b = schema.norm_pair_indices(category)
    for _ in range(MAX_DRAWS):
        latent = sample_latent(m, rng)
        xy = place(sample_shape(m, latent, rng), latent[:4], side)
        if np.linalg.norm(xy[a] - xy[b]) >= m["norm_distance_floor"] * side:
            break
    return xy


def sample_visibility(m, category, rng):
    """(K,) v per keypoint; the category's NE pair is always present, so every image scores."""
    shares = m["absent_shares"] / m["absent_shares"].sum()
    absent = m["absent_patterns"][rng.choice(len(shares), p=shares)]
    if rng.random() >= m["occluded_rest_share"] and len(m["occluded_patterns"]):
        shares = m["occluded_shares"] / m["occluded_shares"].sum()
        occluded = m["occluded_patterns"][rng.choice(len(shares), p=shares)]
    else:
        occluded = rng.random(len(absent)) < m["occluded_rest_chances"]
    v = np.where(absent, -1, np.where(occluded, 0, 1))
    for i in schema.norm_pair_indices(category):
        v[i] = max(v[i], 0 if occluded[i] else 1)
    return v
