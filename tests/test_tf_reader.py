"""The TensorFlow reader and augmenter (the default): the same geometry as OpenCV's
letterbox and imgaug's moves, from files of any size and format."""
import cv2
import numpy as np
import pytest
import tensorflow as tf

from data_tools import augment, fashion_csv, letterbox, pipeline, schema, tf_augment, tf_images

NAMES = list(schema.keypoint_names("trousers"))  # 3 left/right pairs and the crotch


def _dot_image(h, w, points, sigma):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.zeros((h, w), np.float32)
    for x, y in points:
        image = np.maximum(image, np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)))
    return np.repeat((image * 255).round().astype(np.uint8)[..., None], 3, axis=2)


def _centroid(image, x, y, r=8):
    cx, cy = int(round(x)), int(round(y))
    window = image[cy - r:cy + r + 1, cx - r:cx + r + 1, 0].astype(np.float64)
    oy, ox = np.mgrid[-r:r + 1, -r:r + 1]
    return np.array([(window * (ox + cx)).sum(), (window * (oy + cy)).sum()]) / window.sum()


# ---------------------------------------------------------------- letterbox from files

@pytest.mark.parametrize("suffix", [".jpg", ".png"])
@pytest.mark.parametrize("shape", [(300, 500), (700, 1000), (1100, 600), (90, 60)])
def test_a_dot_in_a_file_lands_where_to_input_says(tmp_path, suffix, shape):
    """Large files are decoded 2, 4 or 8 times smaller (JPEG: in the DCT; others: block
    means) before the one resampling; the geometry stays exact."""
    h, w = shape
    size = 128
    points = [(0.3 * w, 0.4 * h), (0.71 * w, 0.62 * h)]
    path = tmp_path / f"dots{suffix}"
    cv2.imwrite(str(path), _dot_image(h, w, points, sigma=3.0 * max(h, w) / size),
                [cv2.IMWRITE_JPEG_QUALITY, 98])
    out, transform = tf_images.letterbox_file(path, size)
    np.testing.assert_allclose(transform, letterbox.transform_for(h, w, size))
    for x, y in points:
        expected = letterbox.to_input([x, y], transform)
        np.testing.assert_allclose(_centroid(out, *expected), expected, atol=0.15)


@pytest.mark.parametrize("shape", [(300, 500), (333, 601), (1, 1000), (1000, 3), (37, 64)])
def test_letterbox_numbers_and_content_match_opencv(tmp_path, shape):
    """Same (scale, dx, dy) as OpenCV's letterbox, and grey wherever a pixel is a whole
    pixel away from the scaled content (at its edge, bilinear sampling blends in grey)."""
    h, w = shape
    image = np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8)
    cv2.imwrite(str(tmp_path / "x.png"), image)
    ours, transform = tf_images.letterbox_file(tmp_path / "x.png", 64)
    _, expected = letterbox.letterbox(image, 64)
    np.testing.assert_array_equal(transform, expected)
    (x0, y0), (x1, y1) = letterbox.to_input(np.array([[-0.5, -0.5], [w - 0.5, h - 0.5]]),
                                            transform)
    yy, xx = np.mgrid[0:64, 0:64]
    outside = (xx < x0 - 1) | (xx > x1 + 1) | (yy < y0 - 1) | (yy > y1 + 1)
    assert (ours[outside] == letterbox.PAD_VALUE).all()
    assert (ours[~outside] != letterbox.PAD_VALUE).any()


def test_grey_and_rgba_files_come_out_rgb(tmp_path):
    grey = np.tile(np.arange(0, 250, 25, dtype=np.uint8), (10, 1))
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    bgra = np.zeros((10, 10, 4), np.uint8)
    bgra[..., 2] = 255  # red in OpenCV's BGR order
    bgra[..., 3] = 40   # mostly transparent: the colour is kept, the alpha dropped
    cv2.imwrite(str(tmp_path / "rgba.png"), bgra)
    out, _ = tf_images.letterbox_file(tmp_path / "grey.png", 10)
    np.testing.assert_array_equal(out[..., 0], grey)
    np.testing.assert_array_equal(out[..., 1], grey)
    out, _ = tf_images.letterbox_file(tmp_path / "rgba.png", 10)
    np.testing.assert_array_equal(out[4, 4], [255, 0, 0])


def test_the_compiled_resampling_equals_tensorflows_op():
    """The XLA kernel (images up to twice the input) and ImageProjectiveTransformV3 (the
    fallback for larger ones and small inputs) give the same pixels, borders included."""
    size = tf_images.COMPILE_FROM
    image = tf.constant(np.random.default_rng(1).integers(0, 256, (180, 240, 3), np.uint8))
    matrix = tf_augment.geometry_matrix(size, True, 17.0, 1.3, 0.1, -0.2) @ (
        tf_images.letterbox_matrix(tf_images.letterbox_transform(180, 240, size)))
    ours = tf_images.warp(image, matrix, size).numpy()
    inverse = np.linalg.inv(matrix.numpy())
    theirs = tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(image, tf.float32)[None],
        transforms=tf.constant((inverse / inverse[2, 2]).reshape(-1)[None, :8], tf.float32),
        output_shape=[size, size], fill_value=float(letterbox.PAD_VALUE),
        interpolation="BILINEAR", fill_mode="CONSTANT")[0].numpy()
    np.testing.assert_allclose(ours, theirs, atol=0.01)
    assert (ours == letterbox.PAD_VALUE).any() and (ours != letterbox.PAD_VALUE).any()


def test_a_file_tf_cannot_decode_is_reported_with_its_reason(tmp_path):
    """OpenCV reads TIFF, tf.io does not: the TF reader's scan lists it, OpenCV's does not."""
    (tmp_path / "Images" / "dress").mkdir(parents=True)
    ids = ["Images/dress/a.jpg", "Images/dress/b.tiff", "Images/dress/c.jpg"]
    for image_id in ids:
        cv2.imwrite(str(tmp_path / image_id), np.full((40, 30, 3), 90, np.uint8))
    (tmp_path / ids[2]).write_bytes(b"")
    keypoints = np.full((3, schema.NUM_KEYPOINTS, 3), -1, np.float32)
    csv_path = tmp_path / "Annotations" / "train.csv"
    fashion_csv.write_annotations(csv_path, ids, ["dress"] * 3, keypoints)
    ann = fashion_csv.read_annotations(csv_path)
    assert dict(pipeline.scan_images(ann, how="opencv")) == {ids[2]: "empty file"}
    report = dict(pipeline.scan_images(ann, how="tf"))
    assert report[ids[2]] == "empty file" and "what tf.io reads" in report[ids[1]]
    assert set(report) == {ids[1], ids[2]}


# ---------------------------------------------------------------- the same moves as imgaug

MOVES = [  # flip, rotate (degrees), scale, shift_x, shift_y (fractions of the side)
    (False, 20.0, 1.0, 0.0, 0.0), (False, 0.0, 1.2, 0.1, -0.05), (True, 0.0, 1.0, 0.0, 0.0),
    (True, 15.0, 0.9, 0.05, 0.08), (True, -30.0, 1.1, -0.1, 0.1), (False, -7.5, 0.8, 0.2, 0.0)]


@pytest.mark.parametrize("move", MOVES)
def test_the_same_move_gives_the_same_points_and_pixels_as_imgaug(move):
    """Measured: points agree to 1e-5 px, pixels to under one grey level (mean 0.25;
    imgaug rounds to whole levels and OpenCV to 1/32 px)."""
    size = 128
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), np.uint8), (0, 0), 3)
    keypoints = np.array([(40, 40, 1), (88, 40, 1), (64, 64, 0), (40, 88, 1), (3, 96, 1),
                          (-1, -1, -1), (52, 72, 1)], np.float32)
    theirs_image, theirs = augment.apply_geometry(image, keypoints, NAMES, *move)
    matrix = tf_augment.geometry_matrix(size, *move)
    ours_image = tf_images.warp(image, matrix, size).numpy()
    ours = tf_augment.swap_sides(tf_images.move_points(keypoints, matrix, size), NAMES,
                                 move[0]).numpy()
    np.testing.assert_allclose(ours, theirs, atol=0.01)
    difference = np.abs(ours_image - theirs_image.astype(np.float32))
    assert difference.mean() < 0.5 and difference.max() < 1.0


def test_photometric_steps_follow_the_draw():
    """No step drawn: the pixels are untouched; each drawn step changes them as it says."""
    image = np.random.default_rng(2).uniform(20, 230, (32, 32, 3)).astype(np.float32)
    cfg = augment.resolve({})
    seed = tf.constant([1, 2], tf.int64)

    def apply(**drawn):
        move = {k: tf.constant(drawn.get(k, 0.0)) for k in ("blur", "noise", "contrast")}
        return tf_augment.photometric(image, move, cfg, seed).numpy()

    np.testing.assert_allclose(apply(), image, atol=1e-4)
    np.testing.assert_allclose(apply(contrast=0.5), 128 + 0.5 * (image - 128), atol=1e-4)
    assert apply(blur=1.0).std() < 0.8 * image.std()
    noisy = apply(noise=5.0) - image
    assert 4 < noisy.std() < 6
    np.testing.assert_allclose(noisy[..., 0], noisy[..., 2], atol=1e-4)  # one value per pixel
