"""synth, check-data and evaluate through the command line, as a user types them."""
import json
import shutil

import numpy as np
import pytest

from data_tools import fashion_csv
from tests.conftest import assert_one_line_error, run_cli, run_here


def test_synth_then_check_data(tmp_path):
    out = tmp_path / "data"
    result = run_cli("synth", "--out", out, "--images-per-category", 4, "--seed", 1)
    assert result.returncode == 0, result.stderr
    assert (out / "Annotations" / "train.csv").is_file() and (out / "test.csv").is_file()
    result = run_cli("check-data", "--data-dir", out)
    assert result.returncode == 0, result.stdout + result.stderr
    for category in ("blouse", "outwear", "dress", "skirt", "trousers"):
        assert category in result.stdout
    assert "visible" in result.stdout and "image sizes" in result.stdout


def test_check_data_lists_every_problem(synthetic, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(synthetic, data)
    ann = fashion_csv.read_annotations(data / "Annotations" / "train.csv")
    (data / ann.image_ids[0]).unlink()                        # missing
    (data / ann.image_ids[1]).write_bytes(b"\xff\xd8 not a jpeg")  # corrupt
    points = ann.keypoints.copy()
    k = int(np.argmax(points[2, :, 2] >= 0))
    points[2, k, :2] = [5000, 10]                            # outside its image
    fashion_csv.write_annotations(data / "Annotations" / "train.csv", ann.image_ids,
                                  ann.categories, points)
    result = run_cli("check-data", "--data-dir", data)
    assert result.returncode == 2
    problems = [line for line in result.stdout.splitlines() if line.startswith("problem:")]
    assert len(problems) == 3, result.stdout
    assert ann.image_ids[0] in problems[0] and ann.image_ids[1] in problems[1]
    assert "outside" in problems[2]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("content, fragment", [
    ("", "empty"),
    ("image_id,image_category\nImages/a.jpg,dress\n", "missing column"),
])
def test_check_data_bad_csv(tmp_path, content, fragment):
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "train.csv").write_text(content)
    assert_one_line_error(run_here("check-data", "--data-dir", tmp_path), "train.csv", fragment)


def test_evaluate_perfect_and_shifted(synthetic, tmp_path):
    gt = synthetic / "Annotations" / "test_gt.csv"
    out = tmp_path / "ne.json"
    result = run_cli("evaluate", "--pred", gt, "--gt", gt, "--json", out)
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert figures["ne"] == 0 and figures["points"] > 0 and figures["skipped_images"] == 0
    ann = fashion_csv.read_annotations(gt)
    shifted = ann.keypoints.copy()
    shifted[..., 0] = np.where(shifted[..., 2] >= 0, shifted[..., 0] + 3, -1)
    pred = tmp_path / "pred.csv"
    fashion_csv.write_annotations(pred, ann.image_ids, ann.categories, shifted)
    result = run_cli("evaluate", "--pred", pred, "--gt", gt, "--json", out)
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert 0 < figures["ne"] < 1
    assert set(figures["ne_per_category"]) == {"blouse", "outwear", "dress", "skirt", "trousers"}
    assert "NE" in result.stdout and "per keypoint" in result.stdout


def test_evaluate_missing_prediction(synthetic, tmp_path):
    gt = synthetic / "Annotations" / "test_gt.csv"
    ann = fashion_csv.read_annotations(gt)
    pred = tmp_path / "pred.csv"
    fashion_csv.write_annotations(pred, ann.image_ids[1:], ann.categories[1:],
                                  ann.keypoints[1:])
    assert_one_line_error(run_here("evaluate", "--pred", pred, "--gt", gt),
                          "pred.csv", "no prediction")


def test_evaluate_needs_inputs(tmp_path):
    result = run_here("evaluate", "--pred", tmp_path / "x.csv")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert_one_line_error(run_here("evaluate", "--pred", tmp_path / "x.csv",
                                   "--gt", tmp_path / "y.csv"), "file not found")


def test_unknown_arch_and_category():
    assert_one_line_error(run_here("--arch", "nope"), "--arch")
    assert_one_line_error(run_here("--category", "hats"), "--category")


def test_missing_data_dir(tmp_path):
    assert_one_line_error(run_here("--data-dir", tmp_path / "nowhere", "--preset", "tiny",
                                   "--out", tmp_path / "runs"), "does not exist")
    assert_one_line_error(run_here("--data-dir", tmp_path, "--preset", "tiny",
                                   "--out", tmp_path / "runs"), "not a FashionAI folder")


def table_row(stdout, category):
    """The cells of a category's row in check-data's statistics table."""
    for line in stdout.splitlines():
        if line.startswith(f"| {category} |"):
            return [cell.strip() for cell in line.strip("|").split("|")]
    raise AssertionError(f"no {category} row in:\n{stdout}")


def test_check_data_prints_label_statistics(synthetic):
    result = run_cli("check-data", "--data-dir", synthetic)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mean-shape NE" in result.stdout and "extent ÷ side, p10" in result.stdout
    ann = fashion_csv.read_annotations(synthetic / "Annotations" / "train.csv").of_category("skirt")
    cells = table_row(result.stdout, "skirt")
    assert int(cells[1]) == len(ann)
    v = ann.keypoints[:, [15, 16, 17, 18], 2]           # a skirt's four points
    assert float(cells[3]) == pytest.approx((v == 1).mean(), abs=0.005)
    assert float(cells[4]) == pytest.approx((v == 0).mean(), abs=0.005)


def test_check_data_on_labels_without_images(synthetic, tmp_path):
    """The real train.csv without its images: one line says the images are not there, not
    one line per image; the statistics are still printed."""
    (tmp_path / "Annotations").mkdir()
    shutil.copy(synthetic / "Annotations" / "train.csv", tmp_path / "Annotations")
    result = run_cli("check-data", "--data-dir", tmp_path)
    assert result.returncode == 2
    problems = [line for line in result.stdout.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1 and "images are not on disk" in problems[0], result.stdout
    assert "| dress |" in result.stdout and "Traceback" not in result.stderr


def test_check_data_groups_problems_by_kind(synthetic, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(synthetic, data)
    ann = fashion_csv.read_annotations(data / "Annotations" / "train.csv")
    for n in range(5):
        (data / ann.image_ids[n]).unlink()
    result = run_cli("check-data", "--data-dir", data)
    assert result.returncode == 2
    problems = [line for line in result.stdout.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1, result.stdout
    assert "file not found: 5 row(s)" in problems[0] and "and 2 more" in problems[0]
    assert sum(image_id in problems[0] for image_id in ann.image_ids[:5]) == 3


def test_check_data_against_another_set(synthetic, tmp_path):
    other = tmp_path / "other"
    assert run_cli("synth", "--out", other, "--images-per-category", 6, "--seed", 9).returncode == 0
    result = run_cli("check-data", "--data-dir", synthetic, "--against",
                     other / "Annotations" / "train.csv")
    assert result.returncode == 0, result.stdout + result.stderr
    cells = table_row(result.stdout, "dress")
    n_here = len(fashion_csv.read_annotations(synthetic / "Annotations" / "train.csv")
                 .of_category("dress"))
    assert cells[1] == f"{n_here} / 5"                 # 6 images, one held out as test
    assert all(" / " in cell for cell in cells[1:-1])


def test_check_data_against_a_missing_set_is_one_line(synthetic, tmp_path):
    result = run_here("check-data", "--data-dir", synthetic, "--against", tmp_path / "none")
    assert_one_line_error(result, str(tmp_path / "none"), "file not found")
    assert result.stdout == ""
