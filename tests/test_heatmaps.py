import numpy as np
import pytest

from engine.plugin import heatmaps

M, S = 32, 256
STRIDE = S / M


def _targets(keypoints, normalize, sigma=1.0):
    maps = heatmaps.gaussian_targets(np.asarray(keypoints, np.float32), M, STRIDE, sigma, normalize)
    return np.asarray(maps)


def _x(u):
    return float(heatmaps.to_input(u, STRIDE))


def test_round_trip_x_u_x():
    x = np.array([-0.5, 0.0, 3.25, 83.5, 127.9, 255.0, 255.49])
    assert np.allclose(heatmaps.to_input(heatmaps.to_map(x, STRIDE), STRIDE), x)
    # cell centres: u = 0 is the centre of input pixels 0..7, i.e. x = 3.5
    assert heatmaps.to_input(0, STRIDE) == pytest.approx(3.5)
    assert heatmaps.to_map(3.5, STRIDE) == pytest.approx(0.0)


def test_subcell_peak_decodes_closer_than_argmax():
    u, v = 10.3, 7.8
    maps = _targets([[_x(u), _x(v), 1]], normalize=False)
    assert maps.shape == (M, M, 1) and maps.dtype == np.float32
    xy, conf = heatmaps.decode_heatmaps(maps[None], STRIDE)
    assert xy.shape == (1, 1, 2) and conf.shape == (1, 1)
    got_u, got_v = heatmaps.to_map(xy[0, 0], STRIDE)
    argmax_error = max(abs(round(u) - u), abs(round(v) - v))
    assert abs(got_u - u) <= 0.1 and abs(got_v - v) <= 0.1
    assert max(abs(got_u - u), abs(got_v - v)) < argmax_error
    assert conf[0, 0] == pytest.approx(maps.max())


def test_integer_peak_decodes_exactly():
    maps = _targets([[_x(10), _x(7), 1], [_x(0), _x(31), 0]], normalize=True)
    xy, _ = heatmaps.decode_heatmaps(maps[None], STRIDE)
    assert np.array_equal(xy[0], np.array([[_x(10), _x(7)], [_x(0), _x(31)]], np.float32))


def test_absent_and_outside_keypoints_give_zero_maps():
    keypoints = [[100, 100, -1], [-20, 50, 1], [50, 300, 0], [50, 60, 0], [-1, -1, -1]]
    for normalize in (True, False):
        maps = _targets(keypoints, normalize)
        assert np.all(maps[..., [0, 1, 2, 4]] == 0)
        assert maps[..., 3].max() > 0
    weights = np.asarray(heatmaps.target_weights(np.asarray(keypoints, np.float32), M, STRIDE))
    assert weights.tolist() == [0, 0, 0, 1, 0]


def test_normalised_maps_sum_to_one_and_peak_maps_peak_at_one():
    keypoints = [[0, 0, 1], [127.3, 64.9, 0], [255, 255, 1], [_x(5), _x(6), 1]]
    maps = _targets(keypoints, normalize=True, sigma=1.5)
    assert np.allclose(maps.sum(axis=(0, 1)), 1.0, atol=1e-5)
    peaks = _targets(keypoints, normalize=False)
    assert peaks[6, 5, 3] == pytest.approx(1.0)
    assert peaks.max() <= 1.0


def test_decode_batch_shapes_and_border():
    maps = np.zeros((2, 8, 8, 3), np.float32)
    maps[0, 0, 7, 0] = 1.0          # corner peak: no shift at the border
    maps[1, 3, 4, 2] = 1.0
    maps[1, 3, 5, 2] = 0.5          # higher right neighbour: +0.25 in x
    xy, conf = heatmaps.decode_heatmaps(maps, 4.0)
    assert xy.shape == (2, 3, 2) and conf.shape == (2, 3)
    assert np.allclose(xy[0, 0], [(7 + 0.5) * 4 - 0.5, 0.5 * 4 - 0.5])
    assert np.allclose(xy[1, 2], [(4.25 + 0.5) * 4 - 0.5, (3 + 0.5) * 4 - 0.5])
    assert conf[0, 1] == 0 and conf[1, 2] == 1.0


# --- DARK (Zhang et al. 2020) ------------------------------------------------------------------
@pytest.mark.parametrize("u, v", [(10.37, 7.62), (10.5, 20.5), (3.21, 28.9)])
def test_dark_finds_a_gaussian_between_cells_within_0_05_cell(u, v):
    maps = _targets([[_x(u), _x(v), 1]], normalize=False)
    xy, conf = heatmaps.decode_heatmaps(maps[None], STRIDE, "dark", sigma=1.0)
    got_u, got_v = heatmaps.to_map(xy[0, 0], STRIDE)
    assert abs(got_u - u) <= 0.05 and abs(got_v - v) <= 0.05
    assert conf[0, 0] == pytest.approx(maps.max())
    # The quarter shift is coarser on the same map.
    quarter = heatmaps.to_map(heatmaps.decode_heatmaps(maps[None], STRIDE)[0][0, 0], STRIDE)
    assert max(abs(got_u - u), abs(got_v - v)) < max(abs(quarter[0] - u), abs(quarter[1] - v))


@pytest.mark.parametrize("u, v", [(0.3, 12.4), (-0.3, 12.4), (M - 1.2, 5.7), (0.2, M - 1.4)])
def test_dark_refines_a_peak_on_the_maps_edge(u, v):
    """The paper's decoder leaves an edge peak on its cell; one-sided differences refine it."""
    maps = _targets([[_x(u), _x(v), 1]], normalize=False)
    xy, _ = heatmaps.decode_heatmaps(maps[None], STRIDE, "dark", sigma=1.0)
    got_u, got_v = heatmaps.to_map(xy[0, 0], STRIDE)
    assert abs(got_u - u) <= 0.05 and abs(got_v - v) <= 0.05


def test_dark_works_on_softmax_maps_and_keeps_flat_ones_on_their_cell():
    u, v = 12.3, 18.7
    belief = _targets([[_x(u), _x(v), 1]], normalize=True)     # CPM's maps sum to 1
    flat = np.zeros((M, M, 1), np.float32)
    xy, conf = heatmaps.decode_heatmaps(np.stack([belief, flat]), STRIDE, "dark", sigma=1.0)
    got = heatmaps.to_map(xy[0, 0], STRIDE)
    assert abs(got[0] - u) <= 0.05 and abs(got[1] - v) <= 0.05
    assert np.allclose(xy[1, 0], heatmaps.to_input(0, STRIDE)) and conf[1, 0] == 0


def test_dark_is_no_worse_than_the_quarter_shift_on_noisy_maps():
    rng = np.random.default_rng(0)
    centres = rng.uniform(3, M - 4, (64, 2))
    maps = np.stack([_targets([[_x(a), _x(b), 1]], normalize=False) for a, b in centres])
    noisy = maps + rng.normal(0, 0.05, maps.shape).astype(np.float32)
    errors = {}
    for decoder in heatmaps.DECODERS:
        xy, _ = heatmaps.decode_heatmaps(noisy, STRIDE, decoder, sigma=1.0)
        errors[decoder] = np.abs(heatmaps.to_map(xy[:, 0], STRIDE) - centres).mean()
    assert errors["dark"] < errors["argmax"]


def reference_dark(planes, kernel=11):
    """DARK as its authors' code (and mmpose's `refine_keypoints_dark`) decodes, written out
    cell by cell: a zero-padded blur (OpenCV's sigma for the kernel, 2.0 for 11), the
    maximum kept, log, central differences at the argmax where they fit, -H^-1 g."""
    import cv2
    out = []
    border = (kernel - 1) // 2
    for p in planes.astype(np.float64):
        h, w = p.shape
        y, x = np.unravel_index(p.argmax(), p.shape)
        padded = np.zeros((h + 2 * border, w + 2 * border))
        padded[border:-border, border:-border] = p
        blurred = cv2.GaussianBlur(padded, (kernel, kernel), 0)[border:-border, border:-border]
        L = np.log(np.maximum(blurred * p.max() / blurred.max(), 1e-10))
        u, v = float(x), float(y)
        if 1 < x < w - 2 and 1 < y < h - 2:
            g = [0.5 * (L[y, x + 1] - L[y, x - 1]), 0.5 * (L[y + 1, x] - L[y - 1, x])]
            dxy = 0.25 * (L[y + 1, x + 1] - L[y - 1, x + 1] - L[y + 1, x - 1] + L[y - 1, x - 1])
            hess = [[0.25 * (L[y, x + 2] - 2 * L[y, x] + L[y, x - 2]), dxy],
                    [dxy, 0.25 * (L[y + 2, x] - 2 * L[y, x] + L[y - 2, x])]]
            if np.linalg.det(hess) != 0:
                u, v = np.array([u, v]) - np.linalg.solve(hess, g)
        out.append((u, v))
    return np.array(out)


def gaussian_maps(rng, count, band, noise, size=64, sigma=2.0):
    """`count` maps of a sigma-2 Gaussian whose centre lies `band` cells from the nearest
    edge, with independent ("iid") or smooth noise of the given amplitude."""
    lo, hi = band
    centres = []
    while len(centres) < count:
        c = rng.uniform(0, size - 1, 2)
        if lo <= min(c.min(), (size - 1 - c).min()) < hi:
            centres.append(c)
    c = np.array(centres)
    yy, xx = np.mgrid[0:size, 0:size]
    maps = np.exp(-((xx - c[:, :1, None]) ** 2 + (yy - c[:, 1:, None]) ** 2) / (2 * sigma ** 2))
    kind, amount = noise
    if kind == "iid":
        maps = maps + rng.normal(0, amount, maps.shape)
    elif kind == "smooth":
        import cv2
        field = np.stack([cv2.GaussianBlur(z, (0, 0), 2.0) for z in rng.normal(0, 1, maps.shape)])
        maps = maps + amount * field / field.std()
    return maps.astype(np.float32), c


BANDS = {"edge": (0, 3), "near the edge": (3, 10), "interior": (10, 32)}


@pytest.mark.parametrize("band", BANDS)
def test_dark_is_exact_on_gaussians_where_the_reference_is_not(band):
    """Worked example, exact sigma-2 Gaussians on 64x64 maps: ours finds every centre to
    1e-3 cell; the reference's zero-padded blur bends the peak near the edge."""
    maps, centres = gaussian_maps(np.random.default_rng(1), 40, BANDS[band], ("exact", 0))
    ours = heatmaps.to_map(heatmaps.decode_heatmaps(maps[..., None], 4.0, "dark", sigma=2.0)[0][:, 0], 4.0)
    assert np.abs(ours - centres).max() < 1e-3
    if band == "edge":
        assert np.linalg.norm(reference_dark(maps) - centres, axis=1).mean() > 0.1


@pytest.mark.parametrize("band", BANDS)
@pytest.mark.parametrize("noise", [("iid", 0.05), ("iid", 0.10), ("smooth", 0.05), ("smooth", 0.10)])
def test_dark_on_noisy_maps_is_as_good_as_the_reference(band, noise):
    """Worked example, noisy sigma-2 Gaussians on 64x64 maps: our mean error to the true
    centre is at most 1.1 x the reference's + 0.01 cell, in every band of the map."""
    maps, centres = gaussian_maps(np.random.default_rng(2), 40, BANDS[band], noise)
    ours = heatmaps.to_map(heatmaps.decode_heatmaps(maps[..., None], 4.0, "dark", sigma=2.0)[0][:, 0], 4.0)
    mine = np.linalg.norm(ours - centres, axis=1).mean()
    theirs = np.linalg.norm(reference_dark(maps) - centres, axis=1).mean()
    assert mine <= 1.1 * theirs + 0.01, (mine, theirs)


def test_an_unknown_decoder_is_refused():
    with pytest.raises(ValueError, match="valid decoders: argmax, dark"):
        heatmaps.decode_heatmaps(np.zeros((1, M, M, 1), np.float32), STRIDE, "soft")
