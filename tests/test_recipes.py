"""Training steps: online hard keypoint mining (--hard-keypoints) and the curriculum."""
import csv
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import assert_one_line_error, run_cli, run_here
from cpm.codec import belief_map_loss
from data_tools import fashion_csv, pipeline, schema
from engine.plugin.heatmaps import masked_mse, sum_keypoints
from engine.training import curriculum

pytestmark = pytest.mark.slow  # mostly trainings and scores of trained runs


def per_keypoint_cells(costs, cells=4):
    """(N, 2, 2, K) cell losses whose maps cost `costs` (N, K) each."""
    costs = np.asarray(costs, np.float32)
    return np.repeat(np.repeat(costs[:, None, None, :], 2, 1), 2, 2) / cells


# --- hard keypoints ---------------------------------------------------------------------
def test_only_the_hardest_keypoints_count_scaled_to_the_full_sum():
    costs = [[0.1, 4.0, 0.0, 2.0, 1.0], [3.0, 0.0, 0.0, 0.0, 0.0]]
    cells = per_keypoint_cells(costs)
    full = keras.ops.convert_to_numpy(sum_keypoints(cells))
    np.testing.assert_allclose(full, [7.1, 3.0], rtol=1e-6)
    hard = keras.ops.convert_to_numpy(sum_keypoints(cells, 2))
    # 4 + 2 of the first image, and the second image's only target (its other pick adds 0),
    # each times 5 / 2.
    np.testing.assert_allclose(hard, [15.0, 7.5], rtol=1e-6)


def test_hard_keypoints_pass_gradient_only_to_the_hardest_maps():
    y_true = np.zeros((1, 4, 4, 3), np.float32)
    y_true[..., 2] = -1.0  # keypoint 2 absent
    y_pred = tf.Variable(np.stack([np.full((4, 4), v) for v in (0.1, 0.5, 3.0)], -1)[None],
                         dtype=tf.float32)
    with tf.GradientTape() as tape:
        loss = masked_mse(y_true, y_pred, hard_keypoints=1)
    grad = tape.gradient(loss, y_pred).numpy()
    # The absent map's huge prediction never counts; the map that costs most (1) does.
    assert np.all(grad[..., 1] > 0) and np.all(grad[..., 0] == 0) and np.all(grad[..., 2] == 0)
    np.testing.assert_allclose(float(loss[0]), 0.25 * 3, rtol=1e-6)


def test_belief_map_loss_with_hard_keypoints():
    y_true = np.zeros((1, 2, 2, 3), np.float32)
    y_true[0, 0, 0, 0] = y_true[0, 1, 1, 1] = 1.0  # keypoint 2 absent: an all-zero target
    y_pred = np.full((1, 2, 2, 3), 0.25, np.float32)
    y_pred[0, 0, 0, 0] = 0.9
    full = float(keras.ops.convert_to_numpy(belief_map_loss(y_true, y_pred))[0])
    hard = float(keras.ops.convert_to_numpy(belief_map_loss(y_true, y_pred, 1))[0])
    np.testing.assert_allclose(full, -np.log(0.9) - np.log(0.25), rtol=1e-5)
    np.testing.assert_allclose(hard, 3 * -np.log(0.25), rtol=1e-5)


# --- the curriculum's weights -------------------------------------------------------------
def test_tiers_are_30_40_30_by_rank():
    losses = np.random.default_rng(0).permutation(100).astype(float)
    tiers = curriculum.tier_of(losses)
    assert np.bincount(tiers).tolist() == [30, 40, 30]
    assert losses[tiers == 0].max() < losses[tiers == 1].min()
    assert losses[tiers == 1].max() < losses[tiers == 2].min()


@pytest.mark.parametrize("epoch,hard_over_easy", [(2, 0.5), (6, 1.0), (10, 1.5)])
def test_hard_images_count_less_early_and_more_late(epoch, hard_over_easy):
    losses = np.arange(20.0)
    weights = curriculum.weights_for(losses, epoch, epochs=10)
    assert weights.mean() == pytest.approx(1.0) and weights.min() > 0
    assert weights[-1] / weights[0] == pytest.approx(hard_over_easy)
    assert curriculum.weights_for(None, 1, 10) is None  # epoch 1: every weight 1


def test_the_training_set_reads_each_images_weight_when_it_makes_the_element(synthetic):
    ann = fashion_csv.read_annotations(synthetic / "Annotations" / "train.csv").of_category("skirt")
    names = schema.keypoint_names("skirt")
    weights = tf.Variable(np.arange(len(ann), dtype=np.float32))
    ds = pipeline.make_dataset(ann, names, 32, 8, encode=lambda i, k: (i, k), weights=weights)
    first = np.concatenate([w.numpy() for _, _, w in ds])
    np.testing.assert_array_equal(first, np.arange(len(ann)))  # not shuffled: index order
    weights.assign(np.full(len(ann), 2.0, np.float32))
    assert all(np.all(w.numpy() == 2.0) for _, _, w in ds)


# --- the command ------------------------------------------------------------------------------
def train(out, *extra):
    # SimpleBaseline: a heatmap method (hard keypoints apply) that builds and trains quickest.
    return run_cli("train", "--arch", "simplebaseline", "--category", "skirt", "--preset", "tiny",
                   "--data-dir", out.parent / "data", "--out", out, *extra)


@pytest.fixture(scope="module")
def curriculum_runs(synthetic, tmp_path_factory):
    """The same tiny curriculum run trained twice, 2 epochs, with hard keypoints."""
    root = tmp_path_factory.mktemp("curriculum")
    (root / "data").symlink_to(synthetic)
    results = [train(root / f"runs{n}", "--epochs", 2, "--curriculum", "--hard-keypoints", 3)
               for n in (1, 2)]
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr
    return [root / f"runs{n}" / "skirt-simplebaseline" for n in (1, 2)]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_curriculum_run_records_its_losses_and_repeats_itself(curriculum_runs):
    first, second = curriculum_runs
    cfg = json.loads((first / "config.json").read_text())
    assert cfg["curriculum"] is True and cfg["hard_keypoints"] == 3
    rows = read_csv(first / "checkpoints" / "curriculum.csv")
    assert len(rows) == cfg["train_images"] and list(rows[0]) == ["image_id", "epoch_1", "epoch_2"]
    assert all(float(r["epoch_2"]) > 0 for r in rows)
    # The same seed gives the same epochs: losses, history and weights.
    assert (first / "checkpoints" / "curriculum.csv").read_bytes() == (
        second / "checkpoints" / "curriculum.csv").read_bytes()
    loss = [r["loss"] for r in read_csv(first / "history.csv")]
    assert loss == [r["loss"] for r in read_csv(second / "history.csv")]


def test_a_curriculum_run_resumes_from_its_recorded_losses(curriculum_runs, tmp_path):
    import shutil
    run = tmp_path / "runs" / "skirt-simplebaseline"
    shutil.copytree(curriculum_runs[0], run)
    (tmp_path / "data").symlink_to(curriculum_runs[0].parents[1] / "data")
    before = read_csv(run / "checkpoints" / "curriculum.csv")
    result = train(tmp_path / "runs", "--resume", "--epochs", 3)
    assert result.returncode == 0, result.stdout + result.stderr
    after = read_csv(run / "checkpoints" / "curriculum.csv")
    assert [{k: r[k] for k in ("image_id", "epoch_1", "epoch_2")} for r in after] == before
    assert all("epoch_3" in r for r in after)

    broken = run / "checkpoints" / "curriculum.csv"
    broken.write_text("image_id,epoch_1\n")
    result = train(tmp_path / "runs", "--resume", "--epochs", 4)
    assert_one_line_error(result, "curriculum.csv", "epochs 1 to 3")


@pytest.mark.parametrize("args,fragment", [
    (("--hard-keypoints", "0"), "between 1 and 4"),
    (("--hard-keypoints", "5"), "between 1 and 4 (the keypoints of skirt), got 5"),
    (("--arch", "regression", "--hard-keypoints", "2"), "--hard-keypoints does not apply to --arch regression"),
])
def test_bad_hard_keypoints_are_one_line_errors(args, fragment, synthetic, tmp_path):
    result = run_here("train", "--category", "skirt", "--preset", "tiny", "--data-dir",
                      synthetic, "--out", tmp_path, *args)
    assert_one_line_error(result, fragment)
    assert not any(tmp_path.iterdir())  # no run folder left behind
