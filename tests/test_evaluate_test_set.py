"""`run.py evaluate` on a labelled test set: a prediction file that covers some of the
answers' categories, and runs scored on a test folder in one step, exactly as
`predict` then `evaluate --pred` would score them."""
import json

import numpy as np
import pytest

from data_tools import fashion_csv, schema
from tests.conftest import assert_one_line_error, run_here

pytestmark = pytest.mark.slow  # mostly trainings and scores of trained runs


@pytest.fixture(scope="module")
def answers(synthetic):
    """The synthetic set's held-out answers: 6 images of each of the five categories."""
    return synthetic / "Annotations" / "test_gt.csv"


@pytest.fixture(scope="module")
def skirt_runs(tiny_skirt_runs):
    return tiny_skirt_runs[0]


def predicted(runs_dir, synthetic, out, *flags):
    """predict's submission of the synthetic test list, with these runs and flags."""
    runs = [a for arch in ("cpm", "hourglass") if arch in flags for a in
            ("--run", runs_dir / f"skirt-{arch}")]
    views = [f for f in flags if f not in ("cpm", "hourglass")]
    result = run_here("predict", *runs, "--test-csv", synthetic / "test.csv", "--out", out,
                      *views)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def figures(*args, tmp_path):
    out = tmp_path / "figures.json"
    result = run_here("evaluate", *args, "--json", out)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(out.read_text()), result.stdout


def test_a_one_category_prediction_is_scored_on_its_category(skirt_runs, synthetic, answers,
                                                             tmp_path):
    """The skirt predictions against the five categories' answers score as against the
    skirt answers alone, and the report names the categories it left out."""
    sub = predicted(skirt_runs, synthetic, tmp_path / "sub.csv", "cpm")
    whole, stdout = figures("--pred", sub, "--gt", answers, tmp_path=tmp_path)
    gt = fashion_csv.read_annotations(answers).of_category("skirt")
    skirt_only = tmp_path / "Annotations" / "skirt.csv"
    fashion_csv.write_annotations(skirt_only, gt.image_ids, gt.categories, gt.keypoints)
    alone, _ = figures("--pred", sub, "--gt", skirt_only, tmp_path=tmp_path)
    assert whole["ne"] == alone["ne"] and whole["images"] == 6
    assert whole["left_out"] == {"blouse": 6, "dress": 6, "outwear": 6, "trousers": 6}
    assert alone["left_out"] == {}
    assert ("left out (no prediction of their category): blouse 6 images, dress 6 images, "
            "outwear 6 images, trousers 6 images") in stdout


def test_predictions_the_answers_cannot_score_are_refused(skirt_runs, synthetic, answers,
                                                          tmp_path):
    sub = predicted(skirt_runs, synthetic, tmp_path / "sub.csv", "cpm")
    gt = fashion_csv.read_annotations(answers)
    dresses = gt.of_category("dress")
    dress_only = tmp_path / "Annotations" / "dress.csv"
    fashion_csv.write_annotations(dress_only, dresses.image_ids, dresses.categories,
                                  dresses.keypoints)
    assert_one_line_error(run_here("evaluate", "--pred", sub, "--gt", dress_only),
                          "6 predicted image(s) of skirt", "lacks")
    # One skirt of the answers missing from the predictions: the count and the category.
    rows = open(sub).read().splitlines()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(rows[:1] + rows[2:]) + "\n")
    assert_one_line_error(run_here("evaluate", "--pred", short, "--gt", answers),
                          "1 image(s) of skirt", "no prediction")


@pytest.mark.parametrize("flags", [("cpm",), ("cpm", "hourglass", "--flip")],
                         ids=["one run", "ensemble with flip"])
def test_runs_on_a_test_folder_score_as_their_submission(skirt_runs, synthetic, answers,
                                                         tmp_path, flags):
    """`evaluate --run ... --gt` gives the figures of `predict` then `evaluate --pred`,
    with the mean shape of the runs' training images beside them."""
    sub = predicted(skirt_runs, synthetic, tmp_path / "sub.csv", *flags)
    expected, _ = figures("--pred", sub, "--gt", answers, tmp_path=tmp_path)
    runs = [a for arch in ("cpm", "hourglass") if arch in flags for a in
            ("--run", skirt_runs / f"skirt-{arch}")]
    views = [f for f in flags if f.startswith("--")]
    direct, stdout = figures(*runs, "--gt", answers, *views, tmp_path=tmp_path)
    assert direct["ne"] == expected["ne"]
    assert direct["ne_per_keypoint"] == expected["ne_per_keypoint"]
    assert direct["left_out"] == expected["left_out"]
    # The baseline: each skirt gets the mean layout of the run's training skirts.
    assert set(direct["mean_shape_per_category"]) == {"skirt"}
    assert direct["mean_shape_ne"] == direct["mean_shape_per_category"]["skirt"]
    assert 0.05 < direct["mean_shape_ne"] < 2
    arches = " + ".join(a for a in ("cpm", "hourglass") if a in flags)
    test_time = "flip" if "--flip" in flags else "the run alone"
    assert f"skirt {arches}; test time: {test_time}" in stdout
    assert f"skirt {direct['ne']:.4f} (mean shape {direct['mean_shape_ne']:.4f})" in stdout


def test_the_mean_shape_on_a_test_set_is_the_training_layout(skirt_runs, answers):
    """The baseline's points are the run's training layout, in each image's frame."""
    from data_tools import letterbox, metrics
    from engine.runs import data_source
    from engine.runs.run_dir import RunDir
    from engine.scoring import run_eval
    run = skirt_runs / "skirt-cpm"
    cfg = RunDir(run).read_config()
    gt = fashion_csv.read_annotations(answers).of_category("skirt")
    train, _ = data_source.split(cfg, data_source.load_annotations(cfg))
    layout = run_eval.training_layout(train, cfg["names"], cfg["input_size"])["skirt"]
    size = cfg["input_size"]
    own = [schema.INDEX[n] for n in cfg["names"]]
    points = np.stack([letterbox.to_original(layout * size, letterbox.transform_for(int(h), int(w), size))
                       for w, h in letterbox.image_sizes(gt)])
    expected = metrics.normalized_error(points, gt.keypoints[:, own], gt.categories,
                                        cfg["names"])["ne"]
    result = run_eval.mean_shape_on({"skirt": (run,)}, gt)
    assert result["mean_shape_ne"] == pytest.approx(expected, abs=1e-9)


def test_bad_test_set_arguments_are_one_line(skirt_runs, synthetic, answers, tmp_path):
    run = skirt_runs / "skirt-cpm"
    assert_one_line_error(run_here("evaluate", "--run", run, "--gt", answers, "--data-dir",
                                   tmp_path / "nowhere"), "nowhere", "not a folder")
    assert_one_line_error(run_here("evaluate", "--run", run, "--data-dir", synthetic),
                          "--data-dir goes with --gt")
    assert_one_line_error(run_here("evaluate", "--run", run, "--pred", answers, "--gt", answers),
                          "--pred or --run")
    # Answers whose images are elsewhere: every image unreadable.
    assert_one_line_error(run_here("evaluate", "--run", run, "--gt", answers, "--data-dir",
                                   tmp_path), "none of the 6 image(s) can be read")
