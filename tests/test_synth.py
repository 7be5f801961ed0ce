"""The synthetic FashionAI-format generator: layout, labels, determinism.

CSVs are parsed here with the csv module on purpose, so these tests check the
file format itself rather than agreeing with whatever the official reader does.
"""

import csv
import json
import os

import cv2
import numpy as np
import pytest

from data_tools import garments, people, schema, synth


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
    assert visible > 3 * occluded > 0      # most keypoints stay visible, as in the real labels


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
            # Cuffs and the legs' inner bottoms cross over now and then, as in the real labels.
            if kps[i, 2] >= 0 and kps[j, 2] >= 0 and \
                    not schema.KEYPOINTS[i].startswith(("cuff", "bottom_left_in")):
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


def test_absent_points_are_the_real_kinds():
    """Absent points are those a garment can lack (cuffs, shoulders, a dress's or coat's
    waistline, a hem corner), never the NE pair."""
    lacking = ("cuff_", "shoulder_", "waistline_", "hemline_", "top_hem_", "center_front",
               "bottom_", "waistband_")
    for category in schema.CATEGORIES:
        for i in range(5):
            img, kps = synth.render(category, synth.image_rng(0, category, i))
            assert img.dtype == np.uint8 and img.ndim == 3
            own = schema.keypoint_indices(category)
            missing = [schema.KEYPOINTS[j] for j in own if kps[j, 2] < 0]
            assert all(name.startswith(lacking) for name in missing), missing
            assert not set(missing) & set(schema.NORM_PAIRS[category])


def garment_of(category, seed):
    """A sampled garment's points and the pieces drawn through them."""
    rng = np.random.default_rng(seed)
    _, xy, v = synth.draw_labels(category, synth.default_model(), rng)
    names = schema.keypoint_names(category)
    points = {n: xy[i] for i, n in enumerate(names)}
    present = {n: bool(v[i] >= 0) for i, n in enumerate(names)}
    return points, present, garments.pieces(category, points, present, rng)


@pytest.mark.parametrize("category", schema.CATEGORIES)
def test_outline_passes_through_every_present_keypoint(category):
    """Every present keypoint is a corner of a piece of cloth, so a model can find it."""
    for seed in range(25):
        points, present, pieces = garment_of(category, seed)
        corners = np.concatenate([poly for poly, _, _ in pieces])
        for name, xy in points.items():
            if present[name]:
                assert np.min(np.linalg.norm(corners - xy, axis=1)) < 1e-9, (category, name)


def test_no_cuff_no_sleeve():
    """A blouse without cuffs is drawn without sleeves; with them, each sleeve ends at them."""
    for seed in range(60):
        points, present, pieces = garment_of("blouse", seed)
        for tag in ("left", "right"):
            sleeve = [poly for poly, _, name in pieces if name == f"sleeve_{tag}"]
            has_cuff = present[f"cuff_{tag}_in"] or present[f"cuff_{tag}_out"]
            assert bool(sleeve) == has_cuff, (seed, tag)
            if sleeve:
                for end in ("in", "out"):
                    assert np.min(np.linalg.norm(sleeve[0] - points[f"cuff_{tag}_{end}"], axis=1)) < 1e-9


def test_occluders_cover_occluded_points_and_spare_visible_ones():
    """Worked example: three points on a grey card, the middle one occluded. After `hide`,
    the pixels at the occluded point changed and those at the visible ones did not."""
    names = ["waistband_left", "waistband_right", "hemline_left"]
    xy = np.array([[100.0, 100.0], [160.0, 100.0], [100.0, 200.0]])
    who = people.wearer_of(np.random.default_rng(0))
    for seed in range(30):
        for v in (np.array([1, 0, 1]), np.array([0, 0, 1]), np.array([1, 1, 0])):
            img = np.full((256, 256, 3), 128, np.uint8)
            before = img.copy()
            people.hide(img, names, xy, v, np.array([0.0, 1.0]), 60.0, who,
                        worn=seed % 2 == 0, rng=np.random.default_rng(seed))
            for (x, y), state in zip(xy.astype(int), v):
                changed = bool((img[y, x] != before[y, x]).any())
                assert changed == (state == 0), (seed, v.tolist(), (x, y))


@pytest.mark.parametrize("bad", [dict(images_per_category=0), dict(seed=-1),
                                 dict(test_fraction=1.0)])
def test_bad_arguments(tmp_path, bad):
    from data_tools.errors import DataError
    kwargs = dict(images_per_category=2, seed=0, test_fraction=0.2)
    kwargs.update(bad)
    with pytest.raises(DataError):
        synth.generate(tmp_path, progress=False, **kwargs)


def test_a_set_from_an_older_generator_is_made_again(tmp_path, monkeypatch, capsys):
    """The default synthetic folder made by the generator before the shape model (no
    synthetic.json) is replaced on the next run, and says why; a current one is kept."""
    from engine.runs import data_source
    monkeypatch.chdir(tmp_path)
    old = tmp_path / "data" / "synthetic-3"
    (old / "Annotations").mkdir(parents=True)
    (old / "Annotations" / "train.csv").write_text("left by the old generator\n")
    assert data_source.resolve(None, 3, 800) == data_source.Path("data/synthetic-3")
    assert "from an older generator" in capsys.readouterr().out
    marker = json.loads((old / "synthetic.json").read_text())
    assert marker["generator_version"] == synth.GENERATOR_VERSION
    assert marker["shape_model"] == "fashionai_shapes.json"
    _, rows = read_rows(old / "Annotations" / "train.csv")
    assert len(rows) == 5 * 2
    before = (old / "Annotations" / "train.csv").stat().st_mtime_ns
    data_source.resolve(None, 3, 800)
    assert (old / "Annotations" / "train.csv").stat().st_mtime_ns == before
    assert capsys.readouterr().out == ""
