"""Normalized Error on a labelled test set: of a prediction CSV against its answers, or of
trained runs that predict its images first (as `run.py predict` would)."""
import sys
from pathlib import Path

import numpy as np

from data_tools import fashion_csv, letterbox, metrics, schema
from data_tools.errors import DataError


def covered(pred_ann, gt_ann):
    """(the ground truth of the categories the predictions cover, {category left out: images}).

    A prediction file may cover part of a multi-category answer file (one category's run);
    predictions of a category the answers lack are refused: they would score nothing.
    """
    predicted, answered = set(pred_ann.categories), set(gt_ann.categories)
    lacking = [c for c in pred_ann.categories if c not in answered]
    if lacking:
        raise DataError(f"{len(lacking)} predicted image(s) of {', '.join(sorted(set(lacking)))}, "
                        f"a category the ground truth {gt_ann.csv_path} lacks",
                        pred_ann.csv_path)
    left_out = {c: gt_ann.categories.count(c) for c in sorted(answered - predicted)}
    kept = gt_ann.select(n for n, c in enumerate(gt_ann.categories) if c in predicted)
    return kept, left_out


def align(pred_ann, gt_ann):
    """Predictions in ground-truth order; every ground-truth image must be predicted.

    Ids match in either spelling (`Images\\dress\\x.jpg` is `Images/dress/x.jpg`).
    """
    key = fashion_csv.same_image
    position = {key(image_id): i for i, image_id in enumerate(pred_ann.image_ids)}
    missing = [i for i in gt_ann.image_ids if key(i) not in position]
    if missing:
        categories = sorted({c for i, c in zip(gt_ann.image_ids, gt_ann.categories)
                             if key(i) not in position})
        raise DataError(f"{len(missing)} image(s) of {', '.join(categories)} in the ground "
                        f"truth have no prediction, first {missing[0]!r}", pred_ann.csv_path)
    rows = [position[key(i)] for i in gt_ann.image_ids]
    pred = pred_ann.keypoints[rows]
    for n, row in enumerate(rows):
        if pred_ann.categories[row] != gt_ann.categories[n]:
            raise DataError(f"category {pred_ann.categories[row]!r} differs from the ground "
                            f"truth's {gt_ann.categories[n]!r}", pred_ann.csv_path, row + 2)
        lacking = (gt_ann.keypoints[n, :, 2] == 1) & (pred[n, :, 2] < 0)
        if lacking.any():
            name = schema.KEYPOINTS[int(np.argmax(lacking))]
            raise DataError(f"keypoint {name} is -1_-1_-1 but visible in the ground truth",
                            pred_ann.csv_path, row + 2)
    return pred


def off_image(points, gt_ann):
    """How many predicted points (N, 24, 3), in ground-truth order, lie off their image:
    a negative coordinate, or one past the image's size where the image is on disk to
    read its size from (evaluate needs only the CSVs)."""
    sizes = letterbox.image_sizes(gt_ann, unreadable_ok=True)[:, None, :]  # NaN: not on disk
    outside = (points[..., :2] < 0) | (points[..., :2] > sizes - 1)  # NaN compares False
    return int(((points[..., 2] >= 0) & outside.any(axis=-1)).sum())


def evaluate_csv(pred_path, gt_path, data_dir=None):
    """The figures of a prediction CSV against the answers, over the categories it covers
    ("left_out" counts the answers' other images); `data_dir`: the images' folder, whose
    sizes tell a point off its image (default: the answers' DIR of DIR/Annotations/)."""
    gt = fashion_csv.read_annotations(gt_path, data_dir)
    # A prediction off its image is a miss to score, not a malformed file to refuse.
    pred = fashion_csv.read_annotations(pred_path, data_dir=gt.data_dir, predictions=True)
    gt, left_out = covered(pred, gt)
    pred_points = align(pred, gt)
    off = off_image(pred_points, gt)
    if off:
        print(f"warning: {off} predicted keypoint(s) lie off their image (a negative "
              f"coordinate, or past its size); scored as predicted, as the misses they are",
              file=sys.stderr)
    names = list(schema.KEYPOINTS)
    result = metrics.normalized_error(pred_points[..., :2], gt.keypoints, gt.categories, names)
    result["pck"] = metrics.pck(pred_points[..., :2], gt.keypoints, gt.categories, names)
    result["left_out"] = left_out
    return result


def evaluate_runs(run_paths, gt_path, data_dir=None, scales=(1.0,), flip=False, decode=None,
                  batch_size=32):
    """The figures of runs on a labelled test set: its images predicted as `run.py predict`
    would (each category by its run or ensemble, with the test-time views), written as a
    submission and scored as `evaluate --pred` would, beside each run's mean shape."""
    import tempfile
    # TensorFlow: imported only to score runs (`evaluate --pred` needs none)
    from engine.inference import submission, test_time
    from engine.runs.run_dir import RunDir
    from engine.scoring import run_eval
    runs = submission.read_runs(run_paths)
    test = submission.annotations(*submission.from_test_csv(gt_path, data_dir, None), gt_path)
    test, xy = submission.predict_rows(test, runs, batch_size, scales, flip, decode, gt_path)
    with tempfile.TemporaryDirectory(prefix="fashion-evaluate-") as scratch:
        pred_path = Path(scratch) / "predictions.csv"
        fashion_csv.write_submission(pred_path, test.image_ids, test.categories, xy)
        result = evaluate_csv(pred_path, gt_path, test.data_dir)
    gt = fashion_csv.read_annotations(gt_path, test.data_dir)
    gt, _ = covered(test, gt)
    methods = {c: " + ".join(RunDir(p).read_config()["arch"] for p in paths)
               for c, paths in runs.items()}
    result.update(run_eval.mean_shape_on(runs, gt), runs=[str(p) for p in run_paths],
                  methods=methods, answers=str(gt_path),
                  test_time=test_time.describe(scales, flip), decoder=decode)
    return result
