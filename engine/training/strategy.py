"""Which devices train: tf.distribute, chosen by `--strategy`.

    default      one device (the first GPU, else the CPU)
    mirrored     MirroredStrategy over this machine's GPUs (without GPUs: its CPU devices)
    multiworker  MultiWorkerMirroredStrategy over the machines named in TF_CONFIG
    auto         multiworker when TF_CONFIG names a cluster, mirrored with more than
                 one GPU, else default

`--batch-size` is the global batch: each step splits it over every replica.
Only the chief writes the run folder; see `Placement`.
"""
import json
import os
from dataclasses import dataclass

from data_tools.errors import UsageError

STRATEGIES = ("auto", "default", "mirrored", "multiworker")


@dataclass
class Placement:
    """The strategy, and this process's part in it."""
    strategy: object          # a tf.distribute.Strategy
    name: str                 # default, mirrored or multiworker
    replicas: int
    num_workers: int = 1
    worker_index: int = 0
    is_chief: bool = True

    def describe(self):
        if self.name == "multiworker":
            role = "chief" if self.is_chief else "worker, writing to a temporary folder"
            return (f"strategy multiworker: worker {self.worker_index} of {self.num_workers} "
                    f"({role}), {self.replicas} replicas in all")
        return f"strategy {self.name}: {self.replicas} replica(s)"


def read_tf_config():
    """TF_CONFIG as a dict ({} when unset); malformed JSON is a UsageError."""
    text = os.environ.get("TF_CONFIG", "").strip()
    if not text:
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"TF_CONFIG is not valid JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise UsageError('TF_CONFIG needs a "cluster" object, e.g. {"cluster": {"worker": '
                         '["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}')
    task = config.get("task")
    if not isinstance(task, dict) or "type" not in task or "index" not in task:
        raise UsageError('TF_CONFIG needs a "task" object with "type" and "index"')
    return config


def _cluster_size(config):
    return sum(len(hosts) for hosts in config.get("cluster", {}).values()
               if isinstance(hosts, list))


def pick(requested, gpus, config):
    if requested != "auto":
        return requested
    if _cluster_size(config) > 1:
        return "multiworker"
    return "mirrored" if gpus > 1 else "default"


def make(requested):
    """The Placement for `--strategy requested`.

    Call it before any other TensorFlow op: a multi-worker strategy configures the
    collective ops at start-up, and TensorFlow refuses to do that later.
    """
    import tensorflow as tf
    # Physical, not logical: listing logical devices starts the runtime, and then the
    # multi-worker strategy can no longer be made.
    config = read_tf_config()
    name = pick(requested, len(tf.config.list_physical_devices("GPU")), config)
    if name == "default":
        return Placement(tf.distribute.get_strategy(), name, 1)
    if name == "mirrored":
        devices = [d.name for d in (tf.config.list_logical_devices("GPU")
                                    or tf.config.list_logical_devices("CPU"))]
        strategy = tf.distribute.MirroredStrategy(devices)
        return Placement(strategy, name, strategy.num_replicas_in_sync)
    if not config:
        raise UsageError("--strategy multiworker needs TF_CONFIG, the standard JSON that names "
                         "the cluster's workers and this process's task")
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    _work_around_keras_multiworker(tf)
    resolver = strategy.cluster_resolver
    task_type, index = resolver.task_type, int(resolver.task_id)
    cluster = resolver.cluster_spec().as_dict()
    workers = sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
    # Without a "chief" task, worker 0 is the chief; with one, it comes first in the count.
    has_chief = "chief" in cluster
    worker_index = index + (1 if task_type == "worker" and has_chief else 0)
    is_chief = task_type == "chief" or (not has_chief and index == 0)
    return Placement(strategy, name, strategy.num_replicas_in_sync, num_workers=workers,
                     worker_index=worker_index, is_chief=is_chief)


def _work_around_keras_multiworker(tf):
    """Keras 3 (seen in 3.15 with TF 2.21) cannot fit() under MultiWorkerMirroredStrategy.

    Its train and test steps reduce each scalar log with strategy.reduce(MEAN, axis=0),
    which fails on a scalar (keras-team/keras#20585). This reduces every per-replica
    value over all workers with axis=None instead, so each worker logs the global mean.
    The other reductions (predict's concat, sums) are left to Keras.
    """
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer.reduce_per_replica, "fashion_patched", False):
        return
    keras_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None)
                if isinstance(v, tf.distribute.DistributedValues) else v, values)
        return keras_reduce(values, strategy, reduction)

    reduce_per_replica.fashion_patched = True
    trainer.reduce_per_replica = reduce_per_replica


def prepare_fit(model, placement, dataset):
    """Build the model's loss and metric state from `dataset`'s element spec before fit().

    Keras 3 otherwise creates that state inside the first traced training step, and a step
    that creates variables is traced twice by TensorFlow (once to create them, once
    without): on the tiny hourglass, 10 s of a 40 s run. Under MultiWorkerMirroredStrategy,
    Keras' own first-batch build also reduces a whole (x, y) structure at once, which that
    strategy cannot do (keras-team/keras#20585), so there its step is skipped. No data is read.
    """
    with placement.strategy.scope():
        model._symbolic_build(data_batch=dataset.element_spec)
    if placement.name != "multiworker":
        return
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
