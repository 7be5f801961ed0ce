"""Where training data comes from: --data-dir, the real data's default place, or synthetic."""
import shutil
import sys
import tempfile
from pathlib import Path

from data_tools.errors import DataError

DEFAULT_REAL = Path("data/fashionai")
DEFAULT_SYNTHETIC = Path("data/synthetic")
TRAIN_CSV = Path("Annotations/train.csv")


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
    if not (target / TRAIN_CSV).is_file():
        generate_once(target, images_per_category, seed)
    return target


def generate_once(target, images_per_category, seed):
    """Generate into a temporary sibling and rename, so a killed run leaves no half set."""
    from data_tools import synth
    print(f"no dataset given and none in {DEFAULT_REAL}: generating a synthetic "
          f"FashionAI-format set ({images_per_category} images per category) in {target}",
          flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        synth.generate(tmp, images_per_category, seed=seed, progress=sys.stderr.isatty())
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
