#!/usr/bin/env python
"""fashion keypoints: one command line for data, training, evaluation and pictures.

    python run.py --arch cpm --category dress          # train (the default verb)
    python run.py synth --out DIR --images-per-category N --seed S [--shapes SHAPES.json]
    python run.py fit-shapes --csv train.csv --out SHAPES.json [--data-dir DIR]
    python run.py check-data --data-dir DIR [--against DIR_OR_CSV]
    python run.py evaluate --pred PRED.csv --gt GT.csv [--json OUT.json]
    python run.py evaluate --run RUN [--run RUN ...] [--gt GT.csv [--data-dir DIR]] [--flip] [--scales S ...] [--decode D]
    python run.py visualize --run RUN --image IMG [--out DIR]
    python run.py predict --run RUN [--run RUN ...] (--test-csv CSV | --images DIR) --out SUB.csv [--flip] [--scales S ...] [--draw]
    python run.py compare --category C [--data-dir DIR] [--preset P] [--epochs N] [--seeds N] [--lines NAME ...] [--train] [--runs-dir runs] --out DIR
    python run.py export --run RUN --format saved_model|onnx|litert [--decode] --out PATH
    python run.py bench --arch A --preset P [--steps N] [--precision P ...] [--batch-size N] [--exported onnx litert] [--json OUT]

Bad input ends with one line on stderr and exit status 2, never a traceback.
"""
import argparse
import os
import signal
import sys

CATEGORIES = ("blouse", "outwear", "dress", "skirt", "trousers", "all")
VERBS = ("train", "synth", "fit-shapes", "check-data", "evaluate", "visualize", "predict", "compare", "bench",
         "export")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
from data_tools.augment_settings import AUGMENTERS  # noqa: E402 (no TensorFlow behind it)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and still exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def choices_of(option):
    """The values some method takes for `option`, where each method has a fixed set
    (its descriptor's `choices`), else None."""
    from engine.plugin import registry
    values = [v for m in registry.all_methods() for v in m.choices.get(option, ())]
    return tuple(dict.fromkeys(values)) or None


def decoders():
    """The --decode values some method's codec offers (the descriptors' `decoders`)."""
    from engine.plugin import registry
    return tuple(dict.fromkeys(d for m in registry.all_methods() for d in m.decoders))


def add_method_options(p):
    """One argument per option of method.OPTIONS; its help names the methods that take it."""
    from engine.plugin import registry
    from engine.plugin.method import OPTIONS
    for option, spec in OPTIONS.items():
        takers = [f"{m.name}: {', '.join(m.values_of(option))}" if m.values_of(option)
                  else m.name for m in registry.all_methods() if option in m.options]
        p.add_argument(f"--{option.replace('_', '-')}", type=spec.type, metavar=spec.metavar,
                       choices=choices_of(option),
                       help=f"{spec.help} [--arch {'; '.join(takers)}]")


def add_views_args(p):
    p.add_argument("--flip", action="store_true",
                   help="test-time augmentation: merge with the mirrored image's prediction")
    p.add_argument("--scales", type=float, nargs="+", default=[1.0], metavar="S",
                   help="test-time scales: each run also sees the image S times its input "
                   "size (e.g. 0.75 1 1.25); the maps (or points) are merged in the "
                   "original frame")


def add_decode_arg(p):
    p.add_argument("--decode", choices=decoders(),
                   help="heatmap methods: how maps become points (default: the run's own, "
                   "argmax with a quarter-cell shift; dark: DARK's Taylor step)")


def add_train_args(p):
    from engine.plugin.presets import PRESET_NAMES
    from engine.plugin.registry import METHODS
    from engine.training.strategy import STRATEGIES
    p.add_argument("--arch", choices=METHODS, default="cpm")
    p.add_argument("--category", choices=CATEGORIES, default="dress")
    p.add_argument("--data-dir", help="a FashionAI folder (default: data/fashionai if "
                   "present, else a synthetic set generated once in data/synthetic)")
    p.add_argument("--preset", choices=PRESET_NAMES, default="auto")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--out", default="runs", help="folder that holds the run folders")
    p.add_argument("--name", help="suffix of the run folder: <category>-<arch>-<name>")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input-size", type=int, metavar="N",
                   help="the side of the square network input in pixels; the maps follow "
                   "the method's stride (default: the preset's; refused where the method "
                   "cannot take it)")
    add_method_options(p)
    p.add_argument("--first-stage", metavar="RUN",
                   help="train a second stage on garment crops: at test time RUN (a run of "
                   "the same category and data) finds each garment's box on the whole image "
                   "(engine/inference/two_stage.py)")
    p.add_argument("--crop-jitter", type=float, metavar="J",
                   help="with --first-stage: training crops move by up to J of the box's "
                   "side and are scaled by 1 - 2J to 1 + 2J (default 0.05)")
    p.add_argument("--curriculum", action="store_true",
                   help="weight each image by how hard it was at the last epoch's end: "
                   "hard images count less early on and more later, none is dropped "
                   "(Ada-Batch, engine/training/curriculum.py)")
    p.add_argument("--weights", default="none", metavar="W",
                   help="none (from scratch, the default), imagenet (a keras.applications "
                   "trunk's ImageNet weights), or a run folder or .weights.h5 file to start "
                   "from: fine-tuning, e.g. on your own data after the synthetic set; "
                   "keypoints are carried over by name, so a --category all run can start "
                   "a dress run")
    p.add_argument("--precision", choices=("auto", *PRECISIONS), default="auto")
    p.add_argument("--resume", action="store_true",
                   help="continue the run folder's training from its last finished epoch")
    p.add_argument("--cache", action="store_true",
                   help="cache letterboxed images in HDF5 so later epochs skip JPEG decoding")
    p.add_argument("--augmenter", choices=AUGMENTERS, default="tf",
                   help="tf: read, letterbox and augment in TensorFlow ops, which scale with "
                   "cores (default); imgaug: OpenCV's letterbox and imgaug, in Python")
    p.add_argument("--strict", action="store_true",
                   help="stop before training if any image is missing or unreadable")
    p.add_argument("--strategy", choices=STRATEGIES,
                   default="auto", help="tf.distribute: mirrored over this machine's GPUs, "
                   "multiworker over the machines in TF_CONFIG (auto: multiworker if TF_CONFIG "
                   "names a cluster, mirrored with 2+ GPUs, else one device); --batch-size is "
                   "the global batch")
    p.add_argument("--fast", action="store_true",
                   help="let the input pipeline hand out images as they are ready (same "
                   "images and augmentations, order not reproducible)")


def make_parser():
    parser = Parser(prog="run.py", description=__doc__.split("\n")[0])
    verbs = parser.add_subparsers(dest="verb", parser_class=Parser)

    add_train_args(verbs.add_parser("train", help="train a model (the default verb)"))

    p = verbs.add_parser("synth", help="write a synthetic FashionAI-format dataset")
    p.add_argument("--out", required=True)
    p.add_argument("--images-per-category", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shapes", help="the shape model to draw garments from (from fit-shapes; "
                   "default: the one fitted to the real FashionAI training labels)")

    p = verbs.add_parser("fit-shapes", help="fit the synthetic generator's shape model to a "
                         "FashionAI train.csv (labels only; images optional)")
    p.add_argument("--csv", required=True, help="a FashionAI annotation CSV")
    p.add_argument("--data-dir", help="folder the CSV's image ids are relative to: each "
                   "image's size is read from it (default: every image taken as 512x512)")
    p.add_argument("--out", required=True, help="the model file to write (JSON)")

    p = verbs.add_parser("check-data", help="validate a FashionAI folder and print its "
                         "label statistics")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--csv", help="annotation CSV (default DIR/Annotations/train.csv)")
    p.add_argument("--against", help="a second FashionAI folder or annotation CSV: its "
                   "statistics are printed beside these")

    p = verbs.add_parser("evaluate", help="Normalized Error of predictions or of a run")
    p.add_argument("--pred", help="predicted CSV (FashionAI format): scored on the "
                   "categories it covers")
    p.add_argument("--gt", help="ground-truth CSV (FashionAI format); with --run, the "
                   "runs predict its images (as predict would) and are scored on them")
    p.add_argument("--run", action="append",
                   help="a run folder: re-evaluate it on its validation split, or with --gt "
                   "on those answers; repeat for an ensemble of runs of one category and data "
                   "(figures only: metrics.json keeps the run's own, as with --flip, --scales "
                   "and --decode), or with --gt for runs of several categories")
    p.add_argument("--data-dir", help="with --gt: the folder its image ids are relative to "
                   "(default: the CSV's folder, or DIR for DIR/Annotations/GT.csv)")
    p.add_argument("--json", help="also write the figures to this JSON file")
    add_views_args(p)
    add_decode_arg(p)

    p = verbs.add_parser("visualize", help="stage-by-stage pictures of a run: on one image, "
                         "one keypoint through the stages, or the worst validation images")
    p.add_argument("--run", required=True)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--image", help="any photo: every keypoint's maps, stage by stage")
    what.add_argument("--keypoint", metavar="NAME",
                      help="that keypoint's map and point at every stage, on validation "
                      "images where it is visible")
    what.add_argument("--worst", type=int, metavar="N",
                      help="the N validation images of largest NE, stage by stage, with "
                      "their errors per keypoint and per stage")
    p.add_argument("--images", type=int, default=4, metavar="N",
                   help="with --keypoint: how many validation images (default 4)")
    p.add_argument("--out", help="folder for the PNGs (default RUN/heatmaps)")

    p = verbs.add_parser("predict", help="keypoints of test images as a FashionAI submission")
    p.add_argument("--run", action="append", required=True,
                   help="a run folder; repeat for several categories (a category's own run "
                   "wins over a run trained on all); several runs of one category are an "
                   "ensemble: maps averaged where they share a grid, else points weighted "
                   "by certainty")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--test-csv", help="test.csv (image_id,image_category)")
    source.add_argument("--images", help="a folder: every .jpg/.jpeg/.png in it")
    p.add_argument("--data-dir", help="folder the test CSV's image ids are relative to "
                   "(default: the CSV's folder, or DIR for DIR/Annotations/test.csv)")
    p.add_argument("--out", required=True, help="the submission CSV to write")
    add_views_args(p)
    p.add_argument("--category", choices=CATEGORIES[:-1],
                   help="the category of --images (default: the run's); with --test-csv, "
                   "predict only that category's rows")
    p.add_argument("--draw", action="store_true",
                   help="also draw each image's keypoints into SUB_pictures/ next to --out")
    p.add_argument("--batch-size", type=int, default=32)
    add_decode_arg(p)

    from engine.plugin.presets import PRESET_NAMES
    from engine.plugin.registry import METHODS
    p = verbs.add_parser("compare", help="every method side by side on one category: "
                         "report.md and plots")
    p.add_argument("--category", choices=CATEGORIES, required=True)
    p.add_argument("--runs-dir", default="runs", help="folder that holds the run folders "
                   "<category>-<arch>")
    p.add_argument("--train", action="store_true",
                   help="train the methods that have no run yet, like the runs already there")
    p.add_argument("--data-dir", help="the runs' data (checked against their fingerprint); "
                   "with --train, the data to train on")
    p.add_argument("--preset", choices=PRESET_NAMES,
                   help="the runs' preset (checked); with --train, the one to train with")
    p.add_argument("--epochs", type=int, help="with --train: epochs of the runs it trains")
    p.add_argument("--lines", nargs="+", default=[], metavar="NAME",
                   help="also compare the runs <category>-<method>-NAME[-seed<i>] of the "
                   "methods that have them: runs trained with --name NAME (another "
                   "--input-size, a --first-stage second stage); never trained here")
    p.add_argument("--methods", nargs="+", choices=METHODS, metavar="METHOD",
                   help="compare (and with --train, train) only these methods and their "
                   "variants (default: every method)")
    p.add_argument("--seeds", type=int, default=1,
                   help="runs per method, seed index i in <category>-<method>-seed<i> (the "
                   "first keeps <category>-<method>); the report gives mean ± sd over them")
    p.add_argument("--out", required=True, help="folder for report.md and the plots")

    p = verbs.add_parser("bench", help="images/s of the input pipeline and of the training "
                         "step, per precision, on this machine")
    p.add_argument("--arch", choices=METHODS, default="cpm")
    p.add_argument("--preset", choices=PRESET_NAMES, default="auto")
    p.add_argument("--category", choices=CATEGORIES, default="dress")
    p.add_argument("--steps", type=int, default=20, help="timed steps (after 3 warm-up steps)")
    p.add_argument("--rounds", type=int, default=3,
                   help="times each input pipeline is timed, taking turns; the best counts")
    p.add_argument("--precision", nargs="+", choices=PRECISIONS,
                   help="default: float32 and mixed_float16 on a GPU, float32 and "
                   "mixed_bfloat16 on a CPU")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--backbone", help="as for train (default: the preset's)")
    p.add_argument("--input-size", type=int, metavar="N", help="as for train (default: the "
                   "preset's)")
    p.add_argument("--data-dir", help="images for the pipeline part (default: as train)")
    p.add_argument("--exported", nargs="+", choices=("onnx", "litert"), metavar="FORMAT",
                   help="instead: the preset's model as `export --decode` writes it, timed "
                   "in each format's runtime (onnx, litert) on this CPU at batch 1 and 16")
    p.add_argument("--json", help="also write the figures to this JSON file")

    p = verbs.add_parser("export", help="a trained run as a SavedModel, ONNX or LiteRT file, "
                         "checked in that format's own runtime")
    p.add_argument("--run", required=True)
    p.add_argument("--format", required=True, choices=("saved_model", "onnx", "litert"))
    p.add_argument("--decode", action="store_true",
                   help="put the keypoint decoding in the file: it then maps a letterboxed "
                   "image to (K, 3) rows x, y, confidence in input pixels")
    p.add_argument("--out", required=True,
                   help="the file (.onnx, .tflite) or folder (saved_model) to write; "
                   "OUT.json beside it describes its input and output")
    return parser


def parse(argv):
    # `train` is the default verb: `run.py --arch cpm` means `run.py train --arch cpm`.
    if not argv or (argv[0] not in VERBS and argv[0] not in ("-h", "--help")):
        argv = ["train", *argv]
    args = make_parser().parse_args(argv)
    if args.verb == "evaluate" and not args.run and not (args.pred and args.gt):
        make_parser().error("evaluate needs --pred and --gt, or --run (and --gt to score it "
                            "on a labelled test set)")
    if args.verb == "evaluate" and args.run and args.pred:
        make_parser().error("evaluate takes --pred or --run, not both")
    return args


def dispatch(args):
    if args.verb == "synth":
        from data_tools import synth
        summary = synth.generate(args.out, args.images_per_category, seed=args.seed,
                                 shapes=args.shapes)
        print(f"wrote {summary['total_images']} images to {args.out} "
              f"(train.csv {sum(summary['train'].values())}, "
              f"test.csv {sum(summary['test'].values())})")
        return 0
    if args.verb == "fit-shapes":
        from data_tools import checks
        return checks.fit_shapes(args.csv, args.data_dir, args.out)
    if args.verb == "check-data":
        from data_tools import checks
        return checks.main(args.data_dir, args.csv, args.against)
    if args.verb == "evaluate":
        from engine.commands import evaluate
        return evaluate.main(args)
    if args.verb == "visualize":
        from engine.commands import visualize
        return visualize.main(args)
    if args.verb == "predict":
        from engine.commands import predict
        return predict.main(args)
    if args.verb == "compare":
        from engine.commands import compare
        return compare.main(args)
    if args.verb == "bench":
        from engine.commands import bench
        return bench.main(args)
    if args.verb == "export":
        from engine.commands import export
        return export.main(args)
    from engine.commands import train
    return train.main(args)


def import_tensorflow_quietly():
    """Import TensorFlow and probe for GPUs with the C++ start-up chatter (CUDA stubs, oneDNN) kept off stderr.

    Those lines are printed before TensorFlow's own log settings apply; Python errors
    raised by the import are still shown, once stderr is back.
    """
    from engine.inference.quiet import native_stderr_off
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_off():
        import tensorflow as tf
        # The first device query prints CUDA driver errors on machines without one.
        tf.config.list_physical_devices("GPU")


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    needs_tf = args.verb in ("train", "visualize", "predict", "compare", "export") or (
        args.verb == "evaluate" and args.run) or (
        # bench's training step runs under any Keras backend, e.g. JAX without TensorFlow
        args.verb == "bench" and os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow")
    if needs_tf:
        import_tensorflow_quietly()
    from data_tools.errors import DataError, UsageError
    from engine.training import interrupts
    # SIGTERM (kill, a batch scheduler) takes the same clean path as Ctrl-C, not an instant death.
    previous = interrupts.install()
    try:
        code = dispatch(args)
        interrupts.check()  # a signal whose exception was lost still ends the command as one
        return code
    except (DataError, UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        terminated = isinstance(e, interrupts.Terminated)
        what = "terminated (SIGTERM)" if terminated else "interrupted"
        if args.verb in ("train", "compare"):
            print(f"{what}: every finished epoch is saved in the run folder; --resume "
                  "continues from the last one", file=sys.stderr)
        else:
            print(f"{what}: stopped before the end", file=sys.stderr)
        return 128 + (signal.SIGTERM if terminated else signal.SIGINT)
    finally:
        interrupts.restore(previous)


if __name__ == "__main__":
    code = main()
    # TensorFlow 2.21 can hang or abort at interpreter shutdown while a tf.data
    # iterator with a numpy_function is alive; every file is written by now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
