"""Pictures of what a model sees: stage-by-stage belief maps, per-keypoint maps, points.

numpy in, PNG out. No TensorFlow here: callers hand over numpy arrays.

Conventions (the same as the rest of the package):

- `image`: uint8 (S, S, 3) RGB, the letterboxed network input (float images are
  accepted too, see `_as_rgb_uint8`);
- `maps`: float (M, M, K), M = S / stride, one map per keypoint (a spatial softmax
  for CPM, a peak-1 Gaussian regression for the hourglass);
- keypoints in input pixels, pixel-centre convention (pixel (i, j) is at x = j, y = i):
  `pred_xy` (K, 2), `gt` (K, 3) x, y, v with v 1 visible, 0 occluded, -1 absent
  (absent ground truth is never drawn);
- `names`: the K keypoint names.

Batched variants put the image index first: images (N, S, S, 3), maps (N, M, M, K),
`pred_xy` (N, K, 2), `gt` (N, K, 3). A single unbatched image is accepted as N = 1.

Every writer saves atomically (data_tools.atomic) and returns the path it was given.
Figures are drawn with the Agg canvas directly (`matplotlib.figure.Figure`, not pyplot), so nothing is left open
in pyplot's registry and the code runs headless whatever backend a caller uses.
"""
import math
import sys

import cv2
import matplotlib
import numpy as np

from data_tools import atomic

if "matplotlib.pyplot" not in sys.modules:  # switching later would close a user's figures
    matplotlib.use("Agg")
from matplotlib import patheffects  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

TILE_IN = 3.0          # side of one tile, inches
DPI = 80               # 240 px per tile
PNG_BITS = 6           # colour bits per channel kept in the PNG (8: all)
MAX_IMAGES = 8         # rows drawn at most by the grid writers (a safety net, not a default batch)

PRED_COLOR = "#ff2bd6"   # magenta: predicted points
GT_COLOR = "#19f26b"     # green: ground truth (filled: visible, hollow: occluded)
LINE_COLOR = "#ffe600"   # yellow: ground truth -> prediction
NAME_COLOR = "white"      # keypoint names (black outline), readable on any background
NAME_FONTSIZE = 7.0
TITLE_FONTSIZE = 11.0
SUPTITLE_FONTSIZE = 13.0

_GAP_IN = 0.1            # white space between tiles (the test counts tiles by it)
_LEFT_IN = 0.3           # room for row labels
_RIGHT_IN = 0.1
_COLTITLE_IN = 0.3       # above each row of tiles (column titles on the first row)
_BOTTOM_IN = 0.1
_MIN_WIDTH_IN = 7.6      # the four-entry legend's width
_EPS = 1e-12

_STROKE = [patheffects.withStroke(linewidth=1.6, foreground="black")]
_THIN_STROKE = [patheffects.withStroke(linewidth=1.3, foreground="black")]


# --------------------------------------------------------------------------- maps

def combine_maps(maps):
    """All keypoints' maps as one (M, M) display map in [0, 1].

    Each map is clipped at 0 and divided by its own peak, then the maximum over
    keypoints is taken, so a softmax map (sums to 1, peak maybe 0.05) and a peak-1
    Gaussian both show at full strength. An all-zero map (an absent keypoint's
    target) stays zero. NaN and inf count as 0. maps: (M, M, K) or (M, M).
    """
    m = np.asarray(maps, dtype=np.float32)
    if m.ndim == 2:
        m = m[..., None]
    if m.ndim != 3:
        raise ValueError(f"combine_maps: expected maps of shape (M, M, K), got {m.shape}")
    if m.shape[-1] == 0:
        return np.zeros(m.shape[:2], np.float32)
    m = np.maximum(np.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0), 0.0)
    peak = m.max(axis=(0, 1), keepdims=True)
    norm = np.divide(m, peak, out=np.zeros_like(m), where=peak > _EPS)
    return np.clip(norm.max(axis=-1), 0.0, 1.0)


def _normalise_one(heat):
    """One map clipped at 0 and scaled to its own peak (zeros if it has none)."""
    return combine_maps(np.asarray(heat, np.float32)[..., None])


def overlay(image, heat, alpha=0.65, colormap=cv2.COLORMAP_JET):
    """`heat` (M, M) in [0, 1] upsampled to the image and blended over it as a colour map.

    Upsampling is cv2.resize INTER_LINEAR (cell i covers pixels [i·stride, (i+1)·stride)).
    The blend weight grows with the heat from 0 (alpha·min(1, 2·heat)): where a map is
    zero the photo shows as it is, not under a dark blue veil, and half the peak already
    shows at full strength. A (M, M, K) stack is combined first with `combine_maps`.
    Returns uint8 with the image's shape (S, S, 3).
    """
    img = _as_rgb_uint8(image)
    h, w = img.shape[:2]
    heat = np.asarray(heat, dtype=np.float32)
    if heat.ndim == 3:
        heat = combine_maps(heat)
    if heat.ndim != 2:
        raise ValueError(f"overlay: expected a (M, M) map, got {heat.shape}")
    heat = np.clip(np.nan_to_num(heat, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    up = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    up = np.clip(up, 0.0, 1.0)
    colour = cv2.applyColorMap(np.round(up * 255).astype(np.uint8), colormap)
    colour = cv2.cvtColor(colour, cv2.COLOR_BGR2RGB).astype(np.float32)
    a = (alpha * np.minimum(1.0, 2.0 * up))[..., None]
    out = img.astype(np.float32) * (1.0 - a) + colour * a
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _as_rgb_uint8(image):
    """uint8 RGB (H, W, 3) from uint8/float, grey or RGB input.

    Float images: [0, 1] is scaled by 255, [-1, 1] (min < 0) is mapped to [0, 255],
    anything else is taken as 0..255 and clipped.
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise ValueError(f"expected an (S, S, 3) RGB image, got {np.shape(image)}")
    img = img[..., :3]
    if img.dtype == np.uint8:
        return np.ascontiguousarray(img)
    img = np.nan_to_num(img.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0)
    lo, hi = float(img.min(initial=0.0)), float(img.max(initial=0.0))
    if lo < 0.0 and lo >= -1.0 - 1e-3 and hi <= 1.0 + 1e-3:
        img = (img + 1.0) * 127.5
    elif hi <= 1.0 + 1e-3:
        img = img * 255.0
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- layout

def grid_columns(n_stages, has_gt, stage_label="stage", keypoints_tile=True):
    """Column titles of a grid, left to right; `stage_grid` and `points_grid` draw exactly these.

    grid_columns(6, True) -> ["stage 1", ..., "stage 6", "ground truth", "keypoints"].
    """
    if n_stages < 1:
        raise ValueError("a grid needs at least one stage")
    columns = [f"{stage_label} {s + 1}" for s in range(n_stages)]
    if has_gt:
        columns.append("ground truth")
    if keypoints_tile:
        columns.append("keypoints")
    return columns


class _Grid:
    """A figure of equal square tiles placed in inches: predictable size, no tight_layout."""

    def __init__(self, n_rows, n_cols, header_in, tile_in=TILE_IN):
        self.n_rows, self.n_cols, self.tile = n_rows, n_cols, tile_in
        self.header = header_in
        tiles_width = _LEFT_IN + n_cols * tile_in + (n_cols - 1) * _GAP_IN + _RIGHT_IN
        self.width = max(tiles_width, _MIN_WIDTH_IN)     # room for the title and the legend
        self.x0 = (self.width - tiles_width) / 2          # narrow grids are centred
        self.height = header_in + n_rows * (_COLTITLE_IN + tile_in) + _BOTTOM_IN
        self.fig = Figure(figsize=(self.width, self.height), dpi=DPI, facecolor="white")
        FigureCanvasAgg(self.fig)

    def ax(self, row, col):
        left = self.x0 + _LEFT_IN + col * (self.tile + _GAP_IN)
        top = self.header + _COLTITLE_IN + row * (_COLTITLE_IN + self.tile)
        rect = (left / self.width, 1.0 - (top + self.tile) / self.height,
                self.tile / self.width, self.tile / self.height)
        ax = self.fig.add_axes(rect)
        ax.set_axis_off()
        return ax

    def header_y(self, inches_from_top):
        return 1.0 - inches_from_top / self.height


def _header(grid, title, legend_handles):
    """Overall title, then the legend, in the space above the first row."""
    y = 0.12
    if title:
        title = str(title)
        fits = 0.95 * grid.width * 72.0 / (0.62 * max(len(title), 1))   # long titles shrink
        grid.fig.text(0.5, grid.header_y(y), title, ha="center", va="top",
                      fontsize=max(6.0, min(SUPTITLE_FONTSIZE, fits)), fontweight="bold")
        y += 0.32
    if legend_handles:
        grid.fig.legend(handles=legend_handles, loc="upper center", ncol=len(legend_handles),
                        bbox_to_anchor=(0.5, grid.header_y(y - 0.04)), frameon=False,
                        fontsize=9, handletextpad=0.4, columnspacing=1.5, borderaxespad=0.0)


def _header_height(title, legend):
    return 0.1 + (0.32 if title else 0.0) + (0.3 if legend else 0.0)


def _legend_handles(with_pred=True, with_gt=True):
    handles = []
    if with_pred:
        handles.append(Line2D([], [], ls="none", marker="o", ms=6, mfc=PRED_COLOR,
                              mec="white", mew=0.8, label="predicted"))
    if with_gt:
        handles += [
            Line2D([], [], ls="none", marker="o", ms=6, mfc=GT_COLOR, mec="black",
                   mew=0.8, label="ground truth (visible)"),
            Line2D([], [], ls="none", marker="o", ms=6, mfc="none", mec=GT_COLOR,
                   mew=1.5, label="ground truth (occluded)"),
        ]
    if with_pred and with_gt:
        handles.append(Line2D([], [], color=LINE_COLOR, lw=1.2, label="error (truth → prediction)"))
    return handles


# --------------------------------------------------------------------------- drawing

def _show(ax, rgb):
    ax.imshow(rgb, interpolation="bilinear")
    h, w = rgb.shape[:2]
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)


def _draw_points(ax, size, pred_xy, gt, names, label=True, tile_in=None):
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
                    color=NAME_COLOR, zorder=6, path_effects=_THIN_STROKE,
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
                        color=NAME_COLOR, zorder=6, path_effects=_THIN_STROKE,
                        annotation_clip=False, clip_on=True,
                        arrowprops=dict(arrowstyle="-", color=NAME_COLOR, lw=0.6, alpha=0.8,
                                        shrinkA=1, shrinkB=3))


def _mean_error_px(pred_xy, gt):
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


def _corner_note(ax, text):
    ax.text(0.02, 0.02, text, transform=ax.transAxes, ha="left", va="bottom",
            fontsize=7.5, color="white", path_effects=_THIN_STROKE, zorder=7)


# --------------------------------------------------------------------------- input checks

def _batched(x, ndim, what):
    """Add a leading image axis to an unbatched array; None passes through."""
    if x is None:
        return None
    a = np.asarray(x)
    if a.ndim == ndim - 1:
        a = a[None]
    if a.ndim != ndim:
        raise ValueError(f"{what}: expected {ndim - 1}- or {ndim}-d array, got shape {a.shape}")
    return a


def _stage_list(stage_maps, ndim, what):
    """A list over stages; a single array with one more axis than a stage is split."""
    if isinstance(stage_maps, np.ndarray) and stage_maps.ndim == ndim + 1:
        stage_maps = list(stage_maps)
    elif isinstance(stage_maps, np.ndarray) and stage_maps.ndim in (ndim, ndim - 1):
        stage_maps = [stage_maps]
    stages = [_batched(s, ndim, what) for s in stage_maps]
    if not stages:
        raise ValueError(f"{what}: no stages given")
    return stages


def _check_rows(n, k, **arrays):
    """Each batched array (or None) has at least n images and k keypoints (last or 2nd axis)."""
    for what, a in arrays.items():
        if a is None:
            continue
        keypoints = a.shape[-1] if a.ndim == 4 else a.shape[1]
        if len(a) < n or keypoints != k:
            raise ValueError(f"{what}: shape {a.shape} does not match {n} images and {k} keypoints")


def _names(names, k):
    if names is None:
        return [str(i) for i in range(k)]
    names = [str(n) for n in names]
    if len(names) != k:
        raise ValueError(f"{len(names)} keypoint names for {k} keypoints")
    return names


# --------------------------------------------------------------------------- writers

def stage_grid(path, images, stage_maps, gt_maps, pred_xy, gt, names, title=None,
               stage_label="stage", row_labels=None, max_images=MAX_IMAGES, context=None):
    """One row per image: a tile per stage (maps combined over keypoints, on the image),
    the ground-truth maps (skipped if `gt_maps` is None), then the final predicted keypoints
    (magenta, names in white) and the ground truth (green) with a line from each truth to its prediction.

    images (N, S, S, 3) uint8; stage_maps: list over stages of (N, M, M, K); gt_maps
    (N, M, M, K) or None; pred_xy (N, K, 2) or None; gt (N, K, 3) or None; names (K,).
    Column titles are `grid_columns(len(stage_maps), gt_maps is not None, stage_label)`.
    `title` (e.g. "epoch 12 · val NE 0.081") heads the figure; `row_labels` (N strings,
    e.g. image ids) go left of each row. At most `max_images` rows are drawn.
    context: for a second stage, (whole images (N, S', S', 3), boxes (N, 4) x0 y0 x1 y1 in
    their pixels): a first column shows each crop's box on its whole image.
    Returns `path`.
    """
    images = _batched(images, 4, "images")
    stages = _stage_list(stage_maps, 4, "stage_maps")
    gt_maps = _batched(gt_maps, 4, "gt_maps")
    pred_xy = _batched(pred_xy, 3, "pred_xy")
    gt = _batched(gt, 3, "gt")
    n = len(images) if max_images is None else min(len(images), int(max_images))
    k = stages[-1].shape[-1]
    names = _names(names, k)
    for s, m in enumerate(stages):
        if len(m) < n or m.shape[-1] != k:
            raise ValueError(f"stage_maps[{s}]: shape {m.shape} does not match "
                             f"{len(images)} images and {k} keypoints")
    _check_rows(n, k, gt_maps=gt_maps, pred_xy=pred_xy, gt=gt)
    columns = _with_context(grid_columns(len(stages), gt_maps is not None, stage_label), context)
    has_legend = pred_xy is not None or gt is not None
    grid = _Grid(n, len(columns), _header_height(title, has_legend))
    _header(grid, title, _legend_handles(pred_xy is not None, gt is not None) if has_legend else None)
    for r in range(n):
        rgb = _as_rgb_uint8(images[r])
        tiles = [_box_tile(context, r)] if context is not None else []
        tiles += [overlay(rgb, combine_maps(m[r])) for m in stages]
        if gt_maps is not None:
            tiles.append(overlay(rgb, combine_maps(gt_maps[r])))
        for c, tile in enumerate(tiles):
            ax = grid.ax(r, c)
            _show(ax, tile)
            if r == 0:
                ax.set_title(columns[c], fontsize=TITLE_FONTSIZE, pad=4)
            if c == 0 and row_labels is not None:
                _row_label(ax, row_labels[r])
        ax = grid.ax(r, len(columns) - 1)
        _show(ax, rgb)
        p = None if pred_xy is None else pred_xy[r]
        g = None if gt is None else gt[r]
        _draw_points(ax, rgb.shape[:2], p, g, names)
        err = _mean_error_px(p, g)
        if err is not None:
            _corner_note(ax, f"mean error {err:.1f} px")
        if r == 0:
            ax.set_title(columns[-1], fontsize=TITLE_FONTSIZE, pad=4)
        if len(columns) == 1 and row_labels is not None:
            _row_label(ax, row_labels[r])
    save_figure(grid.fig, path)
    return path


def keypoint_panel(path, image, maps, names, pred_xy=None, gt=None, title=None):
    """One tile per keypoint: its map (normalised to its own peak) over the image, titled
    with the keypoint's name, the raw peak value in the corner, the prediction marked if
    given (and the ground truth if `gt` (K, 3) is given; absent ground truth is not drawn).

    image (S, S, 3); maps (M, M, K) (the last stage); pred_xy (K, 2) or None. Returns `path`.
    """
    rgb = _as_rgb_uint8(image)
    maps = np.asarray(maps, np.float32)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f"keypoint_panel: expected maps (M, M, K), got {maps.shape}")
    k = maps.shape[-1]
    names = _names(names, k)
    pred = None if pred_xy is None else np.asarray(pred_xy, np.float64).reshape(k, -1)
    truth = None if gt is None else np.asarray(gt, np.float64).reshape(k, -1)
    n_cols = max(min(k, 4), math.ceil(math.sqrt(k))) if k else 1
    n_rows = max(1, math.ceil(k / n_cols))
    with_legend = pred is not None or truth is not None
    grid = _Grid(n_rows, n_cols, _header_height(title, with_legend))
    _header(grid, title, _legend_handles(pred is not None, truth is not None) if with_legend else None)
    for i in range(k):
        ax = grid.ax(i // n_cols, i % n_cols)
        _show(ax, overlay(rgb, _normalise_one(maps[..., i])))
        ax.set_title(names[i], fontsize=TITLE_FONTSIZE, pad=4)
        one_pred = None if pred is None else pred[i:i + 1]
        one_gt = None if truth is None else truth[i:i + 1]
        _draw_points(ax, rgb.shape[:2], one_pred, one_gt, [names[i]], label=False)
        peak = np.nan_to_num(maps[..., i], nan=0.0, posinf=0.0, neginf=0.0).max()
        _corner_note(ax, f"peak {peak:.3g}")
    save_figure(grid.fig, path)
    return path


def points_grid(path, images, stage_xy, gt, names, title=None, stage_label="stage",
                row_labels=None, max_images=MAX_IMAGES, context=None):
    """For regression (no maps): one row per image, one tile per cascade stage, each with
    that stage's predicted points (magenta, named), the ground truth (green) and the error
    lines, the mean pixel error over visible keypoints in the corner, and a legend.

    images (N, S, S, 3); stage_xy: list over stages of (N, K, 2); gt (N, K, 3) or None.
    Column titles are `grid_columns(len(stage_xy), False, stage_label, keypoints_tile=False)`;
    `context` as for `stage_grid`. Returns `path`.
    """
    images = _batched(images, 4, "images")
    stages = _stage_list(stage_xy, 3, "stage_xy")
    gt = _batched(gt, 3, "gt")
    n = len(images) if max_images is None else min(len(images), int(max_images))
    k = stages[-1].shape[1]
    names = _names(names, k)
    for s, xy in enumerate(stages):
        if len(xy) < n or xy.shape[1] != k:
            raise ValueError(f"stage_xy[{s}]: shape {xy.shape} does not match "
                             f"{len(images)} images and {k} keypoints")
    _check_rows(n, k, gt=gt)
    columns = _with_context(grid_columns(len(stages), False, stage_label,
                                         keypoints_tile=False), context)
    grid = _Grid(n, len(columns), _header_height(title, True))
    _header(grid, title, _legend_handles(True, gt is not None))
    skip = 0 if context is None else 1
    for r in range(n):
        rgb = _as_rgb_uint8(images[r])
        g = None if gt is None else gt[r]
        if context is not None:
            ax = grid.ax(r, 0)
            _show(ax, _box_tile(context, r))
            if r == 0:
                ax.set_title(columns[0], fontsize=TITLE_FONTSIZE, pad=4)
        for c, xy in enumerate(stages, start=skip):
            ax = grid.ax(r, c)
            _show(ax, rgb)
            _draw_points(ax, rgb.shape[:2], xy[r], g, names)
            err = _mean_error_px(xy[r], g)
            if err is not None:
                _corner_note(ax, f"mean error {err:.1f} px")
            if r == 0:
                ax.set_title(columns[c], fontsize=TITLE_FONTSIZE, pad=4)
            if c == 0 and row_labels is not None:
                _row_label(ax, row_labels[r])
    save_figure(grid.fig, path)
    return path


def keypoint_stages(path, images, stage_maps, stage_xy, gt, name, title=None,
                    stage_label="stage", row_labels=None, max_images=MAX_IMAGES):
    """One keypoint through the stages: one row per image, one tile per stage with that
    stage's map of the keypoint over the image (if `stage_maps`), its decoded point
    (magenta) and the ground truth (green), joined by the error line.

    images (N, S, S, 3); stage_maps: list over stages of (N, M, M) maps, or None (points
    alone, a regression run); stage_xy: list over stages of (N, 2); gt (N, 3) or None.
    Returns `path`.
    """
    images = _batched(images, 4, "images")
    n = len(images) if max_images is None else min(len(images), int(max_images))
    stages = [np.asarray(xy, np.float64).reshape(-1, 1, 2) for xy in stage_xy]
    truth = None if gt is None else np.asarray(gt, np.float64).reshape(-1, 1, 3)
    columns = grid_columns(len(stages), False, stage_label, keypoints_tile=False)
    grid = _Grid(n, len(columns), _header_height(title, True))
    _header(grid, title, _legend_handles(True, truth is not None))
    for r in range(n):
        rgb = _as_rgb_uint8(images[r])
        for c, xy in enumerate(stages):
            ax = grid.ax(r, c)
            _show(ax, rgb if stage_maps is None else overlay(rgb, _normalise_one(stage_maps[c][r])))
            g = None if truth is None else truth[r]
            _draw_points(ax, rgb.shape[:2], xy[r], g, [name], label=False)
            err = _mean_error_px(xy[r], g)
            if err is not None:
                _corner_note(ax, f"error {err:.1f} px")
            if r == 0:
                ax.set_title(f"{columns[c]}: {name}", fontsize=TITLE_FONTSIZE, pad=4)
            if c == 0 and row_labels is not None:
                _row_label(ax, row_labels[r])
    save_figure(grid.fig, path)
    return path


def error_per_stage(path, errors, labels, stage_label="stage", title=None):
    """A line per image: its NE at each stage (errors (N, stages)), labelled."""
    errors = np.asarray(errors, np.float64)
    fig = Figure(figsize=(6.0, 4.0), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    stages = np.arange(1, errors.shape[1] + 1)
    for row, label in zip(errors, labels):
        ax.plot(stages, row, marker="o", label=str(label))
    ax.axhline(0.5, color="#8c8c8c", ls="--", label="0.5 (another part of the garment)")
    ax.set_xticks(stages)
    ax.set_xlabel(stage_label)
    ax.set_ylabel("NE of the image")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title or f"NE per {stage_label}")
    fig.tight_layout()
    save_figure(fig, path)
    return path


CONTEXT_COLUMN = "first stage's box"
BOX_COLOR = (255, 230, 0)  # LINE_COLOR's yellow, in RGB


def _with_context(columns, context):
    return columns if context is None else [CONTEXT_COLUMN, *columns]


def _box_tile(context, r):
    """The whole image of row r with its crop's box drawn on it (uint8 RGB)."""
    images, boxes = context
    tile = _as_rgb_uint8(images[r]).copy()
    x0, y0, x1, y1 = (int(round(v)) for v in np.asarray(boxes[r], np.float64))
    cv2.rectangle(tile, (x0, y0), (x1, y1), BOX_COLOR, max(1, tile.shape[0] // 100))
    return tile


def _row_label(ax, label):
    label = str(label)
    if len(label) > 40:                          # keep the end of a long image id
        label = "…" + label[-39:]
    ax.text(-0.03, 0.5, label, transform=ax.transAxes, rotation=90, ha="right",
            va="center", fontsize=8, clip_on=False)


def _png_bytes(fig):
    """The figure rendered by Agg as PNG bytes, with colours kept to PNG_BITS per channel.

    Photos under colour maps compress badly; dropping the two lowest bits (invisible to
    the eye) makes a 4-image x 8-column grid ~40% smaller. PNG_BITS = 8 keeps them.
    """
    canvas = fig.canvas
    canvas.draw()
    rgb = np.asarray(canvas.buffer_rgba())[..., :3]
    if PNG_BITS < 8:
        shift = 8 - PNG_BITS
        top = rgb >> shift
        # bit replication: the 2^bits levels spread over 0..255 (white stays 255)
        rgb = (top << shift) | (top >> max(PNG_BITS - shift, 0))
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, 4,
                            cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_FILTERED])
    if not ok:
        raise RuntimeError("OpenCV could not encode the picture as PNG")
    return buf.tobytes()


def save_figure(fig, path):
    """Write the figure as PNG atomically (data_tools.atomic); returns `path`."""
    atomic.write_bytes(path, _png_bytes(fig))  # the figure is not in pyplot's registry
    return path
