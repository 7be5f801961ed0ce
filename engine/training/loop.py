"""One training loop for every method.

    Options → config (preset + overrides) → data folder → validated annotations
    → train/val split → tf.data (codec.encode) → model.fit (precision, schedule,
    callbacks) → run folder

`train(options)` is the whole job; `run.py train` and `compare` (for a method that has
no run yet) both call it. Devices, precision and run folders are decided here and in the
engine modules it calls, never in a method's folder.
"""
import dataclasses
import datetime
import math
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from data_tools import pipeline, schema
from data_tools.errors import UsageError
from engine.inference import test_time, two_stage
from engine.plugin import models, presets
from engine.plugin.method import OPTIONS
from engine.runs import data_source
from engine.runs.run_dir import fresh_path, run_name, RunDir
from engine.scoring import run_eval
from engine.scoring.score_report import report_lines
from engine.training import machine as machine_lib, start_weights, strategy as strategy_lib


@dataclasses.dataclass
class Options:
    """What `run.py train` takes, with its defaults; None means "the preset's"."""
    arch: str = "cpm"
    category: str = "dress"
    data_dir: str = None
    preset: str = "auto"
    epochs: int = None
    batch_size: int = None
    lr: float = None
    out: str = "runs"
    name: str = None
    seed: int = 0
    input_size: int = None
    # {option of method.OPTIONS: value}, e.g. {"loss": "rle"}; None or absent: the preset's
    method_options: dict = dataclasses.field(default_factory=dict)
    first_stage: str = None
    crop_jitter: float = None
    curriculum: bool = False
    weights: str = "none"
    precision: str = "auto"
    resume: bool = False
    cache: bool = False
    augmenter: str = "tf"
    strict: bool = False
    strategy: str = "auto"
    fast: bool = False

    @classmethod
    def from_args(cls, args):
        """The options of a parsed `run.py train` command line."""
        given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
                 if f.name != "method_options"}
        return cls(**given, method_options={o: getattr(args, o) for o in OPTIONS})


# --- configuration -------------------------------------------------------------------
def new_config(options, gpu):
    """The resolved config of a new run: the preset's sizes for the method, then the options."""
    preset = presets.pick(options.preset, gpu)
    if options.preset == "auto":
        print(f"preset auto → {preset} ({'a GPU' if gpu else 'no GPU'} found)", flush=True)
    overrides = presets.method_overrides(options.arch, **options.method_options)
    cfg = presets.resolve(preset, options.arch, {
        "epochs": options.epochs, "batch_size": options.batch_size, "lr": options.lr,
        "input_size": options.input_size, **overrides})
    cfg["weights"] = options.weights
    cfg["precision"] = models.pick_precision(options.precision, gpu)
    cfg.update(category=options.category, seed=options.seed, cache=options.cache,
               augmenter=options.augmenter,
               names=list(schema.keypoint_names(options.category)),
               val_fraction=data_source.VAL_FRACTION,
               split_rule=pipeline.SPLIT_RULE)
    for key in ("epochs", "batch_size"):
        if cfg[key] < 1:
            raise UsageError(f"--{key.replace('_', '-')} must be at least 1")
    hard = cfg.get("hard_keypoints")
    if hard is not None and not 1 <= hard <= len(cfg["names"]):
        raise UsageError(f"--hard-keypoints must be between 1 and {len(cfg['names'])} (the "
                         f"keypoints of {options.category}), got {hard}")
    cfg["curriculum"] = options.curriculum
    if options.input_size is not None or options.method_options.get("features") is not None:
        models.check_buildable(cfg, "--input-size" if options.input_size else "--features")
    if options.first_stage:
        add_first_stage(cfg, options)
    elif options.crop_jitter is not None:
        raise UsageError("--crop-jitter goes with --first-stage: a one-stage run sees whole images")
    return cfg


def add_first_stage(cfg, options):
    """A second stage's config: its first run (checked now) and the crop's settings."""
    two_stage.check_first_stage(options.first_stage, options.category, cfg["names"])
    if options.cache or options.augmenter != "tf":
        raise UsageError("--first-stage trains on garment crops, which the tf augmenter reads "
                         "from the original images: it takes neither --cache nor "
                         "--augmenter imgaug")
    cfg["first_stage"] = str(Path(options.first_stage).resolve())
    cfg["crop"] = two_stage.crop_settings(options.crop_jitter)


def open_run(options, gpu):
    """(run folder, config, StartWeights or None): a fresh one, or the existing one with
    --resume. --weights RUN is checked and read now, before any folder is made."""
    if options.resume:
        path = Path(options.out) / run_name(options.category, options.arch, options.name)
        run = RunDir(path)
        if not path.is_dir() or run.read_state() is None:
            raise UsageError(f"--resume: {path} has no finished epoch to resume from")
        cfg = run.read_config()
        if options.epochs is not None:
            cfg["epochs"] = options.epochs
        return run, cfg, None
    cfg = new_config(options, gpu)
    start = None
    if start_weights.is_run_weights(options.weights):
        start = start_weights.prepare(options.weights, cfg)
        cfg["weights"] = str(Path(options.weights).resolve())
        cfg["weights_carried"] = start.record()
    run = RunDir(fresh_path(options.out, options.category, options.arch, options.name))
    return run, cfg, start


# --- the run ------------------------------------------------------------------------------
def train(options):
    """Train one run as `options` says; returns the exit status (0, or 1 after a NaN loss)."""
    placement = strategy_lib.make(options.strategy)  # before any other TensorFlow op
    gpu = models.has_gpu()
    source, cfg, start = open_run(options, gpu)
    if cfg.get("curriculum") and placement.replicas > 1:
        raise UsageError("--curriculum trains on one device: its per-image weights are "
                         "measured and set between epochs by this process alone")
    if placement.is_chief:
        return run_training(options, placement, run=source, source=source, cfg=cfg,
                            start=start)
    # Every worker computes what the chief computes (scores, pictures), so all of them
    # take the same decisions; only the chief's files are kept.
    scratch = RunDir(tempfile.mkdtemp(prefix="fashion-worker-"))
    try:
        return run_training(options, placement, run=scratch, source=source, cfg=cfg,
                            start=start)
    finally:
        shutil.rmtree(scratch.path, ignore_errors=True)


def run_training(options, placement, run, source, cfg, start=None):
    """Train into `run`; with --resume, continue from the run folder `source`; a new run
    starts from `start`'s weights (--weights RUN) if given.

    They are the same folder, except on a multi-worker run's other workers, which
    write into a temporary folder and resume from the chief's (a shared file system).
    """
    if cfg.get("data_dir"):  # a resumed run keeps its data folder
        data_dir = data_source.check_layout(cfg["data_dir"])
    else:
        data_dir = data_source.resolve(options.data_dir, cfg["synthetic_images_per_category"],
                                       presets.DEFAULT_SYNTHETIC_IMAGES, seed=0)
    cfg["data_dir"] = str(Path(data_dir).resolve())
    # The data is checked before the run folder is made, so bad data leaves no empty folder.
    ann = data_source.load_annotations(cfg, strict=options.strict, run=run)
    train, val = data_source.split(cfg, ann)
    cfg.update(train_images=len(train), val_images=len(val),
               data_fingerprint=pipeline.dataset_fingerprint(ann),
               strategy=placement.name, replicas=placement.replicas)
    # A second stage's first stage predicts the validation images before the folder is made:
    # a first stage of other data is refused without leaving an empty run.
    crops = test_time.second_stage_crops(cfg, train, val) if two_stage.first_stage_of(cfg) else None
    run.create()
    cfg["run_dir"] = str(run.path)
    models.set_precision(cfg["precision"])
    cfg.setdefault("created", datetime.datetime.now().isoformat(timespec="seconds"))
    cfg.setdefault("machine", machine_lib.host())
    run.write_config(cfg)
    slow = machine_lib.slow_bfloat16(cfg["precision"], models.has_gpu())
    if slow:
        print(f"warning: {slow}", flush=True)
    print(f"run folder {run.path}: {cfg['arch']} on {cfg['category']}, {len(train)} train / "
          f"{len(val)} val images from {cfg['data_dir']}, preset {cfg['preset']}, "
          f"{cfg['precision']}; {placement.describe()}", flush=True)

    import keras
    keras.utils.set_random_seed(cfg["seed"])  # the same initial weights for the same --seed
    with placement.strategy.scope():
        model, codec = models.build(cfg)
        if start is not None:
            start.apply(model)
            print(start.line(), flush=True)
    state = {"epoch": 0, "best_ne": None, "best_epoch": None}
    history = []
    if options.resume:
        if run is source:
            run.remove_stale_temp_files()
        state = source.read_state()
        models.load_weights(model, source.last_weights)
        history = [row for row in source.read_history() if int(row["epoch"]) <= state["epoch"]]
        print(f"resuming after epoch {state['epoch']}", flush=True)

    shard = (placement.num_workers, placement.worker_index) if placement.num_workers > 1 else None
    predictor = models.LocalPredictor(model)
    curriculum = None
    if cfg.get("curriculum"):
        from engine.training.curriculum import Curriculum
        curriculum = Curriculum(cfg, codec, train, predictor, run,
                                boxes=crops.train if crops else None)
        curriculum.resume(state["epoch"])
    train_ds, val_ds, meta_ds = data_source.datasets(
        cfg, codec, train, val, shard=shard, fast=options.fast,
        weights=curriculum.weights if curriculum else None, crops=crops)
    evaluate = run_eval.make_evaluator(cfg, predictor, codec, train, val, meta_ds)
    draw = run_eval.make_drawer(predictor, codec, cfg, run, meta_ds, val, crops)
    from engine.training.board import StageBoard
    from engine.training.callbacks import EpochEnd
    from engine.training.console import EpochBar
    steps = math.ceil(len(train) / cfg["batch_size"])
    board = StageBoard(run.tensorboard)
    epoch_end = EpochEnd(run, evaluate, draw, history, state, len(train), cfg["batch_size"],
                         board=board, curriculum=curriculum)
    # The bar first: it closes before EpochEnd prints the epoch's line.
    callbacks = [EpochBar(cfg["batch_size"]), epoch_end,
                 keras.callbacks.TensorBoard(log_dir=str(run.tensorboard), profile_batch=0)]
    if state["epoch"] < cfg["epochs"]:
        strategy_lib.prepare_fit(model, placement, val_ds)
        with placement.strategy.scope():
            # Repeated datasets with explicit step counts: Keras then knows an epoch's
            # length, and every replica and worker takes as many steps.
            validation_steps = math.ceil(len(val) / cfg["batch_size"])
            validation = val_ds.repeat()
            if placement.replicas == 1:
                # Keras drops the validation iterator after each evaluation; dropping one
                # that had prefetched ahead through imgaug's numpy_functions stalled the
                # next epoch by up to 10 s (the alternating images/s). A finite pass has
                # nothing in flight. (tf.distribute splits a finite set's last, partial
                # batch unevenly over replicas, and fails on it.)
                validation = validation.take(validation_steps)
            if curriculum:
                # A finite set, which Keras iterates afresh each epoch: no element of an
                # epoch is made (and weighted) before the last epoch's update.
                fit_data, fit_steps = train_ds, None
            else:
                fit_data, fit_steps = train_ds.repeat(), steps
            with warnings.catch_warnings():
                # A finite set's first epoch ends where its data does, which is how Keras
                # learns its length; its warning about that is not a fault here.
                warnings.filterwarnings("ignore", message="Your input ran out of data")
                model.fit(fit_data, epochs=cfg["epochs"], steps_per_epoch=fit_steps,
                          validation_data=validation, validation_steps=validation_steps,
                          initial_epoch=state["epoch"], callbacks=callbacks, shuffle=False,
                          verbose=0)  # engine/training/console.py prints instead
    board.close()
    if epoch_end.nan_epoch is not None:
        kept = (f"the checkpoints of epoch {state['epoch']} are kept in {source.checkpoints}"
                if state["epoch"] else "no epoch had finished, so no checkpoint was saved")
        print(f"error: the loss became NaN or infinite in epoch {epoch_end.nan_epoch} "
              f"(a lower --lr may help); stopped, {kept}", file=sys.stderr)
        return 1

    result = run_eval.finish(run, cfg, model, codec, evaluate, draw,
                             run_eval.gt_box_figures(cfg, predictor, codec, train, val, crops),
                             run_eval.make_worst(predictor, codec, cfg, run, meta_ds, val))
    print("\n".join(report_lines(result)[:3]))
    if placement.is_chief:
        print(f"done: run folder {run.path}")
    else:
        print(f"done: worker {placement.worker_index}; the chief wrote the run folder")
    return 0
