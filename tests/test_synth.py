"""The synthetic FashionAI-format generator: layout, labels, determinism.

CSVs are parsed here with the csv module on purpose, so these tests check the
file format itself rather than agreeing with whatever the official reader does.
"""

import csv
import os

import cv2
import numpy as np
import pytest

from data_tools import schema, synth


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def parse_cells(row):
    """(24, 3) int array from the keypoint cells of a row."""
    return np.array([[int(v) for v in cell.split("_")] for cell in row[2:]])


def tree_bytes(root):
    """{relative path: bytes} of every file under root."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """One mid-sized dataset shared by the content checks (about 1 s to make)."""
    out = tmp_path_factory.mktemp("synth")
    summary = synth.generate(out, 40, seed=3, progress=False)
    return out, summary


def all_labelled_rows(out):
    _, train = read_rows(out / "Annotations" / "train.csv")
    _, gt = read_rows(out / "Annotations" / "test_gt.csv")
    return train + gt


def test_layout_and_summary(dataset):
    out, summary = dataset
    header, train = read_rows(out / "Annotations" / "train.csv")
    assert header == ["image_id", "image_category"] + list(schema.KEYPOINTS)
    gt_header, gt = read_rows(out / "Annotations" / "test_gt.csv")
    assert gt_header == header
    test_header, test = read_rows(out / "test.csv")
    assert test_header == ["image_id", "image_category"]
    assert summary["out_dir"] == os.path.abspath(out)
    for category in schema.CATEGORIES:
        assert summary["train"][category] == 32
        assert summary["test"][category] == 8
    assert len(train) == 5 * 32 and len(gt) == len(test) == 5 * 8
    for row in train:
        category = row[1]
        assert row[0].startswith(f"Images/{category}/") and row[0].endswith(".jpg")
    # No stray temp files left next to the CSVs.
    assert sorted(os.listdir(out / "Annotations")) == ["test_gt.csv", "train.csv"]


def test_splits_disjoint_and_files_exist(dataset):
    out, _ = dataset
    _, train = read_rows(out / "Annotations" / "train.csv")
    _, gt = read_rows(out / "Annotations" / "test_gt.csv")
    _, test = read_rows(out / "test.csv")
    train_ids = {r[0] for r in train}
    test_ids = [r[0] for r in test]
    assert len(train_ids) == len(train)
    assert test_ids == [r[0] for r in gt]
    assert [r[1] for r in test] == [r[1] for r in gt]
    assert not train_ids & set(test_ids)
    for image_id in list(train_ids) + test_ids:
        assert (out / image_id).is_file(), image_id


def test_keypoints_match_category_and_lie_inside(dataset):
    out, _ = dataset
    rows = all_labelled_rows(out)
    seen = set()
    sizes = []
    occluded = visible = 0
    for row in rows:
        category = row[1]
        seen.add(category)
        kps = parse_cells(row)
        own = set(schema.keypoint_indices(category))
        img = cv2.imread(str(out / row[0]))
        assert img is not None, row[0]
        h, w = img.shape[:2]
        sizes.append((w, h))
        for i, (x, y, v) in enumerate(kps):
            assert v in (-1, 0, 1)
            if i not in own or v == -1:
                assert row[2 + i] == "-1_-1_-1", (row[0], schema.KEYPOINTS[i])
                continue
            assert 0 <= x < w and 0 <= y < h, (row[0], schema.KEYPOINTS[i], x, y, w, h)
            occluded += v == 0
            visible += v == 1
        # The NE pair must always be there, or the image cannot be scored.
        left, right = (schema.INDEX[n] for n in schema.NORM_PAIRS[category])
        assert kps[left, 2] >= 0 and kps[right, 2] >= 0
    assert seen == set(schema.CATEGORIES)
    assert any(s != (512, 512) for s in sizes)
    assert sum(s == (512, 512) for s in sizes) > len(sizes) // 2
    assert occluded > 0
    assert visible > 5 * occluded          # most keypoints stay visible


def test_left_is_image_left(dataset):
    out, _ = dataset
    by_category = {c: [] for c in schema.CATEGORIES}
    for row in all_labelled_rows(out):
        kps = parse_cells(row)
        left, right = (schema.INDEX[n] for n in schema.NORM_PAIRS[row[1]])
        by_category[row[1]].append(kps[left, 0] < kps[right, 0])
    for category, ok in by_category.items():
        assert np.mean(ok) >= 0.9, category
    # Every other left/right pair should agree most of the time as well.
    for row in all_labelled_rows(out):
        kps = parse_cells(row)
        for i, j in schema.flip_pairs(schema.KEYPOINTS):
            if kps[i, 2] >= 0 and kps[j, 2] >= 0 and "cuff" not in schema.KEYPOINTS[i]:
                assert kps[i, 0] < kps[j, 0] + 5, (row[0], schema.KEYPOINTS[i])


def test_deterministic(tmp_path):
    a = synth.generate(tmp_path / "a", 6, seed=7, progress=False)
    b = synth.generate(tmp_path / "b", 6, seed=7, progress=False)
    c = synth.generate(tmp_path / "c", 6, seed=8, progress=False)
    assert a["train"] == b["train"] == c["train"]
    files_a = tree_bytes(tmp_path / "a")
    files_b = tree_bytes(tmp_path / "b")
    files_c = tree_bytes(tmp_path / "c")
    assert files_a == files_b
    assert files_a.keys() == files_c.keys()
    assert files_a["Annotations/train.csv"] != files_c["Annotations/train.csv"]
    differing = [k for k in files_a if k.endswith(".jpg") and files_a[k] != files_c[k]]
    assert len(differing) == sum(k.endswith(".jpg") for k in files_a)


def test_image_independent_of_count_and_split(tmp_path):
    """Image i of a category is the same whatever else was generated."""
    synth.generate(tmp_path / "small", 3, seed=1, progress=False, test_fraction=0.0)
    synth.generate(tmp_path / "big", 8, seed=1, progress=False, test_fraction=0.5)
    small = tree_bytes(tmp_path / "small")
    big = tree_bytes(tmp_path / "big")
    for key, data in small.items():
        if key.endswith(".jpg"):
            assert big[key] == data, key


def test_overwrite_in_place(tmp_path):
    out = tmp_path / "d"
    synth.generate(out, 5, seed=1, progress=False)
    synth.generate(out, 4, seed=2, progress=False)
    fresh = tmp_path / "fresh"
    synth.generate(fresh, 4, seed=2, progress=False)
    for name in ("Annotations/train.csv", "Annotations/test_gt.csv", "test.csv"):
        assert (out / name).read_bytes() == (fresh / name).read_bytes()
    _, rows = read_rows(out / "Annotations" / "train.csv")
    for row in rows:
        assert (out / row[0]).read_bytes() == (fresh / row[0]).read_bytes()


def test_render_labels_only_cuffs_may_be_absent():
    for category in schema.CATEGORIES:
        for i in range(5):
            img, kps = synth.render(category, synth.image_rng(0, category, i))
            assert img.dtype == np.uint8 and img.ndim == 3
            own = schema.keypoint_indices(category)
            missing = [schema.KEYPOINTS[j] for j in own if kps[j, 2] < 0]
            assert all(name.startswith("cuff_") for name in missing), missing


def test_keypoints_are_garment_vertices():
    """Every keypoint is a vertex of one of the garment's polygons, so the
    model can find it from pixels."""
    rng = np.random.default_rng(0)
    for category, build in synth.GARMENTS.items():
        for _ in range(20):
            pieces, _, kp = build(rng)
            verts = np.concatenate([p for p, _ in pieces])
            for name in schema.keypoint_names(category):
                if kp.get(name) is None:
                    assert name.startswith("cuff_"), (category, name)
                    continue
                dist = np.min(np.linalg.norm(verts - np.asarray(kp[name]), axis=1))
                assert dist < 1e-9, (category, name)
            # Names outside the category are never set.
            for name, value in kp.items():
                if name not in schema.keypoint_names(category):
                    assert value is None, (category, name)


@pytest.mark.parametrize("bad", [dict(images_per_category=0), dict(seed=-1),
                                 dict(test_fraction=1.0)])
def test_bad_arguments(tmp_path, bad):
    from data_tools.errors import DataError
    kwargs = dict(images_per_category=2, seed=0, test_fraction=0.2)
    kwargs.update(bad)
    with pytest.raises(DataError):
        synth.generate(tmp_path, progress=False, **kwargs)
