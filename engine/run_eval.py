"""Evaluate a model on a validation split: NE per stage, PCK, the mean-shape floor.

Predictions are decoded per stage by the architecture's codec (input pixels),
mapped back through each image's letterbox to original pixels, and scored there,
exactly as a submission would be.
"""
import numpy as np

from data_tools import letterbox, pipeline
from engine import metrics


def as_list(outputs):
    """Keras returns a bare array for a one-output model; the engine wants a list."""
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def to_original(xy, transforms):
    return np.stack([letterbox.to_original(p, t) for p, t in zip(xy, transforms)])


def predict(model, codec, meta_dataset):
    """Run the model over a `with_meta` dataset.

    Returns per-stage keypoints in original pixels (list of (N, K, 2)), per-stage
    confidences, the ground truth (N, K, 3) in original pixels, the images'
    transforms and indices, in dataset order.
    """
    stage_xy, stage_conf, gt, transforms, indices = [], [], [], [], []
    for batch in meta_dataset:
        outputs = as_list(model.predict_on_batch(batch["image"]))
        batch_transforms = np.asarray(batch["transform"])
        for s, (xy, conf) in enumerate(codec.decode_stages(outputs)):
            if s == len(stage_xy):
                stage_xy.append([])
                stage_conf.append([])
            stage_xy[s].append(to_original(xy, batch_transforms))
            stage_conf[s].append(conf)
        gt.append(np.asarray(batch["orig_keypoints"]))
        transforms.append(batch_transforms)
        indices.append(np.asarray(batch["index"]))
    return {
        "stage_xy": [np.concatenate(s) for s in stage_xy],
        "stage_conf": [np.concatenate(s) for s in stage_conf],
        "gt": np.concatenate(gt),
        "transforms": np.concatenate(transforms),
        "indices": np.concatenate(indices),
    }


def training_layout(ann, names, input_size):
    """The training set's mean keypoint layout in the letterboxed frame, per category:
    {category: (K, 2) fractions of the side}, and under "all" the layout of every image.

    A joint model (`--category all`) is compared with each category's own mean
    shape, the floor a per-category model would have to beat. Image sizes come from
    the files' headers, so no image is decoded.
    """
    points = pipeline.own_keypoints(ann, names).astype(np.float64)
    for n, (width, height) in enumerate(letterbox.image_sizes(ann)):
        transform = letterbox.transform_for(int(height), int(width), input_size)
        present = points[n, :, 2] >= 0
        points[n, present, :2] = letterbox.to_input(points[n, present, :2], transform)
    categories = np.asarray(ann.categories)
    layouts = {c: metrics.mean_shape(points[categories == c], input_size)
               for c in set(ann.categories)}
    layouts["all"] = metrics.mean_shape(points, input_size)
    return layouts


def mean_shape_points(layout, categories, transforms, input_size):
    """The mean-shape baseline's (N, K, 2) points in original pixels: each image gets its
    category's training layout (the layout of all images if the category had none)."""
    points = np.stack([layout.get(c, layout["all"]) for c in categories]) * input_size
    return to_original(points, transforms)


def score(prediction, categories, names, layout, input_size):
    """metrics.json's figures from `predict`'s output; `layout` from `training_layout`."""
    gt = prediction["gt"]
    categories = [categories[i] for i in prediction["indices"]]
    per_stage = [metrics.normalized_error(xy, gt, categories, names)
                 for xy in prediction["stage_xy"]]
    result = dict(per_stage[-1])
    result["ne_per_stage"] = [r["ne"] for r in per_stage]
    result["pck"] = metrics.pck(prediction["stage_xy"][-1], gt, categories, names)
    baseline = mean_shape_points(layout, categories, prediction["transforms"], input_size)
    result["mean_shape_ne"] = metrics.normalized_error(baseline, gt, categories, names)["ne"]
    return result
