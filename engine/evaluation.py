"""`run.py evaluate`: Normalized Error of a prediction CSV, or of a trained run."""
import json
import sys

import numpy as np

from data_tools import atomic, fashion_csv, letterbox, schema
from data_tools.errors import DataError, UsageError
from engine import metrics


def align(pred_ann, gt_ann):
    """Predictions in ground-truth order; every ground-truth image must be predicted.

    Ids match in either spelling (`Images\\dress\\x.jpg` is `Images/dress/x.jpg`).
    """
    key = fashion_csv.same_image
    position = {key(image_id): i for i, image_id in enumerate(pred_ann.image_ids)}
    missing = [i for i in gt_ann.image_ids if key(i) not in position]
    if missing:
        raise DataError(f"{len(missing)} image(s) of the ground truth have no prediction, "
                        f"first {missing[0]!r}", pred_ann.csv_path)
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


def evaluate_csv(pred_path, gt_path):
    gt = fashion_csv.read_annotations(gt_path)
    # A prediction off its image is a miss to score, not a malformed file to refuse.
    pred = fashion_csv.read_annotations(pred_path, data_dir=gt.data_dir, predictions=True)
    pred_points = align(pred, gt)
    off = off_image(pred_points, gt)
    if off:
        print(f"warning: {off} predicted keypoint(s) lie off their image (a negative "
              f"coordinate, or past its size); scored as predicted, as the misses they are",
              file=sys.stderr)
    names = list(schema.KEYPOINTS)
    result = metrics.normalized_error(pred_points[..., :2], gt.keypoints, gt.categories, names)
    result["pck"] = metrics.pck(pred_points[..., :2], gt.keypoints, gt.categories, names)
    return result


def _fmt(value):
    return "n/a" if value is None else f"{value:.4f}"


def report_lines(result):
    lines = [f"NE {_fmt(result['ne'])} over {result['points']} visible keypoints in "
             f"{result['images']} images ({result['skipped_images']} images skipped: "
             f"no normalising distance)"]
    if result.get("decoder"):
        lines[0] += f", decoded with {result['decoder']} (metrics.json keeps the run's own decoder)"
    if result.get("views"):
        rate = (f"{result['images_per_s']:.1f} images/s after the first batch"
                if result.get("images_per_s") else "one batch, not timed")
        lines.append(f"test time: {result['views']}; {result['model_calls']} model call(s) "
                     f"per image, {rate}")
    lines += two_stage_lines(result)
    if result.get("ne_per_stage"):
        lines.append("per stage: " + "  ".join(_fmt(v) for v in result["ne_per_stage"]))
    if result.get("mean_shape_ne") is not None:
        lines.append(f"mean-shape baseline NE {_fmt(result['mean_shape_ne'])}")
    lines.append("per category: " + "  ".join(
        f"{c} {_fmt(v)}" for c, v in result["ne_per_category"].items()))
    lines.append("per keypoint:")
    lines += [f"  {name:<18} {_fmt(v)}" for name, v in result["ne_per_keypoint"].items()]
    if result.get("pck"):
        lines.append("PCK: " + "  ".join(f"@{t} {_fmt(v)}" for t, v in result["pck"].items()))
    return lines


def two_stage_lines(result):
    """A second stage's figures: its first stage, its boxes, and the NE with ground-truth
    boxes (what a perfect first stage would give)."""
    two = result.get("two_stage")
    if not two:
        return []
    first = two["first_stage"]
    inside = first["visible_points_in_box"]
    share = "n/a" if inside is None else f"{100 * inside:.1f}%"
    return [f"first stage {first['run']} ({first['arch']}, {first['input_size']} px): its own "
            f"NE {_fmt(first['ne'])}; {first['boxes_clipped']} box(es) clipped to their image, "
            f"{share} of visible points inside the boxes",
            f"its boxes against the ground truth's: side ×{first['box_side_ratio'][1]:.3f} "
            f"(10th–90th percentile {first['box_side_ratio'][0]:.3f}–"
            f"{first['box_side_ratio'][2]:.3f}), centre {first['box_shift'][0]:.3f} of the side "
            f"off (90th percentile {first['box_shift'][1]:.3f}); "
            f"{100 * first['boxes_within_jitter']:.0f}% within the training jitter",
            f"with ground-truth boxes instead: NE {_fmt(two['gt_boxes']['ne'])}"]


def write_json(path, result):
    atomic.write_text(path, json.dumps(result, indent=2) + "\n")


def main(args):
    views = len(args.run or ()) > 1 or args.flip or list(args.scales) != [1.0]
    if args.run:
        from engine import run_eval  # TensorFlow: imported only to score a run
        if views:
            result = run_eval.evaluate_views(args.run, args.scales, args.flip, args.decode)
        else:
            result = run_eval.evaluate_saved_run(args.run[0], args.decode)
    else:
        if args.decode or views:
            raise UsageError("--decode, --flip and --scales go with --run: a prediction CSV "
                             "is decoded already")
        result = evaluate_csv(args.pred, args.gt)
    print("\n".join(report_lines(result)))
    if args.json:
        write_json(args.json, result)
    return 0
