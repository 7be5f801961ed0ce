"""A model as a file other runtimes load: the graph to export (the last stage, or its decoded
keypoints), Keras' export to each format, the format's own runtime, and the file's speed in it.

    model [+ codec.decode_graph] → exportable (untrained: a preset's) → write (SavedModel; ONNX through tf2onnx; LiteRT
    through TFLiteConverter) → runtime(fmt, path)(images) → outputs; throughput → images/s

`run.py export` writes and checks a trained run's file; `run.py bench --exported` times a
preset's file.
"""
import contextlib
import os
import time
import warnings

import numpy as np

from data_tools import atomic
from data_tools.errors import UsageError
from engine.inference.quiet import native_stderr_off

# --format → (Keras' export format, the file's suffix, the packages it needs: pip names by
# import name). SavedModel is a folder.
FORMATS = {
    "saved_model": ("tf_saved_model", "", {}),
    "onnx": ("onnx", ".onnx", {"tf2onnx": "tf2onnx", "onnxruntime": "onnxruntime"}),
    "litert": ("litert", ".tflite", {"ai_edge_litert": "ai-edge-litert"}),
}


# --- the graph to export ---------------------------------------------------------------------
def exportable(model, codec, decode):
    """A one-output Keras model: the last stage, or with `decode` its decoded keypoints."""
    import keras

    class DecodeKeypoints(keras.layers.Layer):
        """The codec's graph decoding, as a layer of the exported model."""

        def call(self, output):
            return codec.decode_graph(output)

    output = model.outputs[-1]
    if decode:
        # Once on zeros first, outside Keras' layer call: a codec that cannot decode in
        # the graph says why in its own words (Keras would wrap them in its own).
        codec.decode_graph(keras.ops.zeros((1, *output.shape[1:])))
        output = DecodeKeypoints(name="keypoints", dtype="float32")(output)
    # One input tensor, not a list of one: the exported signature then takes the image.
    return keras.Model(model.inputs[0], output, name="exported")


def untrained(cfg):
    """(network, model): the config's model built from seed 0 with no training, and the
    network `export --decode` would write of it (image in, keypoints out), called once on
    zeros because Keras exports only a model that has been called. For timing: a file's
    speed does not depend on its weights."""
    import keras
    from engine.plugin import models

    keras.utils.set_random_seed(0)
    model, codec = models.build_uncompiled(cfg)
    net = exportable(model, codec, decode=True)
    size = int(cfg["input_size"])
    net(np.zeros((1, size, size, 3), np.float32))
    return net, model


def check_packages(fmt):
    """UsageError naming what a format needs, before a model is built."""
    import importlib.util
    missing = [pip for name, pip in FORMATS[fmt][2].items()
               if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"--format {fmt} needs {' and '.join(missing)}, which are not "
                         f"installed (pip install -r requirements.txt)")


@contextlib.contextmanager
def quiet_stderr():
    """The converters' and runtimes' C++, logging and warning chatter (hundreds of lines)
    kept off the terminal; an error still raises, and main() shows its first line."""
    import logging
    levels = {name: logging.getLogger(name).level for name in ("tf2onnx", "absl")}
    for name in levels:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        with native_stderr_off(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def write(net, fmt, out):
    """Export `net` to `out` atomically: into a temporary sibling, then renamed."""
    keras_format, suffix, _ = FORMATS[fmt]
    place = atomic.atomic_dir(out) if fmt == "saved_model" else atomic.atomic_path(out, suffix)
    with place as tmp, quiet_stderr():
        net.export(str(tmp), format=keras_format, verbose=False)


# --- the check in the file's own runtime ------------------------------------------------------
def runtime(fmt, path):
    """images (N, S, S, 3) float32 -> the file's output, run by the format's own runtime on
    this machine's CPU, on every core."""
    if fmt == "saved_model":
        import tensorflow as tf
        loaded = tf.saved_model.load(str(path))
        return lambda images: np.asarray(loaded.serve(tf.constant(images)))
    if fmt == "onnx":
        import onnxruntime
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda images: session.run(None, {name: images})[0]
    from ai_edge_litert.interpreter import Interpreter
    # Every core, as onnxruntime takes by default (LiteRT's own default is one thread).
    interpreter = Interpreter(model_path=str(path), num_threads=os.cpu_count())

    source = interpreter.get_input_details()[0]["index"]
    shape = []

    def run(images):
        if list(images.shape) != shape:  # a new batch size: its buffers, once
            shape[:] = images.shape
            interpreter.resize_tensor_input(source, shape)
            interpreter.allocate_tensors()
        interpreter.set_tensor(source, images)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    return run


# --- the file's speed ---------------------------------------------------------------------------
WARMUP_CALLS = 3
MIN_SECONDS = 1.0  # timed calls are repeated until they have taken this long


def throughput(run, images):
    """Images/s of `run` (runtime's callable) on the batch `images`: after WARMUP_CALLS,
    calls repeated for at least MIN_SECONDS."""
    for _ in range(WARMUP_CALLS):
        run(images)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < MIN_SECONDS:
        run(images)
        calls += 1
    return calls * len(images) / (time.perf_counter() - start)
