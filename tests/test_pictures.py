"""engine/pictures: PNGs that open, have the tiles they claim, and maps that peak where planted.

Tiles are counted from the written PNG itself (runs of non-white pixels between the white
gaps), not from the module's own layout numbers, so the checks are not circular.
"""
import os

import cv2
import numpy as np
import pytest
from matplotlib.text import Annotation, Text

from data_tools import atomic
from engine.pictures import draw
from engine.pictures.maps import combine_maps, overlay

S, M, K = 64, 8, 4
STRIDE = S // M
NAMES = ["waistband_left", "waistband_right", "hemline_left", "hemline_right"]
PLANTED = [(1, 2), (1, 5), (6, 1), (6, 6)]          # (row, col) map cell of each keypoint's peak


def _image(seed=0, size=S):
    rng = np.random.default_rng(seed)
    img = rng.integers(60, 190, (size, size, 3)).astype(np.uint8)   # never white
    cv2.rectangle(img, (size // 4, size // 8), (3 * size // 4, 7 * size // 8), (150, 40, 90), -1)
    return img


def _gaussian_maps(sigma, softmax, m=M, cells=PLANTED):
    yy, xx = np.mgrid[0:m, 0:m]
    maps = np.zeros((m, m, len(cells)), np.float32)
    for k, (r, c) in enumerate(cells):
        g = np.exp(-((xx - c) ** 2 + (yy - r) ** 2) / (2 * sigma ** 2))
        maps[..., k] = g / g.sum() if softmax else g
    return maps


def _cell_centre_px(r, c):
    return (c + 0.5) * STRIDE - 0.5, (r + 0.5) * STRIDE - 0.5


def _gt(n_images):
    xy = np.array([_cell_centre_px(r, c) for r, c in PLANTED])
    gt = np.concatenate([xy, np.ones((K, 1))], axis=1)
    gt[2, 2] = 0          # occluded
    gt[3, 2] = -1         # absent
    return np.repeat(gt[None], n_images, axis=0)


def _stages(n_images, n_stages=6):
    """Stage 1 broad, the last sharp: softmax maps as a CPM gives them."""
    return [np.repeat(_gaussian_maps(2.5 * 0.7 ** s, softmax=True)[None], n_images, axis=0)
            for s in range(n_stages)]


def _runs(flags, min_len):
    """(start, stop) of runs of True at least min_len long."""
    runs, start = [], None
    for i, f in enumerate(list(flags) + [False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            if i - start >= min_len:
                runs.append((start, i))
            start = None
    return runs


def _tiles(path):
    """Rows and columns of image tiles in a written PNG: (row runs, column runs in row 1)."""
    img = cv2.imread(str(path))
    assert img is not None, f"cv2 cannot read {path}"
    ink = (img < 240).any(axis=-1)
    rows = _runs(ink.mean(axis=1) > 0.2, min_len=40)
    assert rows, "no tile rows found"
    r0, r1 = rows[0]
    cols = _runs(ink[r0:r1].mean(axis=0) > 0.9, min_len=40)
    return img, rows, cols


def _listing(folder):
    return sorted(os.listdir(folder))


# --------------------------------------------------------------------------- maps

def test_combine_maps_peaks_where_planted_for_softmax_and_gaussian():
    for softmax in (True, False):
        maps = _gaussian_maps(1.0, softmax=softmax)
        combined = combine_maps(maps)
        assert combined.shape == (M, M)
        assert combined.min() >= 0.0 and combined.max() <= 1.0
        for r, c in PLANTED:
            assert combined[r, c] == pytest.approx(1.0)
        assert np.unravel_index(np.argmax(combined), combined.shape) in PLANTED
        assert combined[4, 4] < 0.1            # between the peaks


def test_combine_maps_single_keypoint_and_mixed_scales():
    maps = _gaussian_maps(1.0, softmax=False)
    maps[..., 0] *= 0.01                        # a weak map still shows at full strength
    combined = combine_maps(maps[..., :1])
    assert np.unravel_index(np.argmax(combined), combined.shape) == PLANTED[0]
    assert combined.max() == pytest.approx(1.0)


def test_combine_maps_zero_negative_and_nan_maps():
    maps = np.zeros((M, M, 3), np.float32)
    maps[..., 1] = -1.0                         # negative only: nothing to show
    maps[2, 3, 2] = np.nan
    maps[5, 5, 2] = 2.0
    combined = combine_maps(maps)
    assert np.isfinite(combined).all()
    assert combined[5, 5] == pytest.approx(1.0)
    assert combined.sum() == pytest.approx(1.0)
    assert combine_maps(np.zeros((M, M, 0))).shape == (M, M)


def test_overlay_keeps_shape_and_dtype_and_puts_heat_where_the_map_peaks():
    img = np.full((S, S, 3), 128, np.uint8)
    heat = np.zeros((M, M), np.float32)
    heat[2, 5] = 1.0
    out = overlay(img, heat)
    assert out.shape == img.shape and out.dtype == np.uint8
    x, y = _cell_centre_px(2, 5)
    hot = out[int(y), int(x)].astype(int)
    cold = out[60, 4].astype(int)
    assert hot[0] > hot[2] + 60                 # JET's red at the peak (RGB order)
    np.testing.assert_array_equal(cold, [128, 128, 128])  # the photo itself far from it
    np.testing.assert_array_equal(overlay(img, np.zeros((M, M))), img)  # a zero map is clear


def test_overlay_accepts_float_and_grey_images():
    grey = np.linspace(0, 1, S * S, dtype=np.float32).reshape(S, S)
    out = overlay(grey, np.zeros((M, M)))
    assert out.shape == (S, S, 3) and out.dtype == np.uint8


# --------------------------------------------------------------------------- grids

def test_grid_columns_titles():
    cols = draw.grid_columns(6, True)
    assert cols == [f"stage {i}" for i in range(1, 7)] + ["ground truth", "keypoints"]
    assert draw.grid_columns(4, False, "stack") == [
        "stack 1", "stack 2", "stack 3", "stack 4", "keypoints"]
    assert draw.grid_columns(3, False, keypoints_tile=False) == ["stage 1", "stage 2", "stage 3"]


def test_stage_grid_six_stages_two_images(tmp_path):
    path = tmp_path / "heatmaps" / "epoch_003.png"
    stages = _stages(2)
    gt_maps = np.repeat(_gaussian_maps(0.8, softmax=True)[None], 2, axis=0)
    pred = _gt(2)[..., :2] + 1.5
    out = draw.stage_grid(path, np.stack([_image(0), _image(1)]), stages, gt_maps, pred,
                          _gt(2), NAMES, title="epoch 3 · val NE 0.123")
    assert out == path and path.is_file()
    img, rows, cols = _tiles(path)
    assert len(rows) == 2
    assert len(cols) == 6 + 1 + 1               # 6 stage tiles, ground truth, keypoints
    widths = [b - a for a, b in cols]
    assert max(widths) - min(widths) <= 2       # equal tiles
    h, w = img.shape[:2]
    assert 3.0 < w / h < 4.5                    # ~8:2 plus title and legend
    assert _listing(path.parent) == ["epoch_003.png"]


def test_stage_grid_without_gt_maps_and_fewer_stages(tmp_path):
    images = np.stack([_image(0), _image(1)])
    p6 = draw.stage_grid(tmp_path / "six.png", images, _stages(2), None, _gt(2)[..., :2],
                         _gt(2), NAMES, stage_label="stack")
    p3 = draw.stage_grid(tmp_path / "three.png", images, _stages(2, 3), None,
                         _gt(2)[..., :2], _gt(2), NAMES, stage_label="stack")
    img6, rows6, cols6 = _tiles(p6)
    img3, rows3, cols3 = _tiles(p3)
    assert (len(rows6), len(cols6)) == (2, 7)   # 6 stacks + keypoints
    assert (len(rows3), len(cols3)) == (2, 4)
    assert img6.shape[0] == img3.shape[0]
    assert img6.shape[1] / img3.shape[1] == pytest.approx(7 / 4, rel=0.05)


def test_stage_grid_accepts_one_unbatched_image_and_caps_rows(tmp_path):
    stages = [s[0] for s in _stages(1)]
    path = draw.stage_grid(tmp_path / "one.png", _image(), stages, None, _gt(1)[0, :, :2],
                           _gt(1)[0], NAMES)
    _, rows, cols = _tiles(path)
    assert (len(rows), len(cols)) == (1, 7)
    many = draw.stage_grid(tmp_path / "many.png", np.stack([_image(i) for i in range(5)]),
                           _stages(5, 2), None, None, None, NAMES, max_images=3)
    _, rows, cols = _tiles(many)
    assert (len(rows), len(cols)) == (3, 3)


def test_stage_grid_rejects_names_that_do_not_match(tmp_path):
    with pytest.raises(ValueError, match="names"):
        draw.stage_grid(tmp_path / "bad.png", _image()[None], _stages(1), None, None,
                        None, NAMES[:3])
    assert not (tmp_path / "bad.png").exists()


def test_keypoint_panel_one_tile_per_keypoint(tmp_path):
    path = tmp_path / "panel.png"
    maps = _gaussian_maps(0.8, softmax=True)
    out = draw.keypoint_panel(path, _image(), maps, NAMES, pred_xy=_gt(1)[0, :, :2])
    assert out == path
    _, rows, cols = _tiles(path)
    assert len(rows) * len(cols) >= K and len(rows) == 1 and len(cols) == K


def test_points_grid_one_tile_per_stage(tmp_path):
    path = tmp_path / "points.png"
    gt = _gt(2)
    stage_xy = [gt[..., :2] + d for d in (8.0, 3.0, 1.0)]
    out = draw.points_grid(path, np.stack([_image(0), _image(1)]), stage_xy, gt, NAMES,
                           title="epoch 1")
    assert out == path
    _, rows, cols = _tiles(path)
    assert (len(rows), len(cols)) == (2, 3)


@pytest.mark.parametrize("writer", ["stage_grid", "points_grid"])
def test_every_grid_labels_its_rows_beside_a_first_stages_box(writer, monkeypatch, tmp_path):
    """A second stage's grids start with the whole image and its box; each row's label
    (its image) stands left of that first tile, in the maps' grid and the points' alike."""
    figures = []
    monkeypatch.setattr(draw, "save_figure", lambda fig, path: figures.append(fig))
    gt = _gt(2)
    images = np.stack([_image(0), _image(1)])
    context = (images, np.array([[4, 4, 40, 50]] * 2, np.float32))
    if writer == "stage_grid":
        maps = np.zeros((2, M, M, K), np.float32)
        draw.stage_grid(tmp_path / "g.png", images, [maps], None, gt[..., :2], gt, NAMES,
                        row_labels=["first.jpg", "second.jpg"], context=context)
    else:
        draw.points_grid(tmp_path / "g.png", images, [gt[..., :2]], gt, NAMES,
                         row_labels=["first.jpg", "second.jpg"], context=context)
    fig, = figures
    first_column = [ax for ax in fig.axes if ax.get_title() == draw.CONTEXT_COLUMN or
                    any(t.get_text() in ("first.jpg", "second.jpg") for t in ax.texts)]
    labels = [t.get_text() for ax in first_column for t in ax.texts]
    assert labels == ["first.jpg", "second.jpg"]


def test_points_grid_draws_each_keypoints_distributions_along_the_edges(monkeypatch, tmp_path):
    """SimCC's pictures: each keypoint's x distribution rises from the tile's bottom edge and
    peaks at the point's x, its y distribution comes in from the left edge and peaks at its
    y; the surest keypoint's peak reaches PROFILE_SHARE of the side, an unsure one less."""
    from engine.pictures.profiles import PROFILE_SHARE, Profiles

    figures = []
    monkeypatch.setattr(draw, "save_figure", lambda fig, path: figures.append(fig))
    gt = _gt(1)
    pixels = (np.arange(2 * S) + 0.5) / 2 - 0.5                  # half-pixel bins

    def peaked(centres, width):
        p = np.exp(-(pixels[None, :] - centres[:, None]) ** 2 / (2 * width ** 2))
        return (p / p.sum(-1, keepdims=True))[None]

    widths = np.array([1.0, 1.0, 1.0, 4.0])[:, None]               # the last one unsure
    px, py = peaked(gt[0, :, 0], widths), peaked(gt[0, :, 1], widths)
    draw.points_grid(tmp_path / "p.png", _image(0)[None], [gt[..., :2]], gt, NAMES,
                     stage_profiles=[Profiles(px, py, pixels)])
    fig, = figures
    tile = next(ax for ax in fig.axes if ax.get_title() == "stage 1")
    curves = [line for line in tile.get_lines() if len(line.get_xdata()) == len(pixels)]
    along_x, along_y = curves[0::2], curves[1::2]
    assert len(along_x) == len(along_y) == K
    for k in range(K):
        x, height = along_x[k].get_xdata(), S - 0.5 - along_x[k].get_ydata()
        assert x[height.argmax()] == pytest.approx(gt[0, k, 0], abs=0.5)
        y, depth = along_y[k].get_ydata(), along_y[k].get_xdata() + 0.5
        assert y[depth.argmax()] == pytest.approx(gt[0, k, 1], abs=0.5)
    tallest = [(S - 0.5 - c.get_ydata()).max() for c in along_x]
    assert max(tallest) == pytest.approx(PROFILE_SHARE * S)
    assert tallest[3] < 0.5 * tallest[0]


def test_absent_ground_truth_is_not_drawn(tmp_path):
    img = np.full((S, S, 3), 128, np.uint8)
    gt = np.array([[[16.0, 16.0, 1.0], [48.0, 48.0, -1.0]]])    # second one absent
    pred = np.full((1, 2, 2), np.nan)                            # no predictions drawn
    path = draw.points_grid(tmp_path / "absent.png", img[None], [pred], gt, ["a", "b"])
    png, rows, cols = _tiles(path)
    (r0, r1), (c0, c1) = rows[0], cols[0]
    tile = png[r0:r1, c0:c1].astype(int)                         # BGR

    def green_near(x, y):
        px, py = int((x + 0.5) / S * (c1 - c0)), int((y + 0.5) / S * (r1 - r0))
        patch = tile[max(py - 6, 0):py + 7, max(px - 6, 0):px + 7]
        b, g, r = patch[..., 0], patch[..., 1], patch[..., 2]
        return bool(((g > 190) & (r < 120) & (b < 170)).any())

    assert green_near(16, 16)
    assert not green_near(48, 48)


# --------------------------------------------------------------------------- writing

def test_writes_are_atomic_and_leave_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "grid.png"
    images = np.stack([_image(0), _image(1)])
    draw.stage_grid(path, images, _stages(2, 2), None, None, _gt(2), NAMES)
    draw.stage_grid(path, images, _stages(2, 3), None, None, _gt(2), NAMES)  # overwrite
    assert _listing(tmp_path) == ["grid.png"]
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError):
        draw.stage_grid(path, images, _stages(2, 1), None, None, _gt(2), NAMES)
    assert _listing(tmp_path) == ["grid.png"]       # temp file removed
    assert path.read_bytes() == before              # old picture intact


def test_full_size_grid_is_small(tmp_path):
    """4 images x (6 stages + gt + keypoints) at the paper's 256 input and 32x32 maps."""
    n, size, m = 4, 256, 32
    images = np.stack([cv2.resize(_image(i), (size, size), interpolation=cv2.INTER_LINEAR)
                       for i in range(n)])
    cells = [(4 + 3 * k, 6 + 2 * k) for k in range(K)]
    stages = [np.repeat(_gaussian_maps(4 * 0.7 ** s, True, m, cells)[None], n, axis=0)
              for s in range(6)]
    gt_maps = np.repeat(_gaussian_maps(1.0, True, m, cells)[None], n, axis=0)
    xy = np.array([((c + 0.5) * 8, (r + 0.5) * 8) for r, c in cells], float)
    gt = np.repeat(np.concatenate([xy, np.ones((K, 1))], 1)[None], n, axis=0)
    path = draw.stage_grid(tmp_path / "big.png", images, stages, gt_maps, gt[..., :2] + 2,
                           gt, NAMES, title="epoch 60 · val NE 0.05")
    _, rows, cols = _tiles(path)
    assert (len(rows), len(cols)) == (4, 8)
    assert os.path.getsize(path) < 2_000_000


def test_stage_grid_rejects_keypoints_that_do_not_match_the_maps(tmp_path):
    with pytest.raises(ValueError, match="pred_xy"):
        draw.stage_grid(tmp_path / "bad.png", np.stack([_image(0), _image(1)]), _stages(2),
                        None, np.zeros((2, K + 1, 2)), None, NAMES)
    assert _listing(tmp_path) == []


# --------------------------------------------------------------------------- names
def _drawn_names(monkeypatch, tmp_path, points, names):
    """The keypoint names of a one-tile points_grid as drawn: {name: (box, point)} in display
    pixels, the box (x0, y0, x1, y1) from the renderer, the point where the name's point is."""
    figures = []
    monkeypatch.setattr(draw, "save_figure",
                        lambda fig, path: figures.append(fig) or atomic.write_bytes(path, b"png"))
    gt = np.concatenate([points, np.ones((len(points), 1))], axis=1)[None]
    draw.points_grid(tmp_path / "names.png", np.full((1, 256, 256, 3), 128, np.uint8),
                     [gt[..., :2]], gt, names)
    fig, = figures
    fig.canvas.draw()                                     # places the annotations' texts
    renderer = fig.canvas.get_renderer()
    ax = next(a for a in fig.axes if a.texts)
    drawn = {}
    for text in ax.texts:
        if not isinstance(text, Annotation):              # the corner's mean error
            continue
        box = Text.get_window_extent(text, renderer)       # the name alone, not its line
        drawn[text.get_text()] = ((box.x0, box.y0, box.x1, box.y1),
                                  tuple(ax.transData.transform(text.xy)), ax.bbox)
    return drawn


def test_dense_names_do_not_overlap_and_stay_in_the_tile(monkeypatch, tmp_path):
    names = [f"keypoint_{n:02d}_name" for n in range(15)]
    rng = np.random.default_rng(3)
    points = 128 + rng.uniform(-20, 20, (15, 2))          # 15 points within 40 px of 256
    drawn = _drawn_names(monkeypatch, tmp_path, points, names)
    assert sorted(drawn) == names
    boxes = [box for box, _, _ in drawn.values()]
    for n, a in enumerate(boxes):
        for b in boxes[n + 1:]:
            assert min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1])
    tile = next(iter(drawn.values()))[2]
    assert all(tile.x0 - 1 <= x0 and x1 <= tile.x1 + 1 and tile.y0 - 1 <= y0 and y1 <= tile.y1 + 1
               for x0, y0, x1, y1 in boxes)


def test_sparse_names_sit_beside_their_points(monkeypatch, tmp_path):
    names = ["waistband_left", "waistband_right", "hemline_left", "hemline_right"]
    points = np.array([[60.0, 60.0], [190.0, 60.0], [50.0, 200.0], [200.0, 200.0]])
    drawn = _drawn_names(monkeypatch, tmp_path, points, names)
    for (x0, y0, x1, y1), (px, py), _ in drawn.values():
        gap_x = max(x0 - px, px - x1, 0.0)
        gap_y = max(y0 - py, py - y1, 0.0)
        assert gap_x < 10 and gap_y < 10                  # display pixels at 80 dpi
