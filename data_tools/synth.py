"""Synthetic FashionAI-format dataset: procedural garments on cluttered backgrounds.

The real FashionAI data cannot ship with the package, yet training, the tests and
the first run all need images whose keypoints are learnable from pixels.  So each
garment is built from polygons whose corners *are* the keypoints (a cuff is where
the sleeve polygon ends, an armpit is where sleeve meets torso), then textured,
shaded, rotated, dropped on clutter and sometimes partly covered.

Layout written (the same as the real data, so one loader reads both):

    DIR/Annotations/train.csv      image_id,image_category,<24 "x_y_v" columns>
    DIR/Annotations/test_gt.csv    same format, the held-out images
    DIR/test.csv                   image_id,image_category
    DIR/Images/<category>/<id>.jpg

Every image is drawn from its own generator seeded by (seed, category, index), so
an image does not depend on how many others were generated or in what order, and
two runs with the same arguments write byte-identical files.
"""

import math
import os
import sys

import cv2
import numpy as np
from tqdm import tqdm

from data_tools import schema
from data_tools.errors import DataError
from data_tools import atomic
from data_tools.fashion_csv import csv_text

JPEG_QUALITY = 90
# fillPoly/polylines take fixed-point coordinates; 4 fractional bits keep the
# drawn corners within 1/16 px of the keypoints we write.
_SHIFT = 4
_FIX = 1 << _SHIFT
# Keypoints (and the whole garment) stay this many pixels away from the border:
# anti-aliased outlines spill ~1 px beyond the polygon.
_MARGIN = 3
_MAX_ROTATION_DEG = 20.0

# Shade levels painted into the garment's shade map (255 = full colour).  Separate
# pieces get different levels so seams and overlaps show up as edges, as they do
# in photos of real clothes.
_SHADE_MAIN = 255
_SHADE_SLEEVE = 228
_SHADE_INSIDE = 120   # the inside of the back, seen through the neckline
_SHADE_BAND = 200     # waistbands, belts, lapels
_SHADE_SEAM = 150
_SHADE_OUTLINE = 165

_CATEGORY_INDEX = {name: i for i, name in enumerate(schema.CATEGORIES)}


# --------------------------------------------------------------------------- #
# garments, in an upright canonical frame: x to the image's right, y down,     #
# roughly one unit = one torso length.  Each builder returns                   #
#   pieces:    [(polygon Nx2, shade)] painted in order, all part of the cloth  #
#   seams:     [(polyline Nx2, shade, closed)] drawn on top                    #
#   keypoints: {name: (x, y)} or None for a point the garment lacks            #
# --------------------------------------------------------------------------- #

def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def _curve(p0, p1, p2, n=8):
    """Quadratic Bezier from p0 to p2 pulled towards p1 (necklines, hems)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    p0, p1, p2 = (np.asarray(p, dtype=np.float64) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2


def _sleeve(shoulder, armpit, angle_deg, length, cuff_ratio, side):
    """Sleeve polygon from the armhole edge (shoulder..armpit) out to the cuff.

    angle is measured from hanging straight down, outwards; `side` is -1 for the
    image-left sleeve.  Returns (polygon, cuff_in, cuff_out): the outer edge
    starts at the shoulder, the inner at the armpit, as in the annotation guide.
    """
    shoulder = np.asarray(shoulder, dtype=np.float64)
    armpit = np.asarray(armpit, dtype=np.float64)
    a = math.radians(angle_deg)
    d = np.array([side * math.sin(a), math.cos(a)])
    n = np.array([-d[1], d[0]])
    if np.dot(n, shoulder - armpit) < 0:
        n = -n
    armhole = float(np.linalg.norm(shoulder - armpit))
    centre = (shoulder + armpit) / 2 + d * length
    half = armhole * cuff_ratio / 2
    cuff_out = centre + n * half
    cuff_in = centre - n * half
    return np.array([shoulder, cuff_out, cuff_in, armpit]), cuff_in, cuff_out


def _upper_body(rng, kind):
    """Torso + sleeves shared by blouse, outwear and dress.

    Returns (keypoints, back neckline, inside-of-the-back polygon, sleeve
    pieces); each caller closes the torso silhouette below the armpits itself.
    """
    sw = _u(rng, 0.30, 0.44)                          # shoulder half-width
    nw = sw * _u(rng, 0.30, 0.48)                     # neck half-width
    sd = _u(rng, 0.03, 0.10)                          # shoulder drop below the neck
    if kind == "outwear":
        nd = _u(rng, 0.18, 0.40)                      # open jackets: deep V
    else:
        nd = _u(rng, 0.05, 0.28)
    aw = sw * _u(rng, 0.84, 1.0)                      # armpit half-width
    ay = sd + _u(rng, 0.22, 0.32)
    nd = min(nd, ay - 0.04)
    wy = ay + _u(rng, 0.22, 0.34)                     # waist
    pinch = (0.86, 0.98) if kind == "outwear" else (0.72, 0.95)
    ww = aw * _u(rng, *pinch)

    k = {
        "neckline_left": (-nw, 0.0), "neckline_right": (nw, 0.0),
        "center_front": (0.0, nd),
        "shoulder_left": (-sw, sd), "shoulder_right": (sw, sd),
        "armpit_left": (-aw, ay), "armpit_right": (aw, ay),
        "waistline_left": (-ww, wy), "waistline_right": (ww, wy),
    }
    # The back neckline sits just below the neck points; between it and the
    # front neckline one sees the inside of the back, darker than the front.
    back = _curve(k["neckline_right"], (0.0, _u(rng, 0.0, 0.05)), k["neckline_left"], 7)
    if rng.random() < 0.5:     # V neck
        front = np.array([k["neckline_left"], k["center_front"], k["neckline_right"]])
    else:                      # round neck
        front = np.concatenate([
            _curve(k["neckline_left"], (-nw, nd * 1.3), k["center_front"], 6),
            _curve(k["center_front"], (nw, nd * 1.3), k["neckline_right"], 6)[1:],
        ])
    inside = np.concatenate([front, back[1:-1]])

    sleeveless = kind != "outwear" and rng.random() < (0.12 if kind == "dress" else 0.05)
    sleeves = []
    if not sleeveless:
        if kind == "outwear":
            length = _u(rng, 0.45, 0.95)
        else:
            length = _u(rng, 0.12, 0.90)
        angle = _u(rng, 18.0, 70.0)
        cuff_ratio = _u(rng, 0.55, 0.95)
        for side, tag in ((-1, "left"), (1, "right")):
            # Real garments are never laid out perfectly symmetric.
            poly, cin, cout = _sleeve(k["shoulder_" + tag], k["armpit_" + tag],
                                      angle + _u(rng, -6, 6), length * _u(rng, 0.95, 1.05),
                                      cuff_ratio, side)
            sleeves.append((poly, _SHADE_SLEEVE))
            k[f"cuff_{tag}_in"] = tuple(cin)
            k[f"cuff_{tag}_out"] = tuple(cout)
    else:
        for tag in ("left", "right"):
            k[f"cuff_{tag}_in"] = None
            k[f"cuff_{tag}_out"] = None
    return k, back, inside, sleeves


def _top_silhouette(k, back, lower_left, lower_right):
    """Torso outline: neck -> shoulder -> armpit -> (lower_left...) and back up."""
    return np.concatenate([
        np.array([k["neckline_left"], k["shoulder_left"], k["armpit_left"]]),
        lower_left,
        lower_right,
        np.array([k["armpit_right"], k["shoulder_right"], k["neckline_right"]]),
        back[1:-1],
    ])


def _blouse(rng):
    k, back, inside, sleeves = _upper_body(rng, "blouse")
    hy = k["waistline_left"][1] + _u(rng, 0.05, 0.30)
    aw = k["armpit_right"][0]
    hw = aw * _u(rng, 0.85, 1.10)
    k["top_hem_left"], k["top_hem_right"] = (-hw, hy), (hw, hy)
    hem = _curve(k["top_hem_left"], (0.0, hy + _u(rng, -0.04, 0.06)), k["top_hem_right"], 7)
    torso = _top_silhouette(k, back, np.array([k["waistline_left"]]),
                            np.concatenate([hem, [k["waistline_right"]]]))
    pieces = [(torso, _SHADE_MAIN), (inside, _SHADE_INSIDE)] + sleeves
    seams = [(p, _SHADE_SEAM, True) for p, _ in sleeves]
    if rng.random() < 0.5:  # button placket
        cf = k["center_front"]
        seams.append((np.array([cf, (0.0, hy)]), _SHADE_SEAM, False))
    k["waistline_left"] = k["waistline_right"] = None   # not a blouse keypoint
    return pieces, seams, k


def _outwear(rng):
    k, back, inside, sleeves = _upper_body(rng, "outwear")
    hy = k["waistline_left"][1] + _u(rng, 0.12, 0.50)
    aw = k["armpit_right"][0]
    hw = aw * _u(rng, 0.92, 1.15)
    k["top_hem_left"], k["top_hem_right"] = (-hw, hy), (hw, hy)
    torso = _top_silhouette(k, back,
                            np.array([k["waistline_left"], k["top_hem_left"]]),
                            np.array([k["top_hem_right"], k["waistline_right"]]))
    cf = np.array(k["center_front"])
    nl, nr = np.array(k["neckline_left"]), np.array(k["neckline_right"])
    # Lapels fold back either side of the opening.
    lapel_l = np.array([nl, cf, nl + (cf - nl) * 0.55 + (-0.10, 0.0)])
    lapel_r = np.array([nr, cf, nr + (cf - nr) * 0.55 + (0.10, 0.0)])
    pieces = [(torso, _SHADE_MAIN), (inside, _SHADE_INSIDE)] + sleeves + [
        (lapel_l, _SHADE_BAND), (lapel_r, _SHADE_BAND)]
    seams = [(p, _SHADE_SEAM, True) for p, _ in sleeves]
    seams += [(lapel_l, _SHADE_SEAM, True), (lapel_r, _SHADE_SEAM, True)]
    seams.append((np.array([cf, (0.0, hy)]), 90, False))     # zip / opening
    k["center_front"] = None                                  # open jackets have none
    return pieces, seams, k


def _dress(rng):
    k, back, inside, sleeves = _upper_body(rng, "dress")
    wy = k["waistline_left"][1]
    ww = k["waistline_right"][0]
    hy = wy + _u(rng, 0.35, 1.05)
    hw = ww * _u(rng, 1.15, 2.3)
    k["hemline_left"], k["hemline_right"] = (-hw, hy), (hw, hy)
    hem = _curve(k["hemline_left"], (0.0, hy + _u(rng, 0.0, 0.12)), k["hemline_right"], 9)
    body = _top_silhouette(k, back, np.array([k["waistline_left"]]),
                           np.concatenate([hem, [k["waistline_right"]]]))
    pieces = [(body, _SHADE_MAIN), (inside, _SHADE_INSIDE)] + sleeves
    seams = [(p, _SHADE_SEAM, True) for p, _ in sleeves]
    if rng.random() < 0.4:   # belt
        bh = _u(rng, 0.02, 0.05)
        belt = np.array([k["waistline_left"], k["waistline_right"],
                         (ww * 1.02, wy + bh), (-ww * 1.02, wy + bh)])
        pieces.append((belt, _SHADE_BAND))
    else:
        seams.append((np.array([k["waistline_left"], k["waistline_right"]]), _SHADE_SEAM, False))
    return pieces, seams, k


def _skirt(rng):
    ww = _u(rng, 0.22, 0.36)
    wb = _u(rng, 0.03, 0.08)
    length = _u(rng, 0.35, 1.10)
    hw = ww * _u(rng, 1.10, 2.2)
    k = {"waistband_left": (-ww, 0.0), "waistband_right": (ww, 0.0),
         "hemline_left": (-hw, length), "hemline_right": (hw, length)}
    hem = _curve(k["hemline_right"], (0.0, length + _u(rng, -0.02, 0.10)), k["hemline_left"], 9)
    body = np.concatenate([[k["waistband_left"], k["waistband_right"]], hem])
    slope = (hw - ww) / length
    band = np.array([k["waistband_left"], k["waistband_right"],
                     (ww + slope * wb, wb), (-ww - slope * wb, wb)])
    pieces = [(body, _SHADE_MAIN), (band, _SHADE_BAND)]
    seams = []
    if rng.random() < 0.4:   # pleats fanning out from the waistband
        for t in np.linspace(-0.7, 0.7, int(rng.integers(3, 8))):
            seams.append((np.array([(t * ww, wb), (t * hw, length)]), 190, False))
    return pieces, seams, k


def _trousers(rng):
    ww = _u(rng, 0.26, 0.38)
    wb = _u(rng, 0.03, 0.07)
    hipw = ww * _u(rng, 1.0, 1.12)
    hy = _u(rng, 0.14, 0.24)
    cy = _u(rng, 0.28, 0.42)
    length = _u(rng, 0.45, 1.35)            # shorts .. full length
    bw = _u(rng, 0.12, 0.26)                # leg opening width
    while True:
        spread = _u(rng, -0.06, 0.25)       # how far the legs open outwards
        xo = hipw + spread * length
        if xo - bw > 0.03:                  # keep the legs apart at the bottom
            break
    k = {"waistband_left": (-ww, 0.0), "waistband_right": (ww, 0.0),
         "crotch": (0.0, cy),
         "bottom_left_out": (-xo, length), "bottom_left_in": (-xo + bw, length),
         "bottom_right_in": (xo - bw, length), "bottom_right_out": (xo, length)}
    body = np.array([k["waistband_left"], (-hipw, hy), k["bottom_left_out"],
                     k["bottom_left_in"], k["crotch"], k["bottom_right_in"],
                     k["bottom_right_out"], (hipw, hy), k["waistband_right"]])
    band = np.array([k["waistband_left"], k["waistband_right"], (ww * 1.01, wb), (-ww * 1.01, wb)])
    pieces = [(body, _SHADE_MAIN), (band, _SHADE_BAND)]
    seams = [(np.array([(0.0, wb), (0.0, cy * 0.85)]), _SHADE_SEAM, False)]   # fly
    if rng.random() < 0.5:   # creases down the legs
        for side in (-1, 1):
            top = (side * hipw * 0.5, hy)
            bottom = (side * (xo - bw / 2), length)
            seams.append((np.array([top, bottom]), 200, False))
    return pieces, seams, k


GARMENTS = {
    "blouse": _blouse,
    "outwear": _outwear,
    "dress": _dress,
    "skirt": _skirt,
    "trousers": _trousers,
}


# --------------------------------------------------------------------------- #
# background, texture, placement, occluders                                   #
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


def _place(rng, points, w, h):
    """Random similarity transform (rotation, scale, translation) into the image.

    The scale is chosen from the rotated extent of *all* garment vertices so the
    whole garment, and hence every keypoint, lands inside the frame.
    Returns a 2x3 matrix mapping canonical points to image pixels.
    """
    angle = math.radians(_u(rng, -_MAX_ROTATION_DEG, _MAX_ROTATION_DEG))
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    centre = (points.min(0) + points.max(0)) / 2
    q = (points - centre) @ rot.T
    qmin, qmax = q.min(0), q.max(0)
    ext = np.maximum(qmax - qmin, 1e-6)
    fit = min((w - 1 - 2 * _MARGIN) / ext[0], (h - 1 - 2 * _MARGIN) / ext[1])
    scale = fit * _u(rng, 0.55, 0.97)
    lo = _MARGIN - scale * qmin
    hi = np.array([w - 1 - _MARGIN, h - 1 - _MARGIN]) - scale * qmax
    t = np.array([_u(rng, lo[0], hi[0]), _u(rng, lo[1], hi[1])])
    lin = scale * rot
    return np.hstack([lin, (t - lin @ centre)[:, None]])


def _transform(m, pts):
    """Apply a 2x3 affine matrix to Nx2 points."""
    pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    return pts @ m[:, :2].T + m[:, 2]


def _fix(pts, origin):
    """Image points -> fixed-point int32 contour relative to a region origin."""
    return np.round((pts - origin) * _FIX).astype(np.int32).reshape(-1, 1, 2)


def _render_garment(rng, img, pieces, seams, m, base):
    """Paint the transformed garment into `img` (in place) with texture and shading.

    Pattern and shading are computed in the garment's own frame (via the inverse
    transform), so stripes and folds rotate with the garment like real fabric.
    """
    h, w = img.shape[:2]
    all_pts = _transform(m, np.concatenate([p for p, _ in pieces]))
    x0, y0 = np.floor(all_pts.min(0)).astype(int) - 2
    x1, y1 = np.ceil(all_pts.max(0)).astype(int) + 3
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    rw, rh = x1 - x0, y1 - y0
    origin = np.array([x0, y0], dtype=np.float64)

    alpha = np.zeros((rh, rw), np.uint8)
    shade = np.full((rh, rw), _SHADE_OUTLINE, np.uint8)
    for poly, level in pieces:
        contour = _fix(_transform(m, poly), origin)
        cv2.fillPoly(alpha, [contour], 255, cv2.LINE_AA, _SHIFT)
        cv2.fillPoly(shade, [contour], level, cv2.LINE_8, _SHIFT)
    scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
    thick = max(1, int(round(scale * 0.006)))
    cv2.polylines(shade, [_fix(_transform(m, pieces[0][0]), origin)], True,
                  _SHADE_OUTLINE, thick, cv2.LINE_AA, _SHIFT)
    for line, level, closed in seams:
        cv2.polylines(shade, [_fix(_transform(m, line), origin)], closed, level,
                      thick, cv2.LINE_AA, _SHIFT)

    inv = cv2.invertAffineTransform(m)

    def along(direction, step=1):
        """Garment-frame coordinate along `direction` at every step-th pixel of the region."""
        cu, cv_ = direction
        ax = cu * inv[0, 0] + cv_ * inv[1, 0]
        ay = cu * inv[0, 1] + cv_ * inv[1, 1]
        c = cu * inv[0, 2] + cv_ * inv[1, 2]
        xs = np.arange(x0, x1 + step, step, dtype=np.float32)
        ys = np.arange(y0, y1 + step, step, dtype=np.float32)
        return (np.float32(ax) * xs)[None, :] + (np.float32(ay) * ys + np.float32(c))[:, None]

    # Light falls from one side: a darkening across the garment, plus a few
    # soft folds.  Both are smooth, so they are computed on a coarse grid and
    # blown up, which saves most of the per-pixel cost.
    ga = _u(rng, 0, 2 * math.pi)
    grad = 1.0 - _u(rng, 0.0, 0.35) * (0.5 + 0.5 * np.tanh(along((math.cos(ga), math.sin(ga)), 8)))
    if rng.random() < 0.6:
        freq = _u(rng, 6.0, 18.0)
        folds = np.sin(along((1.0, 0.0), 8) * freq + _u(rng, 0, 6.3))
        grad = grad * (1.0 - _u(rng, 0.05, 0.18) * (0.5 + 0.5 * folds))
    grad = cv2.resize(grad.astype(np.float32), (rw, rh), interpolation=cv2.INTER_LINEAR)
    factor = cv2.multiply(shade.astype(np.float32), grad, scale=1.0 / 255.0)

    kind = rng.random()
    if kind < 0.5:                                         # solid
        colour = base
    else:                                                  # stripes or checks
        other = _random_colour(rng, base, 70.0)
        period = _u(rng, 0.03, 0.10)                       # in torso lengths
        th = _u(rng, 0, math.pi) if rng.random() < 0.3 else float(rng.choice([0.0, math.pi / 2]))
        pattern = np.floor(along((math.cos(th) / period, math.sin(th) / period))).astype(np.int32)
        if kind >= 0.75:
            pattern += np.floor(along((-math.sin(th) / period, math.cos(th) / period))).astype(np.int32)
        pattern = (pattern[:rh, :rw] & 1).astype(np.float32)[..., None]
        colour = base + pattern * (other - base)
    # factor <= 1 and colours <= 255, so the cast cannot wrap.
    tex = (factor[..., None] * colour).astype(np.uint8)

    a = alpha.astype(np.float32) * (1.0 / 255.0)
    img[y0:y1, x0:x1] = cv2.blendLinear(tex, img[y0:y1, x0:x1], a, 1.0 - a)


def _occlude(rng, img, xy, present, size):
    """Maybe cover part of the garment with a shape (a bag, a hand, a sign).

    Centred near a random keypoint so it actually hides something; resized until
    it hides at most about a third of the keypoints, otherwise dropped.
    Returns a boolean array: which keypoints it covers.
    """
    covered = np.zeros(len(xy), bool)
    idx = np.flatnonzero(present)
    if len(idx) == 0:
        return covered
    h, w = img.shape[:2]
    limit = max(1, len(idx) // 3)
    target = xy[rng.choice(idx)]
    radius = size * _u(rng, 0.06, 0.16)
    kind = rng.integers(0, 3)
    centre = target + rng.normal(0, radius * 0.6, 2)
    angle = _u(rng, 0, 180)
    for _ in range(4):
        if kind == 0:        # ellipse
            poly = cv2.ellipse2Poly((int(centre[0]), int(centre[1])),
                                    (int(radius), int(radius * _u(rng, 0.4, 1.0))),
                                    int(angle), 0, 360, 10)
        elif kind == 1:      # rotated rectangle
            poly = cv2.boxPoints(((float(centre[0]), float(centre[1])),
                                  (radius * 2, radius * _u(rng, 0.6, 2.5)), angle))
        else:                # irregular blob
            t = np.sort(rng.uniform(0, 2 * math.pi, 7))
            rr = radius * rng.uniform(0.6, 1.2, 7)
            poly = np.stack([centre[0] + rr * np.cos(t), centre[1] + rr * np.sin(t)], 1)
        poly = np.asarray(poly, np.float32).reshape(-1, 1, 2)
        hit = np.array([present[i] and cv2.pointPolygonTest(poly, (float(xy[i, 0]), float(xy[i, 1])), False) >= 0
                        for i in range(len(xy))])
        if hit.sum() <= limit:
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            pts = np.round(poly.reshape(-1, 2) * _FIX).astype(np.int32)
            cv2.fillPoly(img, [pts], colour, cv2.LINE_AA, _SHIFT)
            darker = tuple(int(c * 0.6) for c in colour)
            cv2.polylines(img, [pts], True, darker, 2, cv2.LINE_AA, _SHIFT)
            return hit
        radius *= 0.7
    return covered


def _image_size(rng):
    """Mostly 512x512 like the bulk of FashionAI; the rest any shape 300..600."""
    if rng.random() < 0.7:
        return 512, 512
    return int(rng.integers(300, 601)), int(rng.integers(300, 601))


def render(category, rng):
    """Draw one image of `category`.

    Returns (image uint8 HxWx3 BGR, keypoints int array 24x3 of x, y, v in the
    official order; -1,-1,-1 for points the image does not have).
    """
    w, h = _image_size(rng)
    names = schema.KEYPOINTS
    for _ in range(10):
        pieces, seams, kp = GARMENTS[category](rng)
        present = np.array([kp.get(n) is not None for n in names])
        canon = np.array([kp[n] if present[i] else (0.0, 0.0) for i, n in enumerate(names)])
        verts = np.concatenate([p for p, _ in pieces] + [canon[present]])
        m = _place(rng, verts, w, h)
        xy = np.round(_transform(m, canon)).astype(np.int64)
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
        if np.all(inside[present]):
            break
    else:   # cannot happen with _place's margins; drop stray points rather than lie
        present &= inside

    # Chosen before the background so the background can keep away from it.
    garment_colour = rng.integers(20, 256, 3).astype(np.float32)
    img = _background(rng, w, h, garment_colour)
    _render_garment(rng, img, pieces, seams, m, garment_colour)

    occluded = np.zeros(len(names), bool)
    size = float(np.linalg.norm(verts.max(0) - verts.min(0))) * math.sqrt(abs(np.linalg.det(m[:, :2])))
    n_occ = 0 if rng.random() < 0.6 else (1 if rng.random() < 0.75 else 2)
    for _ in range(n_occ):
        occluded |= _occlude(rng, img, xy, present & ~occluded, size)

    out = np.full((len(names), 3), -1, np.int64)
    out[present, :2] = xy[present]
    out[present, 2] = np.where(occluded[present], 0, 1)
    return img, out


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


def generate(out_dir, images_per_category, seed=0, progress=True, test_fraction=0.2):
    """Write a synthetic FashionAI-format dataset under `out_dir`.

    `test_fraction` of each category's images (the highest indices) go to
    test.csv / Annotations/test_gt.csv, the rest to Annotations/train.csv.
    Returns a summary dict: out_dir, seed, per-category train/test counts.
    """
    if isinstance(images_per_category, bool) or not isinstance(images_per_category, (int, np.integer)) \
            or images_per_category < 1:
        raise DataError(f"images per category must be a positive integer, got {images_per_category!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    if not 0.0 <= float(test_fraction) < 1.0:
        raise DataError(f"test fraction must be in [0, 1), got {test_fraction!r}")
    n = int(images_per_category)
    n_test = min(int(round(n * float(test_fraction))), n - 1)
    n_train = n - n_test

    out_dir = os.path.abspath(os.fspath(out_dir))
    ann_dir = os.path.join(out_dir, "Annotations")
    os.makedirs(ann_dir, exist_ok=True)
    train_csv = os.path.join(ann_dir, "train.csv")
    gt_csv = os.path.join(ann_dir, "test_gt.csv")
    test_csv = os.path.join(out_dir, "test.csv")
    # Old annotations would describe images we are about to overwrite; remove
    # them first so a run killed half-way leaves no CSV that disagrees with
    # the images (train.csv, written last, marks a finished dataset).
    for path in (train_csv, gt_csv, test_csv):
        if os.path.exists(path):
            os.remove(path)

    width = max(6, len(str(n - 1)))
    train_rows, test_rows = [], []
    bar = tqdm(total=n * len(schema.CATEGORIES), desc="synthetic FashionAI", unit="img",
               file=sys.stderr, disable=not progress)
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    with bar:
        for category in schema.CATEGORIES:
            os.makedirs(os.path.join(out_dir, "Images", category), exist_ok=True)
            for i in range(n):
                img, kps = render(category, image_rng(seed, category, i))
                image_id = f"Images/{category}/{i:0{width}d}.jpg"
                if not cv2.imwrite(os.path.join(out_dir, image_id), img, params):
                    raise OSError(f"could not write {os.path.join(out_dir, image_id)}")
                row = [image_id, category] + _cells(kps)
                (train_rows if i < n_train else test_rows).append(row)
                bar.update(1)

    header = ["image_id", "image_category"] + list(schema.KEYPOINTS)
    _write_csv_atomic(gt_csv, header, test_rows)
    _write_csv_atomic(test_csv, ["image_id", "image_category"], [r[:2] for r in test_rows])
    _write_csv_atomic(train_csv, header, train_rows)
    return {
        "out_dir": out_dir,
        "seed": int(seed),
        "images_per_category": n,
        "train": {c: n_train for c in schema.CATEGORIES},
        "test": {c: n_test for c in schema.CATEGORIES},
        "total_images": n * len(schema.CATEGORIES),
    }
