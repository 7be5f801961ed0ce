"""Garment outlines drawn through their keypoints, in image pixels.

`pieces(category, points, present, rng)` turns a garment's keypoints (every point of the
category, the absent ones at the place the shape model imputed) into the polygons that are
painted as cloth. The outline passes through each keypoint, as the annotation guide places
them: necklines at the collar's ends, cuffs at the sleeve's ends, hems at the hem's corners.
A part whose points are absent is not drawn: no cuffs, no sleeve; no shoulders, a strapless
top; no hem corner, the side runs on to the other hem point.

Each piece is (polygon Nx2, shade, name); shades tell pieces apart as seams do in photos.
"""
import numpy as np

SHADE_MAIN = 255
SHADE_SLEEVE = 232
SHADE_BAND = 205
SHADE_INSIDE = 120


def curve(p0, p1, p2, n=8):
    """Quadratic Bezier from p0 to p2 pulled towards p1 (necklines, hems, hips)."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    p0, p1, p2 = (np.asarray(p, np.float64) for p in (p0, p1, p2))
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2


def frame(points):
    """The garment's own axes: `down` from its top points to its bottom ones, `right` across."""
    pts = np.asarray(list(points.values()), np.float64)
    top = np.mean([points[n] for n in points if n.startswith(("neckline", "waistband"))], axis=0)
    down = pts.mean(0) - top
    norm = np.linalg.norm(down)
    down = down / norm if norm > 1e-6 else np.array([0.0, 1.0])
    return down, np.array([down[1], -down[0]])


def _bulge(a, b, amount, away):
    """A curve from a to b whose middle is pushed `amount` pixels along `away`."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return curve(a, (a + b) / 2 + amount * away, b, 7)


def _upper(points, present, rng, sides, hem_sag):
    """Torso and sleeves of a blouse, outwear or dress.

    sides: the names below the armpit on the left, down to the hem corner (the right
    side mirrors them).
    """
    p = {n: np.asarray(xy, np.float64) for n, xy in points.items()}
    down, _ = frame(points)
    width = np.linalg.norm(p["armpit_right"] - p["armpit_left"])

    def side(tag):
        names = [n.replace("left", tag) for n in sides]
        head = [p[f"neckline_{tag}"]] + ([p[f"shoulder_{tag}"]] if present[f"shoulder_{tag}"]
                                         else []) + [p[f"armpit_{tag}"]]
        return np.array(head + [p[n] for n in names[:-1]]), p[names[-1]]

    left, hem_l = side("left")
    right_side, hem_r = side("right")
    sag = hem_sag * width * float(rng.uniform(0.0, 0.12))
    hem = curve(hem_l, (hem_l + hem_r) / 2 + sag * down, hem_r, 9)
    back = curve(p["neckline_right"], (p["neckline_left"] + p["neckline_right"]) / 2
                 - down * width * 0.04, p["neckline_left"], 7)
    body = np.concatenate([left, hem, right_side[::-1], back[1:-1]])

    pieces = [(body, SHADE_MAIN, "body")]
    for tag in ("left", "right"):
        cuff_in, cuff_out = f"cuff_{tag}_in", f"cuff_{tag}_out"
        if not (present[cuff_in] or present[cuff_out]):
            continue                       # no cuff, no sleeve
        shoulder = p[f"shoulder_{tag}"] if present[f"shoulder_{tag}"] else \
            (p[f"neckline_{tag}"] + p[f"armpit_{tag}"]) / 2
        pieces.append((np.array([shoulder, p[cuff_out], p[cuff_in], p[f"armpit_{tag}"]]),
                       SHADE_SLEEVE, f"sleeve_{tag}"))
    # The neckline's opening: where the wearer's skin or the inside of the back shows.
    nl, nr = p["neckline_left"], p["neckline_right"]
    centre = p["center_front"] if "center_front" in p else \
        (nl + nr) / 2 + down * width * float(rng.uniform(0.1, 0.4))
    if rng.random() < 0.5:                 # a V
        front = np.array([nl, centre, nr])
    else:                                  # a round neck
        depth = float(np.dot(centre - nl, down))
        front = np.concatenate([curve(nl, nl + down * depth, centre, 6),
                                curve(centre, nr + down * depth, nr, 6)[1:]])
    pieces.append((np.concatenate([front, back[1:-1]]), SHADE_INSIDE, "opening"))
    return pieces


def _blouse(points, present, rng):
    return _upper(points, present, rng, ["top_hem_left"], hem_sag=0.5)


def _outwear(points, present, rng):
    pieces = _upper(points, present, rng, ["waistline_left", "top_hem_left"], hem_sag=0.2)
    p = {n: np.asarray(xy, np.float64) for n, xy in points.items()}
    down, right = frame(points)
    neck = (p["neckline_left"] + p["neckline_right"]) / 2
    hem = (p["top_hem_left"] + p["top_hem_right"]) / 2
    width = np.linalg.norm(p["armpit_right"] - p["armpit_left"])
    # Lapels either side of the opening, and the opening itself down to the hem.
    for tag, sign in (("left", -1), ("right", 1)):
        nl = p[f"neckline_{tag}"]
        tip = neck + (hem - neck) * 0.35
        lapel = np.array([nl, tip, nl + (tip - nl) * 0.5 + sign * width * 0.12 * right])
        pieces.append((lapel, SHADE_BAND, f"lapel_{tag}"))
    pieces.append((np.array([neck + (hem - neck) * 0.3, hem]), 90, "placket"))
    return pieces


def _dress(points, present, rng):
    return _upper(points, present, rng, ["waistline_left", "hemline_left"], hem_sag=0.6)


def _skirt(points, present, rng):
    p = {n: np.asarray(xy, np.float64) for n, xy in points.items()}
    down, right = frame(points)
    wl, wr, hl, hr = p["waistband_left"], p["waistband_right"], p["hemline_left"], p["hemline_right"]
    width = np.linalg.norm(wr - wl)
    hips = float(rng.uniform(0.0, 0.12)) * width
    body = np.concatenate([[wl, wr], _bulge(wr, hr, hips, right)[1:],
                           curve(hr, (hl + hr) / 2 + down * width * float(rng.uniform(0, 0.15)), hl, 9)[1:],
                           _bulge(hl, wl, hips, -right)[1:-1]])
    band_h = width * float(rng.uniform(0.06, 0.14))
    band = np.array([wl, wr, wr + down * band_h, wl + down * band_h])
    return [(body, SHADE_MAIN, "body"), (band, SHADE_BAND, "band")]


def _trousers(points, present, rng):
    p = {n: np.asarray(xy, np.float64) for n, xy in points.items()}
    down, right = frame(points)
    wl, wr, crotch = p["waistband_left"], p["waistband_right"], p["crotch"]
    width = np.linalg.norm(wr - wl)
    drop = float(np.dot(crotch - (wl + wr) / 2, down))
    hip_l = wl + down * drop * 0.7 - right * width * float(rng.uniform(0.0, 0.08))
    hip_r = wr + down * drop * 0.7 + right * width * float(rng.uniform(0.0, 0.08))
    seat = np.array([wl, wr, hip_r, crotch, hip_l])
    left = np.array([hip_l, crotch, p["bottom_left_in"], p["bottom_left_out"]])
    right_leg = np.array([crotch, hip_r, p["bottom_right_out"], p["bottom_right_in"]])
    band_h = width * float(rng.uniform(0.05, 0.1))
    band = np.array([wl, wr, wr + down * band_h, wl + down * band_h])
    legs = [(left, SHADE_MAIN, "leg_left"), (right_leg, SHADE_SLEEVE, "leg_right")]
    if rng.random() < 0.5:      # which leg is in front where they cross
        legs.reverse()
    return [(seat, SHADE_MAIN, "body"), *legs, (band, SHADE_BAND, "band")]


BUILDERS = {"blouse": _blouse, "outwear": _outwear, "dress": _dress,
            "skirt": _skirt, "trousers": _trousers}


def pieces(category, points, present, rng):
    """The garment's pieces, painted in this order; points/present: {name: xy / bool}."""
    return BUILDERS[category](points, present, rng)
