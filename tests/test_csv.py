"""FashionAI CSV: round trip, submission rules, and every malformed-input case."""
import numpy as np
import pytest

from data_tools import fashion_csv, schema
from data_tools.errors import DataError


def _points(n, seed=0):
    rng = np.random.default_rng(seed)
    points = np.full((n, schema.NUM_KEYPOINTS, 3), -1.0, np.float32)
    cats = [schema.CATEGORIES[i % 5] for i in range(n)]
    for i, c in enumerate(cats):
        idx = schema.keypoint_indices(c)
        points[i, idx, :2] = rng.integers(0, 500, (len(idx), 2))
        points[i, idx, 2] = rng.choice([0, 1], len(idx))
    return cats, points


def test_round_trip(tmp_path):
    cats, points = _points(10)
    ids = [f"Images/{c}/{i}.jpg" for i, c in enumerate(cats)]
    path = tmp_path / "Annotations" / "train.csv"
    fashion_csv.write_annotations(path, ids, cats, points)
    ann = fashion_csv.read_annotations(path)
    assert ann.data_dir == tmp_path
    assert ann.image_ids == ids and ann.categories == cats
    np.testing.assert_array_equal(ann.keypoints, points)
    assert len(ann.of_category("skirt")) == 2
    assert not list(tmp_path.glob("Annotations/.*tmp"))


def test_submission_marks_other_keypoints_absent(tmp_path):
    xy = np.full((2, 24, 2), 7.4)
    path = tmp_path / "sub.csv"
    fashion_csv.write_submission(path, ["a.jpg", "b.jpg"], ["skirt", "dress"], xy)
    lines = path.read_text().splitlines()
    assert lines[0].split(",") == fashion_csv.HEADER
    skirt = lines[1].split(",")[2:]
    for k, cell in enumerate(skirt):
        expected = "7_7_1" if k in schema.keypoint_indices("skirt") else "-1_-1_-1"
        assert cell == expected
    assert lines[2].split(",")[2:].count("7_7_1") == 15


def _write(tmp_path, text):
    path = tmp_path / "Annotations" / "train.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _row(image_id="Images/skirt/1.jpg", category="skirt", cell="-1_-1_-1", column=None):
    cells = ["-1_-1_-1"] * 24
    if column is not None:
        cells[schema.INDEX[column]] = cell
    return ",".join([image_id, category, *cells])


HEADER = ",".join(fashion_csv.HEADER)


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    (HEADER + "\n", "no rows"),
    (HEADER.replace(",crotch", "") + "\n" + _row(), "missing column(s) crotch"),
    (HEADER + "\n" + _row(cell="10_x_1", column="hemline_left"), "row 2: column hemline_left"),
    (HEADER + "\n" + _row(cell="10_20", column="crotch"), "not of the form x_y_v"),
    (HEADER + "\n" + _row(cell="10_20_2", column="crotch"), "visibility"),
    (HEADER + "\n" + _row() + "\n" + _row(category="hat"), "row 3: unknown category 'hat'"),
    (HEADER + "\n" + _row(image_id="../../etc/passwd"), "outside the data folder"),
    (HEADER + "\n" + _row(image_id="/etc/passwd"), "outside the data folder"),
    (HEADER + "\n" + _row() + "\n" + _row(), "duplicate image id"),
    (HEADER + "\n" + "Images/a.jpg,skirt,1_1_1", "has 3 cells"),
])
def test_malformed_csv_names_file_and_row(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(DataError) as e:
        fashion_csv.read_annotations(path)
    assert str(path) in str(e.value)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        fashion_csv.read_annotations(tmp_path / "nope.csv")


def test_test_list(tmp_path):
    (tmp_path / "test.csv").write_text("image_id,image_category\nImages/dress/1.jpg,dress\n")
    ids, cats = fashion_csv.read_test_list(tmp_path / "test.csv")
    assert ids == ["Images/dress/1.jpg"] and cats == ["dress"]


# --- ids written on Windows -------------------------------------------------------------
@pytest.mark.parametrize("image_id, inside", [
    ("Images\\blouse\\x.jpg", "Images/blouse/x.jpg"),
    ("Images/blouse\\x.jpg", "Images/blouse/x.jpg"),      # mixed separators
    ("Images\\..\\Images\\x.jpg", "Images/x.jpg"),        # climbs, but stays inside
])
def test_backslash_ids_resolve_like_forward_slashes(tmp_path, image_id, inside):
    assert fashion_csv.safe_image_path(tmp_path, image_id) == tmp_path.resolve() / inside


@pytest.mark.parametrize("image_id", ["..\\..\\etc\\passwd", "Images\\..\\..\\x.jpg",
                                      "Images/..\\..\\x.jpg", "C:\\x.jpg", "C:x.jpg",
                                      "\\x.jpg", "\\\\server\\share\\x.jpg", "/x.jpg"])
def test_ids_that_leave_the_data_folder_are_refused_in_either_spelling(tmp_path, image_id):
    with pytest.raises(DataError, match="outside the data folder"):
        fashion_csv.safe_image_path(tmp_path, image_id)


def test_the_split_and_fingerprint_ignore_the_spelling(tmp_path):
    """A CSV re-saved on Windows keeps its train/val split and its fingerprint; and one
    image in both spellings is a duplicate."""
    from data_tools import pipeline
    ids = [f"Images/skirt/{n}.jpg" for n in range(40)]
    rows = [fashion_csv.HEADER] + [[i, "skirt"] + ["-1_-1_-1"] * 24 for i in ids]
    (tmp_path / "a.csv").write_text(fashion_csv.csv_text(rows))
    (tmp_path / "b.csv").write_text(fashion_csv.csv_text(
        [rows[0]] + [[r[0].replace("/", "\\"), *r[1:]] for r in rows[1:]]))
    a, b = (fashion_csv.read_annotations(tmp_path / f"{x}.csv") for x in "ab")
    for part_a, part_b in zip(pipeline.split_train_val(a, 0.2), pipeline.split_train_val(b, 0.2)):
        assert [fashion_csv.id_path(i) for i in part_b.image_ids] == part_a.image_ids
    assert pipeline.dataset_fingerprint(a) == pipeline.dataset_fingerprint(b)
    (tmp_path / "c.csv").write_text(fashion_csv.csv_text(rows + [[ids[3].replace("/", "\\"),
                                                                   *rows[4][1:]]]))
    with pytest.raises(DataError, match="duplicate image id"):
        fashion_csv.read_annotations(tmp_path / "c.csv")
