"""The person who wears a synthetic garment, and what hides its occluded points.

`draw_wearer` paints, before the garment, a person-like figure built around the garment's
keypoints: head, hair, neck, arms and hands in skin tones, legs, and the other clothes the
category implies (a top over a skirt, trousers under a blouse). The garment is then
painted over it, so every visible keypoint stays in view.

`hide` paints, after the garment, something over each occluded keypoint, as in the
photos: hair over the neckline, an arm over the armpit, a hand, a bag, a top hanging over a
waistband. Each is shrunk until it keeps clear of every visible keypoint.
"""
import math

import cv2
import numpy as np

from data_tools.garments import frame

SHIFT = 4                     # fixed-point bits for OpenCV's drawing calls
FIX = 1 << SHIFT
# BGR, from light to dark; each image jitters its pick.
SKINS = ((189, 212, 241), (160, 190, 228), (126, 166, 214), (96, 134, 187), (66, 96, 140),
         (48, 68, 101))
HAIRS = ((20, 20, 24), (30, 42, 66), (40, 70, 110), (70, 120, 170), (120, 160, 200),
         (60, 60, 60))
MIN_CLEARANCE = 0.85          # an occluder keeps this share of its distance to a visible point


def _jitter(rng, colour, amount=14):
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


def fixed(pts, origin=(0.0, 0.0)):
    """Image points (N, 2), relative to `origin`, as the fixed-point int32 OpenCV draws with
    SHIFT fractional bits: drawn corners within 1/16 px of the keypoints written."""
    pts = np.asarray(pts, np.float64).reshape(-1, 2) - np.asarray(origin, np.float64)
    return np.round(pts * FIX).astype(np.int32)


def capsule(img, a, b, radius, colour):
    """A rounded bar from a to b (an arm, a lock of hair, a strap)."""
    radius = max(1, int(round(radius * FIX)))
    a, b = fixed(a)[0], fixed(b)[0]
    cv2.line(img, tuple(map(int, a)), tuple(map(int, b)), colour, max(1, 2 * radius // FIX),
             cv2.LINE_AA, SHIFT)
    for end in (a, b):
        cv2.circle(img, tuple(map(int, end)), radius, colour, -1, cv2.LINE_AA, SHIFT)


def ellipse(img, centre, axes, angle_deg, colour):
    cv2.ellipse(img, tuple(map(int, fixed(centre)[0])),
                tuple(int(max(1, round(a * FIX))) for a in axes), angle_deg, 0, 360, colour,
                -1, cv2.LINE_AA, SHIFT)


def polygon(img, pts, colour):
    cv2.fillPoly(img, [fixed(pts)], colour, cv2.LINE_AA, SHIFT)


def _segment_distance(pts, a, b):
    """Distance of each point (n, 2) to the segment a-b."""
    pts = np.asarray(pts, np.float64).reshape(-1, 2)
    ab = b - a
    t = np.clip(((pts - a) @ ab) / max(float(ab @ ab), 1e-9), 0.0, 1.0)
    return np.linalg.norm(pts - (a + t[:, None] * ab), axis=1)


def _angle(vector):
    return math.degrees(math.atan2(vector[1], vector[0]))


def wearer_of(rng):
    """The figure's colours: skin, hair, and the other clothes."""
    return {"skin": _jitter(rng, SKINS[rng.integers(len(SKINS))]),
            "hair": _jitter(rng, HAIRS[rng.integers(len(HAIRS))], 10),
            "clothes": tuple(int(c) for c in rng.integers(20, 236, 3)),
            "long_hair": bool(rng.random() < 0.5)}


def _head(img, neck_mid, up, unit, who, rng):
    """Neck, hair at the back, head; returns the head's centre and its radii."""
    neck_top = neck_mid + up * unit * 0.35
    capsule(img, neck_mid, neck_top, unit * 0.16, who["skin"])
    centre = neck_top + up * unit * 0.42
    axes = (unit * 0.32, unit * 0.42)
    tilt = _angle(up) + 90
    right = np.array([-up[1], up[0]]) * -1
    if who["long_hair"]:
        for side in (-1, 1):      # hair falling behind the shoulders
            top = centre + side * right * unit * 0.25
            capsule(img, top, top - up * unit * float(rng.uniform(0.9, 1.5)), unit * 0.2, who["hair"])
    ellipse(img, centre - up * unit * 0.03, (axes[0] * 1.15, axes[1] * 1.1), tilt, who["hair"])
    ellipse(img, centre - up * unit * 0.06, axes, tilt, who["skin"])
    return centre, axes


def _arm(img, start, end, who, thickness):
    capsule(img, start, end, thickness, who["skin"])
    direction = (end - start) / max(np.linalg.norm(end - start), 1e-6)
    ellipse(img, end + direction * thickness * 0.6, (thickness * 1.3, thickness * 0.9),
            _angle(direction), who["skin"])


def _legs(img, left, right, down, unit, who, bare):
    """Two legs hanging from the points left and right, bare or in `clothes`, with shoes."""
    colour = who["skin"] if bare else who["clothes"]
    for top in (left, right):
        foot = top + down * unit * 2.2
        capsule(img, top, foot, unit * 0.16, colour)
        ellipse(img, foot + down * unit * 0.1, (unit * 0.22, unit * 0.11), _angle(down) + 90,
                (30, 30, 30))


def draw_wearer(img, category, p, present, who, rng):
    """The figure under the garment; p: {name: xy} in pixels. Returns the figure's unit of
    size, about its armpits' distance."""
    down, right = frame(p)
    if category in ("skirt", "trousers"):
        return _under_lower_garment(img, category, p, down, right, who, rng)
    return _under_upper_garment(img, category, p, present, down, right, who, rng)


def _under_lower_garment(img, category, p, down, right, who, rng):
    """A top, arms at the sides and a head above a skirt or trousers; legs or shoes below."""
    up = -down
    wl, wr = p["waistband_left"], p["waistband_right"]
    unit = float(np.linalg.norm(wr - wl)) * 1.25           # about the armpits' distance
    waist = (wl + wr) / 2
    shoulder_l = waist + up * unit * 1.4 - right * unit * 0.55
    shoulder_r = waist + up * unit * 1.4 + right * unit * 0.55
    for shoulder, waist_end, side in ((shoulder_l, wl, -1), (shoulder_r, wr, 1)):
        # arms hanging at the sides
        _arm(img, shoulder, waist_end + right * side * unit * 0.25 + down * unit * 0.45, who,
             unit * 0.13)
    polygon(img, [shoulder_l, shoulder_r, wr + right * unit * 0.05 + down * unit * 0.06,
                  wl - right * unit * 0.05 + down * unit * 0.06], who["clothes"])
    _head(img, waist + up * unit * 1.5, up, unit, who, rng)
    if category == "skirt":
        hl, hr = p["hemline_left"], p["hemline_right"]
        _legs(img, hl + (hr - hl) * 0.3 + up * unit * 0.3, hl + (hr - hl) * 0.7 + up * unit * 0.3,
              down, unit, who, bare=rng.random() < 0.7)
    else:
        for name in ("bottom_left", "bottom_right"):
            foot = (p[f"{name}_in"] + p[f"{name}_out"]) / 2 + down * unit * 0.08
            ellipse(img, foot, (unit * 0.2, unit * 0.1), _angle(down) + 90, (30, 30, 30))
    return unit


def _under_upper_garment(img, category, p, present, down, right, who, rng):
    """Arms through the sleeves (or hanging from the armholes), legs or other clothes below
    the hem, and a neck and head above the neckline."""
    up = -down
    al, ar = p["armpit_left"], p["armpit_right"]
    unit = float(np.linalg.norm(ar - al))
    for tag, side in (("left", -1), ("right", 1)):
        shoulder = p[f"shoulder_{tag}"] if present[f"shoulder_{tag}"] else \
            (p[f"neckline_{tag}"] + p[f"armpit_{tag}"]) / 2
        root = (shoulder + p[f"armpit_{tag}"]) / 2
        if present[f"cuff_{tag}_in"] or present[f"cuff_{tag}_out"]:
            cuff = (p[f"cuff_{tag}_in"] + p[f"cuff_{tag}_out"]) / 2
            along = cuff - root
            length = max(float(np.linalg.norm(along)), 1e-6)
            rest = max(unit * 0.35, unit * 2.3 - length)
            width = float(np.clip(np.linalg.norm(p[f"cuff_{tag}_in"] - p[f"cuff_{tag}_out"]) * 0.4,
                                  unit * 0.08, unit * 0.16))
            _arm(img, root, cuff + along / length * rest, who, width)
        else:
            swing = math.radians(float(rng.uniform(5, 25))) * side
            c, s = math.cos(swing), math.sin(swing)
            hang = np.array([c * down[0] - s * down[1], s * down[0] + c * down[1]])
            _arm(img, root, root + hang * unit * 2.3, who, unit * 0.12)
    if category == "dress":
        hl, hr = p["hemline_left"], p["hemline_right"]
        _legs(img, hl + (hr - hl) * 0.3 + up * unit * 0.2, hl + (hr - hl) * 0.7 + up * unit * 0.2,
              down, unit, who, bare=True)
    else:
        hl, hr = p["top_hem_left"], p["top_hem_right"]
        skirt = rng.random() < 0.3
        bottom = unit * (1.0 if skirt else 2.6)
        flare = unit * (0.35 if skirt else 0.05)
        polygon(img, [hl + up * unit * 0.2, hr + up * unit * 0.2,
                      hr + down * bottom + right * flare, (hl + hr) / 2 + down * bottom,
                      hl + down * bottom - right * flare], who["clothes"])
        if skirt:
            _legs(img, hl + (hr - hl) * 0.3 + down * unit * 0.9, hl + (hr - hl) * 0.7 + down * unit * 0.9,
                  down, unit, who, bare=True)
    neck_mid = (p["neckline_left"] + p["neckline_right"]) / 2
    _head(img, neck_mid + down * unit * 0.05, up, unit, who, rng)
    return unit


def _clear_radius(want, a, b, visible):
    """The largest radius up to `want` at which the bar a-b keeps clear of the visible points."""
    if not len(visible):
        return want
    return min(want, MIN_CLEARANCE * float(_segment_distance(visible, a, b).min()))


def hide(img, names, xy, v, down, unit, who, worn, rng):
    """Paint something over every occluded point (v == 0), clear of every visible one.

    down: the garment's downward direction; unit: its armpits' distance, about. Returns how
    many occluders were painted. `who` gives skin and hair when the garment is
    worn; laid flat, tags, bags and folds of another cloth hide the points instead.
    """
    visible = xy[v == 1]
    hidden = np.flatnonzero(v == 0)
    painted = 0
    done = np.zeros(len(names), bool)
    band = [names.index(n) for n in ("waistband_left", "waistband_right") if n in names]
    if worn and band and all(v[i] == 0 for i in band) and rng.random() < 0.8:
        # A top hanging over the waistband hides both ends of it at once.
        a, b = xy[band[0]], xy[band[1]]
        out = (b - a) / max(np.linalg.norm(b - a), 1e-6) * unit * 0.15
        a, b = a - out + down * unit * 0.02, b + out + down * unit * 0.02
        r = _clear_radius(unit * 0.12, a, b, visible)
        capsule(img, a, b, max(r, 2.0), who["clothes"])
        done[band] = True
        painted += 1
    for i in rng.permutation(hidden):
        if done[i]:
            continue
        point, name = xy[i], names[i]
        if worn and name.startswith(("neckline", "shoulder")):
            # A lock of hair falling from above over the point.
            a, b = point - down * unit * 0.6, point + down * unit * float(rng.uniform(0.1, 0.4))
            colour, want = who["hair"], unit * float(rng.uniform(0.08, 0.16))
        elif worn and rng.random() < 0.7:
            # An arm or a hand across the point.
            tilt = float(rng.uniform(-0.6, 0.6))
            direction = down + tilt * np.array([down[1], -down[0]])
            direction /= np.linalg.norm(direction)
            reach = unit * float(rng.uniform(0.0, 0.5))
            a, b = point - direction * reach, point + direction * unit * float(rng.uniform(0.05, 0.3))
            colour, want = who["skin"], unit * float(rng.uniform(0.08, 0.15))
        else:
            # A bag, a tag, a fold of another cloth.
            a = b = point + rng.normal(0, unit * 0.03, 2)
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            want = unit * float(rng.uniform(0.07, 0.2))
        r = _clear_radius(want, a, b, visible)
        if r < 2.0 or _segment_distance(point, a, b)[0] > 0.5 * r:
            # Too close to a visible point for a bar, or shrunk off its own point: a patch
            # centred on the point.
            a = b = point
            r = _clear_radius(want, a, b, visible)
        capsule(img, a, b, max(r, 1.5), colour)
        painted += 1
        # What this one covers needs no occluder of its own.
        done |= (v == 0) & (_segment_distance(xy, a, b) <= r)
    return painted
