"""A run's data: which folder (--data-dir, the real data's default place, or a synthetic
set generated once), its readable images of the category, the train/val split, and the
tf.data sets that training and scoring read.
"""
import shutil
import tempfile
from pathlib import Path

from data_tools import fashion_csv, pipeline
from data_tools.errors import DataError

DEFAULT_REAL = Path("data/fashionai")
DEFAULT_SYNTHETIC = Path("data/synthetic")
TRAIN_CSV = Path("Annotations/train.csv")
VAL_FRACTION = 0.15


def check_layout(data_dir):
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"--data-dir {data_dir} does not exist or is not a folder")
    if not (data_dir / TRAIN_CSV).is_file():
        raise DataError(f"{data_dir} is not a FashionAI folder: it has no {TRAIN_CSV}")
    return data_dir


def synthetic_dir(images_per_category, default_count):
    if images_per_category == default_count:
        return DEFAULT_SYNTHETIC
    return Path(f"{DEFAULT_SYNTHETIC}-{images_per_category}")


def resolve(data_dir, images_per_category, default_count, seed=0):
    """The dataset folder to use, generating the synthetic default once if needed."""
    if data_dir:
        return check_layout(data_dir)
    if (DEFAULT_REAL / TRAIN_CSV).is_file():
        return DEFAULT_REAL
    target = synthetic_dir(images_per_category, default_count)
    from data_tools import synth
    if not (target / TRAIN_CSV).is_file():
        generate_once(target, images_per_category, seed)
    elif not synth.made_by_this_version(target):
        generate_once(target, images_per_category, seed,
                      why=f"the synthetic set in {target} is from an older generator")
    return target


def generate_once(target, images_per_category, seed, why=None):
    """Generate into a temporary sibling and rename, so a killed run leaves no half set."""
    from data_tools import synth
    why = why or f"no dataset given and none in {DEFAULT_REAL}"
    print(f"{why}: generating a synthetic FashionAI-format set ({images_per_category} "
          f"images per category) in {target}", flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        synth.generate(tmp, images_per_category, seed=seed)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def load_annotations(cfg, strict=False, run=None):
    """The category's images, minus those that cannot be read (listed in the run folder)."""
    csv_path = Path(cfg["data_dir"]) / TRAIN_CSV
    ann = fashion_csv.read_annotations(csv_path).of_category(cfg["category"])
    if len(ann) == 0:
        raise DataError(f"no images of category {cfg['category']!r}", csv_path)
    faults = pipeline.scan_images(ann, how=pipeline.LETTERBOX_OF[augmenter_of(cfg)])
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


def augmenter_of(cfg):
    """The run's augmenter, which also reads its evaluation images; runs made before the
    TensorFlow one existed used imgaug and OpenCV."""
    return cfg.get("augmenter", "imgaug")


def split(cfg, ann):
    """(train, val) by the pipeline's split rule with the config's val_fraction."""
    train, val = pipeline.split_train_val(ann, cfg["val_fraction"])
    if len(train) == 0 or len(val) == 0:
        raise DataError(f"{len(ann)} image(s) of {cfg['category']} are too few to hold out "
                        f"a validation split", ann.csv_path)
    return train, val


def cache_file(cfg, part):
    """The run's HDF5 cache of letterboxed images (with --cache), else None."""
    return str(Path(cfg["run_dir"]) / f"cache-{part}.h5") if cfg.get("cache") else None


def datasets(cfg, codec, train, val, shard=None, fast=False, weights=None, crops=None):
    """Training (augmented, encoded), validation (encoded) and evaluation (with meta) sets.

    shard: (number of workers, this worker's index) in a multi-worker run, where each
    worker reads its own share of the training and validation images; the evaluation
    set is whole on every worker. weights: per training image (engine/training/curriculum.py).
    crops: a second stage's boxes (engine/two_stage.Crops): training and validation read
    the crops around the annotated points (training's jittered), evaluation the first
    stage's, so that the scores are end to end.
    """
    common = dict(names=cfg["names"], input_size=cfg["input_size"], augmenter=augmenter_of(cfg),
                  batch_size=cfg["batch_size"], seed=cfg["seed"], deterministic=not fast)
    boxes = {}
    if crops is not None:
        jitter = {"shift": cfg["crop"]["shift"], "scale": tuple(cfg["crop"]["scale"])}
        boxes = {"train": dict(boxes=crops.train, box_jitter=jitter),
                 "val": dict(boxes=crops.val), "meta": dict(boxes=crops.end_to_end)}
    train_ds = pipeline.make_dataset(train, encode=codec.encode, training=True,
                                     augment_cfg=cfg["augment"], shard=shard, weights=weights,
                                     cache_path=cache_file(cfg, "train"), **common,
                                     **boxes.get("train", {}))
    val_ds = pipeline.make_dataset(val, encode=codec.encode, cache_path=cache_file(cfg, "val"),
                                   shard=shard, **common, **boxes.get("val", {}))
    meta_ds = pipeline.make_dataset(val, with_meta=True, cache_path=cache_file(cfg, "val"),
                                    **common, **boxes.get("meta", {}))
    return train_ds, val_ds, meta_ds
