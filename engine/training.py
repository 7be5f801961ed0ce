"""`run.py train`: one engine for every architecture.

    data folder → validated annotations → train/val split → tf.data (codec.encode)
    → model.fit (precision, schedule, callbacks) → run folder

Precision, devices and run folders are decided here and nowhere else.
"""
import datetime
import math
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from data_tools import fashion_csv, pipeline, schema
from data_tools.errors import DataError, UsageError
from engine import architectures, data_source, presets, run_eval
from engine import strategy as strategy_lib
from engine.run_dir import RunDir, fresh_path, run_name

VAL_FRACTION = 0.15
PICTURE_IMAGES = 4


# --- configuration -------------------------------------------------------------------
def has_gpu():
    import tensorflow as tf
    return bool(tf.config.list_physical_devices("GPU"))


def new_config(args, gpu):
    preset = presets.pick(args.preset, gpu)
    if args.preset == "auto":
        print(f"preset auto → {preset} ({'a GPU' if gpu else 'no GPU'} found)", flush=True)
    if args.backbone is not None and args.arch == "hourglass":
        raise UsageError("--backbone: the hourglass has its own stem and takes no backbone")
    if args.box is not None and args.arch != "regression":
        raise UsageError("--box applies to --arch regression only")
    cfg = presets.resolve(preset, args.arch, {
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
        "backbone": args.backbone, "box": args.box,
        # An hourglass's stages are its stacks.
        "stacks" if args.arch == "hourglass" else "stages": args.stages})
    cfg["weights"] = args.weights
    cfg["precision"] = pick_precision(args.precision, gpu)
    cfg.update(category=args.category, seed=args.seed, cache=args.cache,
               names=list(schema.keypoint_names(args.category)),
               val_fraction=VAL_FRACTION,
               split_rule=pipeline.SPLIT_RULE)
    for key in ("epochs", "batch_size"):
        if cfg[key] < 1:
            raise UsageError(f"--{key.replace('_', '-')} must be at least 1")
    return cfg


def pick_precision(requested, gpu):
    if requested == "auto":
        return "mixed_float16" if gpu else "float32"
    return requested


def set_precision(policy):
    import keras
    keras.mixed_precision.set_global_policy(policy)


# --- data -------------------------------------------------------------------------------
def load_annotations(cfg, strict=False, run=None):
    """The category's images, minus those that cannot be read (listed in the run folder)."""
    csv_path = Path(cfg["data_dir"]) / data_source.TRAIN_CSV
    ann = fashion_csv.read_annotations(csv_path).of_category(cfg["category"])
    if len(ann) == 0:
        raise DataError(f"no images of category {cfg['category']!r}", csv_path)
    faults = pipeline.scan_images(ann)
    if faults:
        if strict:
            image_id, reason = faults[0]
            raise DataError(f"{len(faults)} image(s) cannot be used, first {image_id}: "
                            f"{reason} (--strict)", csv_path)
        bad = {image_id for image_id, _ in faults}
        ann = ann.select(i for i, image_id in enumerate(ann.image_ids) if image_id not in bad)
        print(f"skipping {len(faults)} unreadable or missing image(s)"
              + (f", listed in {run.skipped_file}" if run else ""), flush=True)
        if run:
            run.write_skipped(faults)
    return ann


def split(cfg, ann):
    train, val = pipeline.split_train_val(ann, cfg["val_fraction"])
    if len(train) == 0 or len(val) == 0:
        raise DataError(f"{len(ann)} image(s) of {cfg['category']} are too few to hold out "
                        f"a validation split", ann.csv_path)
    return train, val


def cache_file(cfg, part):
    """The run's HDF5 cache of letterboxed images (with --cache), else None."""
    return str(Path(cfg["run_dir"]) / f"cache-{part}.h5") if cfg.get("cache") else None


def datasets(cfg, codec, train, val, placement=None, fast=False):
    """Training (augmented, encoded), validation (encoded) and evaluation (with meta) sets.

    In a multi-worker run each worker reads its own share of the training and
    validation images; the evaluation set is whole on every worker.
    """
    common = dict(names=cfg["names"], input_size=cfg["input_size"],
                  batch_size=cfg["batch_size"], seed=cfg["seed"], deterministic=not fast)
    shard = None
    if placement is not None and placement.num_workers > 1:
        shard = (placement.num_workers, placement.worker_index)
    train_ds = pipeline.make_dataset(train, encode=codec.encode, training=True,
                                     augment_cfg=cfg["augment"], shard=shard,
                                     cache_path=cache_file(cfg, "train"), **common)
    val_ds = pipeline.make_dataset(val, encode=codec.encode, cache_path=cache_file(cfg, "val"),
                                   shard=shard, **common)
    meta_ds = pipeline.make_dataset(val, with_meta=True, cache_path=cache_file(cfg, "val"),
                                    **common)
    return train_ds, val_ds, meta_ds


# --- model ------------------------------------------------------------------------------
def build(cfg):
    """The architecture's model and codec, compiled with Adam on a warm-up + cosine schedule."""
    import keras
    build_model, make_codec = architectures.load(cfg["arch"])
    num_keypoints = len(cfg["names"])
    try:
        model = build_model(num_keypoints, cfg)
    except (RuntimeError, ValueError) as e:
        raise UsageError(str(e).splitlines()[0]) from None
    codec = make_codec(cfg, num_keypoints)
    steps = max(1, math.ceil(cfg["train_images"] / cfg["batch_size"]))
    warmup = min(cfg["warmup_epochs"], cfg["epochs"] - 1) * steps
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg["lr"] * (0.1 if warmup else 1.0),
        decay_steps=max(1, cfg["epochs"] * steps - warmup), alpha=0.02,
        warmup_target=cfg["lr"] if warmup else None, warmup_steps=warmup)
    outputs = run_eval.as_list(model.outputs)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=[codec.loss] * len(outputs),
                  jit_compile=has_gpu())
    model.optimizer.build(model.trainable_variables)
    return model, codec


def load_weights(model, path, what="this model"):
    """Load a checkpoint's weights into `model`; weights that do not fit are a UsageError.

    Safe loading: a run's model is rebuilt in code from its config.json (architecture,
    keypoint count, stages) and only weights (.weights.h5, plain HDF5 arrays) are read
    into it. No model is deserialised from a file, so no code or Lambda layer from a
    checkpoint runs. Keras raises on a shape or layer mismatch (another architecture,
    another keypoint count); where it only warns that it skipped part of the file (those
    layers would keep random weights), that is refused too, and its multi-line warnings
    never reach the terminal.
    """
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except (ValueError, OSError) as e:
            raise UsageError(f"{path}: these weights do not fit {what} "
                             f"({str(e).splitlines()[0].split('. ')[0]})") from None
    skipped = [w for w in caught if "Skipping" in str(w.message)
               or "could not be loaded" in str(w.message)]
    if skipped:
        raise UsageError(f"{path}: these weights do not fit {what} "
                         f"({str(skipped[0].message).splitlines()[0].split('. ')[0]})")
    for w in caught:  # any other warning, shown as it would have been
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


class LocalPredictor:
    """`predict_on_batch` of a model on this process alone, for scores and pictures.

    Keras' own predict_on_batch, under a tf.distribute strategy, hands the whole batch
    to every replica and returns it once per replica (twice the rows on two devices),
    and in a multi-worker run it waits on the other workers. A compiled plain call
    is as fast and means the same under every strategy.
    """

    def __init__(self, model):
        import tensorflow as tf
        self._call = tf.function(lambda images: model(images, training=False),
                                 reduce_retracing=True)

    def predict_on_batch(self, images):
        return [np.asarray(o) for o in run_eval.as_list(self._call(images))]


def make_evaluator(cfg, predictor, codec, train, val, meta_ds):
    """A function that scores the model on the validation split, as metrics.json holds it.

    predictor: the model, or anything with its predict_on_batch (a LocalPredictor).
    """
    layout = run_eval.training_layout(train, cfg["names"], cfg["input_size"])

    def evaluate():
        prediction = run_eval.predict(predictor, codec, meta_ds)
        return run_eval.score(prediction, val.categories, cfg["names"], layout,
                              cfg["input_size"])
    return evaluate


# --- pictures ---------------------------------------------------------------------------
def make_drawer(predictor, codec, cfg, run, meta_ds, val):
    """A function that draws the stage-by-stage grid of a few fixed validation images."""
    from engine import pictures
    sample = next(iter(meta_ds.unbatch().batch(PICTURE_IMAGES)))
    images = np.asarray(sample["image"])
    keypoints = np.asarray(sample["keypoints"])
    # A joint model predicts all 24 keypoints; the pictures show each image's own ones.
    own = pipeline.own_mask([val.categories[i] for i in np.asarray(sample["index"])],
                            cfg["names"])
    names = cfg["names"]
    label = "stack" if cfg["arch"] == "hourglass" else "stage"
    gt_maps = None

    def draw(tag, result):
        nonlocal gt_maps
        outputs = run_eval.as_list(predictor.predict_on_batch(images))
        title = (f"{cfg['category']} {cfg['arch']} {tag}: val NE {result['ne']:.4f}"
                 if result.get("ne") is not None else f"{cfg['category']} {cfg['arch']} {tag}")
        pixels = (images * 255).round().astype(np.uint8)
        path = run.heatmaps / (f"epoch_{tag:03d}.png" if isinstance(tag, int) else f"{tag}.png")
        stage_xy = [np.where(own[..., None], xy, np.nan) for xy, _ in codec.decode_stages(outputs)]
        maps = codec.stage_maps(outputs)
        if maps is None:
            return pictures.points_grid(path, pixels, stage_xy, keypoints, names, title=title)
        if gt_maps is None:
            # The first stage's targets; the hourglass marks "no target" with -1, drawn as 0.
            gt_maps = np.stack([np.maximum(np.asarray(codec.encode(image, points)[1][0]), 0)
                                for image, points in zip(images, keypoints)])
        maps = [np.where(own[:, None, None, :], m, 0) for m in maps]
        return pictures.stage_grid(path, pixels, maps, gt_maps, stage_xy[-1], keypoints, names,
                                   title=title, stage_label=label)
    return draw


# --- the run ------------------------------------------------------------------------------
def machine():
    return f"{platform.node()} {platform.machine()} {platform.processor() or ''}".strip()


def open_run(args, gpu):
    """(run folder, config): a fresh one, or the existing one with --resume."""
    if args.resume:
        path = Path(args.out) / run_name(args.category, args.arch, args.name)
        run = RunDir(path)
        if not path.is_dir() or run.read_state() is None:
            raise UsageError(f"--resume: {path} has no finished epoch to resume from")
        cfg = run.read_config()
        if args.epochs is not None:
            cfg["epochs"] = args.epochs
        return run, cfg
    cfg = new_config(args, gpu)
    run = RunDir(fresh_path(args.out, args.category, args.arch, args.name))
    return run, cfg


def main(args):
    placement = strategy_lib.make(args.strategy)  # before any other TensorFlow op
    gpu = has_gpu()
    source, cfg = open_run(args, gpu)
    if placement.is_chief:
        return run_training(args, placement, run=source, source=source, cfg=cfg)
    # Every worker computes what the chief computes (scores, pictures), so all of them
    # take the same decisions; only the chief's files are kept.
    scratch = RunDir(tempfile.mkdtemp(prefix="fashion-worker-"))
    try:
        return run_training(args, placement, run=scratch, source=source, cfg=cfg)
    finally:
        shutil.rmtree(scratch.path, ignore_errors=True)


def run_training(args, placement, run, source, cfg):
    """Train into `run`; with --resume, continue from the run folder `source`.

    They are the same folder, except on a multi-worker run's other workers, which
    write into a temporary folder and resume from the chief's (a shared file system).
    """
    if cfg.get("data_dir"):  # a resumed run keeps its data folder
        data_dir = data_source.check_layout(cfg["data_dir"])
    else:
        data_dir = data_source.resolve(args.data_dir, cfg["synthetic_images_per_category"],
                                       presets.DEFAULT_SYNTHETIC_IMAGES, seed=0)
    cfg["data_dir"] = str(Path(data_dir).resolve())
    # The data is checked before the run folder is made, so bad data leaves no empty folder.
    ann = load_annotations(cfg, strict=args.strict, run=run)
    train, val = split(cfg, ann)
    run.create()
    cfg["run_dir"] = str(run.path)
    set_precision(cfg["precision"])
    cfg.update(train_images=len(train), val_images=len(val),
               data_fingerprint=pipeline.dataset_fingerprint(ann),
               strategy=placement.name, replicas=placement.replicas)
    cfg.setdefault("created", datetime.datetime.now().isoformat(timespec="seconds"))
    cfg.setdefault("machine", machine())
    run.write_config(cfg)
    print(f"run folder {run.path}: {cfg['arch']} on {cfg['category']}, {len(train)} train / "
          f"{len(val)} val images from {cfg['data_dir']}, preset {cfg['preset']}, "
          f"{cfg['precision']}; {placement.describe()}", flush=True)

    import keras
    keras.utils.set_random_seed(cfg["seed"])  # the same initial weights for the same --seed
    with placement.strategy.scope():
        model, codec = build(cfg)
    state = {"epoch": 0, "best_ne": None, "best_epoch": None}
    history = []
    if args.resume:
        if run is source:
            run.remove_stale_temp_files()
        state = source.read_state()
        load_weights(model, source.last_weights)
        history = [row for row in source.read_history() if int(row["epoch"]) <= state["epoch"]]
        print(f"resuming after epoch {state['epoch']}", flush=True)

    train_ds, val_ds, meta_ds = datasets(cfg, codec, train, val, placement, fast=args.fast)
    predictor = LocalPredictor(model)
    evaluate = make_evaluator(cfg, predictor, codec, train, val, meta_ds)

    draw = make_drawer(predictor, codec, cfg, run, meta_ds, val)
    from engine.callbacks import EpochEnd
    epoch_end = EpochEnd(run, evaluate, draw, history, state, len(train))
    callbacks = [epoch_end,
                 keras.callbacks.TensorBoard(log_dir=str(run.tensorboard), profile_batch=0)]
    if state["epoch"] < cfg["epochs"]:
        strategy_lib.prepare_fit(model, placement, val_ds)
        with placement.strategy.scope():
            # Repeated datasets with explicit step counts: Keras then knows an epoch's length.
            model.fit(train_ds.repeat(), validation_data=val_ds.repeat(), epochs=cfg["epochs"],
                      steps_per_epoch=math.ceil(len(train) / cfg["batch_size"]),
                      validation_steps=math.ceil(len(val) / cfg["batch_size"]),
                      initial_epoch=state["epoch"], callbacks=callbacks, shuffle=False,
                      verbose=1 if sys.stdout.isatty() else 2)
    if epoch_end.nan_epoch is not None:
        kept = (f"the checkpoints of epoch {state['epoch']} are kept in {source.checkpoints}"
                if state["epoch"] else "no epoch had finished, so no checkpoint was saved")
        print(f"error: the loss became NaN or infinite in epoch {epoch_end.nan_epoch} "
              f"(a lower --lr may help); stopped, {kept}", file=sys.stderr)
        return 1

    result = finish(run, cfg, model, codec, evaluate, draw)
    from engine.evaluation import report_lines
    print("\n".join(report_lines(result)[:3]))
    if placement.is_chief:
        print(f"done: run folder {run.path}")
    else:
        print(f"done: worker {placement.worker_index}; the chief wrote the run folder")
    return 0


def finish(run, cfg, model, codec, evaluate, draw):
    """Score the best epoch's weights and write metrics.json and the final picture."""
    if run.best_weights.is_file():
        load_weights(model, run.best_weights)
    result = evaluate()
    state = run.read_state() or {}
    result.update(category=cfg["category"], arch=cfg["arch"], preset=cfg["preset"],
                  epoch=state.get("best_epoch"), epochs_trained=state.get("epoch"),
                  train_images=cfg["train_images"], val_images=cfg["val_images"],
                  parameters=int(model.count_params()))
    run.write_metrics(result)
    draw("best", result)
    return result


def evaluate_saved_run(run_path):
    """Rebuild a run's model from its folder, load its best weights, rescore, rewrite metrics."""
    run = RunDir(run_path)
    cfg = run.read_config()
    if not (run.best_weights.is_file() or run.last_weights.is_file()):
        raise UsageError(f"{run.path} has no checkpoint to evaluate")
    data_source.check_layout(cfg["data_dir"])
    set_precision(cfg["precision"])
    ann = load_annotations(cfg)
    train, val = split(cfg, ann)
    model, codec = build(cfg)
    load_weights(model, run.best_weights if run.best_weights.is_file() else run.last_weights,
                 f"the {cfg['category']} {cfg['arch']} model of {run.config_file}")
    _, _, meta_ds = datasets(cfg, codec, train, val)
    evaluate = make_evaluator(cfg, model, codec, train, val, meta_ds)
    return finish(run, cfg, model, codec, evaluate,
                  make_drawer(model, codec, cfg, run, meta_ds, val))
