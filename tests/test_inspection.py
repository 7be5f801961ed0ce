"""Looking inside a run: `visualize --worst N` picks the validation images of largest NE,
`visualize --keypoint NAME` follows one keypoint through the stages, and training leaves
worst.png beside metrics.json; each checked against figures computed here."""
import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import assert_one_line_error, run_here
from data_tools import pipeline, schema
from engine.plugin import models
from engine.runs import data_source
from engine.scoring import run_eval

pytestmark = pytest.mark.slow  # mostly trainings and scores of trained runs

SKIRT = list(schema.keypoint_names("skirt"))


def validation(run):
    cfg = json.loads((run / "config.json").read_text())
    return cfg, data_source.split(cfg, data_source.load_annotations(cfg))[1]


def image_errors(run):
    """{image id: NE of the last stage}, by hand: the distance to the truth over the
    waistband's width, averaged over the image's visible keypoints."""
    cfg, val = validation(run)
    _, cfg, model, codec = models.load_run(run)
    dataset = pipeline.make_dataset(val, SKIRT, cfg["input_size"], 8, with_meta=True)
    prediction = run_eval.predict(model, codec, dataset)
    errors = {}
    for xy, gt, index in zip(prediction["stage_xy"][-1], prediction["gt"], prediction["indices"]):
        width = np.linalg.norm(gt[SKIRT.index("waistband_left"), :2]
                               - gt[SKIRT.index("waistband_right"), :2])
        visible = gt[:, 2] == 1
        if width > 0 and visible.any():
            errors[val.image_ids[index]] = float(
                (np.linalg.norm(xy - gt[:, :2], axis=1)[visible] / width).mean())
    return errors


@pytest.mark.parametrize("method", ["hourglass", "regression"])
def test_worst_picks_the_images_of_largest_ne(method, tiny_skirt_runs, tmp_path):
    run = tiny_skirt_runs[0] / f"skirt-{method}"
    result = run_here("visualize", "--run", run, "--worst", 3, "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    errors = image_errors(run)
    expected = sorted(errors, key=lambda i: -errors[i])[:3]
    rows = json.loads((tmp_path / "worst.json").read_text())
    assert [r["image_id"] for r in rows] == expected
    for row in rows:
        assert row["ne"] == pytest.approx(errors[row["image_id"]], rel=1e-4)
        assert row["beyond_0.5"] == [k for k, e in row["ne_per_keypoint"].items() if e > 0.5]
        assert len(row["ne_per_stage"]) == (2 if method == "hourglass" else 1)
    with Image.open(tmp_path / "worst.png") as picture:
        assert picture.size[1] > 3 * 200  # three rows of tiles
    assert (tmp_path / "worst_per_stage.png").stat().st_size > 10_000


def test_keypoint_follows_one_keypoint_on_the_images_where_it_is_visible(tiny_skirt_runs,
                                                                        tmp_path):
    run = tiny_skirt_runs[0] / "skirt-hourglass"
    result = run_here("visualize", "--run", run, "--keypoint", "hemline_left", "--images", 2,
                      "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    _, val = validation(run)
    k = schema.INDEX["hemline_left"]
    visible = [i for n, i in enumerate(val.image_ids) if val.keypoints[n, k, 2] == 1][:2]
    printed = [line.split(":")[0] for line in result.stdout.splitlines() if "NE per stage" in line]
    assert printed == visible
    with Image.open(tmp_path / "keypoint_hemline_left.png") as picture:
        width, height = picture.size
    assert width > 2 * 200 and 2 * 200 < height < 3 * 300  # two stacks, two images


def test_a_training_run_leaves_its_worst_images_beside_metrics(tiny_skirt_runs):
    for method in ("cpm", "regression"):
        run = tiny_skirt_runs[0] / f"skirt-{method}"
        assert (run / "worst.png").stat().st_size > 10_000
        rows = json.loads((run / "worst.json").read_text())
        assert len(rows) == 4 and rows[0]["ne"] >= rows[-1]["ne"]


def test_an_unknown_keypoint_or_count_is_one_line(tiny_skirt_runs):
    run = tiny_skirt_runs[0] / "skirt-hourglass"
    assert_one_line_error(run_here("visualize", "--run", run, "--keypoint", "cuff_left_in"),
                          "--keypoint cuff_left_in", "waistband_left")
    assert_one_line_error(run_here("visualize", "--run", run, "--worst", 0), "at least 1")
