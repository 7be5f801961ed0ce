"""The grid writers: a batch's maps stage by stage, one image's map per keypoint, points
stage by stage, one keypoint through the stages, and each image's NE per stage.

numpy in, PNG out. No TensorFlow here: callers hand over numpy arrays.

Conventions (the same as the rest of the package):

- `image`: uint8 (S, S, 3) RGB, the letterboxed network input (float images are
  accepted too, see `as_rgb_uint8`);
- `maps`: float (M, M, K), M = S / stride, one map per keypoint (a spatial softmax
  for CPM, a peak-1 Gaussian regression for the hourglass);
- keypoints in input pixels, pixel-centre convention (pixel (i, j) is at x = j, y = i):
  `pred_xy` (K, 2), `gt` (K, 3) x, y, v with v 1 visible, 0 occluded, -1 absent
  (absent ground truth is never drawn);
- `names`: the K keypoint names.

Batched variants put the image index first: images (N, S, S, 3), maps (N, M, M, K),
`pred_xy` (N, K, 2), `gt` (N, K, 3). A single unbatched image is accepted as N = 1.

Every writer saves atomically (canvas.save_figure) and returns the path it was given.
"""
import dataclasses
import math

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from engine.pictures.canvas import (corner_note, draw_header, Grid, header_height,
                                    legend_handles, row_label, save_figure, show_image,
                                    TITLE_FONTSIZE)
from engine.pictures.maps import as_rgb_uint8, combine_maps, normalise_map, overlay
from engine.pictures.points import draw_points, mean_error_px
from engine.pictures.profiles import draw_profiles, Profiles

MAX_IMAGES = 8         # rows drawn at most by the grid writers (a safety net, not a default batch)

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
    rows = []
    for r in range(n):
        rgb = as_rgb_uint8(images[r])
        tiles = [Tile(_box_tile(context, r))] if context is not None else []
        tiles += [Tile(overlay(rgb, combine_maps(m[r]))) for m in stages]
        if gt_maps is not None:
            tiles.append(Tile(overlay(rgb, combine_maps(gt_maps[r]))))
        tiles.append(Tile(rgb, None if pred_xy is None else pred_xy[r],
                          None if gt is None else gt[r], names))
        rows.append(tiles)
    legend = (pred_xy is not None, gt is not None)
    return _write_rows(path, columns, rows, row_labels, title, legend if any(legend) else None)


def keypoint_panel(path, image, maps, names, pred_xy=None, gt=None, title=None,
                   profiles=None):
    """One tile per keypoint: its map (normalised to its own peak) over the image, or its
    two 1-D distributions along the tile's edges, titled with the keypoint's name, the raw
    peak value in the corner, the prediction marked if given (and the ground truth if `gt`
    (K, 3) is given; absent ground truth is not drawn).

    image (S, S, 3); maps (M, M, K) (the last stage), or None with `profiles`
    (profiles.Profiles, px and py (K, B)); pred_xy (K, 2) or None. Returns `path`.
    """
    rgb = as_rgb_uint8(image)
    if maps is None:
        k = len(profiles.px)
    else:
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
    grid = Grid(n_rows, n_cols, header_height(title, with_legend))
    draw_header(grid, title,
                legend_handles(pred is not None, truth is not None) if with_legend else None)
    for i in range(k):
        ax = grid.ax(i // n_cols, i % n_cols)
        if maps is None:
            show_image(ax, rgb)
            one = Profiles(profiles.px[i:i + 1], profiles.py[i:i + 1], profiles.pixels)
            draw_profiles(ax, rgb.shape[:2], one)
            peak = min(float(one.px.max()), float(one.py.max()))
        else:
            show_image(ax, overlay(rgb, normalise_map(maps[..., i])))
            peak = np.nan_to_num(maps[..., i], nan=0.0, posinf=0.0, neginf=0.0).max()
        ax.set_title(names[i], fontsize=TITLE_FONTSIZE, pad=4)
        one_pred = None if pred is None else pred[i:i + 1]
        one_gt = None if truth is None else truth[i:i + 1]
        draw_points(ax, rgb.shape[:2], one_pred, one_gt, [names[i]], label=False)
        corner_note(ax, f"peak {peak:.3g}")
    save_figure(grid.fig, path)
    return path


def points_grid(path, images, stage_xy, gt, names, title=None, stage_label="stage",
                row_labels=None, max_images=MAX_IMAGES, context=None, stage_profiles=None):
    """For the methods without maps: one row per image, one tile per stage, each with that
    stage's predicted points (magenta, named), the ground truth (green) and the error
    lines, the mean pixel error over visible keypoints in the corner, and a legend.

    images (N, S, S, 3); stage_xy: list over stages of (N, K, 2); gt (N, K, 3) or None.
    stage_profiles: a list over stages of profiles.Profiles whose px, py are batched
    (N, K, B), drawn along each tile's edges (SimCC's distributions), or None.
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
    rows = []
    for r in range(n):
        rgb = as_rgb_uint8(images[r])
        g = None if gt is None else gt[r]
        tiles = [Tile(_box_tile(context, r))] if context is not None else []
        rows.append(tiles + [Tile(rgb, xy[r], g, names,
                                  profiles=None if stage_profiles is None else
                                  stage_profiles[s].row(r))
                             for s, xy in enumerate(stages)])
    return _write_rows(path, columns, rows, row_labels, title, (True, gt is not None))


def keypoint_stages(path, images, stage_maps, stage_xy, gt, name, title=None,
                    stage_label="stage", row_labels=None, max_images=MAX_IMAGES,
                    stage_profiles=None):
    """One keypoint through the stages: one row per image, one tile per stage with that
    stage's map of the keypoint over the image (if `stage_maps`), its decoded point
    (magenta) and the ground truth (green), joined by the error line.

    images (N, S, S, 3); stage_maps: list over stages of (N, M, M) maps, or None (points
    alone, a regression run); stage_xy: list over stages of (N, 2); gt (N, 3) or None;
    stage_profiles: a list over stages of profiles.Profiles of the keypoint, px and py
    (N, 1, B), or None. Returns `path`.
    """
    images = _batched(images, 4, "images")
    n = len(images) if max_images is None else min(len(images), int(max_images))
    stages = [np.asarray(xy, np.float64).reshape(-1, 1, 2) for xy in stage_xy]
    truth = None if gt is None else np.asarray(gt, np.float64).reshape(-1, 1, 3)
    columns = grid_columns(len(stages), False, stage_label, keypoints_tile=False)
    rows = []
    for r in range(n):
        rgb = as_rgb_uint8(images[r])
        g = None if truth is None else truth[r]
        rows.append([Tile(rgb if stage_maps is None else
                          overlay(rgb, normalise_map(stage_maps[c][r])),
                          xy[r], g, [name], label=False, error="error",
                          profiles=None if stage_profiles is None else
                          stage_profiles[c].row(r))
                     for c, xy in enumerate(stages)])
    return _write_rows(path, [f"{c}: {name}" for c in columns], rows, row_labels, title,
                       (True, truth is not None))


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


@dataclasses.dataclass
class Tile:
    """One tile of a grid: a picture and, with `names`, points drawn on it (pred (K, 2) and
    gt (K, 3), either None) with their mean error in the corner, called `error`; with
    `profiles` (profiles.Profiles), the points' 1-D distributions along its edges."""
    image: np.ndarray
    pred: np.ndarray = None
    gt: np.ndarray = None
    names: list = None
    label: bool = True
    error: str = "mean error"
    profiles: object = None


def _write_rows(path, columns, rows, row_labels, title, legend):
    """A grid of `rows` (per image, its tiles left to right) under `title` and the legend
    (with predictions, with ground truth; None: no legend): the column titles over the
    first row, each row's label left of its first tile; written to `path`."""
    grid = Grid(len(rows), len(columns), header_height(title, legend is not None))
    draw_header(grid, title, legend_handles(*legend) if legend else None)
    for r, tiles in enumerate(rows):
        for c, tile in enumerate(tiles):
            ax = grid.ax(r, c)
            show_image(ax, tile.image)
            if tile.profiles is not None:
                draw_profiles(ax, tile.image.shape[:2], tile.profiles)
            if tile.names is not None:
                draw_points(ax, tile.image.shape[:2], tile.pred, tile.gt, tile.names,
                            label=tile.label)
                err = mean_error_px(tile.pred, tile.gt)
                if err is not None:
                    corner_note(ax, f"{tile.error} {err:.1f} px")
            if r == 0:
                ax.set_title(columns[c], fontsize=TITLE_FONTSIZE, pad=4)
            if c == 0 and row_labels is not None:
                row_label(ax, row_labels[r])
    save_figure(grid.fig, path)
    return path


CONTEXT_COLUMN = "first stage's box"
BOX_COLOR = (255, 230, 0)  # LINE_COLOR's yellow, in RGB


def _with_context(columns, context):
    return columns if context is None else [CONTEXT_COLUMN, *columns]


def _box_tile(context, r):
    """The whole image of row r with its crop's box drawn on it (uint8 RGB)."""
    images, boxes = context
    tile = as_rgb_uint8(images[r]).copy()
    x0, y0, x1, y1 = (int(round(v)) for v in np.asarray(boxes[r], np.float64))
    cv2.rectangle(tile, (x0, y0), (x1, y1), BOX_COLOR, max(1, tile.shape[0] // 100))
    return tile

