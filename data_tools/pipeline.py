"""One tf.data pipeline for every architecture.

    (path, keypoints, index) → shuffle (training) → parallel map: read or take from
    cache, letterbox, keypoints to input pixels, augment (training) → ignore_errors
    → encode (optional) → batch → prefetch

The map is TensorFlow ops by default (tf_images, tf_augment: one matrix per image for
the letterbox and the augmentation, one resampling), or OpenCV and imgaug in Python
with augmenter="imgaug".

Keypoints leave the pipeline in input pixels (pixel centres at integers), absent
points as (-1, -1, -1); `letterbox.to_original` maps predictions back.
"""
import hashlib
import os
import zlib
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import tensorflow as tf

from data_tools import augment as augment_lib
from data_tools import cache as cache_lib
from data_tools import fashion_csv, letterbox, schema, tf_augment, tf_images
from data_tools.augment_settings import AUGMENTERS
from data_tools.errors import DataError

SPLIT_RULE = "val if zlib.crc32(image_id.encode('utf-8')) / 2**32 < val_fraction"


# ---------------------------------------------------------------- split, scan, fingerprint

def _hash_fraction(image_id):
    """A stable number in [0, 1) per image id (crc32 does not change between runs,
    unlike Python's hash()). A Windows spelling of the id (backslashes) hashes as its
    forward-slash one, so re-saving a CSV on another system keeps the split; ids with
    forward slashes, all that FashionAI writes, hash as SPLIT_RULE says."""
    return zlib.crc32(fashion_csv.id_path(image_id).encode("utf-8")) / 2**32


def split_train_val(ann, val_fraction=0.1):
    """(train, val) by a stable hash of each image id; independent of row order.

    With at least two images and val_fraction > 0, val is never empty: if no id
    hashes below val_fraction, the id with the smallest hash goes to val.
    """
    fractions = np.array([_hash_fraction(s) for s in ann.image_ids])
    is_val = fractions < val_fraction
    if val_fraction > 0 and len(ann) >= 2 and not is_val.any():
        is_val[np.argmin(fractions)] = True
    return ann.select(np.flatnonzero(~is_val)), ann.select(np.flatnonzero(is_val))


def _check_image(path):
    """None if the file decodes, else the reason. JPEGs decode at 1/8 size (libjpeg
    scales in the DCT), which is several times faster than a full decode."""
    try:
        letterbox.decode_image(letterbox.read_bytes(path), path,
                               cv2.IMREAD_REDUCED_COLOR_8 | cv2.IMREAD_IGNORE_ORIENTATION)
    except letterbox.ImageError as e:
        return e.reason
    return None


def scan_images(ann, workers=None, how="opencv"):
    """[(image_id, reason)] for every image that is missing, empty or that the reader
    `how` ("opencv" or "tf", as LETTERBOX_OF says) cannot decode."""
    paths = [ann.image_path(i) for i in range(len(ann))]
    with ThreadPoolExecutor(workers or os.cpu_count()) as pool:  # both release the GIL
        reasons = list(pool.map(_check_image, paths))
        if how == "tf":
            # Only what OpenCV reads goes on to tf.io: libjpeg, inside TensorFlow, prints
            # its complaints about a broken file straight to stderr.
            readable = [n for n, reason in enumerate(reasons) if reason is None]
            for n, reason in zip(readable, pool.map(tf_images.check_file,
                                                    [paths[n] for n in readable])):
                reasons[n] = reason
    return [(image_id, r) for image_id, r in zip(ann.image_ids, reasons) if r]


def dataset_fingerprint(ann):
    """Short hex digest of the annotations (ids, categories, keypoints) for config.json."""
    h = hashlib.sha256()
    h.update("\n".join(map(fashion_csv.id_path, ann.image_ids)).encode("utf-8"))
    h.update(b"\0" + "\n".join(ann.categories).encode("utf-8"))
    h.update(np.ascontiguousarray(ann.keypoints, np.float32).tobytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------- per-element work (numpy)

def own_mask(categories, names):
    """(N, K) bool: which of `names` belong to each image's category.

    The joint model (`--category all`) predicts all 24 keypoints for every image;
    only an image's own ones are taught, scored and drawn.
    """
    return np.array([[name in schema.keypoint_names(c) for name in names] for c in categories],
                    dtype=bool).reshape(len(categories), len(names))


def own_keypoints(ann, names):
    """(N, K, 3) float32 keypoints `names` of every image, where a keypoint that is not
    part of the image's own category is absent (-1, -1, -1).

    This is the joint model's mask (`--category all`): every image is taught and
    scored on its own category's keypoints only, whatever the CSV holds in the others.
    """
    keypoints = ann.keypoints[:, [schema.INDEX[n] for n in names]].astype(np.float32)
    keypoints[~own_mask(ann.categories, names)] = -1
    return keypoints


def keypoints_to_input(keypoints, transform, input_size):
    """(K, 3) original pixels → input pixels; absent stay (-1, -1, -1), and so do
    points that fall outside the input (the model could not be taught them)."""
    out = np.full_like(keypoints, -1, dtype=np.float32)
    present = keypoints[:, 2] >= 0
    out[present, :2] = letterbox.to_input(keypoints[present, :2], transform)
    out[present, 2] = keypoints[present, 2]
    return augment_lib.drop_outside(out, (input_size, input_size))


def _element_seed(random_value, index):
    """Mix the per-epoch random draw with the image index into one augmentation seed."""
    entropy = [int(random_value) % 2**63, int(index)]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])


class _Loader:
    """The numpy side of the map: one image in, letterboxed (and augmented) out."""

    def __init__(self, names, input_size, augmenter=None, reader=None):
        self.names = list(names)
        self.input_size = int(input_size)
        self.augmenter = augmenter
        self.reader = reader

    def __call__(self, path, keypoints, index, random_value):
        if self.reader is not None:
            image, transform = self.reader.get(int(index))
        else:
            image, transform = letterbox.letterbox(
                letterbox.read_image(path.decode("utf-8")), self.input_size)
        points = keypoints_to_input(keypoints, transform, self.input_size)
        if self.augmenter is not None:
            image, points = self.augmenter(image, points, self.names,
                                           _element_seed(random_value, index))
        return image, points, np.asarray(transform, np.float32)


# ---------------------------------------------------------------- the TF reader

def _tf_loader(names, size, augmenter=None, reader=None, box_jitter=None):
    """The map function of the TensorFlow path: (path, keypoints, index, random draw[, box])
    → (float32 image in [0, 255], input-pixel keypoints, transform), in graph ops only,
    except a cache's row lookup. With a box, the input is that box's crop (data_tools/crops.py),
    moved about by `box_jitter` {"shift", "scale"} in training.

    The letterbox (or crop) and the augmentation are one matrix, so the pixels are
    resampled once.
    """
    def read_file(path, index, random_value, box):
        image, height, width, reduction = tf_images.decode(tf.io.read_file(path), size)
        to_input, transform = tf_images.placement(height, width, reduction, size)
        return image, to_input, transform

    def read_crop(path, index, random_value, box):
        if box_jitter is not None:
            box = tf_augment.jitter_box(box, tf.stack([random_value, index]),
                                        box_jitter["shift"], box_jitter["scale"])
        transform = tf_images.box_transform(box, size)
        # Decoded only as much smaller as the crop's scale allows, not the whole image's.
        image, _, _, reduction = tf_images.decode(tf.io.read_file(path), size, transform[0])
        to_input = tf_images.letterbox_matrix(transform) @ tf_images.reduction_matrix(reduction)
        return image, to_input, transform

    def read_cache(path, index, random_value, box):
        # The cache holds letterboxed images already: a row lookup, not worth a TF reader.
        image, transform = tf.numpy_function(reader.get, [index], [tf.uint8, tf.float32],
                                             stateful=False)
        image = tf.ensure_shape(image, (size, size, 3))
        return image, tf.eye(3), tf.ensure_shape(transform, (3,))

    # Graph code without Python control flow on tensors: AutoGraph's conversion of it
    # (through tf_images and tf_augment) cost about 2 s per dataset.
    @tf.autograph.experimental.do_not_convert
    def load(path, keypoints, index, random_value, box=None):
        read = read_cache if reader is not None else read_file if box is None else read_crop
        image, to_input, transform = read(path, index, random_value, box)
        points = tf_images.move_points(keypoints, tf_images.letterbox_matrix(transform), size)
        if augmenter is not None:
            seed = tf.stack([random_value, index])
            image, points = augmenter(image, to_input, points, names, seed, size)
        elif reader is None:
            # Whole grey levels, as a cached image holds: --cache changes nothing.
            image = tf.round(tf_images.warp(image, to_input, size))
        return tf.cast(image, tf.float32), points, transform
    return load


def _numpy_loader(names, size, augmenter=None, reader=None):
    """The map function of the imgaug path: OpenCV's letterbox and imgaug, in Python."""
    loader = _Loader(names, size, augmenter, reader)

    def load(path, keypoints, index, random_value):
        image, points, transform = tf.numpy_function(
            loader, [path, keypoints, index, random_value], [tf.uint8, tf.float32, tf.float32],
            stateful=False)
        # numpy_function forgets shapes; the model and encode need them.
        image = tf.ensure_shape(image, (size, size, 3))
        return (tf.cast(image, tf.float32), tf.ensure_shape(points, (len(names), 3)),
                tf.ensure_shape(transform, (3,)))
    return load


# ---------------------------------------------------------------- the dataset

LETTERBOX_OF = {"tf": "tf", "imgaug": "opencv"}  # whose letterbox each path reads with


def make_dataset(ann, names, input_size, batch_size, encode=None, training=False, seed=0,
                 augment_cfg=None, augmenter="tf", cache_path=None, drop_remainder=False,
                 with_meta=False, shard=None, deterministic=True, weights=None, boxes=None,
                 box_jitter=None):
    """A batched, prefetched tf.data.Dataset of the images in `ann`.

    names: keypoint names the model predicts (a category's subset or all 24).
    Yields, per batch:
      encode given:  encode(image, keypoints) → (x, y), computed per element
      with_meta:     {"image", "keypoints", "orig_keypoints", "transform", "index"}
      otherwise:     {"image": float32 (S, S, 3) in [0, 1], "keypoints": float32 (K, 3)}
    Training shuffles and augments, deterministically for a given seed (a new
    order and new augmentations each epoch). Filter `ann` with scan_images first;
    a bad image that slips through is dropped (with a warning), not fatal.
    augmenter: "tf" reads, letterboxes and augments in TensorFlow ops (tf_images,
    tf_augment), so the map scales with cores; "imgaug" letterboxes with OpenCV and
    augments with imgaug in Python. Both read evaluation images the same way they
    read training images, so a model is scored on what it was taught on.
    shard: (count, index) keeps every count-th image from index on, before any
    decoding, so each worker of a multi-worker run reads only its own part.
    deterministic=False (`--fast`) lets parallel maps hand out elements as they
    finish: the same images and augmentations, in a slightly different order.
    weights: with `encode`, a tf.Variable of one loss weight per image (--curriculum):
    each element is then (x, y, weight), read when the element is made.
    boxes: (N, 4) garment boxes in original pixels (data_tools/crops.py), one per image:
    the input is then each image's crop (a second stage's), read with the tf augmenter and
    no cache; `box_jitter` {"shift", "scale"} moves the boxes about in training.
    """
    if encode is not None and with_meta:
        raise ValueError("with_meta is for evaluation and pictures; it takes no encode")
    if augmenter not in AUGMENTERS:
        raise ValueError(f"unknown augmenter {augmenter!r}; known: {', '.join(AUGMENTERS)}")
    if len(ann) == 0:
        raise DataError("no images to make a dataset from", getattr(ann, "csv_path", None))
    if boxes is not None and (augmenter != "tf" or cache_path):
        raise ValueError("crops are read by the tf augmenter, without a cache")
    names = list(names)
    size = int(input_size)
    keypoints = own_keypoints(ann, names)
    paths = [str(ann.image_path(i)) for i in range(len(ann))]
    reader = (cache_lib.open_cache(cache_path, ann, size, how=LETTERBOX_OF[augmenter])
              if cache_path else None)
    if augmenter == "tf":
        load_element = _tf_loader(names, size, tf_augment.Augmenter(augment_cfg)
                                  if training else None, reader,
                                  box_jitter if training else None)
    else:
        load_element = _numpy_loader(names, size, augment_lib.make_augmenter(augment_cfg)
                                     if training else None, reader)

    columns = (paths, keypoints, np.arange(len(ann), dtype=np.int64))
    if boxes is not None:
        columns += (np.asarray(boxes, np.float32).reshape(len(ann), 4),)
    ds = tf.data.Dataset.from_tensor_slices(columns)
    if training:
        ds = ds.shuffle(len(ann), seed=seed, reshuffle_each_iteration=True)
        # One draw per element and epoch: the same seed gives the same epochs.
        randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    else:
        randoms = tf.data.Dataset.from_tensors(np.int64(0)).repeat()
    ds = tf.data.Dataset.zip(ds, randoms)
    if shard is not None:
        # After the seeded shuffle, which is the same on every worker: disjoint parts.
        ds = ds.shard(*shard)

    def load(element, random_value):
        path, orig, index = element[:3]
        image, points, transform = load_element(path, orig, index, random_value, *element[3:])
        image = image / 255.0
        if encode is not None:  # in the same map: one hand-over fewer per image
            if weights is not None:
                return (*encode(image, points), tf.gather(weights, index))
            return encode(image, points)
        out = {"image": image, "keypoints": points}
        if with_meta:
            out.update(orig_keypoints=orig, transform=transform, index=index)
        return out

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    ds = ds.ignore_errors(log_warning=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
    # Sharding is done above, by image, before decoding; tf.distribute must not redo it.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options)
