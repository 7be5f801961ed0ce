"""Garment boxes for a second stage: the box around a garment's points, and its crop's
place in the network input.

A box is (x0, y0, x1, y1) in original pixels, in the keypoints' convention (pixel centres at
integers), so a whole w x h image is (-0.5, -0.5, w - 0.5, h - 0.5).

    points (annotated ones, or a first stage's predictions)
      → the square around their extent, widened by `margin` of its side on every side
        (seed 003's bbox_retify: the box that covers every annotated point, plus a margin)
      → clipped to the image (and counted)
      → letterboxed into the S x S input like a whole image: (scale, dx, dy), the same
        transform `letterbox.to_original` inverts, so predictions go back to original pixels
        the way a one-stage run's do.
"""
import cv2
import numpy as np

from data_tools.letterbox import PAD_VALUE

MIN_SIDE = 0.1  # of the image's longer side: a box around one point still shows the garment


def garment_boxes(points, sizes, margin):
    """(boxes (N, 4) float32, clipped (N,) bool) around each image's points.

    points: (N, K, 2) or (N, K, 3) in original pixels; with a third column, points with
    v < 0 (absent) are left out; NaN points are left out too. An image with no point
    gets its whole image. sizes: (N, 2) width, height. clipped: the square box reached
    past the image and was cut to it.
    """
    points = np.asarray(points, np.float64)
    sizes = np.asarray(sizes, np.float64).reshape(-1, 2)
    xy = points[..., :2]
    present = np.isfinite(xy).all(axis=-1)
    if points.shape[-1] > 2:
        present &= points[..., 2] >= 0
    boxes = np.empty((len(points), 4))
    clipped = np.zeros(len(points), bool)
    for n, (width, height) in enumerate(sizes):
        whole = np.array([-0.5, -0.5, width - 0.5, height - 0.5])
        if not present[n].any():
            boxes[n] = whole
            continue
        low, high = xy[n, present[n]].min(axis=0), xy[n, present[n]].max(axis=0)
        centre = (low + high) / 2
        side = max((high - low).max(), MIN_SIDE * max(width, height)) * (1 + 2 * margin)
        square = np.concatenate([centre - side / 2, centre + side / 2])
        boxes[n] = np.concatenate([np.maximum(square[:2], whole[:2]),
                                   np.minimum(square[2:], whole[2:])])
        clipped[n] = not np.allclose(boxes[n], square)
    return boxes.astype(np.float32), clipped


def box_transform(box, size):
    """(scale, dx, dy) that letterboxes `box` into a `size` px input: its longer side fills
    the input, the shorter one is centred (grey around it), as `letterbox.letterbox` does
    with a whole image."""
    x0, y0, x1, y1 = (float(v) for v in box)
    scale = size / max(x1 - x0, y1 - y0)
    # x_in = (x - x0) * scale - 0.5 + pad puts the box's left edge on the input's.
    pad_x, pad_y = (size - (x1 - x0) * scale) / 2, (size - (y1 - y0) * scale) / 2
    return np.array([scale, pad_x - (x0 + 0.5) * scale, pad_y - (y0 + 0.5) * scale], np.float32)


def inside(points, boxes):
    """(N, K) bool: which points (N, K, 2+) lie in their image's box (N, 4)."""
    xy = np.asarray(points, np.float64)[..., :2]
    boxes = np.asarray(boxes, np.float64)[:, None, :]
    return ((xy >= boxes[..., :2]) & (xy <= boxes[..., 2:])).all(axis=-1)


def crop(image, box, size):
    """(uint8 (size, size, 3), transform): `box` of an image (H, W, 3) letterboxed into the
    input with OpenCV, grey where the box leaves the image; `letterbox.to_original` with the
    transform maps the crop's pixels back, as for a whole image."""
    scale, dx, dy = (float(v) for v in box_transform(box, size))
    # x_in = (x + 0.5) * scale - 0.5 + dx, as a matrix on pixel centres.
    matrix = np.array([[scale, 0, 0.5 * scale - 0.5 + dx], [0, scale, 0.5 * scale - 0.5 + dy]])
    how = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    pixels = cv2.warpAffine(image, matrix, (size, size), flags=how,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(PAD_VALUE,) * 3)
    return pixels, np.array([scale, dx, dy], np.float32)
