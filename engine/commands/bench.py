"""`run.py bench`: how fast this machine feeds and trains one architecture.

    python run.py bench --arch cpm --preset cpu [--steps 20] [--precision float32 ...]

In one run it measures
  (a) the input pipeline alone: the training tf.data pipeline (read, letterbox,
      augment, encode), images/s, with each augmenter (tf, imgaug) at 128 and 256 px
      on one thread and on all cores, then --fast, without augmentation, and from
      the HDF5 cache; with the rate per core and the cores 1,000 images/s would take;
  (b) the training step alone: train_on_batch on one in-memory batch, images/s,
      for each precision (default: float32 and mixed_float16 on a GPU, float32 and
      mixed_bfloat16 on a CPU);
and prints them with the machine. The training step also gives the model's
arithmetic rate: forward FLOPs per image (counted from its layers) x 3 for the
backward pass x images/s, as a share of the rate this machine reaches on one large
matrix product of the same precision, measured on the spot.

The training step needs Keras only, so it runs under any Keras 3 backend
(KERAS_BACKEND=jax on a machine without TensorFlow); the pipeline part needs
TensorFlow and is skipped without it.
"""
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from data_tools import atomic, schema
from data_tools.errors import UsageError
from engine.plugin import models, presets, registry
from engine.training.machine import backend, describe, gpu_name, slow_bfloat16

WARMUP_STEPS = 3  # compilation and autotuning happen here, outside the timing
MATMUL_SIZE = {"gpu": 8192, "cpu": 1024}
COMPUTE_DTYPE = {"float32": "float32", "mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}


# --- arithmetic ---------------------------------------------------------------------------
def matmul_rate(dtype, on_gpu):
    """FLOP/s of repeated (n x n) @ (n x n) products in `dtype` on this machine."""
    from keras import ops
    n = MATMUL_SIZE["gpu" if on_gpu else "cpu"]
    rng = np.random.default_rng(0)
    a = ops.convert_to_tensor(rng.standard_normal((n, n)).astype(np.float32), dtype=dtype)
    b = ops.convert_to_tensor(rng.standard_normal((n, n)).astype(np.float32) / n, dtype=dtype)
    ops.convert_to_numpy(ops.cast(ops.matmul(a, b)[0, 0], "float32"))  # warm-up
    reps, elapsed = 1, 0.0
    while elapsed < 0.5:
        reps *= 2
        start = time.perf_counter()
        c = a
        for _ in range(reps):
            c = ops.matmul(c, b)
        ops.convert_to_numpy(ops.cast(c[0, 0], "float32"))  # waits for the device
        elapsed = time.perf_counter() - start
    return 2.0 * n**3 * reps / elapsed


# --- (b) the training step ----------------------------------------------------------------
def training_step_rate(cfg, precision, steps, on_gpu):
    """Images/s of train_on_batch on one in-memory batch, and the model's FLOPs per image."""
    import keras
    keras.mixed_precision.set_global_policy(precision)
    try:
        keras.utils.set_random_seed(0)
        model, codec = models.build_uncompiled(cfg)
        # As in training: XLA on a GPU; JAX always compiles.
        jit = on_gpu if backend() == "tensorflow" else "auto"
        model.compile(optimizer=keras.optimizers.Adam(1e-5),
                      loss=[codec.loss] * codec.num_stages, jit_compile=jit)
        batch = int(cfg["batch_size"])
        size = int(cfg["input_size"])
        images = np.random.default_rng(0).random((batch, size, size, 3), dtype=np.float32)
        targets = codec.example_targets(batch)
        for _ in range(WARMUP_STEPS):
            model.train_on_batch(images, targets)
        start = time.perf_counter()
        for _ in range(steps):
            loss = model.train_on_batch(images, targets)  # returns numbers: the step is done
        seconds = time.perf_counter() - start
        if not np.all(np.isfinite(loss)):
            raise UsageError(f"bench: the {precision} training step gave a non-finite loss")
        return {"images_per_s": steps * batch / seconds, "step_ms": 1000 * seconds / steps,
                "flops_per_image": models.forward_flops(model), "parameters": int(model.count_params())}
    finally:
        keras.mixed_precision.set_global_policy("float32")


# --- (a) the input pipeline ---------------------------------------------------------------
PIPELINE_SIZES = (128, 256)
TARGET_RATE = 1000  # images/s at 256 px: what a GPU training a paper-preset CPM would want
ROUNDS = 3  # default of --rounds: each pipeline timed this many times, taking turns


def _pipeline_rate(make_dataset, steps, threads=None):
    """Images/s of a fresh iterator over the repeated dataset, after warm-up;
    threads: the size of tf.data's thread pool (None: its default)."""
    import tensorflow as tf
    dataset = make_dataset()
    if threads is not None:
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        dataset = dataset.with_options(options)
    batches = iter(dataset.repeat())
    for _ in range(WARMUP_STEPS):
        next(batches)
    start = time.perf_counter()
    images = sum(int(next(batches)[0].shape[0]) for _ in range(steps))
    return images / (time.perf_counter() - start)


def _best_rates(variants, steps, rounds):
    """{label: images/s} of each (make_dataset, threads), the best of `rounds` turns: a
    shared machine's noise only ever slows a measurement down."""
    rates = {}
    for _ in range(rounds):
        for label, (make_dataset, threads) in variants.items():
            rates[label] = max(rates.get(label, 0.0), _pipeline_rate(make_dataset, steps, threads))
    return rates


def pipeline_rates(cfg, category, data_dir, steps, rounds=ROUNDS):
    """Images/s of the training pipeline alone (read, letterbox, augment, encode):
    {label: images/s}, a summary per augmenter, and the number of images read.

    Each augmenter at 128 and 256 px, on one thread and on all cores: one thread
    against all says whether more cores help (imgaug runs in Python, where the GIL lets
    one thread work at a time). Then, at the preset's size with the default augmenter,
    --fast, without augmentation, and from the HDF5 cache.
    """
    import os
    from engine.runs import data_source
    from data_tools import pipeline
    from data_tools.augment_settings import AUGMENTERS

    cfg = dict(cfg, category=category, val_fraction=data_source.VAL_FRACTION,
               data_dir=str(data_source.resolve(data_dir, cfg["synthetic_images_per_category"],
                                                presets.DEFAULT_SYNTHETIC_IMAGES)))
    train, _ = data_source.split(cfg, data_source.load_annotations(cfg))
    names = cfg["names"]
    cores = os.cpu_count()

    def dataset(size, **options):
        codec = registry.get(cfg["arch"]).make_codec(dict(cfg, input_size=size), len(names))
        return pipeline.make_dataset(train, names, size, cfg["batch_size"], encode=codec.encode,
                                     augment_cfg=cfg["augment"], seed=0,
                                     **{"training": True, **options})

    def label(augmenter, size, threads):
        return f"{augmenter}, {size} px, {threads} thread{'s' * (threads > 1)}"

    grid = {(augmenter, size, threads): label(augmenter, size, threads)
            for augmenter in AUGMENTERS for size in PIPELINE_SIZES
            for threads in sorted({1, cores})}
    variants = {text: (lambda a=a, s=s: dataset(s, augmenter=a), threads)
                for (a, s, threads), text in grid.items()}
    size = cfg["input_size"]
    with tempfile.TemporaryDirectory(prefix="fashion-bench-") as tmp:
        extras = {"--fast": {"deterministic": False},
                  "without augmentation": {"training": False},
                  "from the HDF5 cache (--cache)": {"cache_path": f"{tmp}/cache.h5"}}
        for text, options in extras.items():
            variants[f"tf, {size} px, {text}"] = (lambda o=options: dataset(size, **o), None)
        rates = _best_rates(variants, steps, rounds)
    summary = summarize_pipeline({key: rates[text] for key, text in grid.items()}, cores)
    return rates, summary, len(train)


def summarize_pipeline(grid, cores):
    """Per augmenter at 256 px: the rate per core (one thread), how much all cores give
    over one, and the cores a TARGET_RATE would take if they kept scaling as measured."""
    summary = {}
    for augmenter in dict.fromkeys(a for a, _, _ in grid):
        one, every = grid[augmenter, 256, 1], grid[augmenter, 256, cores]
        speedup = every / one
        # Cores beyond the first add (speedup - 1) / (cores - 1) of a core each, as measured.
        gain = (speedup - 1) / (cores - 1) if cores > 1 else 1.0
        needed = 1 + (TARGET_RATE / one - 1) / gain if gain > 0.05 else None
        summary[augmenter] = {"per_core_256": one, "all_cores_256": every, "cores": cores,
                              "speedup": speedup, "cores_for_target": needed}
    if "tf" in summary and "imgaug" in summary:
        summary["tf_over_imgaug_256"] = summary["tf"]["all_cores_256"] / summary["imgaug"]["all_cores_256"]
    return summary


def summary_lines(summary):
    lines = []
    for augmenter, s in summary.items():
        if not isinstance(s, dict):
            continue
        needed = (f"about {math.ceil(s['cores_for_target'])} cores for {TARGET_RATE:,} images/s"
                  if s["cores_for_target"] is not None
                  else f"{TARGET_RATE:,} images/s is out of reach: more cores do not help")
        lines.append(f"pipeline, {augmenter} at 256 px: {s['per_core_256']:.0f} images/s per core; "
                     f"{s['cores']} threads give {s['speedup']:.2f}x one; {needed}")
    if "tf_over_imgaug_256" in summary:
        lines.append(f"pipeline at 256 px on all cores, tf / imgaug: "
                     f"{summary['tf_over_imgaug_256']:.2f}x")
    return lines


# --- (c) the exported model ------------------------------------------------------------------
EXPORT_BATCHES = (1, 16)


def exported_rates(cfg, formats):
    """({format: {batch: images/s}}, forward FLOPs per image) of the preset's model as
    `export --decode` writes it (image in, keypoints out), run by each format's runtime on
    this machine's CPU, at each of EXPORT_BATCHES. The model is untrained: its speed does
    not depend on its weights."""
    from engine.inference import exported

    for fmt in formats:
        exported.check_packages(fmt)
    net, model = exported.untrained(cfg)
    size = int(cfg["input_size"])
    rng = np.random.default_rng(0)
    rates = {}
    with tempfile.TemporaryDirectory(prefix="fashion-bench-") as tmp:
        for fmt in formats:
            path = Path(tmp) / f"model{exported.FORMATS[fmt][1]}"
            exported.write(net, fmt, path)
            with exported.quiet_stderr():
                run = exported.runtime(fmt, path)
                rates[fmt] = {batch: exported.throughput(
                    run, rng.random((batch, size, size, 3), dtype=np.float32))
                    for batch in EXPORT_BATCHES}
    return rates, models.forward_flops(model)


# --- the command --------------------------------------------------------------------------
def default_precisions(on_gpu):
    return ["float32", "mixed_float16"] if on_gpu else ["float32", "mixed_bfloat16"]


def main(args):
    if args.steps < 1:
        raise UsageError("--steps must be at least 1")
    if args.rounds < 1:
        raise UsageError("--rounds must be at least 1")
    gpu = gpu_name()
    preset = presets.pick(args.preset, gpu is not None)
    cfg = presets.resolve(preset, args.arch, {
        "batch_size": args.batch_size, "input_size": args.input_size,
        **presets.method_overrides(args.arch, backbone=args.backbone)})
    cfg.update(weights="none", names=list(schema.keypoint_names(args.category)))
    if cfg["batch_size"] < 1:
        raise UsageError("--batch-size must be at least 1")
    if args.input_size is not None:
        models.check_buildable(cfg, "--input-size")
    result = {"arch": args.arch, "preset": preset, "category": args.category,
              "batch_size": cfg["batch_size"], "input_size": cfg["input_size"],
              "steps": args.steps, "machine": describe(gpu), "pipeline": None, "training": {}}
    if args.exported:
        if backend() != "tensorflow":
            raise UsageError("--exported needs TensorFlow (its converters)")
        result["exported"], result["flops_per_image"] = exported_rates(cfg, args.exported)
        print("\n".join(exported_table(result)))
        if args.json:
            atomic.write_text(args.json, json.dumps(result, indent=2) + "\n")
        return 0
    if backend() == "tensorflow":
        result["pipeline"], result["pipeline_summary"], result["pipeline_images"] = (
            pipeline_rates(cfg, args.category, args.data_dir, args.steps, args.rounds))
    for precision in args.precision or default_precisions(gpu is not None):
        step = training_step_rate(cfg, precision, args.steps, gpu is not None)
        peak = matmul_rate(COMPUTE_DTYPE[precision], gpu is not None)
        achieved = 3 * step["flops_per_image"] * step["images_per_s"]
        step.update(matmul_flops=peak, achieved_flops=achieved, share_of_matmul=achieved / peak)
        result["training"][precision] = step
        result["slow_bfloat16"] = result.get("slow_bfloat16") or slow_bfloat16(precision, gpu)
    print("\n".join(table(result)))
    if args.json:
        atomic.write_text(args.json, json.dumps(result, indent=2) + "\n")
    return 0


def table(result):
    lines = [f"bench: {result['arch']}, preset {result['preset']} ({result['input_size']} px, "
             f"batch {result['batch_size']}, {result['steps']} timed steps), {result['category']}",
             f"machine: {result['machine']}", "",
             "| measured | precision | images/s | ms/step | TFLOP/s | share of matmul rate |",
             "|---|---|---|---|---|---|"]
    if result["pipeline"] is None:
        lines.append("| input pipeline | - | not measured: needs TensorFlow | | | |")
    else:
        for label, rate in result["pipeline"].items():
            lines.append(f"| {label} | - | {rate:.0f} | | | |")
    for precision, step in result["training"].items():
        lines.append(f"| training step (in memory) | {precision} | {step['images_per_s']:.1f} | "
                     f"{step['step_ms']:.0f} | {step['achieved_flops'] / 1e12:.3g} | "
                     f"{100 * step['share_of_matmul']:.0f}% of {step['matmul_flops'] / 1e12:.3g} |")
    lines += ["", *summary_lines(result.get("pipeline_summary") or {})]
    steps = list(result["training"].values())
    if steps:
        lines += ["", f"model: {steps[0]['parameters'] / 1e6:.2f} M parameters, "
                  f"{steps[0]['flops_per_image'] / 1e9:.2f} GFLOP per image forward (x3 to train)"]
    slow = result.get("slow_bfloat16")
    if slow:
        lines += [f"note: {slow}"]
    if "float32" in result["training"] and len(steps) > 1:
        base = result["training"]["float32"]["images_per_s"]
        lines += [f"{p} / float32: {s['images_per_s'] / base:.2f}x"
                  for p, s in result["training"].items() if p != "float32"]
    return lines


def exported_table(result):
    lines = [f"bench: {result['arch']} exported with its decoding, preset {result['preset']} "
             f"({result['input_size']} px, {result['flops_per_image'] / 1e9:.2f} GFLOP per "
             f"image), {result['category']}", f"machine: {result['machine']}", "",
             "| runtime | batch | images/s | ms per image |", "|---|---:|---:|---:|"]
    for fmt, rates in result["exported"].items():
        lines += [f"| {fmt} | {batch} | {rate:.1f} | {1000 / rate:.2f} |"
                  for batch, rate in rates.items()]
    return lines
