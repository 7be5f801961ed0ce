"""`run.py export`: a trained run as a file that other runtimes load, checked in that runtime.

    run folder → model (config.json + best weights, built in float32) [+ codec.decode_graph]
    → Keras' Model.export (SavedModel; ONNX through tf2onnx; LiteRT through TFLiteConverter)
    → the file, loaded by its own runtime and compared with Keras on a few validation images
(the exporting and the runtimes: engine/inference/exported.py)

What the file takes: the letterboxed image as training saw it, float32 (N, S, S, 3), RGB in
[0, 1]: the longer side scaled to S and centred on grey padding (128/255), as
data_tools/letterbox.py makes it. What it gives: the last stage's output (heatmaps
(N, M, M, K), or the regression's rows); with --decode, (N, K, 3) rows x, y in input pixels
and a confidence, decoded in the graph as `predict` decodes them (the argmax decoder).
PATH.json beside the file records the input size, the keypoint names, the letterbox and
the output, so a user needs nothing of this package to use it.
"""
import sys
from pathlib import Path

import numpy as np

from data_tools import letterbox, pipeline
from data_tools.errors import DataError, UsageError
from engine.inference import trained_run
from engine.inference.exported import (check_packages, exportable, FORMATS, quiet_stderr,
                                       runtime, write)
from engine.plugin import models
from engine.runs import data_source
from engine.scoring.score_report import write_json

CHECK_IMAGES = 4
# The largest difference from Keras that the check accepts: raw outputs, relative to their
# largest magnitude (float32 rounding in another runtime's kernels); decoded points in
# input pixels and their confidences.
RAW_TOLERANCE = 1e-4
POINT_TOLERANCE = 0.01
CONFIDENCE_TOLERANCE = 1e-4


def check_images(cfg, count=CHECK_IMAGES):
    """(images float32 (n, S, S, 3), where they come from): the first validation images of
    the run, letterboxed by its own reader; noise if its data folder is gone."""
    try:
        _, val = trained_run.split_of(cfg)
    except DataError:
        rng = np.random.default_rng(0)
        size = cfg["input_size"]
        return (rng.random((count, size, size, 3), np.float32),
                f"{count} random images (the run's data folder {cfg['data_dir']} is gone)")
    dataset = pipeline.make_dataset(val.select(range(min(count, len(val)))), cfg["names"],
                                    cfg["input_size"], count, with_meta=True,
                                    augmenter=data_source.augmenter_of(cfg))
    images = np.asarray(next(iter(dataset))["image"], np.float32)
    return images, f"{len(images)} validation images"


def compare(expected, got, decode):
    """(within the tolerance?, the line that says the largest difference and the
    tolerance) of the file's output against Keras'."""
    expected, got = np.asarray(expected, np.float32), np.asarray(got, np.float32)
    if expected.shape != got.shape:
        raise UsageError(f"the exported file gives shape {got.shape}, Keras {expected.shape}")
    if decode:
        points = float(np.abs(expected[..., :2] - got[..., :2]).max())
        confidence = float(np.abs(expected[..., 2] - got[..., 2]).max())
        ok = points <= POINT_TOLERANCE and confidence <= CONFIDENCE_TOLERANCE
        return ok, (f"largest difference from Keras: {points:.3g} px in the keypoints "
                    f"(tolerance {POINT_TOLERANCE}), {confidence:.3g} in the confidences "
                    f"(tolerance {CONFIDENCE_TOLERANCE})")
    scale = max(float(np.abs(expected).max()), 1e-12)
    difference = float(np.abs(expected - got).max())
    return difference <= RAW_TOLERANCE * scale, (
        f"largest difference from Keras: {difference:.3g} ({difference / scale:.2g} of the "
        f"output's largest value {scale:.3g}; tolerance {RAW_TOLERANCE:g} of it)")


# --- the description beside the file -----------------------------------------------------------
def description(run, cfg, fmt, decode, net):
    size = cfg["input_size"]
    return {
        "format": fmt,
        "run": str(run.path.resolve()),
        "arch": cfg["arch"],
        "category": cfg["category"],
        "keypoints": list(cfg["names"]),
        "input": {"shape": [None, size, size, 3], "dtype": "float32",
                  "pixels": "RGB divided by 255",
                  "letterbox": f"scale the longer side to {size}, centre it on a {size} x "
                               f"{size} canvas of grey {letterbox.PAD_VALUE}: "
                               "x_input = (x + 0.5) * scale - 0.5 + left"},
        "output": ({"shape": [None, len(cfg["names"]), 3],
                    "rows": "x, y in input pixels (pixel centres at integers), confidence"}
                   if decode else
                   {"shape": [None, *net.output.shape[1:]],
                    "what": "the last stage's raw output"}),
        **second_stage_note(cfg),
    }


def second_stage_note(cfg):
    """What a caller of a second stage's file must do first: crop the garment's box."""
    if not cfg.get("first_stage"):
        return {}
    margin = cfg["crop"]["margin"]
    return {"second_stage": {
        "first_stage": cfg["first_stage"],
        "note": "this file is the second stage only: its input is not the whole image but "
                "the crop of the garment's box, letterboxed as above with the box in place of "
                "the image. The box: the square around the first stage's keypoints (export "
                f"that run too), widened by {margin:g} of its side on every side, cut to the "
                "image; x_input = (x - x0) * scale - 0.5 + pad, scale = size / the box's "
                "longer side (data_tools/crops.py)",
        "margin": margin}}


def description_path(out):
    out = Path(out)
    return out.with_name(out.name + ".json")


def main(args):
    if args.format not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}")
    check_packages(args.format)
    out = Path(args.out)
    suffix = FORMATS[args.format][1]
    if suffix and out.suffix != suffix:
        raise UsageError(f"--format {args.format} writes a {suffix} file: --out must end "
                         f"in {suffix}")
    if out.exists() and (out.is_dir() != (args.format == "saved_model")):
        raise UsageError(f"--out {out} exists and is a {'folder' if out.is_dir() else 'file'}")
    if out.is_dir() and any(out.iterdir()) and not (out / "saved_model.pb").is_file():
        raise UsageError(f"--out {out} is a folder that holds no SavedModel: it is not "
                         f"replaced (name a new folder)")
    # Exported in float32 whatever the run trained in: the runtimes it goes to (a CPU, a
    # phone) may lack float16 kernels, and a mixed-precision run's weights are float32.
    run, cfg, model, codec = models.load_run(args.run, precision="float32")
    try:
        net = exportable(model, codec, args.decode)
    except ValueError as e:  # a decoder that has no graph form
        raise UsageError(f"--decode: {str(e).splitlines()[0]}") from None
    images, source = check_images(cfg)
    expected = np.asarray(net(images, training=False))
    try:
        write(net, args.format, out)
    except (ValueError, RuntimeError, ImportError, OSError) as e:
        raise UsageError(f"the {args.format} export failed: {str(e).splitlines()[0]}") from None
    write_json(description_path(out), description(run, cfg, args.format, args.decode, net))
    with quiet_stderr():
        got = runtime(args.format, out)(images)
    ok, line = compare(expected, got, args.decode)
    print(f"wrote {out} ({args.format}{', decoding included' if args.decode else ''}) and "
          f"{description_path(out).name}")
    print(f"checked with its own runtime on {source}: {line}")
    if cfg.get("first_stage"):
        print(f"this is a second stage: it takes garment crops, not whole images; its first "
              f"stage is {cfg['first_stage']} (the crop is in {description_path(out).name})")
    if not ok:
        print(f"error: the exported file does not match the Keras model (kept at {out} to "
              f"inspect)", file=sys.stderr)
        return 1
    return 0
