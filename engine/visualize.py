"""`run.py visualize --run RUN --image IMG`: what a trained run sees in any image."""
from pathlib import Path

import numpy as np

from data_tools import letterbox
from data_tools.errors import DataError, UsageError
from engine import pictures, run_eval, training
from engine.run_dir import RunDir


def load_run_model(run_path):
    """A run's model and codec with its best weights (last if no best), and its config.

    The model comes from config.json and only its weights from the checkpoint
    (see training.load_weights): a checkpoint swapped in from another run is refused.
    """
    run = RunDir(run_path)
    cfg = run.read_config()
    weights = run.best_weights if run.best_weights.is_file() else run.last_weights
    if not weights.is_file():
        raise UsageError(f"{run.path} has no checkpoint yet")
    training.set_precision(cfg["precision"])
    model, codec = training.build(cfg)
    training.load_weights(model, weights, f"the {cfg['category']} {cfg['arch']} model of "
                           f"{run.config_file} ({len(cfg['names'])} keypoints)")
    return run, cfg, model, codec


def main(args):
    run, cfg, model, codec = load_run_model(args.run)
    try:
        original = letterbox.read_image(args.image)
    except letterbox.ImageError as e:
        raise DataError(e.reason, args.image) from None
    pixels, transform = letterbox.letterbox(original, cfg["input_size"])
    outputs = run_eval.as_list(model.predict_on_batch(pixels[None].astype(np.float32) / 255))
    names = cfg["names"]
    xy, conf = codec.decode(outputs)
    out = Path(args.out) if args.out else run.heatmaps
    stem = Path(args.image).stem
    title = f"{cfg['category']} {cfg['arch']} · {Path(args.image).name}"
    maps = codec.stage_maps(outputs)
    if maps is None:
        stage_xy = [p for p, _ in codec.decode_stages(outputs)]
        written = [pictures.points_grid(out / f"{stem}_stages.png", pixels[None], stage_xy,
                                        None, names, title=title)]
    else:
        label = "stack" if cfg["arch"] == "hourglass" else "stage"
        written = [
            pictures.stage_grid(out / f"{stem}_stages.png", pixels[None], maps, None, xy,
                                None, names, title=title, stage_label=label),
            pictures.keypoint_panel(out / f"{stem}_keypoints.png", pixels, maps[-1][0], names,
                                    pred_xy=xy[0], title=title),
        ]
    points = letterbox.to_original(xy[0], transform)
    for name, (x, y), c in zip(names, points, conf[0]):
        print(f"{name:<18} {x:8.1f} {y:8.1f}   confidence {c:.3f}")
    for path in written:
        print(f"wrote {path}")
    return 0
