"""Two stages, the garment crop that won FashionAI: a first run finds the garment on the
whole image, a second run, trained on garment crops, finds the keypoints in that crop.

    training the second run:  each training image's box around its annotated points
                              (data_tools/crops.py, cfg["crop"]["margin"]), moved about
                              by cfg["crop"]'s shift and scale → the usual flow
    scoring and predicting:   the first run's points on the whole image → the same box
                              → its crop → the second run → original pixels

The second run's config records its first (`first_stage`, the folder), so `evaluate --run`,
`predict --run` and the pictures chain the two by themselves (test_time.py's Chain).
A first stage is a one-stage run of the same category and keypoints, trained on the same
data and split, so that the validation images are unseen by both stages.
"""
import dataclasses
from pathlib import Path

import numpy as np

from data_tools import crops, letterbox, metrics, pipeline
from data_tools.errors import UsageError
from engine.runs.run_dir import RunDir

# margin: of the box's side, on every side; shift: of its side, each axis; scale: its side's
# factor. The shift and scale are the training jitter, on top of the run's augmentation.
CROP = {"margin": 0.15, "shift": 0.05, "scale": [0.9, 1.1]}


def crop_settings(jitter=None):
    """CROP, or with `jitter` J (--crop-jitter) a shift of up to J and a scale of 1 ± 2J."""
    if jitter is None:
        return dict(CROP)
    if not 0 <= jitter <= 0.25:
        raise UsageError(f"--crop-jitter must be between 0 and 0.25 (of the box's side), "
                         f"got {jitter:g}")
    return dict(CROP, shift=jitter, scale=[1 - 2 * jitter, 1 + 2 * jitter])


def first_stage_of(cfg):
    return cfg.get("first_stage")


def check_first_stage(path, category, names):
    """The first run's config, or a UsageError: missing, no checkpoint, another category or
    keypoint set, or itself a second stage."""
    run = RunDir(path)
    if not (Path(path) / "config.json").is_file():
        raise UsageError(f"--first-stage {path}: no run folder there (no config.json)")
    if not (run.best_weights.is_file() or run.last_weights.is_file()):
        raise UsageError(f"--first-stage {path} has no checkpoint ({run.best_weights.name} "
                         f"or {run.last_weights.name} in {run.checkpoints})")
    first = run.read_config()
    if first.get("category") != category or list(first.get("names", ())) != list(names):
        raise UsageError(f"--first-stage {path} is a {first.get('category')} run of "
                         f"{len(first.get('names', ()))} keypoints; this run is {category} "
                         f"with {len(names)}: both stages must find the same keypoints")
    if first_stage_of(first):
        raise UsageError(f"--first-stage {path} is itself a second stage; a first stage "
                         f"sees the whole image")
    return first


def check_same_split(first, cfg):
    """Both stages must have trained on the same images, else the first stage's boxes on
    the validation images would come from a model that saw them."""
    same = all(first.get(k) == cfg.get(k)
               for k in ("data_fingerprint", "val_fraction", "split_rule"))
    if not same:
        raise UsageError(f"--first-stage {cfg['first_stage']} was trained on other data or "
                         f"another split (data fingerprint {first.get('data_fingerprint')}, "
                         f"this run's {cfg.get('data_fingerprint')})")


def gt_boxes(cfg, ann):
    """(boxes, clipped): each image's box around its annotated points, as training crops."""
    points = pipeline.own_keypoints(ann, cfg["names"])
    return crops.garment_boxes(points, letterbox.image_sizes(ann), cfg["crop"]["margin"])


def predicted_boxes(prediction, ann, margin):
    """(boxes, clipped) around a first stage's points (predictions.collect's figures) of
    every image of `ann`; an image the first stage could not read keeps its whole image."""
    points = np.full((len(ann), len(prediction["stage_xy"][-1][0]), 2), np.nan, np.float32)
    points[prediction["indices"]] = prediction["stage_xy"][-1]
    return crops.garment_boxes(points, letterbox.image_sizes(ann), margin)


@dataclasses.dataclass
class Crops:
    """A second run's boxes: `train` and `val` around the annotated points (for training
    and for the reference score), `end_to_end` from the first stage on the validation
    images; `first` the first stage's own figures there."""
    train: np.ndarray
    val: np.ndarray
    end_to_end: np.ndarray
    first: dict


def first_stage_figures(cfg, first_cfg, prediction, boxes, clipped, ann, truth):
    """metrics.json's "first_stage": which run, its own NE on these images, how many of its
    boxes were clipped to their image, the share of visible points inside its boxes
    (the most the second stage can find), and its boxes against `truth` (gt_boxes')."""
    names = cfg["names"]
    categories = [ann.categories[i] for i in prediction["indices"]]
    ne = metrics.normalized_error(prediction["stage_xy"][-1], prediction["gt"], categories,
                                  names)["ne"]
    points = pipeline.own_keypoints(ann, names)
    visible = points[..., 2] == 1
    inside = crops.inside(points, boxes)
    return {"run": str(cfg["first_stage"]), "arch": first_cfg["arch"],
            "input_size": first_cfg["input_size"], "ne": ne,
            "boxes_clipped": int(np.sum(clipped)),
            "visible_points_in_box": float(inside[visible].mean()) if visible.any() else None,
            **box_errors(boxes, truth, cfg["crop"])}


def box_errors(boxes, truth, crop):
    """How a first stage's boxes differ from the ground truth's, against the training
    jitter: their side's ratio (10th, 50th, 90th percentiles), their centre's shift in
    sides of the true box (50th, 90th), and the share within the jitter's reach."""
    def side(b):
        return np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
    ratio = side(boxes) / side(truth)
    shift = np.abs((boxes[:, :2] + boxes[:, 2:]) / 2 - (truth[:, :2] + truth[:, 2:]) / 2)
    shift = shift.max(axis=1) / side(truth)
    low, high = crop["scale"]
    within = (ratio >= low) & (ratio <= high) & (shift <= crop["shift"])
    return {"box_side_ratio": [float(v) for v in np.percentile(ratio, [10, 50, 90])],
            "box_shift": [float(v) for v in np.percentile(shift, [50, 90])],
            "boxes_within_jitter": float(within.mean())}

