"""Read and letterbox images in TensorFlow ops, so the pipeline scales with cores.

Geometry is carried as 3x3 matrices on pixel coordinates, in the package's convention
(pixel centres at integers; `letterbox`'s docstring), so that one resampling does the
letterbox and any augmentation together:

    decoded pixels --reduction--> original pixels --letterbox--> input pixels

`tf.raw_ops.ImageProjectiveTransformV3` uses the same convention: output pixel (x, y)
takes the bilinear sample of the input at the point the inverse matrix gives.

A JPEG much larger than the input is decoded at 1/2, 1/4 or 1/8 of its size in the DCT
(libjpeg's scaled decoding), never below the input size; other formats are averaged over
the same r x r blocks. Either way the resampling then shrinks by at most 2, where
bilinear sampling does not alias, and the decoding work drops by r².
"""
import numpy as np
import tensorflow as tf

from data_tools import letterbox
from data_tools.letterbox import PAD_VALUE

REDUCTIONS = (1, 2, 4, 8)  # the DCT scales libjpeg offers
# Smaller inputs are resampled by TensorFlow's op: there, compiling the kernel (about 0.7 s
# per process and size) costs more than it saves.
COMPILE_FROM = 128


def _steps(height, width, size, scale=None):
    """How many halvings (an index into REDUCTIONS) keep the longer side at least `size`,
    or with `scale` (input pixels per original pixel, a crop's) at least one pixel per
    input pixel."""
    if scale is not None:
        return tf.add_n([tf.cast(r * scale <= 1.0, tf.int32) for r in REDUCTIONS[1:]])
    longer = tf.maximum(height, width)
    return tf.add_n([tf.cast(longer // r >= size, tf.int32) for r in REDUCTIONS[1:]])


def _decode_jpeg(data, size, scale=None):
    shape = tf.io.extract_jpeg_shape(data)
    steps = _steps(shape[0], shape[1], size, scale)
    # `ratio` is an attribute of the op, not an input, so each scale is its own branch.
    branches = [lambda r=r: tf.io.decode_jpeg(data, channels=3, ratio=r) for r in REDUCTIONS]
    return tf.switch_case(steps, branches), shape[0], shape[1], 2 ** steps


def _decode_other(data, size, scale=None):
    # channels=3 turns grey into RGB and drops alpha; dtype=uint8 scales 16-bit PNGs.
    image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
    shape = tf.shape(image)
    steps = _steps(shape[0], shape[1], size, scale)
    branches = [lambda r=r: _block_mean(image, r) for r in REDUCTIONS]
    return tf.switch_case(steps, branches), shape[0], shape[1], 2 ** steps


def _block_mean(image, reduction):
    """The mean of each reduction x reduction block, as libjpeg's scaled decoding gives;
    a partial last row or column of blocks repeats the edge."""
    if reduction == 1:
        return image
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    pixels = tf.cast(image, tf.float32)
    pixels = tf.concat([pixels, tf.repeat(pixels[-1:], (-height) % reduction, axis=0)], 0)
    pixels = tf.concat([pixels, tf.repeat(pixels[:, -1:], (-width) % reduction, axis=1)], 1)
    mean = tf.nn.avg_pool2d(pixels[None], reduction, reduction, "VALID")
    return tf.cast(tf.round(mean[0]), tf.uint8)


def decode(data, size, scale=None):
    """(uint8 (h, w, 3) RGB, original height, original width, reduction) of encoded bytes;
    the image is `reduction` times smaller than the file's, for an input of `size` (or,
    for a crop, at `scale` input pixels per original pixel).

    EXIF orientation is ignored, as in `letterbox.read_image`: FashionAI's keypoints
    refer to the stored pixel grid. Bytes that tf.io cannot decode raise an op error,
    which the pipeline's ignore_errors turns into a skipped image.
    """
    return tf.cond(tf.io.is_jpeg(data), lambda: _decode_jpeg(data, size, scale),
                   lambda: _decode_other(data, size, scale))


def letterbox_transform(height, width, size):
    """float32 (scale, dx, dy), the same numbers as `letterbox.transform_for`."""
    height = tf.cast(height, tf.float64)
    width = tf.cast(width, tf.float64)
    size = tf.constant(size, tf.float64)
    scale = size / tf.maximum(height, width)
    # tf.round rounds half to even, as Python's round does in transform_for.
    one = tf.constant(1.0, tf.float64)
    new_w = tf.maximum(one, tf.round(width * scale))
    new_h = tf.maximum(one, tf.round(height * scale))
    dx = tf.math.floordiv(size - new_w, 2.0)
    dy = tf.math.floordiv(size - new_h, 2.0)
    return tf.cast(tf.stack([scale, dx, dy]), tf.float32)


def placement(height, width, reduction, size):
    """(to_input, transform) of a decoded image: the 3x3 from its (reduced) pixels to the
    letterboxed input's, and `letterbox_transform`'s (scale, dx, dy) for the keypoints."""
    transform = letterbox_transform(height, width, size)
    return letterbox_matrix(transform) @ reduction_matrix(reduction), transform


def box_transform(box, size):
    """float32 (scale, dx, dy) that letterboxes a box (x0, y0, x1, y1) of original pixels
    into the input, the same numbers as `crops.box_transform`."""
    box = tf.cast(box, tf.float64)
    width, height = box[2] - box[0], box[3] - box[1]
    scale = size / tf.maximum(width, height)
    dx = (size - width * scale) / 2 - (box[0] + 0.5) * scale
    dy = (size - height * scale) / 2 - (box[1] + 0.5) * scale
    return tf.cast(tf.stack([scale, dx, dy]), tf.float32)


def letterbox_matrix(transform):
    """3x3: original pixels → input pixels, x_in = (x + 0.5) * scale - 0.5 + dx."""
    scale, dx, dy = tf.unstack(tf.cast(transform, tf.float32))
    return tf.stack([[scale, 0.0, 0.5 * scale - 0.5 + dx],
                     [0.0, scale, 0.5 * scale - 0.5 + dy],
                     [0.0, 0.0, 1.0]])


def reduction_matrix(reduction):
    """3x3: pixels of an image decoded `reduction` times smaller → the file's pixels;
    reduced pixel u covers original pixels [u r, (u + 1) r), so its centre is (u + 0.5) r - 0.5."""
    r = tf.cast(reduction, tf.float32)
    return tf.stack([[r, 0.0, 0.5 * r - 0.5],
                     [0.0, r, 0.5 * r - 0.5],
                     [0.0, 0.0, 1.0]])


def warp(image, matrix, size, finish=None, finish_args=()):
    """float32 (size, size, 3) in [0, 255]: `image` moved by `matrix` (its pixels → output
    pixels), sampled bilinearly once, uncovered pixels grey as in the letterbox; then
    `finish(pixels, *finish_args)` if given (the augmenter's photometric steps).

    An image that fits in (2 size, 2 size), which the scaled decoding makes the usual
    case, is resampled by an XLA-compiled kernel, about 3x faster on a CPU than
    ImageProjectiveTransformV3, the fallback for larger ones and for inputs under
    COMPILE_FROM; both give the same pixels.
    `finish` runs inside the compiled kernel, fused with the resampling.
    """
    inverse = tf.linalg.inv(tf.cast(matrix, tf.float32))
    inverse = inverse / inverse[2, 2]
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    limit = 2 * size

    def compiled():
        # XLA needs one shape: the pixels, row after row, go into a buffer of fixed
        # length. Each pixel is packed into one int32 (r + g 2^8 + b 2^16), since XLA's
        # CPU gathers single numbers over twice as fast as rows of three.
        rgb = tf.cast(image, tf.int32)
        packed = tf.reshape(rgb[..., 0] + rgb[..., 1] * 256 + rgb[..., 2] * 65536, [-1])
        spare = tf.zeros([limit * limit - height * width], tf.int32)
        buffer = tf.ensure_shape(tf.concat([packed, spare], 0), (limit * limit,))
        return _bilinear(buffer, height, width, inverse, size, finish, tuple(finish_args))

    def projective():
        out = tf.raw_ops.ImageProjectiveTransformV3(
            images=tf.cast(image, tf.float32)[None],
            transforms=tf.reshape(inverse, [-1])[None, :8],
            output_shape=tf.constant([size, size], tf.int32), fill_value=float(PAD_VALUE),
            interpolation="BILINEAR", fill_mode="CONSTANT")
        return finish(out[0], *finish_args) if finish else out[0]

    if size < COMPILE_FROM:
        out = projective()
    else:
        out = tf.cond((height <= limit) & (width <= limit), compiled, projective)
    return tf.ensure_shape(out, (size, size, 3))


@tf.function(jit_compile=True, autograph=False)  # plain graph code: no conversion to pay for
def _bilinear(buffer, height, width, inverse, size, finish=None, finish_args=()):
    """Bilinear samples, at `inverse` x (each output pixel), of the (height, width) image
    of packed pixels whose rows start `buffer`; a neighbour outside the image reads as
    PAD_VALUE (ImageProjectiveTransformV3's CONSTANT fill). Then `finish`, if given."""
    ys, xs = tf.meshgrid(tf.range(size, dtype=tf.float32), tf.range(size, dtype=tf.float32),
                         indexing="ij")
    source_x = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    source_y = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    x0, y0 = tf.floor(source_x), tf.floor(source_y)
    fx, fy = (source_x - x0)[..., None], (source_y - y0)[..., None]
    x0, y0 = tf.cast(x0, tf.int32), tf.cast(y0, tf.int32)

    def read(y, x):
        inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        pixel = tf.gather(buffer, tf.clip_by_value(y * width + x, 0, buffer.shape[0] - 1))
        # Shifts and masks: XLA's CPU integer division is several times slower.
        rgb = tf.stack([tf.bitwise.bitwise_and(pixel, 255),
                        tf.bitwise.bitwise_and(tf.bitwise.right_shift(pixel, 8), 255),
                        tf.bitwise.right_shift(pixel, 16)], axis=-1)
        return tf.where(inside[..., None], tf.cast(rgb, tf.float32), float(PAD_VALUE))

    top = read(y0, x0) * (1 - fx) + read(y0, x0 + 1) * fx
    bottom = read(y0 + 1, x0) * (1 - fx) + read(y0 + 1, x0 + 1) * fx
    out = top * (1 - fy) + bottom * fy
    return finish(out, *finish_args) if finish else out


def move_points(points, matrix, size):
    """(K, 3) points through `matrix`; absent ones, and present ones that leave the
    (size, size) image (not on any pixel), come out absent (-1, -1, -1)."""
    points = tf.cast(points, tf.float32)
    xy = points[:, :2] @ tf.transpose(matrix[:2, :2]) + matrix[:2, 2]
    inside = tf.reduce_all((xy >= -0.5) & (xy < size - 0.5), axis=1)
    keep = (points[:, 2] >= 0) & inside
    moved = tf.concat([xy, points[:, 2:]], axis=1)
    return tf.where(keep[:, None], moved, tf.fill(tf.shape(points), -1.0))


def _decode_file(path, size):
    """`decode` of one file, eagerly; `letterbox.ImageError` with the reason if it fails."""
    data = letterbox.read_bytes(path)  # 'file not found' and such, as the OpenCV reader says
    if len(data) == 0:
        raise letterbox.ImageError(path, "empty file")
    try:
        return decode(tf.constant(data), size)
    except (tf.errors.OpError, ValueError):
        raise letterbox.ImageError(
            path, "not a decodable image (corrupt, or not a JPEG, PNG, GIF or BMP, "
            "which is what tf.io reads)") from None


def check_file(path):
    """None if the TF reader can use the file, else the reason (for scan_images). JPEGs
    are decoded at 1/8 size, which still reads every byte."""
    try:
        _decode_file(path, 1)
    except letterbox.ImageError as e:
        return e.reason
    return None


def letterbox_file(path, size):
    """(uint8 (size, size, 3), float32 (scale, dx, dy)) of one file, eagerly, as the
    pipeline's TF reader letterboxes it; `letterbox.ImageError` if it cannot be used.
    The HDF5 cache of a run with the TF reader is built with it."""
    image, height, width, reduction = _decode_file(path, size)
    to_input, transform = placement(height, width, reduction, size)
    pixels = np.round(warp(image, to_input, size).numpy()).astype(np.uint8)
    return pixels, transform.numpy()
