"""`run.py export`: each format round-trips through its own runtime, `--decode` gives what
`predict` writes, docs/COMMANDS.md's ONNX example runs, and bad requests are one line.

The exports are of the shared tiny skirt runs (conftest), in this process: no training here.
"""
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_tools import fashion_csv, pipeline, schema
from engine.plugin import registry
from tests.conftest import REPO, assert_one_line_error, run_here

pytestmark = pytest.mark.slow  # mostly trainings and scores of trained runs

# (format, --decode, file name): every format that installs with the pinned stack, the
# decoding in the two that run outside TensorFlow.
EXPORTS = [("saved_model", False, "cpm_saved_model"), ("onnx", True, "cpm.onnx"),
           ("litert", True, "cpm.tflite")]


@pytest.fixture(scope="module")
def exported(tiny_skirt_runs, tmp_path_factory):
    """(the run, {format: (path, result)}) of the tiny skirt CPM exported in each format."""
    run = tiny_skirt_runs[0] / "skirt-cpm"
    folder = tmp_path_factory.mktemp("export")
    done = {}
    for fmt, decode, name in EXPORTS:
        result = run_here("export", "--run", run, "--format", fmt,
                          *(["--decode"] if decode else []), "--out", folder / name)
        done[fmt] = folder / name, result
    return run, done


def validation_batch(run, count=4):
    """The run's first validation images as the pipeline letterboxes them, with meta."""
    from engine.runs import data_source
    cfg = json.loads((run / "config.json").read_text())
    _, val = data_source.split(cfg, data_source.load_annotations(cfg))
    dataset = pipeline.make_dataset(val.select(range(count)), cfg["names"], cfg["input_size"],
                                    count, with_meta=True, augmenter=cfg["augmenter"])
    return cfg, val, next(iter(dataset))


def run_file(fmt, path, images):
    from engine.commands import export
    return np.asarray(export.runtime(fmt, path)(np.asarray(images, np.float32)))


@pytest.mark.parametrize("fmt, decode, name", EXPORTS)
def test_each_format_round_trips_in_its_own_runtime(exported, fmt, decode, name):
    """The file, loaded by its own runtime, gives the Keras model's output within the
    stated tolerance; the command says so and describes the file beside it."""
    from engine.commands import export
    from engine.plugin.codec import stage_arrays
    from engine.plugin.models import load_run

    run, done = exported
    path, result = done[fmt]
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"checked with its own runtime on 4 validation images: largest "
                     r"difference from Keras: \S+", result.stdout), result.stdout
    description = json.loads(export.description_path(path).read_text())
    assert description["keypoints"] == list(schema.keypoint_names("skirt"))
    assert description["input"]["shape"] == [None, 64, 64, 3]

    _, cfg, model, codec = load_run(run, precision="float32")
    _, _, batch = validation_batch(run)
    images = np.asarray(batch["image"])
    got = run_file(fmt, path, images)
    last = stage_arrays(model.predict_on_batch(images))[-1]
    if decode:
        xy, conf = codec.decode([last])
        assert got.shape == (4, 4, 3)
        np.testing.assert_allclose(got[..., :2], xy, atol=export.POINT_TOLERANCE)
        np.testing.assert_allclose(got[..., 2], conf, atol=export.CONFIDENCE_TOLERANCE)
    else:
        assert got.shape == last.shape == (4, 8, 8, 4)
        np.testing.assert_allclose(got, last, atol=export.RAW_TOLERANCE * np.abs(last).max())


def test_the_onnx_file_normalises_the_image_on_rows(exported):
    """The input's (x - mean) / std multiplies and adds constants a whole row long (64 px x 3
    channels), never 3 long: onnxruntime broadcasts those element by element on one core
    (docs/BENCHMARKS.md, "the input's normalisation")."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(exported[1]["onnx"][0])).graph
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    lengths = [constants[name].shape[-1] for node in graph.node
               if node.op_type in ("Mul", "Add", "Sub", "Div")
               for name in node.input if name in constants and constants[name].ndim]
    assert 3 not in lengths
    assert lengths.count(64 * 3) == 2  # the scale and the offset


def test_decoded_keypoints_are_predicts(exported, tmp_path):
    """The ONNX file's keypoints, mapped to original pixels, are the rows `predict` writes
    for the same images."""
    from engine.scoring import run_eval
    run, done = exported
    cfg, val, batch = validation_batch(run)
    test_csv = tmp_path / "test.csv"
    index = np.asarray(batch["index"])
    test_csv.write_text("image_id,image_category\n"
                        + "".join(f"{val.image_ids[i]},skirt\n" for i in index))
    sub = tmp_path / "sub.csv"
    result = run_here("predict", "--run", run, "--test-csv", test_csv,
                      "--data-dir", cfg["data_dir"], "--out", sub)
    assert result.returncode == 0, result.stdout + result.stderr
    predicted = fashion_csv.read_annotations(sub, data_dir=cfg["data_dir"])

    keypoints = run_file("onnx", done["onnx"][0], batch["image"])
    original = run_eval.to_original(keypoints[..., :2], np.asarray(batch["transform"]))
    rows = [predicted.image_ids.index(val.image_ids[i]) for i in index]
    columns = [schema.INDEX[n] for n in cfg["names"]]
    written = predicted.keypoints[rows][:, columns, :2]
    # predict writes whole pixels on the image: the same rounding of the same numbers.
    sizes = np.array([Image.open(val.image_path(i)).size for i in index], np.float32)
    on_image = np.clip(original, 0, sizes[:, None, :] - 1)
    np.testing.assert_array_equal(np.round(on_image), written)


def test_the_documented_onnx_example_prints_a_photos_keypoints(exported, tmp_path):
    """docs/COMMANDS.md's ONNX example, run as written with its two file names replaced."""
    run, done = exported
    doc = (REPO / "docs" / "COMMANDS.md").read_text()
    code = re.search(r"```python\n(import json.*?)```", doc, re.S).group(1)
    assert len(code.strip().splitlines()) <= 10
    photo = next(Path(json.loads((run / "config.json").read_text())["data_dir"])
                 .glob("Images/skirt/*.jpg"))
    code = code.replace("dress-cpm.onnx", str(done["onnx"][0])).replace("photo.jpg", str(photo))
    script = tmp_path / "example.py"
    script.write_text(code)
    import subprocess
    import sys
    printed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                             timeout=120)
    assert printed.returncode == 0, printed.stderr
    rows = [line.split() for line in printed.stdout.splitlines()]
    assert [row[0] for row in rows] == list(schema.keypoint_names("skirt")), printed.stdout
    # The same recipe through the package: OpenCV's letterbox and its exact inverse.
    from data_tools import letterbox
    image, transform = letterbox.letterbox(letterbox.read_image(photo), 64)
    keypoints = run_file("onnx", done["onnx"][0], image[None] / 255.0)[0]
    expected = letterbox.to_original(keypoints[:, :2], transform)
    printed_xy = np.array([[float(x), float(y)] for _, x, y, _ in rows])
    np.testing.assert_allclose(printed_xy, expected, atol=0.051)  # printed to 0.1 px
    np.testing.assert_allclose([float(r[3]) for r in rows], keypoints[:, 2], atol=5e-4)


def test_bad_requests_are_one_line(exported, tmp_path, monkeypatch):
    from engine.commands import export
    run, _ = exported
    assert_one_line_error(run_here("export", "--run", run, "--format", "onnx",
                                   "--out", tmp_path / "model.tflite"), "must end in .onnx")
    assert_one_line_error(run_here("export", "--run", tmp_path, "--format", "onnx",
                                   "--out", tmp_path / "m.onnx"), "not a run folder")
    # A run whose decoder has no graph form (DARK): one line, nothing written.
    dark = tmp_path / "dark"
    shutil.copytree(run, dark, ignore=shutil.ignore_patterns("tensorboard", "heatmaps"))
    config = json.loads((dark / "config.json").read_text())
    (dark / "config.json").write_text(json.dumps(dict(config, decode="dark")))
    assert_one_line_error(run_here("export", "--run", dark, "--format", "onnx", "--decode",
                                   "--out", tmp_path / "dark.onnx"), "decodes with argmax")
    # A folder that holds something else is not replaced by a SavedModel.
    assert_one_line_error(run_here("export", "--run", run, "--format", "saved_model",
                                   "--out", tmp_path), "holds no SavedModel")
    # A converter that is not installed: said in one line, before any model is built.
    monkeypatch.setitem(export.FORMATS, "onnx", ("onnx", ".onnx", {"no_such_converter": "x2onnx"}))
    assert_one_line_error(run_here("export", "--run", run, "--format", "onnx",
                                   "--out", tmp_path / "m.onnx"), "needs x2onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dark"]  # the copy, nothing more


# --- the decoding in the graph, per codec -------------------------------------------------
# Every registered method, and regression's other outputs (a garment box, RLE's scales).
CODECS = [(arch, {"input_size": 64}) for arch in registry.METHODS] + [
    ("regression", {"input_size": 64, "box": "garment"}),
    ("regression", {"input_size": 64, "loss": "rle"})]


@pytest.mark.parametrize("arch, cfg", CODECS)
def test_graph_decoding_is_the_codecs_decoding(arch, cfg):
    """codec.decode_graph (keras.ops, in the exported file) gives codec.decode's points and
    confidences, on random outputs and on the awkward maps: a peak on the border, a flat map."""
    codec = registry.get(arch).make_codec(cfg, 5)
    rng = np.random.default_rng(0)
    if arch == "regression":
        output = rng.normal(size=(3, codec.rows, codec.columns)).astype(np.float32)
        if codec.columns == 4:
            output[..., 2:] = rng.random(output[..., 2:].shape)
    elif codec.map_kind is not None:
        output = rng.random((3, codec.map_size, codec.map_size, 5)).astype(np.float32)
        output[0, :, :, 0] = 0.0                     # flat: cell (0, 0), confidence 0
        output[1, codec.map_size - 1, 3, 1] = 2.0     # the peak on the bottom row
    else:  # outputs shaped as its targets: SimCC's bin logits
        output = rng.normal(size=codec.example_targets(3)[-1].shape).astype(np.float32)
        output[0, 0] = 0.0                           # flat: the first bin, as numpy's argmax
        output[1, 1, -1] = 9.0                       # the peak on the last bin
    got = np.asarray(codec.decode_graph(output))
    xy, conf = codec.decode([output])
    np.testing.assert_allclose(got[..., :2], xy, atol=1e-4)
    np.testing.assert_allclose(got[..., 2], conf, atol=1e-6)
