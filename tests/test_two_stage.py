"""Two stages and --input-size: garment boxes and their crops (data_tools/crops.py, the
pipeline's boxes), a second stage trained with --first-stage, scored, predicted, compared,
drawn and exported end to end, checked against the chain computed here step by step."""
import json

import numpy as np
import pytest

from tests.conftest import assert_one_line_error, made_once, run_cli, run_here
from data_tools import crops, fashion_csv, letterbox, metrics, pipeline, schema
from engine.plugin import models
from engine.plugin.codec import stage_arrays
from engine.runs import data_source

pytestmark = pytest.mark.slow  # mostly trainings and scores of trained runs

SKIRT = list(schema.keypoint_names("skirt"))
MARGIN = 0.15


# --- boxes --------------------------------------------------------------------------------
def test_a_box_is_the_square_around_the_present_points_widened_by_the_margin():
    points = np.array([[[100, 200, 1], [180, 260, 0], [-1, -1, -1], [140, 300, 1]]], np.float32)
    boxes, clipped = crops.garment_boxes(points, [(512, 512)], 0.25)
    # Extent 80 x 100 about (140, 250): a square of side 100 * 1.5.
    np.testing.assert_allclose(boxes[0], [65, 175, 215, 325])
    assert not clipped[0]


def test_a_box_past_the_image_is_cut_to_it_and_counted():
    points = np.array([[[5, 10, 1], [60, 80, 1]], [[200, 200, 1], [260, 280, 1]]], np.float32)
    boxes, clipped = crops.garment_boxes(points, [(300, 300), (300, 300)], 0.2)
    assert clipped.tolist() == [True, False]
    assert boxes[0][0] == -0.5 and boxes[0][1] == -0.5  # the image's own edge


def test_an_image_without_points_keeps_the_whole_image_and_one_point_a_minimum_box():
    none = np.full((1, 4, 3), -1, np.float32)
    boxes, _ = crops.garment_boxes(none, [(640, 480)], MARGIN)
    np.testing.assert_allclose(boxes[0], [-0.5, -0.5, 639.5, 479.5])
    one = np.array([[[320, 240, 1]]], np.float32)
    boxes, _ = crops.garment_boxes(one, [(640, 480)], 0.0)
    assert boxes[0][2] - boxes[0][0] == pytest.approx(crops.MIN_SIDE * 640)


def test_a_first_stages_boxes_are_measured_against_the_truth_and_the_jitter():
    from engine.inference import two_stage
    truth = np.array([[0, 0, 100, 100]] * 4, np.float32)
    boxes = np.array([[0, 0, 100, 100], [10, 0, 110, 100], [0, 0, 120, 120], [3, 3, 98, 98]],
                     np.float32)
    errors = two_stage.box_errors(boxes, truth, two_stage.CROP)
    # Shifts 0, 0.1, 0.1, 0.005; sides 1, 1, 1.2, 0.95: two within 0.05 and 0.9-1.1.
    assert errors["boxes_within_jitter"] == 0.5
    assert errors["box_side_ratio"][1] == pytest.approx(1.0)


def test_the_whole_images_box_letterboxes_it_as_the_letterbox_does():
    for width, height in [(512, 512), (640, 480), (300, 500)]:
        box = (-0.5, -0.5, width - 0.5, height - 0.5)
        scale, dx, dy = crops.box_transform(box, 128)
        expected = letterbox.transform_for(height, width, 128)
        assert scale == pytest.approx(expected[0])
        # The letterbox pads by whole pixels (its width rounded, the padding floored).
        assert abs(dx - expected[1]) < 1 and abs(dy - expected[2]) < 1


def test_the_pipelines_crop_is_opencvs_crop_and_its_points_go_back_exactly(synthetic):
    ann = fashion_csv.read_annotations(synthetic / "Annotations/train.csv").of_category("skirt")
    ann = ann.select(range(4))
    points = pipeline.own_keypoints(ann, SKIRT)
    boxes, _ = crops.garment_boxes(points, letterbox.image_sizes(ann), MARGIN)
    batch = next(iter(pipeline.make_dataset(ann, SKIRT, 64, 4, with_meta=True, boxes=boxes)))
    for n in range(4):
        transform = np.asarray(batch["transform"][n])
        np.testing.assert_allclose(transform, crops.box_transform(boxes[n], 64), rtol=1e-5)
        inside = np.asarray(batch["keypoints"][n])
        kept = inside[:, 2] >= 0
        back = letterbox.to_original(inside[kept, :2], transform)
        np.testing.assert_allclose(back, points[n, kept, :2], atol=1e-3)
        opencv, _ = crops.crop(letterbox.read_image(ann.image_path(n)), boxes[n], 64)
        got = np.asarray(batch["image"][n]) * 255
        assert np.abs(got - opencv).mean() < 6  # two resamplers of one crop


def test_training_crops_move_about_by_the_seed_and_stay_reproducible(synthetic):
    ann = fashion_csv.read_annotations(synthetic / "Annotations/train.csv").of_category("skirt")
    ann = ann.select(range(6))
    boxes, _ = crops.garment_boxes(pipeline.own_keypoints(ann, SKIRT),
                                   letterbox.image_sizes(ann), MARGIN)

    still = {"flip": 0, "rotate": 0, "shift": 0, "scale": None}  # only the box moves

    def keypoints(seed, jitter={"shift": 0.05, "scale": (0.9, 1.1)}):
        ds = pipeline.make_dataset(ann, SKIRT, 64, 6, training=True, seed=seed, boxes=boxes,
                                   box_jitter=jitter, augment_cfg=still, with_meta=True)
        batch = next(iter(ds))
        return np.asarray(batch["keypoints"])[np.argsort(np.asarray(batch["index"]))]
    np.testing.assert_array_equal(keypoints(1), keypoints(1))
    assert not np.array_equal(keypoints(1), keypoints(2))
    jittered, plain = keypoints(1), keypoints(1, jitter=None)
    both = (jittered[..., 2] >= 0) & (plain[..., 2] >= 0)
    moved = np.abs(jittered[both, :2] - plain[both, :2]).max()
    assert 0 < moved < 0.25 * 64  # at most the shift's and the scale's reach


def test_crops_refuse_the_imgaug_reader_and_the_cache(synthetic):
    ann = fashion_csv.read_annotations(synthetic / "Annotations/train.csv").of_category("skirt")
    with pytest.raises(ValueError, match="crops"):
        pipeline.make_dataset(ann, SKIRT, 64, 4, boxes=np.zeros((len(ann), 4)),
                              augmenter="imgaug")


# --- a second stage -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def second_stage(tiny_skirt_runs, synthetic, tmp_path_factory):
    """A tiny hourglass trained at 48 px on the skirt crops that the shared tiny 64 px
    hourglass finds: (the second run's folder, the first's)."""
    runs, _, _ = tiny_skirt_runs
    first = runs / "skirt-hourglass"

    def train(folder):
        result = run_cli("--arch", "hourglass", "--category", "skirt", "--preset", "tiny",
                         "--data-dir", synthetic, "--out", folder, "--name", "crop",
                         "--input-size", 48, "--first-stage", first)
        assert result.returncode == 0, result.stdout + result.stderr
        (folder / "stdout.txt").write_text(result.stdout)
    folder = made_once(tmp_path_factory, "tiny-second-stage", train)
    return folder / "skirt-hourglass-crop", first


def chain_by_hand(second, first, ann, batch_size=8):
    """The two stages step by step, without engine/inference/test_time.py or two_stage.py:
    (N, K, 2) points in original pixels and the boxes."""
    def points(run_path, boxes=None):
        _, cfg, model, codec = models.load_run(run_path)
        dataset = pipeline.make_dataset(ann, cfg["names"], cfg["input_size"], batch_size,
                                        with_meta=True, boxes=boxes)
        xy = np.zeros((len(ann), len(cfg["names"]), 2), np.float32)
        for batch in dataset:
            decoded, _ = codec.decode(stage_arrays(model.predict_on_batch(batch["image"])))
            for i, p, t in zip(np.asarray(batch["index"]), decoded, np.asarray(batch["transform"])):
                xy[i] = letterbox.to_original(p, t)
        return xy
    found = points(first)
    boxes = []
    for n, (width, height) in enumerate(letterbox.image_sizes(ann)):
        low, high = found[n].min(0), found[n].max(0)
        side = max((high - low).max(), crops.MIN_SIDE * max(width, height)) * (1 + 2 * MARGIN)
        centre = (low + high) / 2
        boxes.append([max(centre[0] - side / 2, -0.5), max(centre[1] - side / 2, -0.5),
                      min(centre[0] + side / 2, width - 0.5), min(centre[1] + side / 2, height - 0.5)])
    boxes = np.array(boxes, np.float32)
    return points(second, boxes), boxes


def validation(run_path):
    cfg = json.loads((run_path / "config.json").read_text())
    return cfg, data_source.split(cfg, data_source.load_annotations(cfg))[1]


def test_the_second_stage_records_its_first_and_scores_end_to_end(second_stage):
    second, first = second_stage
    cfg, val = validation(second)
    assert cfg["first_stage"] == str(first.resolve()) and cfg["crop"]["margin"] == MARGIN
    assert cfg["input_size"] == 48
    xy, boxes = chain_by_hand(second, first, val)
    gt = pipeline.own_keypoints(val, SKIRT)
    expected = metrics.normalized_error(xy, gt, val.categories, SKIRT)
    result = json.loads((second / "metrics.json").read_text())
    assert result["ne"] == pytest.approx(expected["ne"], rel=1e-5)
    assert result["beyond_half"] == pytest.approx(expected["beyond_half"])
    two = result["two_stage"]
    assert two["first_stage"]["run"] == str(first.resolve())
    assert two["first_stage"]["input_size"] == 64
    inside = crops.inside(gt, boxes)[gt[..., 2] == 1].mean()
    assert two["first_stage"]["visible_points_in_box"] == pytest.approx(inside)
    assert two["gt_boxes"]["ne"] is not None and two["gt_boxes"]["ne"] != result["ne"]


def test_the_second_stages_pictures_show_the_box_beside_the_crops_maps(second_stage, tiny_skirt_runs):
    from PIL import Image
    second, first = second_stage
    with Image.open(second / "heatmaps" / "best.png") as two, \
            Image.open(first / "heatmaps" / "best.png") as one:
        # One tile more (the first stage's box), the rows alike.
        assert two.size[0] > one.size[0] and two.size[1] == one.size[1]


def test_evaluate_a_second_stage_reports_both_boxes_and_flip_goes_through_both(second_stage):
    second, _ = second_stage
    flipped = run_here("evaluate", "--run", second, "--flip")
    assert flipped.returncode == 0, flipped.stderr
    assert "4 model call(s) per image" in flipped.stdout  # two stages, each twice
    assert "with ground-truth boxes instead: NE" in flipped.stdout
    assert "first stage" in flipped.stdout and "visible points inside the boxes" in flipped.stdout


def test_predict_through_both_stages_gives_the_chains_points(second_stage, synthetic, tmp_path):
    second, first = second_stage
    out = tmp_path / "sub.csv"
    result = run_here("predict", "--run", second, "--test-csv", synthetic / "test.csv",
                     "--category", "skirt", "--out", out)
    assert result.returncode == 0, result.stderr
    sub = fashion_csv.read_annotations(out, data_dir=synthetic, predictions=True)
    ann = fashion_csv.Annotations(synthetic, out, sub.image_ids, sub.categories, sub.keypoints)
    xy, _ = chain_by_hand(second, first, ann)
    xy = np.clip(xy, 0, letterbox.image_sizes(ann)[:, None, :] - 1)
    got = sub.keypoints[:, [schema.INDEX[n] for n in SKIRT], :2]
    assert np.abs(got - np.round(xy)).max() <= 1  # whole pixels in the CSV
    folder = tmp_path / "photos"
    folder.mkdir()
    for image_id in sub.image_ids[:3]:
        (folder / image_id.split("/")[-1]).symlink_to(synthetic / image_id)
    flipped = run_here("predict", "--run", second, "--images", folder, "--flip",
                       "--out", tmp_path / "photos.csv")
    assert flipped.returncode == 0, flipped.stderr
    assert "wrote 3 rows" in flipped.stdout


def test_compare_shows_the_two_stage_line_with_both_stages_flops(second_stage, tiny_skirt_runs,
                                                                tmp_path):
    second, _ = second_stage
    runs, _, _ = tiny_skirt_runs
    (tmp_path / "runs").mkdir()  # a small runs folder: a first stage and its second
    (tmp_path / "runs" / "skirt-hourglass").symlink_to(runs / "skirt-hourglass")
    (tmp_path / "runs" / "skirt-hourglass-crop").symlink_to(second)
    result = run_here("compare", "--category", "skirt", "--runs-dir", tmp_path / "runs",
                     "--lines", "crop", "--out", tmp_path / "report")
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "report" / "report.md").read_text()
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in report.splitlines()
            if line.startswith("| hourglass")}
    assert rows["hourglass-crop"][2] == "64 → 48 crop" and rows["hourglass"][2] == "64"
    one, two = float(rows["hourglass"][3]), float(rows["hourglass-crop"][3])
    assert two > one  # the second stage's FLOPs plus the first's
    assert "hourglass-crop: two stages, boxes from the first stage" in report
    assert "skirt-simplebaseline-crop" not in report  # --lines only where runs exist


def test_export_of_a_second_stage_says_it_takes_crops(second_stage):
    """The JSON beside an exported second stage (`export.description`, what `run.py export`
    writes) says that its input is the first stage's crop, and how to make it."""
    from engine.commands import export
    second, first = second_stage
    cfg = json.loads((second / "config.json").read_text())
    note = export.second_stage_note(cfg)["second_stage"]
    assert note["first_stage"] == str(first.resolve()) and note["margin"] == MARGIN
    assert "crop of the garment's box" in note["note"]
    assert export.second_stage_note(json.loads((first / "config.json").read_text())) == {}


def test_any_method_can_be_a_second_stage_through_the_chain(tiny_skirt_runs, synthetic):
    """A regression run (points, no maps) on the crops of an hourglass's boxes: the layer
    carries its points back to original pixels as it does a heatmap run's."""
    from engine.inference import test_time
    runs, _, _ = tiny_skirt_runs
    ann = fashion_csv.read_annotations(synthetic / "Annotations/train.csv").of_category("skirt")
    ann = ann.select(range(5))
    first = test_time.load_ensemble([runs / "skirt-hourglass"])
    chain = test_time.Chain(first, test_time.load_ensemble([runs / "skirt-regression"]), MARGIN)
    result = chain.predict(ann, 4)
    boxes = result["boxes"]
    # Each point lies in the frame of its own crop's transform, mapped back.
    _, cfg, model, codec = models.load_run(runs / "skirt-regression")
    batch = next(iter(pipeline.make_dataset(ann, SKIRT, cfg["input_size"], 5, with_meta=True,
                                            boxes=boxes)))
    xy, _ = codec.decode(stage_arrays(model.predict_on_batch(batch["image"])))
    expected = np.stack([letterbox.to_original(p, t)
                         for p, t in zip(xy, np.asarray(batch["transform"]))])
    np.testing.assert_allclose(result["stage_xy"][-1], expected, atol=1e-3)


# --- bad input --------------------------------------------------------------------------------
def test_a_first_stage_that_is_missing_or_has_no_checkpoint_is_refused(tmp_path, synthetic):
    result = run_here("--arch", "hourglass", "--category", "skirt", "--preset", "tiny",
                      "--data-dir", synthetic, "--out", tmp_path / "runs",
                      "--first-stage", tmp_path / "nowhere")
    assert_one_line_error(result, "--first-stage", "no run folder there")
    empty = tmp_path / "skirt-cpm"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps({"category": "skirt", "names": SKIRT}))
    result = run_here("--arch", "hourglass", "--category", "skirt", "--preset", "tiny",
                      "--data-dir", synthetic, "--out", tmp_path / "runs", "--first-stage", empty)
    assert_one_line_error(result, "has no checkpoint")
    assert not (tmp_path / "runs").exists()


def test_a_first_stage_of_another_category_data_or_stage_is_refused(second_stage, tiny_skirt_runs,
                                                                    synthetic, tmp_path):
    second, first = second_stage
    common = ("--arch", "hourglass", "--preset", "tiny", "--out", tmp_path / "runs")
    result = run_here(*common, "--category", "dress", "--data-dir", synthetic,
                      "--first-stage", first)
    assert_one_line_error(result, "is a skirt run of 4 keypoints", "dress with 15")
    result = run_here(*common, "--category", "skirt", "--data-dir", synthetic,
                      "--first-stage", second)
    assert_one_line_error(result, "is itself a second stage")
    result = run_here(*common, "--category", "skirt", "--data-dir", synthetic,
                      "--first-stage", first, "--cache")
    assert_one_line_error(result, "--first-stage", "--cache")
    other = tmp_path / "other"
    other.mkdir()
    (other / "Annotations").mkdir()
    rows = (synthetic / "Annotations" / "train.csv").read_text().splitlines()
    skirts = [n for n, row in enumerate(rows) if ",skirt," in row]
    kept = [row for n, row in enumerate(rows) if n not in skirts[:3]]  # three skirts fewer
    (other / "Annotations" / "train.csv").write_text("\n".join(kept) + "\n")
    (other / "Images").symlink_to(synthetic / "Images")
    result = run_here(*common, "--category", "skirt", "--data-dir", other, "--first-stage", first)
    assert_one_line_error(result, "was trained on other data or another split")
    assert not (tmp_path / "runs").exists()  # refused before a run folder was made


@pytest.mark.parametrize("option,fragment", [
    (("--arch", "hourglass", "--input-size", 40), "--input-size 40: hourglass: input_size must be a multiple of 16"),
    (("--arch", "simplebaseline", "--input-size", 8), "--input-size must be at least 16"),
    (("--arch", "hourglass", "--features", 6), "--features 6: hourglass: features must be"),
    (("--arch", "cpm", "--features", 32), "--features does not apply to --arch cpm"),
])
def test_an_input_size_or_width_the_method_cannot_take_is_refused(option, fragment, synthetic,
                                                                  tmp_path):
    result = run_here(*option, "--category", "skirt", "--preset", "tiny", "--data-dir", synthetic,
                      "--out", tmp_path / "runs")
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "runs").exists()


def test_visualize_a_second_stage_shows_its_box_and_prints_original_pixels(second_stage,
                                                                            synthetic, tmp_path):
    from PIL import Image
    second, first = second_stage
    image = sorted((synthetic / "Images" / "skirt").iterdir())[0]
    results = {}
    for run, out in ((second, tmp_path / "two"), (first, tmp_path / "one")):
        results[out.name] = run_here("visualize", "--run", run, "--image", image, "--out", out)
        assert results[out.name].returncode == 0, results[out.name].stderr
    with Image.open(tmp_path / "two" / f"{image.stem}_stages.png") as two, \
            Image.open(tmp_path / "one" / f"{image.stem}_stages.png") as one:
        assert two.size[0] > one.size[0]  # the box's tile first
    rows = [line.split() for line in results["two"].stdout.splitlines()
            if line.split() and line.split()[0] in SKIRT]
    assert len(rows) == len(SKIRT)
    width, height = letterbox.read_image(image).shape[1::-1]
    # The crop's points, back in the photo's pixels (the crop is a part of it).
    assert all(-0.5 * width < float(x) < 1.5 * width and -0.5 * height < float(y) < 1.5 * height
               for _, x, y, *_ in rows)
