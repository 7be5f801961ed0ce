"""What a shop photo has that a drawing lacks: the camera's exposure, blur and noise, and
the shop's text, watermarks and price tags painted over it.

`camera(img, rng)` changes the whole picture as a camera and an editor do: contrast,
brightness and a colour cast, sometimes a vignette, a slight blur and sensor noise. The
JPEG quality is drawn too (`jpeg_quality`), about the shop photos' ~75. `overlay_text`
paints a shop's marks: a watermark across the picture, a name or web address in a
corner, a price tag; a mark that would hide a visible keypoint is faint or left out.
"""
import string

import cv2
import numpy as np

FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
         cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_ITALIC)
TEXT_SHARE = 0.45          # of the photos carry a shop's mark
MAX_OVER_POINT = 0.35      # the most opaque a mark may be over a visible keypoint


def jpeg_quality(rng):
    return int(rng.integers(65, 96))


def camera(img, rng):
    """The picture as a shop's camera and editor leave it (a new uint8 array)."""
    h, w = img.shape[:2]
    gain = rng.uniform(0.85, 1.15) * rng.uniform(0.95, 1.05, 3)   # contrast and a colour cast
    levels = (np.arange(256, dtype=np.float32)[:, None] - 128.0) * gain + 128.0 + rng.uniform(-18, 18)
    out = cv2.LUT(img, np.clip(levels, 0, 255).astype(np.uint8).reshape(256, 1, 3))
    if rng.random() < 0.25:   # a vignette: the corners darker
        yy, xx = np.mgrid[0:h:8, 0:w:8].astype(np.float32)
        r = np.hypot((xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2))
        shade = cv2.resize(1.0 - rng.uniform(0.1, 0.3) * np.clip(r - 0.5, 0, None) ** 2,
                           (w, h), interpolation=cv2.INTER_LINEAR)
        out = cv2.multiply(out, cv2.merge([shade] * 3), dtype=cv2.CV_8U)
    if rng.random() < 0.4:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.4, 1.3)))
    if rng.random() < 0.5:    # sensor noise, grey, at half resolution
        noise = rng.normal(0.0, rng.uniform(1.0, 5.0), (h // 2 + 1, w // 2 + 1))
        noise = cv2.resize(noise.astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST)
        out = cv2.add(out, cv2.merge([noise] * 3), dtype=cv2.CV_8U)
    return out


def _words(rng):
    """A mark's text: a shop's name, a web address or a price."""
    letters = string.ascii_letters
    name = "".join(rng.choice(list(letters), int(rng.integers(3, 10))))
    kind = rng.random()
    if kind < 0.4:
        return name.upper() if rng.random() < 0.5 else name
    if kind < 0.7:
        return f"www.{name.lower()}.com"
    return f"{rng.integers(19, 999)}.{rng.integers(0, 99):02d}"


def _paint(img, text, origin, font, scale, colour, thickness, alpha):
    layer = img.copy()
    cv2.putText(layer, text, origin, font, scale, colour, thickness, cv2.LINE_AA)
    cv2.addWeighted(layer, alpha, img, 1 - alpha, 0, dst=img)


def _box(text, origin, font, scale, thickness):
    (tw, th), base = cv2.getTextSize(text, font, scale, thickness)
    x, y = origin
    return np.array([x, y - th, x + tw, y + base], np.float64)


def _covers(box, points, margin):
    inside = ((points[:, 0] >= box[0] - margin) & (points[:, 0] <= box[2] + margin)
              & (points[:, 1] >= box[1] - margin) & (points[:, 1] <= box[3] + margin))
    return bool(inside.any())


def overlay_text(img, visible, rng):
    """Paint a shop's marks into `img` (in place); `visible`: (n, 2) visible keypoints."""
    if rng.random() >= TEXT_SHARE:
        return
    h, w = img.shape[:2]
    side = min(h, w)
    visible = np.asarray(visible, np.float64).reshape(-1, 2)
    over_points = False  # one faint mark at most over the visible points: two would add up
    for _ in range(int(rng.integers(1, 4))):
        text, font = _words(rng), FONTS[rng.integers(len(FONTS))]
        scale = side / 512 * float(rng.uniform(0.6, 1.8))
        thickness = int(rng.integers(1, 4))
        colour = tuple(int(c) for c in (rng.integers(0, 60, 3) if rng.random() < 0.4 else
                                        rng.integers(180, 256, 3) if rng.random() < 0.6 else
                                        rng.integers(0, 256, 3)))
        tw = cv2.getTextSize(text, font, scale, thickness)[0][0]
        if rng.random() < 0.35:   # a watermark: large and faint, across the middle
            scale *= 1.6
            tw = cv2.getTextSize(text, font, scale, thickness + 1)[0][0]
            origin = (int(rng.uniform(0, max(1, w - tw))), int(rng.uniform(0.3, 0.8) * h))
            covers = _covers(_box(text, origin, font, scale, thickness + 1), visible, 0.01 * side)
            if not (covers and over_points):
                _paint(img, text, origin, font, scale, colour, thickness + 1,
                       float(rng.uniform(0.12, MAX_OVER_POINT)))
                over_points |= covers
            continue
        x = int(rng.uniform(0.02, 0.1) * w) if rng.random() < 0.5 else max(0, w - tw - int(0.03 * w))
        y = int(rng.uniform(0.05, 0.14) * h) if rng.random() < 0.5 else int(rng.uniform(0.9, 0.97) * h)
        box = _box(text, (x, y), font, scale, thickness)
        alpha = float(rng.uniform(0.5, 1.0))
        covers = _covers(box, visible, 0.01 * side)
        if covers:
            if over_points:
                continue
            alpha, over_points = min(alpha, MAX_OVER_POINT), True
        if rng.random() < 0.3:    # a price tag: a light card behind the text
            pad = int(0.012 * side)
            card = tuple(int(c) for c in rng.integers(215, 256, 3))
            if not _covers(box + [-pad, -pad, pad, pad], visible, 0.01 * side):
                cv2.rectangle(img, (int(box[0]) - pad, int(box[1]) - pad),
                              (int(box[2]) + pad, int(box[3]) + pad), card, -1)
                colour = tuple(int(c) for c in rng.integers(0, 90, 3))
                alpha = 1.0
        _paint(img, text, (x, y), font, scale, colour, thickness, alpha)
