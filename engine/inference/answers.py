"""A test-time view's answer in the run's own frame, and the answers of several views or runs
merged: maps where the codec gives maps (carried onto the run's own grid, averaged, decoded
once, which keeps the decoder's sub-cell precision), points with their certainty where it
gives points. The codec says which by its `map_kind` (None: points).

A view (test_time.View) is the image resized to `view.content` px, centred on a
`view.canvas` px input, mirrored if `view.mirrored`; `side` is the run's own input size
and `permutation` (K,) each keypoint's left/right partner (schema.flip_permutation).
"""
import numpy as np


def mirror_points(xy, size, permutation):
    """Keypoints (N, K, 2) predicted on mirrored inputs of side `size`, in the original
    input's frame: x -> size - 1 - x, and each keypoint takes its left/right partner's place."""
    xy = np.array(np.asarray(xy)[:, permutation], np.float32)
    xy[..., 0] = size - 1 - xy[..., 0]
    return xy


def to_frame(xy, view, side):
    """Points in the canvas pixels of a test-time view (test_time.View) → the pixels of the
    run's own `side` px frame (pixel centres at integers, as everywhere); a mirrored view's
    points stay mirrored."""
    return (np.asarray(xy, np.float64) - view.offset + 0.5) * (side / view.content) - 0.5


def flip_maps(maps, permutation):
    """A mirrored image's maps (N, M, M, K) in the original image's frame.

    Pixel centres sit at integer coordinates, so mirroring the input (x -> S-1-x) mirrors
    a map of side M exactly (cell u -> M-1-u); the mirror's left sleeve is the original's
    right one, so each channel takes its partner's map (permutation, as
    schema.flip_permutation gives it).
    """
    return np.asarray(maps)[:, :, ::-1, :][..., permutation]


def resample_matrix(size_out, size_in, view, input_size):
    """(size_out, size_in) linear weights that carry a view's map rows (or columns) onto
    the grid of the run's own input: cell v of that grid sits at cell
    (v + 0.5) · c / S + offset / stride - 0.5 of the view's map; beyond the map's last
    half cell, nothing."""
    stride = input_size / size_out
    u = (np.arange(size_out) + 0.5) * view.content / input_size + view.offset / stride - 0.5
    weights = np.zeros((size_out, size_in), np.float32)
    inside = (u >= -0.5) & (u <= size_in - 0.5)
    u = np.clip(u, 0, size_in - 1)
    low = np.floor(u).astype(int)
    high = np.minimum(low + 1, size_in - 1)
    frac = u - low
    rows = np.arange(size_out)
    np.add.at(weights, (rows, low), np.where(inside, 1 - frac, 0))
    np.add.at(weights, (rows, high), np.where(inside, frac, 0))
    return weights


def view_answer(codec, outputs, view, permutation, side):
    """The last stage's answer to a test-time view, in the frame of the run's own `side` px
    input with the view's mirror undone, as an array that can be averaged with the answers
    to other views: maps carried onto the run's own grid (resample_matrix), or (N, K, 3)
    rows x, y, confidence."""
    if codec.map_kind is None:
        xy, conf = codec.decode(outputs)
        xy, conf = to_frame(xy, view, side), np.asarray(conf, np.float32)
        if view.mirrored:
            xy, conf = mirror_points(xy, side, permutation), conf[:, permutation]
        return np.concatenate([xy, conf[..., None]], axis=-1).astype(np.float32)
    maps = codec.stage_maps(outputs)[-1]
    cells = int(round(side / codec.stride))
    if not (view.content == view.canvas == side):
        rows = resample_matrix(cells, maps.shape[1], view, side)
        cols = resample_matrix(cells, maps.shape[2], view, side)
        # One axis at a time: a single three-operand einsum loops over all six.
        maps = np.einsum("vu,nuwk->nvwk", rows, maps)
        maps = np.einsum("nvwk,xw->nvxk", maps, cols)
        if codec.density_maps:
            maps = maps * (view.content / side) ** 2
    if view.mirrored:
        maps = flip_maps(maps, permutation)
    return maps.astype(np.float32)


def answer_grid(codec):
    """What another run's answers must share for the two to be averaged as they are
    (hashable), or None where answers are points: those are weighted by certainty."""
    if codec.map_kind is None:
        return None
    return (codec.map_kind, codec.input_size, codec.map_size, codec.sigma)


def decode_answer(codec, answer):
    """A mean of view_answer's arrays -> (xy (N, K, 2) in the own input's pixels, certainty
    (N, K) in [0, 1], 1 for a sure point)."""
    if codec.map_kind is None:
        return answer[..., :2], np.clip(answer[..., 2], 0.0, 1.0)
    xy, conf = codec.decode_maps(answer)
    return xy, np.clip(conf / codec.sure_peak, 0.0, 1.0)
