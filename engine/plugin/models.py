"""A method's model as the engine uses it: built from a config, compiled, loaded, called.

Every command that needs a model comes here: training, `evaluate --run`, `visualize`,
`predict`, `compare` and `bench`. The precision policy and the device question (is there
a GPU?) are answered here too, so the method folders never see them.
"""
import math
import warnings

import numpy as np

from data_tools.errors import UsageError
from engine.plugin import registry
from engine.plugin.codec import stage_arrays
from engine.runs.run_dir import RunDir


# --- devices and precision --------------------------------------------------------------
def has_gpu():
    import tensorflow as tf
    return bool(tf.config.list_physical_devices("GPU"))


def pick_precision(requested, gpu):
    """The Keras dtype policy: mixed float16 on a GPU and float32 on a CPU unless asked."""
    if requested == "auto":
        return "mixed_float16" if gpu else "float32"
    return requested


def set_precision(policy):
    import keras
    keras.mixed_precision.set_global_policy(policy)


# --- building -------------------------------------------------------------------------------
def build_uncompiled(cfg):
    """(model, codec) of the config's method; options its model refuses are a UsageError."""
    method = registry.get(cfg["arch"])
    num_keypoints = len(cfg["names"])
    try:
        model = method.build_model(num_keypoints, cfg)
        codec = method.make_codec(cfg, num_keypoints)
    except (RuntimeError, ValueError) as e:
        raise UsageError(str(e).splitlines()[0]) from None
    # An attribute Keras tracks: the loss's weights join the model's trainable variables
    # and its checkpoints (None for a loss without weights).
    model.codec_loss = codec.loss_layer()
    return model, codec


def check_buildable(cfg, option):
    """A UsageError naming `option` if the config's model cannot be built (an input size or
    width its method does not take); checked before a run folder is made."""
    if option == "--input-size" and cfg["input_size"] < 16:
        raise UsageError(f"--input-size must be at least 16 px, got {cfg['input_size']}")
    try:
        build_uncompiled(cfg)
    except UsageError as e:
        raise UsageError(f"{option} {cfg[option[2:].replace('-', '_')]}: {e}") from None


def learning_rate_schedule(cfg):
    """Adam's schedule: a linear warm-up from lr/10 over cfg["warmup_epochs"], then cosine
    decay to 2% of lr at the last step."""
    import keras
    steps = max(1, math.ceil(cfg["train_images"] / cfg["batch_size"]))
    warmup = min(cfg["warmup_epochs"], cfg["epochs"] - 1) * steps
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg["lr"] * (0.1 if warmup else 1.0),
        decay_steps=max(1, cfg["epochs"] * steps - warmup), alpha=0.02,
        warmup_target=cfg["lr"] if warmup else None, warmup_steps=warmup)


def build(cfg):
    """The config's model and codec, compiled with Adam on the training schedule.

    The optimizer's variables are built too: a checkpoint holds them (so that --resume
    continues Adam's moments), and loading it into a model without them would skip them.
    """
    import keras
    model, codec = build_uncompiled(cfg)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate_schedule(cfg)),
                  loss=[codec.loss] * codec.num_stages, jit_compile=has_gpu())
    model.optimizer.build(model.trainable_variables)
    return model, codec


def network_parameters(model):
    """The parameters of the network itself: a loss's own weights, which some codecs attach
    to the model so that they train with it (see Codec.loss_layer), are not counted."""
    return int(sum(layer.count_params() for layer in model.layers))


# --- weights ----------------------------------------------------------------------------------
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


def load_run(run_path, decode=None, precision=None):
    """(run folder, config, model, codec) of a trained run, with its best weights (the last
    if no epoch was best); `decode` (e.g. "dark"), if given, is the decoder its codec uses
    in place of the run's own (cfg["decode"]); `precision`, if given, the dtype policy the
    model is built in instead of the run's (its checkpoint's weights are float32 either way).

    The model comes from config.json and only its weights from the checkpoint (see
    load_weights): a checkpoint swapped in from another run is refused.
    """
    run = RunDir(run_path)
    cfg = run.read_config()
    weights = run.best_weights if run.best_weights.is_file() else run.last_weights
    if not weights.is_file():
        raise UsageError(f"{run.path} has no checkpoint yet")
    if decode:
        cfg["decode"] = decode
    if precision:
        cfg["precision"] = precision
    set_precision(cfg["precision"])
    model, codec = build(cfg)
    load_weights(model, weights, f"the {cfg['category']} {cfg['arch']} model of "
                 f"{run.config_file} ({len(cfg['names'])} keypoints)")
    return run, cfg, model, codec


# --- calling ------------------------------------------------------------------------------------
class LocalPredictor:
    """`predict_on_batch` of a model on this process alone, for scores and pictures.

    Keras' own predict_on_batch, under a tf.distribute strategy, hands the whole batch
    to every replica and returns it once per replica (twice the rows on two devices),
    and in a multi-worker run it waits on the other workers. A compiled plain call
    is as fast and means the same under every strategy.
    """

    def __init__(self, model):
        import tensorflow as tf
        # One trace for every batch size (the evaluation's last batch, the pictures' four
        # images): tracing a model again costs seconds.
        spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
        self._call = tf.function(lambda images: model(images, training=False),
                                 input_signature=[spec])

    def predict_on_batch(self, images):
        return stage_arrays(self._call(images))


def _layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers"):  # a nested model (an applications backbone)
            yield from _layers(layer)
        else:
            yield layer


def _call_shapes(layer):
    """(input shape, output shape) of each call of `layer` in its model's graph: a layer
    called from several places (one kernel shared) does its work once per call. Keras keeps
    the calls as the layer's inbound nodes; `layer.output` exists only for a single call."""
    return [(node.input_tensors[0].shape, node.output_tensors[0].shape)
            for node in layer._inbound_nodes]


def forward_flops(model):
    """Multiply-adds x 2 of one image's forward pass through the convolutions and dense layers.

    Counted from each layer's weights and the output shape of each of its calls; elementwise
    work (activations, normalisation, softmax) is left out, as it is small beside them.
    """
    total = 0
    for layer in _layers(model):
        kind = type(layer).__name__
        if kind not in ("Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "Dense"):
            continue
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        per_position = int(np.prod(kernel.shape))
        for input_shape, output_shape in _call_shapes(layer):
            # A transposed convolution scatters each input position through the whole kernel.
            shape = input_shape if kind == "Conv2DTranspose" else output_shape
            positions = int(np.prod(shape[1:-1])) if len(shape) > 2 else 1
            total += 2 * positions * per_position
    return total
