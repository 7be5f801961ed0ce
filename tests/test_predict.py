"""`run.py predict`: a submission from a trained run, its round trip through `evaluate`,
test-time flip, a folder of images with pictures, and the one-line errors."""
import csv
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from data_tools import fashion_csv, schema
from engine.inference.answers import flip_maps, mirror_points
from tests.conftest import assert_one_line_error, run_cli, run_here

SKIRT = list(schema.keypoint_names("skirt"))
FLIP = schema.flip_permutation(SKIRT)
CELL = re.compile(r"^\d+_\d+_1$")


@pytest.fixture(scope="module")
def skirt_run(tiny_skirt_runs):
    """The shared tiny skirt CPM run (conftest); the tests here only read it."""
    return tiny_skirt_runs[0] / "skirt-cpm"


@pytest.fixture(scope="module")
def submission(skirt_run, synthetic, tmp_path_factory):
    out = tmp_path_factory.mktemp("predict") / "sub.csv"
    result = run_cli("predict", "--run", skirt_run, "--test-csv", synthetic / "test.csv",
                     "--out", out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out, result


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def points_of(row, names):
    """{name: (x, y)} of a submission row's cells."""
    return {name: tuple(int(v) for v in row[2 + schema.INDEX[name]].split("_")[:2])
            for name in names}


# --- the submission --------------------------------------------------------------------
def test_submission_has_every_row_of_the_runs_category(submission, synthetic):
    path, result = submission
    rows = read_rows(path)
    assert rows[0] == fashion_csv.HEADER
    ids, categories = fashion_csv.read_test_list(synthetic / "test.csv")
    assert [r[0] for r in rows[1:]] == [i for i, c in zip(ids, categories) if c == "skirt"]
    for row in rows[1:]:
        assert row[1] == "skirt"
        for name, cell in zip(schema.KEYPOINTS, row[2:]):
            assert CELL.match(cell) if name in SKIRT else cell == "-1_-1_-1", (name, cell)
    assert "left out 24 image(s) of blouse, dress, outwear, trousers" in result.stdout
    assert f"wrote {len(rows) - 1} rows to {path}" in result.stdout
    assert "Traceback" not in result.stderr


def test_evaluate_round_trip_matches_in_process_ne(submission, skirt_run, synthetic, tmp_path):
    """`evaluate` of the submission gives the NE of the same model run in-process through
    the training pipeline, once the points are rounded to whole pixels as the CSV has them."""
    from data_tools import metrics, pipeline
    from engine.plugin.codec import stage_arrays
    from engine.plugin.models import load_run
    from engine.scoring import run_eval

    gt = fashion_csv.read_annotations(synthetic / "Annotations" / "test_gt.csv")
    gt = gt.of_category("skirt")  # evaluate refuses ground truth that has no prediction
    gt_csv = tmp_path / "Annotations" / "skirt_gt.csv"
    fashion_csv.write_annotations(gt_csv, gt.image_ids, gt.categories, gt.keypoints)
    report = tmp_path / "ne.json"
    result = run_cli("evaluate", "--pred", submission[0], "--gt", gt_csv, "--json", report)
    assert result.returncode == 0, result.stdout + result.stderr
    cli_ne = json.loads(report.read_text())["ne"]

    _, cfg, model, codec = load_run(skirt_run)
    dataset = pipeline.make_dataset(gt, cfg["names"], cfg["input_size"], 32, with_meta=True)
    xy, truth, index = [], [], []
    for batch in dataset:
        points = codec.decode(stage_arrays(model.predict_on_batch(batch["image"])))[0]
        xy.append(run_eval.to_original(points, np.asarray(batch["transform"])))
        truth.append(np.asarray(batch["orig_keypoints"]))
        index.append(np.asarray(batch["index"]))
    xy, truth, index = np.concatenate(xy), np.concatenate(truth), np.concatenate(index)
    categories = [gt.categories[i] for i in index]
    exact = metrics.normalized_error(xy, truth, categories, SKIRT)["ne"]
    sizes = np.array([Image.open(gt.image_path(i)).size for i in index])
    on_image = np.clip(xy, 0, sizes[:, None, :] - 1)
    rounded = metrics.normalized_error(np.round(on_image), truth, categories, SKIRT)["ne"]
    assert cli_ne == pytest.approx(rounded, abs=1e-6)
    # Rounding moves a point by at most half a pixel diagonal.
    s = metrics.normalizers(truth, categories, SKIRT)
    assert abs(cli_ne - exact) <= np.sqrt(0.5) / np.nanmin(s)


# --- test-time flip --------------------------------------------------------------------
def test_flip_maps_keeps_a_mirror_symmetric_pair():
    rng = np.random.default_rng(0)
    left = rng.random((2, 8, 8))
    hem = rng.random((2, 8, 8))
    # waistband_right is the mirror of waistband_left, and so for the hemline.
    maps = np.stack([left, left[:, :, ::-1], hem, hem[:, :, ::-1]], axis=-1)
    np.testing.assert_array_equal(flip_maps(maps, FLIP), maps)
    np.testing.assert_array_equal((maps + flip_maps(maps, FLIP)) / 2, maps)


def test_flip_maps_mirrors_cells_and_swaps_left_and_right():
    maps = np.zeros((1, 8, 8, 4))
    maps[0, 2, 1, SKIRT.index("waistband_left")] = 1      # row 2, column 1
    flipped = flip_maps(maps, FLIP)
    assert flipped[..., SKIRT.index("waistband_left")].sum() == 0
    assert flipped[0, 2, 8 - 1 - 1, SKIRT.index("waistband_right")] == 1
    xy = np.array([[[10, 5], [20, 6], [30, 7], [40, 8]]], np.float32)
    np.testing.assert_array_equal(mirror_points(xy, 64, FLIP),
                                  [[[43, 6], [53, 5], [23, 8], [33, 7]]])


class MirrorModel:
    """A stand-in model that sees a mirrored image as a mirror should: its left maps are its
    right maps mirrored (shifted rolls of the pooled image), its points move with the image."""

    def __init__(self, maps):
        self.maps = maps

    def predict_on_batch(self, images):
        n, size = len(images), images.shape[1]
        if self.maps:
            pooled = images.reshape(n, 8, size // 8, 8, size // 8, 3).mean(axis=(2, 4))
            return np.stack([np.roll(pooled[..., 0], 1, axis=2), np.roll(pooled[..., 0], -1, axis=2),
                             np.roll(pooled[..., 1], 2, axis=2), np.roll(pooled[..., 1], -2, axis=2)],
                            axis=-1)
        y, x = np.divmod(images[..., 0].reshape(n, -1).argmax(axis=1), size)
        offsets = np.array([[3, 0], [-3, 0], [5, 4], [-5, 4]])
        points = np.stack([x, y], axis=-1)[:, None, :] + offsets
        return 2.0 * (points + 0.5) / size - 1.0  # the regression codec's frame


@pytest.mark.parametrize("arch", ["cpm", "regression"])
def test_flip_of_a_mirror_consistent_model_changes_nothing(arch):
    from engine.inference.test_time import Ensemble, planned_views, RunViews, View
    from engine.plugin import registry
    cfg = {"input_size": 64, "box": "input", "names": SKIRT, "arch": arch, "category": "skirt"}
    codec = registry.get(arch).make_codec(cfg, len(SKIRT))
    images = np.random.default_rng(1).random((3, 64, 64, 3)).astype(np.float32)
    model = MirrorModel(maps=arch == "cpm")

    def points(flip):
        views = [View(side, 64, mirrored) for side, mirrored in planned_views([1.0], flip, 64)]
        return Ensemble([RunViews(cfg, views, {64: (model, codec)})]).points(images)[0]
    np.testing.assert_allclose(points(flip=True), points(flip=False), atol=1e-4)


@pytest.mark.parametrize("arch", ["cpm", "simplebaseline"])
def test_flip_end_to_end_writes_a_valid_submission(arch, tiny_skirt_runs, synthetic, tmp_path):
    out = tmp_path / "flip.csv"
    run = tiny_skirt_runs[0] / f"skirt-{arch}"
    result = run_cli("predict", "--run", run, "--test-csv", synthetic / "test.csv",
                     "--out", out, "--flip")
    assert result.returncode == 0, result.stdout + result.stderr
    ann = fashion_csv.read_annotations(out, data_dir=synthetic)  # validates every cell
    assert set(ann.categories) == {"skirt"} and len(ann) == 6
    assert (ann.keypoints[:, schema.keypoint_indices("skirt"), 2] == 1).all()


def test_run_for_prefers_the_categorys_own_run():
    from engine.inference.submission import run_for
    runs = {"skirt": "a", "all": "b"}
    assert run_for("skirt", runs) == "a" and run_for("dress", runs) == "b"
    assert run_for("dress", {"skirt": "a"}) is None


# --- a folder of images ----------------------------------------------------------------
def write_photos(folder, source):
    """Photos as people have them, each with a twin the readers take as it is: a phone JPEG
    stored on its side with an EXIF orientation (twin: the upright PNG), a cut-out PNG with
    transparency (twin: flattened onto white), and a grey one."""
    from PIL import ImageOps
    upright = Image.open(source).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to show"
    upright.transpose(Image.Transpose.ROTATE_90).save(folder / "phone.jpg", quality=95,
                                                      exif=exif.tobytes())
    with Image.open(folder / "phone.jpg") as phone:
        ImageOps.exif_transpose(phone).convert("RGB").save(folder / "phone_twin.png")
    cutout = upright.convert("RGBA")
    alpha = np.full(cutout.size[::-1], 255, np.uint8)
    alpha[:, : cutout.size[0] // 3] = 0  # the left third transparent, black underneath
    pixels = np.asarray(cutout).copy()
    pixels[..., 3] = alpha
    pixels[alpha == 0, :3] = 0
    Image.fromarray(pixels, "RGBA").save(folder / "cutout.png")
    flat = pixels[..., :3].copy()
    flat[alpha == 0] = 255
    Image.fromarray(flat).save(folder / "cutout_twin.png")
    upright.convert("L").save(folder / "grey.png")
    return upright.size


def test_images_folder_with_pictures(skirt_run, synthetic, tmp_path):
    """Non-square images of several sizes, very wide and very tall strips among them (their
    letterbox is mostly padding), as .jpg, .png and .jpeg, and photos (write_photos): every
    point lands on its image as a viewer shows it, and each photo is predicted as its twin."""
    folder = tmp_path / "images"
    folder.mkdir()
    odd = [p for p in sorted((synthetic / "Images").rglob("*.jpg"))
           if Image.open(p).size[0] != Image.open(p).size[1]][:2]
    for n, path in enumerate(odd):
        shutil.copy(path, folder / f"odd{n}.jpg")
    image = cv2.imread(str(odd[0]))
    cv2.imwrite(str(folder / "wide.png"), image[:90])
    cv2.imwrite(str(folder / "tall.jpeg"), image[:, :80])
    (folder / "notes.txt").write_text("not an image")
    shutil.copy(odd[0], folder / "..\\odd0.jpg")  # a backslash would read as a separator
    width, height = write_photos(folder, odd[1])
    out = tmp_path / "mine.csv"
    result = run_cli("predict", "--run", skirt_run, "--images", folder, "--out", out, "--draw")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("photos: 1 with an EXIF orientation, predicted upright; 1 with transparency, "
            "flattened onto white") in result.stdout
    assert "left out 1 image(s) whose file name holds a backslash" in result.stdout

    rows = {r[0]: r for r in read_rows(out)[1:]}
    names = ["cutout.png", "cutout_twin.png", "grey.png", "odd0.jpg", "odd1.jpg", "phone.jpg",
             "phone_twin.png", "tall.jpeg", "wide.png"]
    assert sorted(rows) == names
    sizes = {name: Image.open(folder / name).size for name in rows}
    sizes["phone.jpg"] = (width, height)  # as shown, not as stored (height x width)
    assert Image.open(folder / "phone.jpg").size == (height, width) and width != height
    for name, row in rows.items():
        assert row[1] == "skirt"
        for x, y in points_of(row, SKIRT).values():
            assert 0 <= x < sizes[name][0] and 0 <= y < sizes[name][1], (name, x, y)
    assert rows["phone.jpg"][2:] == rows["phone_twin.png"][2:]
    assert rows["cutout.png"][2:] == rows["cutout_twin.png"][2:]
    pictures = tmp_path / "mine_pictures"
    assert sorted(p.name for p in pictures.glob("*.png")) == sorted(
        str(Path(name).with_suffix(".png")) for name in names)
    # The phone's picture is drawn upright.
    assert Image.open(pictures / "phone.png").size == Image.open(
        pictures / "phone_twin.png").size
    assert f"to {pictures}" in result.stdout


def test_visualize_reads_a_photo_as_predict_does(synthetic, tmp_path):
    """`visualize --image` reads one photo as `predict --images` reads a folder of them."""
    from data_tools import letterbox, photos
    source = next(p for p in sorted((synthetic / "Images").rglob("*.jpg"))
                  if Image.open(p).size[0] != Image.open(p).size[1])
    width, height = write_photos(tmp_path, source)
    for photo, twin in (("phone.jpg", "phone_twin.png"), ("cutout.png", "cutout_twin.png")):
        read = photos.read_photo(tmp_path / photo)
        np.testing.assert_array_equal(read, letterbox.read_image(tmp_path / twin))
    assert photos.read_photo(tmp_path / "phone.jpg").shape == (height, width, 3)
    assert photos.read_photo(tmp_path / "grey.png").shape == (height, width, 3)
    (tmp_path / "empty.jpg").write_bytes(b"")
    for name, reason in (("none.jpg", "file not found"), ("empty.jpg", "empty file")):
        with pytest.raises(letterbox.ImageError, match=reason):
            photos.read_photo(tmp_path / name)


def test_a_predicted_point_off_its_image_is_scored_as_a_miss(submission, synthetic, tmp_path):
    """A sloppy model's `-1_445_1` or a point past the image's width is scored as the wrong
    prediction it is, with a warning that counts them; a missing row is still refused."""
    gt = fashion_csv.read_annotations(synthetic / "Annotations" / "test_gt.csv")
    gt = gt.of_category("skirt")
    gt_csv = tmp_path / "Annotations" / "skirt_gt.csv"
    fashion_csv.write_annotations(gt_csv, gt.image_ids, gt.categories, gt.keypoints)
    (tmp_path / "Images").symlink_to(synthetic / "Images")  # the images' sizes, from their headers
    rows = read_rows(submission[0])
    column = 2 + schema.INDEX["waistband_left"]
    rows[1][column] = "-1_445_1"
    rows[2][column] = "100000_10_1"
    sloppy = tmp_path / "sloppy.csv"
    sloppy.write_text(fashion_csv.csv_text(rows))
    report = tmp_path / "ne.json"
    result = run_here("evaluate", "--pred", sloppy, "--gt", gt_csv, "--json", report)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning: 2 predicted keypoint(s) lie off their image" in result.stderr

    pred = fashion_csv.read_annotations(sloppy, data_dir=synthetic, predictions=True)
    from data_tools import metrics
    order = [pred.image_ids.index(i) for i in gt.image_ids]
    expected = metrics.normalized_error(pred.keypoints[order][..., :2], gt.keypoints,
                                        gt.categories, list(schema.KEYPOINTS))["ne"]
    assert json.loads(report.read_text())["ne"] == pytest.approx(expected)
    honest = run_here("evaluate", "--pred", submission[0], "--gt", gt_csv)
    assert float(honest.stdout.split()[1]) < expected  # the misses cost what they should

    short = tmp_path / "short.csv"
    short.write_text(fashion_csv.csv_text(rows[:-1]))
    assert_one_line_error(run_here("evaluate", "--pred", short, "--gt", gt_csv),
                          "have no prediction")


def test_a_csv_written_on_windows_reads_as_is(submission, skirt_run, synthetic, tmp_path):
    """Backslash ids (`Images\\skirt\\x.jpg`) in check-data, predict and evaluate: the same
    images, the same points, the same NE; the submission echoes the ids as test.csv has them."""
    windows = lambda image_id: image_id.replace("/", "\\")  # noqa: E731
    rows = read_rows(synthetic / "Annotations" / "train.csv")
    train_csv = tmp_path / "train.csv"
    train_csv.write_text(fashion_csv.csv_text([rows[0]] + [[windows(r[0]), *r[1:]]
                                                           for r in rows[1:]]))
    checked = run_here("check-data", "--data-dir", synthetic, "--csv", train_csv)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    twice = tmp_path / "twice.csv"  # one image in both spellings: one image, twice
    twice.write_text(train_csv.read_text() + fashion_csv.csv_text([rows[1]]))
    checked = run_here("check-data", "--data-dir", synthetic, "--csv", twice)
    assert checked.returncode == 2
    assert f"problem: duplicate image id: 1 row(s), e.g. {windows(rows[1][0])} (2 rows)" \
        in checked.stdout

    ids, categories = fashion_csv.read_test_list(synthetic / "test.csv")
    test_csv = tmp_path / "test.csv"
    test_csv.write_text(fashion_csv.csv_text([["image_id", "image_category"]] + [
        [windows(i), c] for i, c in zip(ids, categories)]))
    sub = tmp_path / "sub.csv"
    result = run_here("predict", "--run", skirt_run, "--test-csv", test_csv,
                      "--data-dir", synthetic, "--out", sub)
    assert result.returncode == 0, result.stdout + result.stderr
    mine, theirs = read_rows(sub), read_rows(submission[0])
    assert [r[0] for r in mine[1:]] == [windows(r[0]) for r in theirs[1:]]
    assert [r[1:] for r in mine] == [r[1:] for r in theirs]

    gt = fashion_csv.read_annotations(synthetic / "Annotations" / "test_gt.csv")
    gt = gt.of_category("skirt")
    gt_csv = tmp_path / "Annotations" / "skirt_gt.csv"
    fashion_csv.write_annotations(gt_csv, gt.image_ids, gt.categories, gt.keypoints)
    scores = [run_here("evaluate", "--pred", pred, "--gt", gt_csv).stdout.splitlines()[0]
              for pred in (sub, submission[0])]
    assert scores[0] == scores[1] and scores[0].startswith("NE ")


# --- errors ------------------------------------------------------------------------------
def test_errors_are_one_line(skirt_run, submission, synthetic, tmp_path):
    test_csv = synthetic / "test.csv"
    empty = tmp_path / "untrained"
    empty.mkdir()
    shutil.copy(skirt_run / "config.json", empty)
    assert_one_line_error(run_here("predict", "--run", empty, "--test-csv", test_csv,
                                   "--out", tmp_path / "a.csv"), str(empty), "no checkpoint")

    assert_one_line_error(run_here("predict", "--run", skirt_run, "--test-csv",
                                   tmp_path / "none.csv", "--out", tmp_path / "b.csv"),
                          "none.csv", "not found")

    twin = tmp_path / "twin"
    shutil.copytree(skirt_run, twin, ignore=shutil.ignore_patterns("tensorboard", "heatmaps"))
    # Two runs of one category are an ensemble; two copies of one run predict what it does.
    result = run_here("predict", "--run", skirt_run, "--run", twin, "--test-csv", test_csv,
                      "--out", twin / "c.csv")
    assert result.returncode == 0, result.stderr
    assert read_rows(twin / "c.csv") == read_rows(submission[0])

    assert_one_line_error(run_here("predict", "--run", skirt_run, "--test-csv", test_csv,
                                   "--category", "blouse", "--out", tmp_path / "d.csv"),
                          "no --run predicts")
    assert not list(tmp_path.glob("*.csv"))
