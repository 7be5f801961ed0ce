"""Looking inside a run on its validation images: one keypoint through the stages, and
the images it gets most wrong (`visualize --keypoint`, `visualize --worst`, and the
`worst.png` a training run writes beside metrics.json).

    validation images (a second stage's: its first stage's crops) → the model → every
    stage's output and points (original pixels) → each image's error per stage and keypoint
    → the pictures of its maps, or points for regression (stages.py), and a JSON of the figures
"""
import json

import numpy as np

from data_tools import atomic, metrics, pipeline
from engine.inference.predictions import collect as collect_points
from engine.pictures import draw, stages
from engine.plugin import registry
from engine.plugin.codec import stage_arrays


def collect(predictor, codec, meta_ds):
    """Every validation image's pixels, keypoints and the model's outputs per stage, with
    engine/predictions.collect's points per stage in original pixels."""
    images, keypoints, outputs = [], [], []

    def stages_of(batch_images):
        out = stage_arrays(predictor.predict_on_batch(batch_images))
        images.append((batch_images * 255).round().astype(np.uint8))
        outputs.append(out)
        return codec.decode_stages(out)
    figures = collect_points(stages_of, _keeping_keypoints(meta_ds, keypoints))
    figures["images"] = np.concatenate(images)
    figures["keypoints"] = np.concatenate(keypoints)
    figures["outputs"] = [np.concatenate([o[s] for o in outputs]) for s in range(len(outputs[0]))]
    return figures


def _keeping_keypoints(meta_ds, keep):
    for batch in meta_ds:
        keep.append(np.asarray(batch["keypoints"]))
        yield batch


def errors_per_stage(figures, val, names):
    """(N, stages, K) each visible keypoint's NE at each stage (NaN elsewhere)."""
    categories = [val.categories[i] for i in figures["indices"]]
    return np.stack([metrics.point_errors(xy, figures["gt"], categories, names)
                     for xy in figures["stage_xy"]], axis=1)


def _image_ne(errors):
    with np.errstate(invalid="ignore"):
        return np.nanmean(np.where(np.isfinite(errors), errors, np.nan), axis=-1)


def worst(folder, cfg, codec, figures, val, count, stem="worst"):
    """The `count` images of largest NE (last stage): FOLDER/STEM.png (their stage-by-stage
    pictures, each row naming the image, its NE and its keypoints beyond metrics.FAR),
    STEM_per_stage.png (each one's NE per stage) and STEM.json (every figure). Returns the
    paths and the figures."""
    names = cfg["names"]
    errors = errors_per_stage(figures, val, names)
    last = _image_ne(errors[:, -1])
    order = [int(n) for n in np.argsort(-np.nan_to_num(last, nan=-1.0), kind="stable")[:count]]
    stage_noun = registry.get(cfg["arch"]).stage_noun
    rows = []
    for n in order:
        beyond = [name for name, e in zip(names, errors[n, -1])
                  if np.isfinite(e) and e > metrics.FAR]
        rows.append({"image_id": val.image_ids[figures["indices"][n]],
                     "ne": _float(last[n]),
                     "ne_per_stage": [_float(v) for v in _image_ne(errors[n])],
                     "ne_per_keypoint": {name: _float(e) for name, e in zip(names, errors[n, -1])
                                         if np.isfinite(e)},
                     f"beyond_{metrics.FAR}": beyond})
    # Short enough for a row label; the names of the far keypoints are in STEM.json.
    labels = [f"{r['image_id'].split('/')[-1]} · NE {r['ne']:.3f} · "
              f"{len(r[f'beyond_{metrics.FAR}'])} beyond {metrics.FAR}" for r in rows]
    picture = stages.draw_stages(codec, folder / f"{stem}.png", figures["images"][order],
                                 [o[order] for o in figures["outputs"]],
                                 figures["keypoints"][order], names,
                                title=f"{cfg['category']} {cfg['arch']}: the {len(order)} "
                                      f"validation images of largest NE",
                                stage_label=stage_noun, row_labels=labels,
                                shown=pipeline.own_mask([val.categories[figures["indices"][n]]
                                                         for n in order], names))
    curve = draw.error_per_stage(folder / f"{stem}_per_stage.png",
                                 [r["ne_per_stage"] for r in rows],
                                 [r["image_id"].split("/")[-1] for r in rows], stage_noun,
                                 title=f"NE per {stage_noun} of the worst images")
    table = folder / f"{stem}.json"
    atomic.write_text(table, json.dumps(rows, indent=2) + "\n")
    return [picture, curve, table], rows


def keypoint(folder, cfg, codec, figures, val, name, count):
    """Keypoint `name` through the stages on the first `count` validation images where it
    is visible: FOLDER/keypoint_NAME.png. Returns its path and each image's error per stage."""
    names = cfg["names"]
    k = names.index(name)
    errors = errors_per_stage(figures, val, names)[:, :, k]
    chosen = [n for n in range(len(errors)) if np.isfinite(errors[n]).all()][:count]
    ids = [val.image_ids[figures["indices"][n]] for n in chosen]
    labels = [f"{i.split('/')[-1]} · NE {errors[n, -1]:.3f}" for i, n in zip(ids, chosen)]
    path = stages.draw_keypoint_stages(
        codec, folder / f"keypoint_{name}.png", figures["images"][chosen],
        [o[chosen] for o in figures["outputs"]], figures["keypoints"][chosen], k, name,
        title=f"{cfg['category']} {cfg['arch']}: {name} at every "
              f"{registry.get(cfg['arch']).stage_noun}",
        stage_label=registry.get(cfg["arch"]).stage_noun, row_labels=labels)
    return path, {i: [_float(v) for v in errors[n]] for i, n in zip(ids, chosen)}


def _float(value):
    return None if value is None or not np.isfinite(value) else float(value)
