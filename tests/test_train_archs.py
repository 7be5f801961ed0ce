"""Every method through the same command line as the CPM, and the joint model over all
categories (`--category all`) for each."""
import csv
import json
import shutil

import numpy as np
import pytest

from engine.plugin import registry
from tests.conftest import assert_one_line_error, run_cli, run_here

pytestmark = pytest.mark.slow  # mostly trainings and scores of trained runs

TINY = ("--preset", "tiny", "--weights", "none")
STAGES = {"hourglass": 2, "regression": 1, "simplebaseline": 1, "hrnet": 2,
          "simcc": 1}  # the tiny preset's


@pytest.fixture(scope="module", params=[m for m in registry.METHODS if m != "cpm"])
def skirt_run(request, tiny_skirt_runs):
    """The shared tiny skirt run of each method but the CPM (test_train_cpm has its own)."""
    arch = request.param
    runs, _, result = tiny_skirt_runs
    return arch, runs / f"skirt-{arch}", result


def _history(run):
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_run_folder_has_every_file(skirt_run):
    arch, run, result = skirt_run
    for name in ("config.json", "history.csv", "metrics.json", "checkpoints/last.weights.h5",
                 "checkpoints/best.weights.h5", "checkpoints/state.json",
                 "heatmaps/epoch_001.png", "heatmaps/epoch_002.png", "heatmaps/best.png"):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert json.loads((run / "config.json").read_text())["arch"] == arch
    assert "Traceback" not in result.stderr


def test_history_and_metrics_per_stage(skirt_run):
    arch, run, _ = skirt_run
    stages = STAGES[arch]
    rows = _history(run)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert f"val_ne_stage{stages}" in rows[0] and f"val_ne_stage{stages + 1}" not in rows[0]
    if arch == "hourglass":
        assert {"stack1_loss", "stack2_loss"} <= set(rows[0])
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["ne_per_stage"]) == stages
    assert metrics["ne"] == pytest.approx(metrics["ne_per_stage"][-1])
    # the figure of the best checkpoint: the lowest validation NE of the epochs
    assert metrics["ne"] == pytest.approx(min(float(r["val_ne"]) for r in rows), abs=1e-4)
    assert set(metrics["ne_per_keypoint"]) <= {"waistband_left", "waistband_right",
                                               "hemline_left", "hemline_right"}
    assert metrics["parameters"] > 0 and metrics["points"] > 0


def test_evaluate_run_and_visualize(skirt_run, synthetic, tmp_path):
    arch, shared, _ = skirt_run
    run = tmp_path / shared.name  # evaluate --run rewrites metrics.json: the shared run stays
    shutil.copytree(shared, run, ignore=shutil.ignore_patterns("tensorboard"))
    before = json.loads((run / "metrics.json").read_text())
    result = run_cli("evaluate", "--run", run)
    assert result.returncode == 0, result.stderr
    after = json.loads((run / "metrics.json").read_text())
    assert after["ne"] == pytest.approx(before["ne"], rel=1e-4)

    image = next((synthetic / "Images" / "skirt").glob("*.jpg"))
    shown = run_cli("visualize", "--run", run, "--image", image, "--out", tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert (tmp_path / f"{image.stem}_stages.png").stat().st_size > 1000
    assert "waistband_left" in shown.stdout


@pytest.mark.parametrize("arch", ["cpm", "hourglass", "regression", "simplebaseline"])
def test_joint_model_over_all_categories(arch, synthetic, tmp_path):
    # Fewer stages or stacks than the preset's: this test is about the 24 keypoints.
    fewer_stages = {"cpm": ("--stages", 2), "hourglass": ("--stages", 1)}.get(arch, ())
    result = run_cli("--arch", arch, "--category", "all", *TINY, "--data-dir", synthetic,
                     "--out", tmp_path, "--epochs", 1, *fewer_stages)
    assert result.returncode == 0, result.stdout + result.stderr
    run = tmp_path / f"all-{arch}"
    config = json.loads((run / "config.json").read_text())
    assert len(config["names"]) == 24
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["ne_per_category"]) == {"blouse", "outwear", "dress", "skirt", "trousers"}
    per_category = metrics["ne_per_category"].values()
    assert min(per_category) <= metrics["ne"] <= max(per_category)  # their points' mean
    assert (run / "heatmaps" / "best.png").is_file()


def test_per_category_mean_shape(synthetic):
    from data_tools import fashion_csv, schema
    from engine.scoring import run_eval
    ann = fashion_csv.read_annotations(synthetic / "Annotations" / "train.csv")
    names = list(schema.keypoint_names("all"))
    layouts = run_eval.training_layout(ann, names, 64)
    assert set(layouts) == {"blouse", "outwear", "dress", "skirt", "trousers", "all"}
    waist = names.index("waistband_left")
    centre = (64 - 1) / 2 / 64
    # Dresses have no waistband (the centre stands in); skirts and trousers do, and the
    # pooled layout lies between theirs.
    np.testing.assert_allclose(layouts["dress"][waist], [centre, centre])
    assert not np.allclose(layouts["skirt"][waist], [centre, centre], atol=0.05)
    for axis in (0, 1):
        low, high = sorted([layouts["skirt"][waist, axis], layouts["trousers"][waist, axis]])
        assert low <= layouts["all"][waist, axis] <= high


@pytest.mark.parametrize("args, fragments", [
    (("--arch", "hourglass", "--backbone", "vgg16"), ("--backbone", "hourglass")),
    (("--arch", "cpm", "--box", "garment"), ("--box", "regression")),
    (("--arch", "regression", "--stages", "2"), ("--stages", "cascade")),
    (("--arch", "hourglass", "--stages", "0"), ("hourglass",)),
])
def test_bad_architecture_options_are_one_line(args, fragments, synthetic, tmp_path):
    result = run_here(*args, "--category", "skirt", *TINY, "--data-dir", synthetic,
                      "--out", tmp_path, "--epochs", 1)
    assert_one_line_error(result, *fragments)
