"""How bimodal a heatmap run is, on its validation split (the measurement of issue 13).

    python docs/results/hourglass-peaks.py runs/skirt-hourglass [RUN ...]

For each run: val NE of the last stage, the share of visible keypoints farther than 0.5
(normalised) from the truth, and the share of visible keypoints whose last-stage map has a
second peak: a local maximum of at least half the map's maximum, more than 3 cells from it.
"""
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from data_tools import metrics, pipeline  # noqa: E402
from engine.plugin import models  # noqa: E402
from engine.plugin.codec import stage_arrays  # noqa: E402
from engine.runs import data_source  # noqa: E402
from engine.scoring import run_eval  # noqa: E402

FAR = metrics.FAR
SECOND, APART = 0.5, 3


def has_second_peak(one_map):
    top = one_map.max()
    if top <= 0:
        return False
    peaks = (one_map == ndimage.maximum_filter(one_map, size=3)) & (one_map >= SECOND * top)
    y0, x0 = np.unravel_index(one_map.argmax(), one_map.shape)
    ys, xs = np.nonzero(peaks)
    return bool(np.any(np.hypot(ys - y0, xs - x0) > APART))


def measure(path):
    _, cfg, model, codec = models.load_run(path)
    train, val = data_source.split(cfg, data_source.load_annotations(cfg))
    dataset = pipeline.make_dataset(val, cfg["names"], cfg["input_size"], cfg["batch_size"],
                                    with_meta=True, augmenter=data_source.augmenter_of(cfg))
    prediction = run_eval.predict(model, codec, dataset)
    categories = [val.categories[i] for i in prediction["indices"]]
    xy, gt = prediction["stage_xy"][-1], prediction["gt"]
    within = metrics.pck(xy, gt, categories, cfg["names"], thresholds=(FAR,))[str(FAR)]
    maps = np.concatenate([stage_arrays(model.predict_on_batch(batch["image"]))[-1]
                           for batch in dataset])
    second = np.array([[has_second_peak(m[..., k]) for k in range(m.shape[-1])] for m in maps])
    return {"run": str(path),
            "val_ne": round(metrics.normalized_error(xy, gt, categories, cfg["names"])["ne"], 4),
            f"beyond_{FAR}": round(1 - within, 3),
            "second_peak": round(float(second[gt[..., 2] == 1].mean()), 3)}


if __name__ == "__main__":
    for run in sys.argv[1:]:
        print(json.dumps(measure(run)), flush=True)
