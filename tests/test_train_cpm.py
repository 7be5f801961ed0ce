"""The CPM's main path through the command line: train, resume, evaluate, visualize."""
import csv
import json

import h5py
import pytest

from tests.conftest import assert_one_line_error, run_cli, run_here

pytestmark = pytest.mark.slow  # mostly trainings and scores of trained runs

TINY = ("--arch", "cpm", "--category", "dress", "--preset", "tiny", "--weights", "none")


@pytest.fixture(scope="module")
def tiny_run(synthetic, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    result = run_cli(*TINY, "--data-dir", synthetic, "--out", out, "--epochs", 2)
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "dress-cpm", result


def _history(run):
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_run_folder_has_every_file(tiny_run):
    run, result = tiny_run
    for name in ("config.json", "history.csv", "metrics.json", "checkpoints/last.weights.h5",
                 "checkpoints/best.weights.h5", "checkpoints/state.json",
                 "heatmaps/epoch_001.png", "heatmaps/epoch_002.png", "heatmaps/best.png"):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").rglob("events.out.tfevents.*"))
    config = json.loads((run / "config.json").read_text())
    assert config["preset"] == "tiny" and config["stages"] == 6
    assert config["data_fingerprint"] and "crc32" in config["split_rule"]
    assert "Traceback" not in result.stderr


def test_history_and_metrics(tiny_run):
    run, _ = tiny_run
    rows = _history(run)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    for column in ("loss", "stage1_loss", "stage6_loss", "val_ne_stage1", "val_ne_stage6",
                   "val_ne", "learning_rate", "images_per_s"):
        assert column in rows[0], column
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["ne_per_stage"]) == 6
    assert metrics["ne"] == pytest.approx(metrics["ne_per_stage"][-1])
    assert metrics["ne"] > 0 and metrics["mean_shape_ne"] > 0
    assert set(metrics["pck"]) == {"0.05", "0.1", "0.2"}
    assert "hemline_left" in metrics["ne_per_keypoint"]
    assert metrics["points"] > 0 and metrics["skipped_images"] == 0


def test_resume_continues_from_last_epoch(synthetic, tmp_path):
    # Two stages: resuming is the same for any number, and the graph is a third as big.
    first = run_cli(*TINY, "--stages", 2, "--data-dir", synthetic, "--out", tmp_path,
                    "--epochs", 1)
    assert first.returncode == 0, first.stderr
    second = run_cli(*TINY, "--data-dir", synthetic, "--out", tmp_path, "--epochs", 2,
                     "--resume")
    assert second.returncode == 0, second.stderr
    assert "resuming after epoch 1" in second.stdout
    assert [r["epoch"] for r in _history(tmp_path / "dress-cpm")] == ["1", "2"]
    state = json.loads((tmp_path / "dress-cpm/checkpoints/state.json").read_text())
    assert state["epoch"] == 2


def test_resume_without_a_run(tmp_path, synthetic):
    assert_one_line_error(run_here(*TINY, "--data-dir", synthetic, "--out", tmp_path,
                                   "--resume"), "--resume", "no finished epoch")


def test_evaluate_run_rewrites_metrics(tiny_run):
    run, _ = tiny_run
    before = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").unlink()
    result = run_cli("evaluate", "--run", run)
    assert result.returncode == 0, result.stderr
    after = json.loads((run / "metrics.json").read_text())
    assert after["ne"] == pytest.approx(before["ne"], rel=1e-4)
    assert "per stage" in result.stdout


def test_visualize_any_image(tiny_run, synthetic, tmp_path):
    run, _ = tiny_run
    image = next((synthetic / "Images" / "skirt").glob("*.jpg"))
    result = run_cli("visualize", "--run", run, "--image", image, "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / f"{image.stem}_stages.png").is_file()
    assert (tmp_path / f"{image.stem}_keypoints.png").is_file()
    assert "hemline_left" in result.stdout
    assert_one_line_error(run_cli("visualize", "--run", run, "--image", tmp_path / "no.jpg"),
                          "no.jpg")


def test_imagenet_weights_unreachable_is_one_line(synthetic, tmp_path):
    result = run_cli(*TINY[:-2], "--backbone", "resnet50", "--weights", "imagenet",
                     "--data-dir", synthetic, "--out", tmp_path)
    assert_one_line_error(result, "ImageNet", "--weights none")


def test_default_synthetic_set_is_generated_once(tmp_path):
    result = run_cli(*TINY, "--epochs", 1, "--stages", 2, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "generating a synthetic" in result.stdout
    assert (tmp_path / "data" / "synthetic-24" / "Annotations" / "train.csv").is_file()
    again = run_cli(*TINY, "--epochs", 1, "--stages", 2, cwd=tmp_path)
    assert again.returncode == 0 and "generating" not in again.stdout
    assert (tmp_path / "runs" / "dress-cpm-2").is_dir()  # a second run never overwrites


def test_hdf5_cache_run_with_the_imgaug_augmenter(synthetic, tmp_path):
    """`--augmenter imgaug`: OpenCV letterboxes (into the cache too) and imgaug augments;
    the run remembers it, so evaluating it later reads images the same way."""
    result = run_cli(*TINY, "--data-dir", synthetic, "--out", tmp_path, "--epochs", 1,
                     "--cache", "--stages", 2, "--augmenter", "imgaug")
    assert result.returncode == 0, result.stderr
    run = tmp_path / "dress-cpm"
    assert (run / "cache-train.h5").is_file() and (run / "cache-val.h5").is_file()
    with h5py.File(run / "cache-train.h5", "r") as f:
        assert f.attrs["letterbox"] == "opencv"
    assert json.loads((run / "config.json").read_text())["augmenter"] == "imgaug"
    ne = json.loads((run / "metrics.json").read_text())["ne"]
    again = run_cli("evaluate", "--run", run)
    assert again.returncode == 0, again.stderr
    assert json.loads((run / "metrics.json").read_text())["ne"] == pytest.approx(ne, abs=1e-6)


def test_an_unknown_augmenter_is_one_line(synthetic, tmp_path):
    assert_one_line_error(run_here(*TINY, "--data-dir", synthetic, "--out", tmp_path,
                                   "--augmenter", "albumentations"), "--augmenter")
