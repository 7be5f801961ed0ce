"""`run.py bench`, and the property its GPU figures rest on: models, losses and output
layers run under JAX with TensorFlow unimportable. Timings are printed, never asserted."""
import json
import os
import subprocess
import sys

import keras
import pytest

from engine.plugin import models, registry
from tests.conftest import REPO, assert_one_line_error, run_cli, run_here


@pytest.mark.slow
def test_bench_prints_its_table_and_writes_json(synthetic, tmp_path):
    out = tmp_path / "bench.json"
    result = run_cli("bench", "--arch", "cpm", "--preset", "tiny", "--steps", 1, "--rounds", 1,
                     "--precision", "float32", "--data-dir", synthetic, "--json", out)
    assert result.returncode == 0, result.stderr
    assert "machine:" in result.stdout and "CPU cores" in result.stdout
    every = f"{os.cpu_count()} threads"
    grid = {f"{augmenter}, {size} px, {threads}" for augmenter in ("tf", "imgaug")
            for size in (128, 256) for threads in ("1 thread", every)}
    extras = ["tf, 64 px, --fast", "tf, 64 px, without augmentation",
              "tf, 64 px, from the HDF5 cache (--cache)"]
    for row in [*grid, *extras]:
        assert f"| {row} |" in result.stdout
    assert "| training step (in memory) | float32 |" in result.stdout
    figures = json.loads(out.read_text())
    assert set(figures["pipeline"]) == grid | set(extras)
    assert all(rate > 0 for rate in figures["pipeline"].values())
    for augmenter in ("tf", "imgaug"):
        summary = figures["pipeline_summary"][augmenter]
        one = figures["pipeline"][f"{augmenter}, 256 px, 1 thread"]
        assert summary["per_core_256"] == one
        assert summary["speedup"] == pytest.approx(
            figures["pipeline"][f"{augmenter}, 256 px, {every}"] / one)
        assert f"pipeline, {augmenter} at 256 px: {one:.0f} images/s per core" in result.stdout
    assert "tf / imgaug" in result.stdout
    step = figures["training"]["float32"]
    assert step["images_per_s"] > 0 and 0 < step["share_of_matmul"]
    assert step["flops_per_image"] == models.forward_flops(_tiny_cpm())


@pytest.mark.slow
def test_bench_times_the_exported_model_in_each_runtime(tmp_path):
    """--exported: the preset's model with its decoding, as `export --decode` writes it, timed
    in onnxruntime and LiteRT at batch 1 and 16; the table and the JSON hold each figure."""
    from engine.plugin import presets
    out = tmp_path / "exported.json"
    result = run_cli("bench", "--arch", "simcc", "--preset", "tiny", "--exported", "onnx",
                     "litert", "--json", out)
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert sorted(figures["exported"]) == ["litert", "onnx"]
    cfg = {**presets.resolve("tiny", "simcc"), "weights": "none"}
    assert figures["flops_per_image"] == models.forward_flops(
        registry.get("simcc").build_model(15, cfg))
    for fmt, rates in figures["exported"].items():
        assert sorted(rates) == ["1", "16"]
        for batch, rate in rates.items():
            assert f"| {fmt} | {batch} | {rate:.1f} | {1000 / rate:.2f} |" in result.stdout
    assert "training step" not in result.stdout   # --exported measures that alone


def _tiny_cpm():
    from engine.plugin import presets
    from cpm.model import build_model
    return build_model(15, {**presets.resolve("tiny", "cpm"), "weights": "none"})


@pytest.mark.slow
def test_models_and_losses_run_without_tensorflow():
    result = subprocess.run([sys.executable, str(REPO / "tests" / "without_tensorflow.py"),
                             *registry.METHODS], cwd=REPO, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("Keras backend jax") == len(registry.METHODS) >= 4
    assert result.stdout.count("| training step (in memory) | float32 |") == len(registry.METHODS)
    assert "not measured: needs TensorFlow" in result.stdout
    assert "tensorflow imported: False" in result.stdout


def test_forward_flops_of_known_layers():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)           # 8*8 * 3*3*3*4 MACs
    x = keras.layers.Conv2D(2, 1, strides=2)(x)                      # 4*4 * 4*2
    outputs = keras.layers.Dense(5)(keras.layers.Flatten()(x))       # 32*5
    model = keras.Model(inputs, outputs)
    assert models.forward_flops(model) == 2 * (64 * 108 + 16 * 8 + 32 * 5)


def test_a_shared_layer_counts_once_per_call():
    """One kernel read at two resolutions (HRNet's head on each partial sum) does the work of
    both calls."""
    inputs = keras.Input((8, 8, 3))
    shared = keras.layers.Conv2D(4, 1)
    full = shared(inputs)                                             # 8*8 * 3*4 MACs
    half = shared(keras.layers.MaxPooling2D()(inputs))                # 4*4 * 3*4
    model = keras.Model(inputs, [full, half])
    assert models.forward_flops(model) == 2 * (64 * 12 + 16 * 12)


def test_bad_steps_is_one_line(synthetic):
    assert_one_line_error(run_here("bench", "--steps", 0, "--data-dir", synthetic), "--steps")
