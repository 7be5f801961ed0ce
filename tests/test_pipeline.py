import cv2
import h5py
import numpy as np
import pytest
import tensorflow as tf

from data_tools import cache, fashion_csv, letterbox, pipeline, schema
from data_tools.letterbox import ImageError

SIZE = 64
NAMES = list(schema.keypoint_names("dress"))
SHAPES = [(80, 120), (120, 80), (100, 100), (60, 90), (90, 60), (70, 110)]  # (H, W)


def _write_dataset(root, shapes=SHAPES):
    """A tiny FashionAI-format dataset: noisy JPEGs and a train.csv, read back."""
    rng = np.random.default_rng(0)
    ids, keypoints = [], np.full((len(shapes), schema.NUM_KEYPOINTS, 3), -1, np.float32)
    for n, (h, w) in enumerate(shapes):
        image_id = f"Images/dress/img{n}.jpg"
        (root / "Images" / "dress").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / image_id), rng.integers(0, 255, (h, w, 3), np.uint8))
        for k in schema.keypoint_indices("dress"):
            v = rng.choice([-1, 0, 1, 1])
            if v >= 0:
                keypoints[n, k] = (rng.integers(5, w - 5), rng.integers(5, h - 5), v)
        ids.append(image_id)
    csv_path = root / "Annotations" / "train.csv"
    fashion_csv.write_annotations(csv_path, ids, ["dress"] * len(ids), keypoints)
    return fashion_csv.read_annotations(csv_path)


@pytest.fixture(scope="module")
def ann(tmp_path_factory):
    return _write_dataset(tmp_path_factory.mktemp("fashion"))


def _first(ds):
    return next(iter(ds))


# ---------------------------------------------------------------- letterbox

@pytest.mark.parametrize("shape", [(300, 500), (500, 300), (333, 601), (512, 512),
                                   (1, 1000), (1000, 3), (5, 512), (37, 64)])
def test_transform_from_size_matches_letterbox(shape):
    # The mean-shape baseline maps training points with transform_for, from image headers.
    _, transform = letterbox.letterbox(np.zeros((*shape, 3), np.uint8), 128)
    np.testing.assert_array_equal(letterbox.transform_for(*shape, 128), transform)


@pytest.mark.parametrize("shape", [(300, 500), (500, 300), (60, 100), (100, 60)])
def test_letterbox_inverse_is_exact(shape):
    image = np.zeros((*shape, 3), np.uint8)
    out, transform = letterbox.letterbox(image, 128)
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    assert transform.dtype == np.float32 and transform.shape == (3,)
    points = np.random.default_rng(0).uniform(-10, 510, (50, 2)).astype(np.float32)
    back = letterbox.to_original(letterbox.to_input(points, transform), transform)
    np.testing.assert_allclose(back, points, atol=1e-4)
    # The image's outer edges land on the scaled content's edges (the last row or
    # column of the content is partly covered when size * side / long side is fractional).
    h, w = shape
    corners = letterbox.to_input(np.array([[-0.5, -0.5], [w - 0.5, h - 0.5]]), transform)
    content = np.argwhere(out[..., 0] != letterbox.PAD_VALUE)
    np.testing.assert_allclose(corners[0], content.min(0)[::-1] - 0.5, atol=1e-3)
    np.testing.assert_allclose(corners[1], content.max(0)[::-1] + 0.5, atol=0.5)


@pytest.mark.parametrize("shape", [(300, 500), (500, 300), (60, 100), (100, 60)])
def test_a_dot_lands_where_to_input_says(shape):
    h, w = shape
    size = 128
    sigma = 3.0 * max(h, w) / size  # about 3 input pixels wide after scaling
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for x, y in [(0.3 * w, 0.4 * h), (0.71 * w, 0.62 * h)]:
        dot = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)) * 255
        image = np.repeat(dot.round().astype(np.uint8)[..., None], 3, axis=2)
        out, transform = letterbox.letterbox(image, size)
        ex, ey = letterbox.to_input([x, y], transform)
        r = 10
        cx, cy = int(round(ex)), int(round(ey))
        window = out[cy - r:cy + r + 1, cx - r:cx + r + 1, 0].astype(np.float64)
        oy, ox = np.mgrid[-r:r + 1, -r:r + 1]
        centroid = np.array([(window * (ox + cx)).sum(), (window * (oy + cy)).sum()]) / window.sum()
        np.testing.assert_allclose(centroid, [ex, ey], atol=0.15)


# ---------------------------------------------------------------- reading images

def test_grayscale_and_rgba_come_out_rgb(tmp_path):
    gray = np.arange(60, dtype=np.uint8).reshape(6, 10)
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    image = letterbox.read_image(tmp_path / "gray.png")
    assert image.shape == (6, 10, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[..., 1], gray)

    bgra = np.zeros((5, 7, 4), np.uint8)
    bgra[..., 0] = 255  # blue in OpenCV's BGR(A) order
    bgra[..., 3] = 128
    cv2.imwrite(str(tmp_path / "rgba.png"), bgra)
    image = letterbox.read_image(tmp_path / "rgba.png")
    assert image.shape == (5, 7, 3)
    np.testing.assert_array_equal(image[0, 0], [0, 0, 255])  # RGB


def test_bad_images_raise_one_line_image_error(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "junk.jpg").write_bytes(b"this is not a jpeg" * 10)
    for name, reason in [("missing.jpg", "not found"), ("empty.jpg", "empty"),
                         ("junk.jpg", "not a decodable image")]:
        with pytest.raises(ImageError, match=reason) as info:
            letterbox.read_image(tmp_path / name)
        assert str(info.value).startswith(str(tmp_path / name) + ": ")
        assert "\n" not in str(info.value)


def test_scan_images_reports_corrupt_and_missing(tmp_path):
    ann = _write_dataset(tmp_path, SHAPES[:4])
    ann.image_path(1).write_bytes(b"\xff\xd8 corrupt")
    ann.image_path(2).unlink()
    report = dict(pipeline.scan_images(ann))
    assert set(report) == {ann.image_ids[1], ann.image_ids[2]}
    assert "not found" in report[ann.image_ids[2]]


# ---------------------------------------------------------------- split and fingerprint

def test_split_is_deterministic_disjoint_and_complete():
    ids = [f"Images/dress/{i}.jpg" for i in range(400)]
    ann = fashion_csv.Annotations(None, None, ids, ["dress"] * 400,
                                  np.zeros((400, schema.NUM_KEYPOINTS, 3), np.float32))
    train, val = pipeline.split_train_val(ann, 0.1)
    assert set(train.image_ids).isdisjoint(val.image_ids)
    assert set(train.image_ids) | set(val.image_ids) == set(ids)
    assert 20 < len(val) < 65
    shuffled = ann.select(np.random.default_rng(0).permutation(400))
    train2, val2 = pipeline.split_train_val(shuffled, 0.1)
    assert set(val2.image_ids) == set(val.image_ids)


def test_fingerprint_changes_with_the_keypoints(ann):
    a = pipeline.dataset_fingerprint(ann)
    assert a == pipeline.dataset_fingerprint(ann.select(range(len(ann))))
    moved = ann.select(range(len(ann)))
    moved.keypoints = moved.keypoints.copy()
    moved.keypoints[0, 0, 0] += 1
    assert a != pipeline.dataset_fingerprint(moved)
    assert len(a) == 16 and int(a, 16) >= 0


# ---------------------------------------------------------------- the dataset

def test_element_shapes_and_dtypes(ann):
    batch = _first(pipeline.make_dataset(ann, NAMES, SIZE, batch_size=4))
    assert set(batch) == {"image", "keypoints"}
    assert batch["image"].shape == (4, SIZE, SIZE, 3) and batch["image"].dtype == tf.float32
    assert batch["keypoints"].shape == (4, len(NAMES), 3) and batch["keypoints"].dtype == tf.float32
    assert 0 <= float(tf.reduce_min(batch["image"])) and float(tf.reduce_max(batch["image"])) <= 1


def test_encode_gives_x_y(ann):
    def encode(image, keypoints):
        assert image.shape == (SIZE, SIZE, 3)  # static shapes reach encode
        return image[::2, ::2], keypoints[:, :2] / SIZE

    ds = pipeline.make_dataset(ann, NAMES, SIZE, batch_size=3, encode=encode,
                               training=True, drop_remainder=True)
    x, y = _first(ds)
    assert x.shape == (3, SIZE // 2, SIZE // 2, 3) and y.shape == (3, len(NAMES), 2)
    assert ds.element_spec[0].shape == (3, SIZE // 2, SIZE // 2, 3)


def test_with_meta_maps_back_to_original_pixels(ann):
    batch = _first(pipeline.make_dataset(ann, NAMES, SIZE, batch_size=len(ann), with_meta=True))
    assert set(batch) == {"image", "keypoints", "orig_keypoints", "transform", "index"}
    assert batch["index"].dtype == tf.int64 and batch["transform"].shape == (len(ann), 3)
    np.testing.assert_array_equal(batch["index"], np.arange(len(ann)))
    columns = [schema.INDEX[n] for n in NAMES]
    np.testing.assert_array_equal(batch["orig_keypoints"], ann.keypoints[:, columns])
    for kp, orig, t in zip(batch["keypoints"].numpy(), batch["orig_keypoints"].numpy(),
                           batch["transform"].numpy()):
        present = orig[:, 2] >= 0
        np.testing.assert_array_equal(kp[~present], -1)
        np.testing.assert_allclose(letterbox.to_original(kp[present, :2], t),
                                   orig[present, :2], atol=1e-3)


def test_same_seed_same_first_batch(ann):
    def first(seed):
        ds = pipeline.make_dataset(ann, NAMES, SIZE, batch_size=3, training=True, seed=seed)
        return _first(ds)

    a, b, c = first(7), first(7), first(8)
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["keypoints"], b["keypoints"])
    assert not np.array_equal(a["image"], c["image"])


def test_epochs_differ_in_order_and_augmentation(ann):
    ds = pipeline.make_dataset(ann, NAMES, SIZE, batch_size=len(ann), training=True, seed=1)
    e1, e2 = _first(ds), _first(ds)
    assert not np.array_equal(e1["image"], e2["image"])


@pytest.mark.parametrize("augmenter", pipeline.AUGMENTERS)
@pytest.mark.parametrize("cached", [False, True])
def test_bad_image_is_dropped_not_fatal(tmp_path, cached, augmenter):
    ann = _write_dataset(tmp_path, SHAPES[:4])
    ann.image_path(2).write_bytes(b"junk")
    cache_path = tmp_path / "cache.h5" if cached else None
    batches = list(pipeline.make_dataset(ann, NAMES, SIZE, batch_size=2, with_meta=True,
                                         cache_path=cache_path, augmenter=augmenter))
    seen = np.concatenate([b["index"].numpy() for b in batches])
    np.testing.assert_array_equal(seen, [0, 1, 3])


@pytest.mark.parametrize("augmenter", pipeline.AUGMENTERS)
def test_cache_gives_the_same_images(ann, tmp_path, augmenter):
    """Each reader caches its own letterbox, so --cache changes no pixel."""
    path = tmp_path / "cache.h5"
    plain = _first(pipeline.make_dataset(ann, NAMES, SIZE, len(ann), with_meta=True,
                                         augmenter=augmenter))
    cached = _first(pipeline.make_dataset(ann, NAMES, SIZE, len(ann), with_meta=True,
                                          cache_path=path, augmenter=augmenter))
    assert path.is_file() and not list(path.parent.glob(".cache.h5.*"))
    for key in plain:
        np.testing.assert_array_equal(plain[key], cached[key], err_msg=key)
    how = pipeline.LETTERBOX_OF[augmenter]

    # A subset (e.g. the val split) reads the same file by image id, no rebuild.
    stamp = path.stat().st_mtime_ns
    subset = ann.select([4, 1])
    reader = cache.open_cache(path, subset, SIZE, progress=False, how=how)
    np.testing.assert_allclose(reader.get(0)[0], plain["image"][4].numpy() * 255, atol=1e-3)
    assert path.stat().st_mtime_ns == stamp

    # Too big for memory: rows are read from the file under a lock, same result.
    on_disk = cache.CacheReader(path, ann.image_ids, in_memory_limit=0)
    np.testing.assert_array_equal(on_disk.get(4)[0], reader.get(0)[0])
    on_disk.close()

    # Opening for images it lacks (train, then val) grows it to hold both.
    grown = tmp_path / "grown.h5"
    cache.open_cache(grown, ann.select([0, 1]), SIZE, progress=False, how=how)
    reader = cache.open_cache(grown, ann.select([2, 3]), SIZE, progress=False, how=how)
    np.testing.assert_allclose(reader.get(1)[0], plain["image"][3].numpy() * 255, atol=1e-3)
    with h5py.File(grown, "r") as f:
        assert sorted(f["image_ids"].asstr()[()]) == sorted(ann.image_ids[:4])

    # Another input size rebuilds it, and so does the other reader's letterbox.
    reader = cache.open_cache(path, ann, 32, progress=False, how=how)
    assert reader.get(0)[0].shape == (32, 32, 3)
    other = next(h for h in cache.LETTERBOXES if h != how)
    cache.open_cache(path, ann, 32, progress=False, how=other)
    with h5py.File(path, "r") as f:
        assert f.attrs["letterbox"] == other


def test_joint_model_mask_hides_other_categories_keypoints(tmp_path):
    """`--category all`: a skirt image is taught only skirt keypoints, even if its CSV row
    (wrongly) holds a neckline; its own absent keypoints stay absent."""
    ann = _write_dataset(tmp_path, shapes=[(80, 120), (100, 100)])
    keypoints = ann.keypoints.copy()
    keypoints[0, schema.INDEX["neckline_left"]] = (20, 20, 1)     # foreign to a skirt
    keypoints[0, schema.INDEX["waistband_left"]] = (30, 40, 1)
    keypoints[0, schema.INDEX["waistband_right"]] = (-1, -1, -1)
    csv_path = tmp_path / "Annotations" / "train.csv"
    fashion_csv.write_annotations(csv_path, ann.image_ids, ["skirt", "dress"], keypoints)
    ann = fashion_csv.read_annotations(csv_path)
    names = list(schema.keypoint_names("all"))

    own = pipeline.own_keypoints(ann, names)
    skirt = set(schema.keypoint_names("skirt"))
    for k, name in enumerate(names):
        if name not in skirt:
            assert (own[0, k] == -1).all(), name
    assert own[0, names.index("waistband_left")].tolist() == [30, 40, 1]
    assert (own[0, names.index("waistband_right")] == -1).all()
    dress = set(schema.keypoint_names("dress"))
    np.testing.assert_array_equal(
        own[1, [k for k, n in enumerate(names) if n in dress]],
        ann.keypoints[1, [schema.INDEX[n] for n in names if n in dress]])

    batch = _first(pipeline.make_dataset(ann, names, SIZE, 2, with_meta=True))
    first = int(np.flatnonzero(batch["index"].numpy() == 0)[0])
    assert (batch["keypoints"].numpy()[first, names.index("neckline_left")] == -1).all()
    assert (batch["orig_keypoints"].numpy()[first, names.index("neckline_left")] == -1).all()


def _epoch_indices(ds):
    return np.concatenate([np.asarray(b["index"]) for b in ds]).tolist()


def test_worker_shards_are_disjoint_and_complete_every_epoch(ann):
    """Each worker of a multi-worker run reads its own images; together, all of them."""
    def shard(index):
        return pipeline.make_dataset(ann, NAMES, SIZE, batch_size=3, training=True, seed=2,
                                     shard=(2, index), with_meta=True).repeat(2)
    batches = [list(shard(0)), list(shard(1))]
    for epoch in range(2):
        halves = [_epoch_indices(b[epoch * (len(b) // 2):(epoch + 1) * (len(b) // 2)])
                  for b in batches]
        assert not set(halves[0]) & set(halves[1])
        assert sorted(halves[0] + halves[1]) == list(range(len(ann)))


def test_fast_gives_the_same_images_and_augmentations(ann):
    def first_epoch(deterministic):
        ds = pipeline.make_dataset(ann, NAMES, SIZE, batch_size=2, training=True, seed=4,
                                   with_meta=True, deterministic=deterministic)
        return {int(i): image for b in ds for i, image in zip(np.asarray(b["index"]),
                                                              np.asarray(b["image"]))}
    ordered, fast = first_epoch(True), first_epoch(False)
    assert ordered.keys() == fast.keys() == set(range(len(ann)))
    assert all(np.array_equal(ordered[i], fast[i]) for i in ordered)
