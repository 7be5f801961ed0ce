"""`run.py visualize --run RUN --image IMG`: what a trained run sees in any image;
`--keypoint NAME` and `--worst N` look at its validation images (engine/pictures/inspection.py).

The image is read as a viewer shows it, as `predict --images` reads photos (EXIF
orientation applied, transparency on white: data_tools/photos.py), and letterboxed by OpenCV.
A second stage's first stage finds the garment's box first; the pictures show that box on
the photo beside the second stage's maps of its crop.
"""
from pathlib import Path

import numpy as np

from data_tools import crops, letterbox, metrics, photos
from data_tools.errors import DataError, UsageError
from engine.inference import two_stage
from engine.pictures import stages
from engine.plugin import models, registry
from engine.plugin.codec import stage_arrays
from engine.runs.run_dir import RunDir


def main(args):
    if args.image is None:
        return inspect_validation(args)
    run, cfg, model, codec = models.load_run(args.run)
    try:
        original = photos.read_photo(args.image)
    except letterbox.ImageError as e:
        raise DataError(e.reason, args.image) from None
    context = None
    if two_stage.first_stage_of(cfg):
        box, context = first_stage_box(cfg, original)
        pixels, transform = crops.crop(original, box, cfg["input_size"])
    else:
        pixels, transform = letterbox.letterbox(original, cfg["input_size"])
    outputs = stage_arrays(model.predict_on_batch(pixels[None].astype(np.float32) / 255))
    names = cfg["names"]
    xy, conf = codec.decode(outputs)
    out = Path(args.out) if args.out else run.heatmaps
    stem = Path(args.image).stem
    title = f"{cfg['category']} {cfg['arch']} · {Path(args.image).name}"
    written = [
        stages.draw_stages(codec, out / f"{stem}_stages.png", pixels[None], outputs, None,
                           names, title=title,
                           stage_label=registry.get(cfg["arch"]).stage_noun, context=context),
        stages.draw_keypoints(codec, out / f"{stem}_keypoints.png", pixels, outputs, names,
                              title=title),
    ]
    points = letterbox.to_original(xy[0], transform)
    for name, (x, y), c in zip(names, points, conf[0]):
        print(f"{name:<18} {x:8.1f} {y:8.1f}   confidence {c:.3f}")
    for path in filter(None, written):  # a codec with points alone draws no keypoint panel
        print(f"wrote {path}")
    return 0


def first_stage_box(cfg, original):
    """A second stage's box on the photo, from its first stage's points, and the pictures'
    context: the letterboxed photo with the box drawn in its pixels."""
    from engine.inference import test_time
    first = test_time.load_ensemble([cfg["first_stage"]])
    pixels, transform = letterbox.letterbox(original, first.side)
    xy, _ = first.points(pixels[None] / np.float32(255))
    height, width = original.shape[:2]
    boxes, _ = crops.garment_boxes(letterbox.to_original(xy, transform), [(width, height)],
                                   cfg["crop"]["margin"])
    shown, shown_transform = letterbox.letterbox(original, cfg["input_size"])
    corners = letterbox.to_input(boxes[0].reshape(2, 2), shown_transform).reshape(1, 4)
    return boxes[0], (shown[None], corners)


def inspect_validation(args):
    """--keypoint NAME or --worst N, on the run's validation images."""
    from engine.inference import trained_run
    from engine.pictures import inspection
    if args.worst is not None and args.worst < 1 or args.images < 1:
        raise UsageError("--worst and --images must be at least 1")
    cfg = RunDir(args.run).read_config()
    if args.keypoint is not None and args.keypoint not in cfg["names"]:
        raise UsageError(f"--keypoint {args.keypoint}: a {cfg['category']} run has "
                         f"{', '.join(cfg['names'])}")
    loaded = trained_run.load(args.run)
    cfg, codec, val = loaded.cfg, loaded.codec, loaded.val
    figures = inspection.collect(loaded.model, codec, loaded.meta_ds)
    out = Path(args.out) if args.out else loaded.run.heatmaps
    if args.keypoint is not None:
        path, errors = inspection.keypoint(out, cfg, codec, figures, val, args.keypoint,
                                           args.images)
        for image_id, per_stage in errors.items():
            print(f"{image_id}: NE per stage " + " ".join(f"{v:.3f}" for v in per_stage))
        print(f"wrote {path}")
        return 0
    paths, rows = inspection.worst(out, cfg, codec, figures, val, args.worst)
    for row in rows:
        far = row[f"beyond_{metrics.FAR}"]
        print(f"{row['image_id']}: NE {row['ne']:.3f}, per stage "
              + " ".join(f"{v:.3f}" for v in row["ne_per_stage"])
              + (f"; beyond {metrics.FAR}: {', '.join(far)}" if far else ""))
    for path in paths:
        print(f"wrote {path}")
    return 0
