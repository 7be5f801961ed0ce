"""`--curriculum`: each training image weighted by how hard it was at the last epoch's end.

Seed 003's Ada-Batch: rank the images by their loss, call the first 30% easy, the next
40% medium and the last 30% hard; early in training feed the model mostly easy ones,
later mostly hard ones, and never drop the easy ones. Here that is a per-image weight of
the loss, so that every image is still seen once per epoch in the seed's shuffled order:

    epoch 1          every weight 1 (no loss is known yet)
    epochs 2 to E    easy 1, medium 1, hard from 0.5 (epoch 2) to 1.5 (epoch E) in even
                     steps, then all scaled so that the weights' mean is 1

so hard images count half as much as easy ones early on and one and a half times as
much at the end; the mean of 1 keeps the learning rate's meaning. The ranking is by each
image's loss (every stage's, summed) on its unaugmented image, computed after each epoch
with the epoch's final weights, in inference mode: not the loss of the epoch's augmented
batches, which changed as the weights did.

The weights live in a tf.Variable that the training set's map reads, and the training
set is a finite one that Keras iterates afresh each epoch (engine/training/loop.py): every
element of an epoch is made after the previous epoch's update, so a seed's epochs are
the same from one run to the next. Each epoch's losses are written to
checkpoints/curriculum.csv (one column per epoch) before state.json names the epoch, so
--resume takes the weights from the epoch it resumes after.
"""
import csv
import io

import numpy as np

from data_tools import atomic, pipeline
from data_tools.errors import UsageError
from engine.plugin.codec import stage_arrays
from engine.runs import data_source

TIERS = (0.3, 0.4, 0.3)  # easy, medium and hard shares of the images, by rank
HARD_START, HARD_END = 0.5, 1.5  # the hard tier's weight at the second and the last epoch


def tier_of(losses):
    """0 easy, 1 medium, 2 hard for each image, by rank of its loss (ties by index)."""
    order = np.argsort(np.asarray(losses, np.float64), kind="stable")
    tiers = np.empty(len(order), np.int64)
    bounds = np.round(np.cumsum(TIERS) * len(order)).astype(int)
    tiers[order] = np.searchsorted(bounds, np.arange(len(order)), side="right")
    return tiers


def weights_for(losses, epoch, epochs):
    """The (N,) float32 weights of epoch `epoch` (1-based) of `epochs`, from the losses
    measured after the epoch before (None for the first epoch: all ones)."""
    if losses is None:
        return None
    progress = (epoch - 2) / max(1, epochs - 2)  # 0 at epoch 2, 1 at the last
    hard = HARD_START + (HARD_END - HARD_START) * min(max(progress, 0.0), 1.0)
    weights = np.array([1.0, 1.0, hard])[tier_of(losses)]
    return (weights / weights.mean()).astype(np.float32)


class Curriculum:
    """The weights of one run's training images, and what updates them after an epoch.

    train: the training Annotations, in the order the pipeline indexes them;
    predictor: the model's predict_on_batch (a LocalPredictor); boxes: a second stage's
    training crops (engine/inference/two_stage.py), unjittered.
    """

    def __init__(self, cfg, codec, train, predictor, run, boxes=None):
        import tensorflow as tf
        self.codec, self.predictor, self.run = codec, predictor, run
        self.image_ids = list(train.image_ids)
        self.epochs = int(cfg["epochs"])
        self.path = run.checkpoints / "curriculum.csv"
        self.weights = tf.Variable(np.ones(len(train), np.float32), trainable=False,
                                   name="curriculum_weights")
        # Unaugmented, encoded, in index order: the loss each image gives the model now.
        self.dataset = pipeline.make_dataset(
            train, encode=codec.encode, names=cfg["names"], input_size=cfg["input_size"],
            batch_size=cfg["batch_size"], augmenter=data_source.augmenter_of(cfg), boxes=boxes)
        self.columns = {}  # epoch -> (N,) losses

    def image_losses(self):
        """(N,) float64: each training image's loss, every stage's summed."""
        losses = []
        for images, targets in self.dataset:
            outputs = self.predictor.predict_on_batch(images)
            per_stage = [np.asarray(self.codec.loss(t, o), np.float64)
                         for t, o in zip(targets, stage_arrays(outputs))]
            losses.append(np.sum(per_stage, axis=0))
        return np.concatenate(losses)

    def after_epoch(self, epoch):
        """Measure the losses after `epoch` (1-based), record them, set the next weights."""
        self.columns[epoch] = self.image_losses()
        self._write()
        self._set(epoch + 1)

    def resume(self, epoch):
        """Take back the losses of epochs 1..`epoch` from curriculum.csv."""
        if epoch == 0:
            return
        try:
            with open(self.path, newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            if [r["image_id"] for r in rows] != self.image_ids:
                raise KeyError("image_id")
            self.columns = {e: np.array([float(r[f"epoch_{e}"]) for r in rows])
                            for e in range(1, epoch + 1)}
        except (OSError, KeyError, ValueError) as e:
            raise UsageError(f"--resume: {self.path} does not hold the curriculum's losses "
                             f"of epochs 1 to {epoch} for this run's images ({e})") from None
        self._set(epoch + 1)

    def _set(self, epoch):
        weights = weights_for(self.columns.get(epoch - 1), epoch, self.epochs)
        if weights is not None:
            self.weights.assign(weights)

    def _write(self):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        epochs = sorted(self.columns)
        writer.writerow(["image_id", *(f"epoch_{e}" for e in epochs)])
        for n, image_id in enumerate(self.image_ids):
            # repr: the shortest text that reads back as the same float, so a resumed
            # run ranks its images exactly as the uninterrupted one would.
            writer.writerow([image_id, *(repr(float(self.columns[e][n])) for e in epochs)])
        atomic.write_text(self.path, out.getvalue())
