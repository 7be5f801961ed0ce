"""Synthetic FashionAI-format dataset: garments with the real data's label statistics.

The real FashionAI images cannot ship with the package, yet training, the tests and the
first run all need images whose keypoints are learnable from pixels, and whose labels
vary as the real ones do. So each image starts from keypoints drawn from a shape model
fitted to the real training labels (`shape_model`, shipped as figures only): the
category's layout, its size, rotation and place in the frame, and which points are
visible, occluded or absent. The garment is then drawn through those points
(`garments`), worn by a person-like figure (`people`) on a mostly plain background, or
laid flat; and something is painted over each occluded point.

Layout written (the same as the real data, so one loader reads both):

    DIR/Annotations/train.csv      image_id,image_category,<24 "x_y_v" columns>
    DIR/Annotations/test_gt.csv    same format, the held-out images
    DIR/test.csv                   image_id,image_category
    DIR/Images/<category>/<id>.jpg
    DIR/synthetic.json             the generator's version, seed and shape model

Every image is drawn from its own generator seeded by (seed, category, index), so
an image does not depend on how many others were generated or in what order, and
two runs with the same arguments write byte-identical files.
"""

import hashlib
import json
import math
import os

import cv2
import numpy as np

from data_tools import atomic, garments, people, schema, shape_model
from data_tools.errors import DataError
from data_tools.fashion_csv import csv_text
from data_tools.progress import bar as progress_bar

GENERATOR_VERSION = 2       # 1: polygons on clutter; 2: the shape model, worn by people
JPEG_QUALITY = 90
# Keypoints stay this many pixels away from the border: anti-aliased outlines spill
# about a pixel beyond the polygon.
_MARGIN = 3
WORN = 0.8                  # the share of images with a person in them; the rest laid flat
PLAIN_BACKGROUND = 0.65     # of the rest, a plain or softly lit studio wall
SQUARE = 0.9                # 512x512 as a rule, else 512 high and narrower

_CATEGORY_INDEX = {name: i for i, name in enumerate(schema.CATEGORIES)}
_SHADE_OUTLINE = 165


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


# --------------------------------------------------------------------------- #
# background and fabric                                                        #
# --------------------------------------------------------------------------- #

def _random_colour(rng, avoid=None, min_dist=90.0):
    """A BGR colour, kept away from `avoid` so the garment stands out from it."""
    for _ in range(20):
        c = rng.integers(0, 256, 3).astype(np.float32)
        if avoid is None or np.linalg.norm(c - avoid) >= min_dist:
            return c
    return 255.0 - avoid


def _background(rng, w, h, garment_colour):
    """Gradient + blotches + grain + distractor shapes, all cheap at 512x512."""
    corners = np.stack([_random_colour(rng, garment_colour) for _ in range(4)]).reshape(2, 2, 3)
    if rng.random() < 0.3:
        corners[:] = corners[0, 0]                      # plain wall
    bg = cv2.resize(corners.astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    # Low-frequency blotches (a tiny random image blown up): mostly brightness,
    # a little colour, like uneven light on a real wall or floor.
    gh, gw = h // 48 + 2, w // 48 + 2
    light = rng.integers(0, int(rng.integers(2, 70)), size=(gh, gw, 1), dtype=np.uint8)
    tint = rng.integers(0, int(rng.integers(2, 30)), size=(gh, gw, 3), dtype=np.uint8)
    blotch = cv2.add(np.repeat(light, 3, axis=2), tint)
    bg = cv2.subtract(bg, cv2.resize(blotch, (w, h), interpolation=cv2.INTER_CUBIC))
    bg = cv2.add(bg, cv2.resize(blotch[::-1, ::-1], (w, h), interpolation=cv2.INTER_CUBIC))
    # Grain at half resolution: full-resolution noise costs more than the rest.
    grain = rng.integers(0, int(rng.integers(4, 30)), size=(h // 2 + 1, w // 2 + 1, 1), dtype=np.uint8)
    grain = cv2.resize(grain, (w, h), interpolation=cv2.INTER_NEAREST)
    bg = cv2.add(bg, cv2.merge([grain, grain, grain]))

    scale = min(w, h)
    for _ in range(int(rng.integers(3, 10))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(0, 4)
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        if kind == 0:
            r = int(rng.integers(scale // 40 + 2, scale // 6))
            thick = -1 if rng.random() < 0.6 else int(rng.integers(1, 6))
            cv2.circle(bg, (cx, cy), r, colour, thick, cv2.LINE_AA)
        elif kind == 1:
            x2, y2 = cx + int(rng.integers(-scale // 4, scale // 4)), cy + int(rng.integers(-scale // 4, scale // 4))
            thick = -1 if rng.random() < 0.6 else int(rng.integers(1, 6))
            cv2.rectangle(bg, (cx, cy), (x2, y2), colour, thick, cv2.LINE_AA)
        elif kind == 2:
            x2, y2 = int(rng.integers(0, w)), int(rng.integers(0, h))
            cv2.line(bg, (cx, cy), (x2, y2), colour, int(rng.integers(1, 9)), cv2.LINE_AA)
        else:
            pts = np.array([cx, cy]) + rng.integers(-scale // 6, scale // 6, size=(int(rng.integers(3, 6)), 2))
            cv2.fillPoly(bg, [pts.astype(np.int32)], colour, cv2.LINE_AA)
    return bg


def _plain_background(rng, w, h):
    """A studio wall: one light colour, softly lit from one side."""
    base = rng.integers(150, 250, 3).astype(np.float32) if rng.random() < 0.8 else \
        rng.integers(40, 250, 3).astype(np.float32)
    ramp = np.linspace(_u(rng, 0.8, 1.0), _u(rng, 0.9, 1.1), 64, dtype=np.float32)
    light = np.outer(ramp, np.linspace(_u(rng, 0.85, 1.0), _u(rng, 0.95, 1.1), 64))
    light = cv2.resize(light.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    bg = np.clip(light[..., None] * base, 0, 255).astype(np.uint8)
    grain = rng.integers(0, 6, size=(h // 2 + 1, w // 2 + 1, 1), dtype=np.uint8)
    grain = cv2.resize(grain, (w, h), interpolation=cv2.INTER_NEAREST)
    return cv2.add(bg, cv2.merge([grain, grain, grain]))


def _flowers(rng, tex, base, unit):
    """Scatter small five-petal flowers over the fabric (in place)."""
    h, w = tex.shape[:2]
    petal, centre = _random_colour(rng, base, 80.0), _random_colour(rng, base, 60.0)
    size = unit * _u(rng, 0.03, 0.07)
    count = int(np.clip(w * h / (size * 5) ** 2, 1, 400))
    for x, y in rng.uniform(0, 1, (count, 2)) * (w, h):
        turn = _u(rng, 0, 2 * math.pi)
        for k in range(5):
            a = turn + k * 2 * math.pi / 5
            cv2.circle(tex, (int(x + size * math.cos(a)), int(y + size * math.sin(a))),
                       max(1, int(size * 0.7)), tuple(float(c) for c in petal), -1, cv2.LINE_AA)
        cv2.circle(tex, (int(x), int(y)), max(1, int(size * 0.5)), tuple(float(c) for c in centre),
                   -1, cv2.LINE_AA)


def _render_garment(rng, img, pieces, axes, base, skin=None):
    """Paint the garment's pieces into `img` (in place) with a print and shading.

    axes: (origin, right, down, unit) of the garment, so that stripes and folds follow
    it as real fabric does. The neckline's opening shows `skin` when the garment is
    worn, the darker inside of the back when it is laid flat.
    """
    h, w = img.shape[:2]
    all_pts = np.concatenate([p for p, _, _ in pieces])
    x0, y0 = np.floor(all_pts.min(0)).astype(int) - 2
    x1, y1 = np.ceil(all_pts.max(0)).astype(int) + 3
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    rw, rh = x1 - x0, y1 - y0
    origin = np.array([x0, y0], dtype=np.float64)

    alpha = np.zeros((rh, rw), np.uint8)
    shade = np.full((rh, rw), _SHADE_OUTLINE, np.uint8)
    opening = np.zeros((rh, rw), np.uint8)
    for poly, level, name in pieces:
        contour = people.fixed(poly, origin)
        cv2.fillPoly(alpha, [contour], 255, cv2.LINE_AA, people.SHIFT)
        cv2.fillPoly(shade, [contour], level, cv2.LINE_8, people.SHIFT)
        if name == "opening":
            cv2.fillPoly(opening, [contour], 255, cv2.LINE_AA, people.SHIFT)
    g_origin, right, down, unit = axes
    thick = max(1, int(round(unit * 0.012)))
    for poly, _, name in pieces:
        if name != "opening":
            cv2.polylines(shade, [people.fixed(poly, origin)], True, _SHADE_OUTLINE, thick,
                          cv2.LINE_AA, people.SHIFT)

    def along(direction, step=1):
        """Garment-frame coordinate (in units) along `direction` at every step-th pixel."""
        cu, cv_ = direction
        axis = (cu * right + cv_ * down) / unit
        xs = np.arange(x0, x1 + step, step, dtype=np.float32) - np.float32(g_origin[0])
        ys = np.arange(y0, y1 + step, step, dtype=np.float32) - np.float32(g_origin[1])
        return (np.float32(axis[0]) * xs)[None, :] + (np.float32(axis[1]) * ys)[:, None]

    # Light falls from one side, and the cloth folds: both smooth, so computed on a
    # coarse grid and blown up, which saves most of the per-pixel cost.
    ga = _u(rng, 0, 2 * math.pi)
    grad = 1.0 - _u(rng, 0.0, 0.35) * (0.5 + 0.5 * np.tanh(along((math.cos(ga), math.sin(ga)), 8)))
    if rng.random() < 0.7:
        freq = _u(rng, 5.0, 16.0)
        tilt = _u(rng, -0.4, 0.4)
        folds = np.sin(along((1.0, tilt), 8) * freq + _u(rng, 0, 6.3))
        grad = grad * (1.0 - _u(rng, 0.05, 0.22) * (0.5 + 0.5 * folds))
    grad = cv2.resize(grad.astype(np.float32), (rw, rh), interpolation=cv2.INTER_LINEAR)
    factor = cv2.multiply(shade.astype(np.float32), grad, scale=1.0 / 255.0)

    kind = rng.random()
    if kind < 0.4:                                         # plain
        colour = np.broadcast_to(base, (rh, rw, 3)).astype(np.float32)
    elif kind < 0.75:                                      # stripes or checks
        other = _random_colour(rng, base, 70.0)
        period = _u(rng, 0.04, 0.14)                       # in units of the garment's width
        th = _u(rng, 0, math.pi) if rng.random() < 0.3 else float(rng.choice([0.0, math.pi / 2]))
        pattern = np.floor(along((math.cos(th) / period, math.sin(th) / period))).astype(np.int32)
        if kind >= 0.6:
            pattern += np.floor(along((-math.sin(th) / period, math.cos(th) / period))).astype(np.int32)
        pattern = (pattern[:rh, :rw] & 1).astype(np.float32)[..., None]
        colour = base + pattern * (other - base)
    else:                                                  # flowers
        colour = np.broadcast_to(base, (rh, rw, 3)).astype(np.float32).copy()
        _flowers(rng, colour, base, unit)
    # factor <= 1 and colours <= 255, so the cast cannot wrap.
    tex = (factor[..., None] * colour).astype(np.uint8)
    if skin is not None:
        tex[opening > 0] = skin
    a = alpha.astype(np.float32) * (1.0 / 255.0)
    img[y0:y1, x0:x1] = cv2.blendLinear(tex, img[y0:y1, x0:x1], a, 1.0 - a)


# --------------------------------------------------------------------------- #
# one image                                                                    #
# --------------------------------------------------------------------------- #

def _image_size(rng):
    """512x512 as a rule, like the bulk of FashionAI; else 512 high and 384..500 wide."""
    if rng.random() < SQUARE:
        return 512, 512
    return int(rng.integers(384, 501)), 512


def _into_frame(xy, present, w, h):
    """Shrink (about its box) and shift the garment until its present points are inside."""
    lo_bound = np.array([_MARGIN, _MARGIN], np.float64)
    hi_bound = np.array([w - 1 - _MARGIN, h - 1 - _MARGIN], np.float64)
    pts = xy[present]
    lo, hi = pts.min(0), pts.max(0)
    fit = float(np.min((hi_bound - lo_bound) / np.maximum(hi - lo, 1e-6)))
    if fit < 1.0:
        centre = (lo + hi) / 2
        xy = centre + (xy - centre) * fit
        pts = xy[present]
        lo, hi = pts.min(0), pts.max(0)
    return xy + np.maximum(lo_bound - lo, 0) - np.maximum(hi - hi_bound, 0)


def draw_labels(category, model, rng):
    """An image's size and its garment's points (K, 2) in pixels, rounded, with their v (K,):
    the first draws of `render`, so its labels can be had without painting the image."""
    if category not in model["categories"]:
        raise DataError(f"the shape model {model['path']} has no {category}")
    w, h = _image_size(rng)
    m = model["categories"][category]
    v = shape_model.sample_visibility(m, category, rng)
    xy = shape_model.sample_points(m, category, float(max(w, h)), rng)
    return (w, h), np.round(_into_frame(xy, v >= 0, w, h)), v


def render(category, rng, model=None):
    """Draw one image of `category` from the shape model (default: the shipped one).

    Returns (image uint8 HxWx3 BGR, keypoints int array 24x3 of x, y, v in the
    official order; -1,-1,-1 for points the image does not have).
    """
    model = model or default_model()
    (w, h), xy, v = draw_labels(category, model, rng)
    names = list(schema.keypoint_names(category))
    points = {n: xy[i] for i, n in enumerate(names)}
    present = {n: bool(v[i] >= 0) for i, n in enumerate(names)}
    worn = rng.random() < WORN
    garment_colour = rng.integers(20, 256, 3).astype(np.float32)
    if rng.random() < PLAIN_BACKGROUND or not worn:
        img = _plain_background(rng, w, h)
    else:
        img = _background(rng, w, h, garment_colour)
    who = people.wearer_of(rng)
    down, right = garments.frame(points)
    if worn:
        unit = people.draw_wearer(img, category, points, present, who, rng)
    else:
        pair = schema.NORM_PAIRS[category]
        unit = float(np.linalg.norm(points[pair[1]] - points[pair[0]])) * \
            (1.25 if category in ("skirt", "trousers") else 1.0)
    unit = max(unit, 8.0)
    pieces = garments.pieces(category, points, present, rng)
    _render_garment(rng, img, pieces, (xy.mean(0), right, down, unit), garment_colour,
                    skin=who["skin"] if worn else None)
    people.hide(img, names, xy, v, down, unit, who, worn, rng)

    out = np.full((schema.NUM_KEYPOINTS, 3), -1, np.int64)
    own = schema.keypoint_indices(category)
    keep = v >= 0
    out[np.asarray(own)[keep], :2] = xy[keep].astype(np.int64)
    out[np.asarray(own)[keep], 2] = v[keep]
    return img, out


_DEFAULT_MODEL = []


def default_model():
    """The shipped shape model, read once."""
    if not _DEFAULT_MODEL:
        _DEFAULT_MODEL.append(shape_model.load())
    return _DEFAULT_MODEL[0]


def image_rng(seed, category, index):
    """The generator for one image: depends only on (seed, category, index)."""
    return np.random.default_rng([int(seed), _CATEGORY_INDEX[category], int(index)])


# --------------------------------------------------------------------------- #
# files                                                                        #
# --------------------------------------------------------------------------- #

def _write_csv_atomic(path, header, rows):
    """Write a CSV next to its final place, then rename: never half-written."""
    atomic.write_text(path, csv_text([header, *rows]))


def _cells(kps):
    return [f"{x}_{y}_{v}" if v >= 0 else "-1_-1_-1" for x, y, v in kps.tolist()]


def generate(out_dir, images_per_category, seed=0, progress=True, test_fraction=0.2,
             shapes=None):
    """Write a synthetic FashionAI-format dataset under `out_dir`.

    `test_fraction` of each category's images (the highest indices) go to
    test.csv / Annotations/test_gt.csv, the rest to Annotations/train.csv.
    shapes: a shape model file (`run.py fit-shapes`); default the one fitted to the real
    FashionAI labels. Every category it has is generated.
    Returns a summary dict: out_dir, seed, per-category train/test counts.
    """
    if isinstance(images_per_category, bool) or not isinstance(images_per_category, (int, np.integer)) \
            or images_per_category < 1:
        raise DataError(f"images per category must be a positive integer, got {images_per_category!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    if not 0.0 <= float(test_fraction) < 1.0:
        raise DataError(f"test fraction must be in [0, 1), got {test_fraction!r}")
    model = default_model() if shapes is None else shape_model.load(shapes)
    categories = [c for c in schema.CATEGORIES if c in model["categories"]]
    n = int(images_per_category)
    n_test = min(int(round(n * float(test_fraction))), n - 1)
    n_train = n - n_test

    out_dir = os.path.abspath(os.fspath(out_dir))
    ann_dir = os.path.join(out_dir, "Annotations")
    os.makedirs(ann_dir, exist_ok=True)
    train_csv = os.path.join(ann_dir, "train.csv")
    gt_csv = os.path.join(ann_dir, "test_gt.csv")
    test_csv = os.path.join(out_dir, "test.csv")
    marker = os.path.join(out_dir, MARKER)
    # Old annotations would describe images we are about to overwrite; remove
    # them first so a run killed half-way leaves no CSV that disagrees with
    # the images (train.csv, written last, marks a finished dataset).
    for path in (train_csv, gt_csv, test_csv, marker):
        if os.path.exists(path):
            os.remove(path)

    width = max(6, len(str(n - 1)))
    train_rows, test_rows = [], []
    bar = progress_bar(n * len(categories), "synthetic FashionAI", disable=not progress)
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    with bar:
        for category in categories:
            os.makedirs(os.path.join(out_dir, "Images", category), exist_ok=True)
            for i in range(n):
                img, kps = render(category, image_rng(seed, category, i), model)
                image_id = f"Images/{category}/{i:0{width}d}.jpg"
                if not cv2.imwrite(os.path.join(out_dir, image_id), img, params):
                    raise OSError(f"could not write {os.path.join(out_dir, image_id)}")
                row = [image_id, category] + _cells(kps)
                (train_rows if i < n_train else test_rows).append(row)
                bar.update(1)

    header = ["image_id", "image_category"] + list(schema.KEYPOINTS)
    _write_csv_atomic(gt_csv, header, test_rows)
    _write_csv_atomic(test_csv, ["image_id", "image_category"], [r[:2] for r in test_rows])
    summary = {
        "out_dir": out_dir,
        "seed": int(seed),
        "images_per_category": n,
        "train": {c: n_train for c in categories},
        "test": {c: n_test for c in categories},
        "total_images": n * len(categories),
    }
    atomic.write_text(marker, json.dumps(description(model, seed, n), indent=1) + "\n")
    _write_csv_atomic(train_csv, header, train_rows)
    return summary


MARKER = "synthetic.json"


def description(model, seed, images_per_category):
    """What made a synthetic set: the generator's version, its seed, and the shape model."""
    with open(model["path"], "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return {"generator_version": GENERATOR_VERSION, "seed": int(seed),
            "images_per_category": int(images_per_category),
            "shape_model": os.path.basename(model["path"]), "shape_model_sha256": digest}


def made_by_this_version(out_dir):
    """Whether `out_dir` holds a synthetic set written by this generator version."""
    try:
        with open(os.path.join(out_dir, MARKER), encoding="utf-8") as f:
            return json.load(f).get("generator_version") == GENERATOR_VERSION
    except (OSError, ValueError, AttributeError):
        return False
