"""A trained run, loaded in one place for scoring and pictures: its model and codec with
their weights, and its data as it trained on it (the split, a second stage's crops, the
validation batches with their meta). evaluate, visualize and compare load a run here, and
export reads its split here."""
import dataclasses

from engine.inference import test_time, two_stage
from engine.plugin import models
from engine.runs import data_source
from engine.runs.run_dir import RunDir


@dataclasses.dataclass
class TrainedRun:
    run: RunDir
    cfg: dict
    model: object    # keras.Model with the run's best weights (the last if none was best)
    codec: object
    train: object    # Annotations of the training split
    val: object      # Annotations of the validation split
    crops: object    # two_stage.Crops of a second stage, else None
    meta_ds: object  # the validation batches, with each image's meta


def split_of(cfg):
    """(train, val): the run's data folder, checked and split as the run was trained."""
    data_source.check_layout(cfg["data_dir"])
    return data_source.split(cfg, data_source.load_annotations(cfg))


def load(run_path, decode=None, split=None):
    """The TrainedRun of `run_path`; `decode` a decoder in place of the run's own (e.g.
    "dark"); `split` (train, val) when the caller has checked and split the data already."""
    cfg = RunDir(run_path).read_config()
    train, val = split if split is not None else split_of(cfg)
    crops = test_time.second_stage_crops(cfg, train, val) if two_stage.first_stage_of(cfg) else None
    run, cfg, model, codec = models.load_run(run_path, decode)
    _, _, meta_ds = data_source.datasets(cfg, codec, train, val, crops=crops)
    return TrainedRun(run, cfg, model, codec, train, val, crops, meta_ds)
