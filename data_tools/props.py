"""What holds a garment in a shop's product shot: a hanger or a dress form.

About half of the FashionAI photos show no person: the garment hangs on a hanger, is
pinned on a mannequin, or lies flat. Both props are painted before the garment, so the
garment covers them where it lies over them and every visible keypoint stays in view:
a hanger's hook and a mannequin's neck show above the neckline, a clip hanger's bar above
a waistband, a form's stand below a skirt.
"""
import numpy as np

from data_tools.people import capsule, ellipse, polygon

# BGR: white, ivory, beige, grey and black forms; wooden, black, white and chrome hangers.
FORMS = ((235, 235, 235), (205, 225, 240), (150, 180, 210), (150, 150, 150), (40, 40, 40))
HANGERS = ((60, 110, 160), (30, 30, 30), (240, 240, 240), (190, 190, 195))


def _pick(rng, colours, jitter=12):
    colour = np.asarray(colours[rng.integers(len(colours))], np.int64)
    return tuple(int(c) for c in np.clip(colour + rng.integers(-jitter, jitter + 1, 3), 0, 255))


def hanger(img, category, p, down, right, unit, rng):
    """A coat hanger under an upper garment (its hook above the neckline), or a clip
    hanger's bar above a skirt's or trousers' waistband."""
    up = -down
    colour = _pick(rng, HANGERS)
    thick = max(1.5, unit * 0.035)
    if category in ("skirt", "trousers"):
        left, right_end = p["waistband_left"], p["waistband_right"]
        bar_l = left - right * unit * 0.1 + up * unit * 0.12
        bar_r = right_end + right * unit * 0.1 + up * unit * 0.12
        capsule(img, bar_l, bar_r, thick, colour)
        top = (bar_l + bar_r) / 2
    else:
        neck = (p["neckline_left"] + p["neckline_right"]) / 2
        reach = unit * 0.62
        capsule(img, neck - right * reach + down * unit * 0.18, neck + up * unit * 0.05, thick,
                colour)
        capsule(img, neck + right * reach + down * unit * 0.18, neck + up * unit * 0.05, thick,
                colour)
        top = neck + up * unit * 0.05
    # The hook: a stem, then an open loop.
    stem = top + up * unit * 0.22
    chrome = HANGERS[3]
    capsule(img, top, stem, thick * 0.6, chrome)
    centre = stem + up * unit * 0.08 + right * unit * 0.08
    turn = np.linspace(np.pi, np.pi * 2.6, 9)
    arc = centre + unit * 0.08 * (np.cos(turn)[:, None] * right + np.sin(turn)[:, None] * up)
    for a, b in zip(arc[:-1], arc[1:]):
        capsule(img, a, b, thick * 0.6, chrome)


def form(img, category, p, down, right, unit, rng):
    """A dress form: a headless torso with a neck stub under an upper garment, or hips on a
    stand under a skirt or trousers."""
    up = -down
    colour = _pick(rng, FORMS)
    if category in ("skirt", "trousers"):
        left, right_end = p["waistband_left"], p["waistband_right"]
        waist = (left + right_end) / 2
        polygon(img, [left + up * unit * 0.45 + right * unit * 0.05,
                      right_end + up * unit * 0.45 - right * unit * 0.05,
                      right_end + down * unit * 0.35 + right * unit * 0.12,
                      left + down * unit * 0.35 - right * unit * 0.12], colour)
        ellipse(img, waist + up * unit * 0.45, (unit * 0.08, unit * 0.25), 0, colour)
        capsule(img, waist, waist + down * unit * 2.6, unit * 0.035, (90, 90, 90))
        return
    neck = (p["neckline_left"] + p["neckline_right"]) / 2
    armpits = (p["armpit_left"], p["armpit_right"])
    shoulder_l = neck - right * unit * 0.5 + down * unit * 0.12
    shoulder_r = neck + right * unit * 0.5 + down * unit * 0.12
    polygon(img, [shoulder_l, shoulder_r, armpits[1] + down * unit * 0.9,
                  armpits[0] + down * unit * 0.9], colour)
    capsule(img, neck + down * unit * 0.05, neck + up * unit * 0.3, unit * 0.15, colour)
    ellipse(img, neck + up * unit * 0.32, (unit * 0.17, unit * 0.06), 0, _pick(rng, HANGERS[:2]))
    bottom = (armpits[0] + armpits[1]) / 2 + down * unit * 0.9
    capsule(img, bottom, bottom + down * unit * 2.0, unit * 0.035, (90, 90, 90))
