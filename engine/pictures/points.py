"""Points on a tile: ground truth (filled visible, hollow occluded), predictions, the error
lines between them, and the keypoints' names, placed so that they overlap each other and
the points as little as possible."""
import numpy as np

from engine.pictures.canvas import (GT_COLOR, LINE_COLOR, NAME_COLOR, NAME_FONTSIZE,
                                    PRED_COLOR, THIN_STROKE, TILE_IN)


def draw_points(ax, size, pred_xy, gt, names, label=True, tile_in=None):
    """Ground truth (filled visible, hollow occluded, absent skipped), predictions, error lines,
    names next to the predictions (next to the ground truth when there is no prediction),
    placed so that they overlap each other and the points as little as possible."""
    h, w = size
    k = len(names)
    pred = None if pred_xy is None else np.asarray(pred_xy, np.float64).reshape(k, -1)[:, :2]
    truth = None if gt is None else np.asarray(gt, np.float64).reshape(k, -1)
    anchors = []
    for i in range(k):
        g = None if truth is None else truth[i]
        if g is None:
            has_gt = False
        elif g.shape[0] == 2:  # x, y without visibility: taken as visible
            has_gt = bool(np.isfinite(g).all())
        else:
            has_gt = bool(g[2] >= 0 and np.isfinite(g[:2]).all())
        p = None if pred is None else pred[i]
        has_pred = p is not None and bool(np.isfinite(p).all())
        if has_gt and has_pred:
            ax.plot([g[0], p[0]], [g[1], p[1]], color=LINE_COLOR, lw=1.0, alpha=0.9, zorder=3)
        if has_gt:
            visible = g.shape[0] == 2 or g[2] >= 1
            ax.plot(g[0], g[1], ls="none", marker="o", ms=4.5, zorder=4,
                    mfc=GT_COLOR if visible else "none", mec="black" if visible else GT_COLOR,
                    mew=0.7 if visible else 1.4)
            anchors.append((g[0], g[1], None))
        if has_pred:
            ax.plot(p[0], p[1], ls="none", marker="o", ms=4.5, mfc=PRED_COLOR, mec="white",
                    mew=0.7, zorder=5)
        if has_pred:
            anchors.append((p[0], p[1], names[i]))
        elif has_gt:
            anchors[-1] = (g[0], g[1], names[i])
    if label:
        _place_names(ax, anchors, (h, w), tile_in or TILE_IN)


# Candidate label positions around a point: (ha, va, dx, dy) in points, y up.
_LABEL_SPOTS = (("left", "bottom", 3, 1), ("left", "top", 3, -1), ("right", "bottom", -3, 1),
                ("right", "top", -3, -1), ("center", "bottom", 0, 4), ("center", "top", 0, -4),
                ("left", "center", 5, 0), ("right", "center", -5, 0))


def _label_box(x, y, width, height, spot):
    ha, va, dx, dy = spot
    x0 = {"left": x + dx, "right": x + dx - width, "center": x + dx - width / 2}[ha]
    y0 = {"bottom": y + dy, "top": y + dy - height, "center": y + dy - height / 2}[va]
    return x0, y0, x0 + width, y0 + height


def _overlap(a, b):
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _place_names(ax, anchors, size, tile_in):
    """Each name beside its point, at the spot that overlaps least with names already placed,
    with the points and with the tile's edge (boxes estimated from the font size). Where
    points are so dense that two names would still overlap, every name goes to the tile's
    nearer side instead, in a column, with a line to its point."""
    h, w = size
    side = tile_in * 72.0
    scale = side / max(h, w)                      # points per image pixel
    ox, oy = (side - w * scale) / 2, (side - h * scale) / 2
    pts = [(ox + x * scale, side - (oy + y * scale)) for x, y, _ in anchors]
    dots = [(x - 2.5, y - 2.5, x + 2.5, y + 2.5) for x, y in pts]
    tile = (0.0, 0.0, side, side)
    corner = (0.0, 0.0, 100.0, 12.0)              # the corner note (mean error / peak)
    placed, spots = [corner], {}
    named = sorted((i for i, a in enumerate(anchors) if a[2]), key=lambda i: (-pts[i][1], pts[i][0]))
    for i in named:
        x, y = pts[i]
        width, height = _name_size(anchors[i][2])
        best, best_cost = _LABEL_SPOTS[0], None
        for spot in _LABEL_SPOTS:
            box = _label_box(x, y, width, height, spot)
            outside = width * height - _overlap(box, tile)
            cost = (3.0 * outside + sum(_overlap(box, b) for b in placed)
                    + 0.5 * sum(_overlap(box, d) for j, d in enumerate(dots) if j != i))
            if best_cost is None or cost < best_cost - 1e-9:
                best, best_cost = spot, cost
        placed.append(_label_box(x, y, width, height, best))
        spots[i] = best
    names_clash = any(_overlap(a, b) > 1.0 for n, a in enumerate(placed) for b in placed[n + 1:])
    if names_clash:
        _names_in_columns(ax, anchors, pts, named, side)
        return
    for i in named:
        ha, va, dx, dy = spots[i]
        ax.annotate(anchors[i][2], (anchors[i][0], anchors[i][1]), xytext=(dx, dy),
                    textcoords="offset points", ha=ha, va=va, fontsize=NAME_FONTSIZE,
                    color=NAME_COLOR, zorder=6, path_effects=THIN_STROKE,
                    annotation_clip=False, clip_on=True)


def _name_size(name):
    """(width, height) in points of a name at NAME_FONTSIZE, estimated."""
    return 0.56 * NAME_FONTSIZE * len(name), 1.15 * NAME_FONTSIZE


def _names_in_columns(ax, anchors, pts, named, side):
    """Names of the points left of the garment's middle down the tile's left edge, the others
    down its right edge, each at its point's height where there is room, pushed apart just
    enough not to touch."""
    margin, step = 3.0, 1.4 * NAME_FONTSIZE
    middle = np.median([pts[i][0] for i in named])
    for left in (True, False):
        column = sorted((i for i in named if (pts[i][0] < middle) == left), key=lambda i: -pts[i][1])
        if not column:
            continue
        top, bottom = side - margin - step / 2, margin + 12.0 + step / 2  # clear of the corner note
        heights = []
        for i in column:                  # top down: at the point's height, or just below the last
            heights.append(min(pts[i][1], top if not heights else heights[-1] - step))
        low = bottom
        for n in range(len(heights) - 1, -1, -1):   # bottom up: lift those pushed off the tile
            heights[n] = max(heights[n], low)
            low = heights[n] + step
        for i, y in zip(column, heights):
            ax.annotate(anchors[i][2], (anchors[i][0], anchors[i][1]),
                        xytext=(margin if left else side - margin, y), textcoords="axes points",
                        ha="left" if left else "right", va="center", fontsize=NAME_FONTSIZE,
                        color=NAME_COLOR, zorder=6, path_effects=THIN_STROKE,
                        annotation_clip=False, clip_on=True,
                        arrowprops=dict(arrowstyle="-", color=NAME_COLOR, lw=0.6, alpha=0.8,
                                        shrinkA=1, shrinkB=3))


def mean_error_px(pred_xy, gt):
    """Mean pixel distance over visible ground truth, or None."""
    if pred_xy is None or gt is None:
        return None
    pred = np.asarray(pred_xy, np.float64)[..., :2]
    truth = np.asarray(gt, np.float64)
    if truth.shape[-1] < 3:
        return None
    visible = (truth[..., 2] >= 1) & np.isfinite(pred).all(-1) & np.isfinite(truth[..., :2]).all(-1)
    if not visible.any():
        return None
    return float(np.linalg.norm(pred[visible] - truth[visible, :2], axis=-1).mean())
