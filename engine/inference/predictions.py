"""A model's (or a test-time ensemble's) points over a dataset, in original pixels."""
import numpy as np

from data_tools import letterbox
from engine.plugin.codec import stage_arrays


def to_original(xy, transforms):
    return np.stack([letterbox.to_original(p, t) for p, t in zip(xy, transforms)])


def predict(model, codec, meta_dataset):
    """Run the model over a `with_meta` dataset.

    Returns per-stage keypoints in original pixels (list of (N, K, 2)), per-stage
    confidences, the ground truth (N, K, 3) in original pixels, the images'
    transforms and indices, in dataset order.
    """
    return collect(lambda images: codec.decode_stages(
        stage_arrays(model.predict_on_batch(images))), meta_dataset)


def collect(stages_of, meta_dataset):
    """`predict`'s figures from any `stages_of(images) -> [(xy, conf) per stage]` in input
    pixels (a model and its codec, or a test-time ensemble's one merged answer)."""
    stage_xy, stage_conf, gt, transforms, indices = [], [], [], [], []
    for batch in meta_dataset:
        batch_transforms = np.asarray(batch["transform"])
        for s, (xy, conf) in enumerate(stages_of(np.asarray(batch["image"]))):
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
