"""Bad input through the command line, as a user types it (issue 6).

1. Structural faults in a CSV or a data folder: train (every architecture), check-data,
   evaluate --pred/--gt and predict --test-csv exit 2 with one line naming the file, the
   row and the fault, before any model is built.
2. Per-image faults (missing, truncated, empty): training skips, counts and lists them;
   --strict stops before training.
3. A checkpoint swapped in from another run (another keypoint count, another
   architecture): evaluate --run, visualize and predict refuse it with one line.
"""
import csv
import json
import shutil

import pytest

from data_tools import fashion_csv, schema
from tests.conftest import assert_one_line_error, run_cli, run_here

ARCHS = ("cpm", "hourglass", "regression")
TINY = ("--preset", "tiny", "--weights", "none")
ROW = 5  # the faulty row as a spreadsheet numbers it (the header is row 1)


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def write_rows(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def drop_column(rows, name):
    k = rows[0].index(name)
    return [r[:k] + r[k + 1:] for r in rows]


def set_cell(rows, column, value):
    rows = [list(r) for r in rows]
    rows[ROW - 1][rows[0].index(column)] = value
    return rows


# Each fault: rows → faulty rows (None: an empty file), and what the one line must say.
ANNOTATION_FAULTS = {
    "missing-column": (lambda rows: drop_column(rows, "crotch"),
                       ["row 1", "missing column(s) crotch"]),
    "bad-cell": (lambda rows: set_cell(rows, "hemline_left", "12_abc_1"),
                 [f"row {ROW}", "column hemline_left", "'12_abc_1'", "not of the form x_y_v"]),
    "unknown-category": (lambda rows: set_cell(rows, "image_category", "hat"),
                         [f"row {ROW}", "unknown category 'hat'"]),
    "outside": (lambda rows: set_cell(rows, "image_id", "../../etc/passwd"),
                [f"row {ROW}", "'../../etc/passwd'", "outside the data folder"]),
    # A CSV written on Windows: backslashes separate folders, and climb out just the same.
    "outside-windows": (lambda rows: set_cell(rows, "image_id", "Images\\..\\..\\secret.jpg"),
                        [f"row {ROW}", "secret.jpg", "outside the data folder"]),
    "empty": (lambda rows: None, ["empty"]),
}
TEST_LIST_FAULTS = {k: ANNOTATION_FAULTS[k]
                    for k in ("unknown-category", "outside", "outside-windows", "empty")}
TEST_LIST_FAULTS["missing-column"] = (lambda rows: drop_column(rows, "image_category"),
                                      ["row 1", "missing column(s) image_category"])


def write_faulty(path, source_rows, fault):
    rows = fault(source_rows)
    if rows is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    else:
        write_rows(path, rows)
    return path


@pytest.fixture(scope="module")
def bad_data(synthetic, tmp_path_factory):
    """{fault: a data folder whose train.csv has that fault}; Images/ is a symlink to the
    synthetic set's (a symlinked Images/ is a usable data folder), plus one without
    Annotations/train.csv at all."""
    root = tmp_path_factory.mktemp("bad")
    rows = read_rows(synthetic / "Annotations" / "train.csv")
    folders = {}
    for name, (fault, _) in ANNOTATION_FAULTS.items():
        folder = root / name
        write_faulty(folder / "Annotations" / "train.csv", rows, fault)
        (folder / "Images").symlink_to(synthetic / "Images")
        folders[name] = folder
    folders["no-train-csv"] = root / "no-train-csv"
    (folders["no-train-csv"] / "Annotations").mkdir(parents=True)
    (folders["no-train-csv"] / "Images").symlink_to(synthetic / "Images")
    return folders


def expected(name, file):
    if name == "no-train-csv":
        return ["no-train-csv", "train.csv"]
    return [str(file), *ANNOTATION_FAULTS[name][1]]


FOLDER_FAULTS = [*ANNOTATION_FAULTS, "no-train-csv"]


# --- 1. structural faults -----------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", FOLDER_FAULTS)
def test_train_refuses_a_faulty_data_folder(bad_data, tmp_path, name, arch):
    folder = bad_data[name]
    result = run_here("--arch", arch, "--category", "dress", *TINY, "--data-dir", folder,
                      "--out", tmp_path / "runs")
    fragments = expected(name, folder / "Annotations" / "train.csv")
    if name == "no-train-csv":
        fragments.append("not a FashionAI folder")
    assert_one_line_error(result, *fragments)
    # It stopped before building a model, and left no empty run folder behind.
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert "Epoch" not in result.stdout


def test_a_symlinked_images_folder_is_usable(bad_data, synthetic, tmp_path):
    """The faulty folders above are otherwise usable: their Images/ is a symlink."""
    (tmp_path / "Annotations").mkdir()
    shutil.copy(synthetic / "Annotations" / "train.csv", tmp_path / "Annotations")
    (tmp_path / "Images").symlink_to(synthetic / "Images")
    result = run_here("check-data", "--data-dir", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", FOLDER_FAULTS)
def test_check_data_refuses_a_faulty_data_folder(bad_data, name):
    folder = bad_data[name]
    fragments = expected(name, folder / "Annotations" / "train.csv")
    if name == "no-train-csv":
        fragments.append("file not found")
    assert_one_line_error(run_here("check-data", "--data-dir", folder), *fragments)


@pytest.mark.parametrize("side", ["--pred", "--gt"])
@pytest.mark.parametrize("name", list(ANNOTATION_FAULTS))
def test_evaluate_refuses_a_faulty_csv(synthetic, tmp_path, name, side):
    good = synthetic / "Annotations" / "test_gt.csv"
    bad = write_faulty(tmp_path / "Annotations" / "test_gt.csv", read_rows(good),
                       ANNOTATION_FAULTS[name][0])
    pred, gt = (bad, good) if side == "--pred" else (good, bad)
    result = run_here("evaluate", "--pred", pred, "--gt", gt, "--json", tmp_path / "ne.json")
    assert_one_line_error(result, *expected(name, bad))
    assert not (tmp_path / "ne.json").exists()


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    """A run folder predict accepts up to reading the test CSV: a config and a checkpoint
    file (never loaded: the CSV is read first)."""
    run = tmp_path_factory.mktemp("fake") / "all-cpm"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"category": "all", "arch": "cpm"}))
    (run / "checkpoints" / "best.weights.h5").write_bytes(b"")
    return run


@pytest.mark.parametrize("name", list(TEST_LIST_FAULTS))
def test_predict_refuses_a_faulty_test_csv(synthetic, fake_run, tmp_path, name):
    fault, fragments = TEST_LIST_FAULTS[name]
    bad = write_faulty(tmp_path / "test.csv", read_rows(synthetic / "test.csv"), fault)
    (tmp_path / "Images").symlink_to(synthetic / "Images")
    result = run_here("predict", "--run", fake_run, "--test-csv", bad,
                      "--out", tmp_path / "sub.csv")
    assert_one_line_error(result, str(bad), *fragments)
    assert not (tmp_path / "sub.csv").exists()


# --- 2. per-image faults ------------------------------------------------------------------
@pytest.fixture(scope="module")
def faulty_images(synthetic, tmp_path_factory):
    """A copy of the synthetic set whose first three dress images are missing, truncated
    (a JPEG's first 200 bytes) and empty; the other categories' images are symlinks.

    Every other row of its train.csv spells the image id as a CSV written on Windows does,
    `Images\\dress\\x.jpg`: the run trained on it reads both spellings."""
    data = tmp_path_factory.mktemp("faulty")
    shutil.copytree(synthetic / "Annotations", data / "Annotations")
    rows = read_rows(data / "Annotations" / "train.csv")
    for n, row in enumerate(rows[1:]):
        if n % 2 == 0:
            row[0] = row[0].replace("/", "\\")
    write_rows(data / "Annotations" / "train.csv", rows)
    for category in schema.CATEGORIES:
        if category != "dress":
            (data / "Images" / category).parent.mkdir(parents=True, exist_ok=True)
            (data / "Images" / category).symlink_to(synthetic / "Images" / category)
    shutil.copytree(synthetic / "Images" / "dress", data / "Images" / "dress")
    ids = [r[0] for r in rows[1:] if r[1] == "dress"][:3]
    assert "\\" in ids[0] and "\\" not in ids[1]
    files = [data / fashion_csv.id_path(image_id) for image_id in ids]
    files[0].unlink()
    files[1].write_bytes(files[1].read_bytes()[:200])
    files[2].write_bytes(b"")
    faults = {ids[0]: "file not found", ids[1]: "not a decodable image",
              ids[2]: "empty file"}
    return data, faults


@pytest.fixture(scope="module")
def dress_run(faulty_images, tmp_path_factory):
    """One tiny 1-epoch dress CPM run on the faulty set (shared with part 3)."""
    data, _ = faulty_images
    out = tmp_path_factory.mktemp("runs")
    result = run_cli("--arch", "cpm", "--category", "dress", *TINY, "--epochs", 1,
                     "--data-dir", data, "--out", out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "dress-cpm", result


def test_training_skips_counts_and_lists_bad_images(dress_run, faulty_images, synthetic):
    run, result = dress_run
    _, faults = faulty_images
    assert "Traceback" not in result.stderr
    summary = [line for line in result.stdout.splitlines() if line.startswith("skipping")]
    assert summary == [f"skipping 3 unreadable or missing image(s), listed in "
                       f"{run / 'skipped_images.csv'}"], result.stdout
    rows = read_rows(run / "skipped_images.csv")
    assert rows[0] == ["image_id", "reason"]
    assert {r[0] for r in rows[1:]} == set(faults) and len(rows) == 4
    for image_id, reason in rows[1:]:
        assert reason.startswith(faults[image_id]), (image_id, reason)
    dress = [r for r in read_rows(synthetic / "Annotations" / "train.csv") if r[1] == "dress"]
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["train_images"] + cfg["val_images"] == len(dress) - 3
    assert (run / "checkpoints" / "best.weights.h5").is_file()


@pytest.mark.slow
def test_strict_stops_before_training(faulty_images, tmp_path):
    data, faults = faulty_images
    result = run_cli("--arch", "cpm", "--category", "dress", *TINY, "--epochs", 1, "--strict",
                     "--data-dir", data, "--out", tmp_path)
    assert_one_line_error(result, "train.csv", "3 image(s) cannot be used", "--strict")
    assert any(image_id in result.stderr for image_id in faults)
    assert not list(tmp_path.glob("**/*.weights.h5")) and "Epoch" not in result.stdout


# --- 3. a checkpoint swapped in from another run --------------------------------------------
def swapped(dress_run, out, other_run):
    """A copy of the dress CPM run holding the checkpoints of `other_run`."""
    copy = out / "swapped"
    shutil.copytree(dress_run[0], copy, ignore=shutil.ignore_patterns("tensorboard"))
    for checkpoint in (other_run / "checkpoints").glob("*.weights.h5"):
        shutil.copy(checkpoint, copy / "checkpoints" / checkpoint.name)
    return copy


@pytest.fixture(scope="module")
def swapped_run(dress_run, tiny_skirt_runs, tmp_path_factory):
    """The dress CPM run (15 keypoints) holding a skirt CPM run's checkpoints (4)."""
    return swapped(dress_run, tmp_path_factory.mktemp("skirt"), tiny_skirt_runs[0] / "skirt-cpm")


@pytest.fixture(scope="module")
def arch_swapped_run(dress_run, synthetic, tmp_path_factory):
    """The dress CPM run holding a dress regression run's checkpoints: same keypoints,
    another architecture."""
    out = tmp_path_factory.mktemp("regression")
    result = run_cli("--arch", "regression", "--category", "dress", *TINY, "--epochs", 1,
                     "--data-dir", synthetic, "--out", out)
    assert result.returncode == 0, result.stdout + result.stderr
    return swapped(dress_run, out, out / "dress-regression")


def assert_stderr_is_one_line(result):
    assert result.stderr.strip().count("\n") == 0, result.stderr


def test_evaluate_run_refuses_a_swapped_checkpoint(swapped_run):
    metrics = (swapped_run / "metrics.json").read_text()
    result = run_cli("evaluate", "--run", swapped_run)
    assert_one_line_error(result, "best.weights.h5", "do not fit", "dress cpm")
    assert_stderr_is_one_line(result)
    assert (swapped_run / "metrics.json").read_text() == metrics


def test_a_checkpoint_of_another_architecture_is_refused(arch_swapped_run):
    result = run_cli("evaluate", "--run", arch_swapped_run)
    assert_one_line_error(result, "best.weights.h5", "do not fit", "dress cpm")
    assert_stderr_is_one_line(result)


def test_visualize_refuses_a_swapped_checkpoint(swapped_run, synthetic, tmp_path):
    image = sorted((synthetic / "Images" / "dress").iterdir())[0]
    result = run_cli("visualize", "--run", swapped_run, "--image", image, "--out", tmp_path)
    assert_one_line_error(result, "best.weights.h5", "do not fit", "dress cpm", "15 keypoints")
    assert_stderr_is_one_line(result)
    assert not list(tmp_path.iterdir())


def test_predict_refuses_a_swapped_checkpoint(swapped_run, synthetic, tmp_path):
    result = run_cli("predict", "--run", swapped_run, "--test-csv", synthetic / "test.csv",
                     "--out", tmp_path / "sub.csv")
    assert_one_line_error(result, "best.weights.h5", "do not fit", "15 keypoints")
    assert_stderr_is_one_line(result)
    assert not (tmp_path / "sub.csv").exists()
