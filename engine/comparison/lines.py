"""The lines of a comparison and their runs: every method of the registry, its variants
and the --lines names, each with one run folder per seed index; runs that differ in data,
split or preset are refused; with --train, the missing ones are trained here."""
import dataclasses
from pathlib import Path

from data_tools import pipeline
from data_tools.errors import DataError, UsageError
from engine.plugin import registry
from engine.runs import data_source
from engine.runs.run_dir import run_name, RunDir
from engine.training import loop


# Runs are comparable only if they saw the same images, split the same way, at the same sizes.
MUST_AGREE = ("data_fingerprint", "split_rule", "val_fraction", "preset")


@dataclasses.dataclass(frozen=True)
class Entry:
    """One line of the comparison: a method as its preset trains it, or one of its variants."""
    arch: str
    variant: str = None
    options: tuple = ()  # loop.Options.method_options as pairs, e.g. (("loss", "rle"),)
    extra: bool = False  # a --lines name: shown where its runs exist, never trained here

    @property
    def label(self):
        return f"{self.arch}-{self.variant}" if self.variant else self.arch

    def name(self, seed_index):
        """The run's --name: the variant, then seed<i> for every seed index but the first."""
        parts = [self.variant] if self.variant else []
        parts += [f"seed{seed_index}"] if seed_index else []
        return "-".join(parts) or None

    def run_name(self, category, seed_index):
        return run_name(category, self.arch, self.name(seed_index))


def entries(lines=(), methods=None):
    """Every method of the registry (or of `methods`, --methods), each followed by its
    variants and the --lines names."""
    for arch in registry.METHODS:
        if methods and arch not in methods:
            continue
        yield Entry(arch)
        for variant, options in registry.get(arch).variants.items():
            yield Entry(arch, variant, tuple(options.items()))
        for name in lines:
            yield Entry(arch, name, extra=True)


def find_runs(runs_dir, category, seeds, train, lines=(), methods=None):
    """{Entry: [RunDir or None, one per seed index]}: the run folders that have a checkpoint.
    A --lines name appears only for the methods that have a run of it."""
    if not Path(runs_dir).is_dir() and not train:
        raise UsageError(f"--runs-dir {runs_dir} does not exist (add --train to train "
                         f"the methods there)")
    runs = {}
    for entry in entries(lines, methods):
        if entry.extra and not any((Path(runs_dir) / entry.run_name(category, i)).exists()
                                   for i in range(seeds)):
            continue
        runs[entry] = []
        for i in range(seeds):
            run = RunDir(Path(runs_dir) / entry.run_name(category, i))
            if not run.path.exists():
                runs[entry].append(None)
            elif run.best_weights.is_file() or run.last_weights.is_file():
                runs[entry].append(run)
            else:  # training it again would make a "-2" folder that compare never looks at
                raise UsageError(f"{run.path} has no checkpoint (an unfinished run?): resume "
                                 f"it with `run.py train --resume` or remove it")
    return runs


def check_comparable(runs, preset=None):
    """The first run's config, after refusing any run that differs from it; None if no run."""
    reference, first = None, None
    for run in (run for seeds in runs.values() for run in seeds if run):
        cfg = run.read_config()
        if preset and cfg.get("preset") != preset:
            raise UsageError(f"{run.path} was trained with preset {cfg.get('preset')}, "
                             f"not {preset} (--preset)")
        if reference is None:
            reference, first = cfg, run.path
            continue
        for key in MUST_AGREE:
            if cfg.get(key) != reference.get(key):
                raise UsageError(f"{run.path} differs from {first} in {key}: "
                                 f"{cfg.get(key)} vs {reference.get(key)}; "
                                 f"compare needs runs on the same data, split and preset")
    return reference


def base_seed(runs, reference):
    """The seed of seed index 0: that of a first-seed run already there, else the
    reference run's, else 0. Seed index i trains with base + i."""
    for seeds in runs.values():
        if seeds[0]:
            return int(seeds[0].read_config().get("seed", 0))
    return int(reference["seed"]) if reference else 0


def train_missing(runs, args, reference, data_dir):
    """Train every missing run in-process, with the settings of the runs already there."""
    import keras
    seed = base_seed(runs, reference)
    settings = dict(category=args.category, out=args.runs_dir,
                    data_dir=str(data_dir) if data_dir else None,
                    preset=args.preset or (reference and reference["preset"]) or "auto",
                    epochs=args.epochs or (reference and reference["epochs"]) or None)
    for entry, seeds in runs.items():
        for i in [i for i, run in enumerate(seeds) if run is None and not entry.extra]:
            print(f"compare: training {entry.run_name(args.category, i)} (no run yet)", flush=True)
            options = loop.Options(arch=entry.arch, name=entry.name(i), seed=seed + i,
                                   method_options=dict(entry.options), **settings)
            code = loop.train(options)
            keras.backend.clear_session()  # the next model starts from a clean graph
            if code:
                return code
    return 0


def load_split(data_dir, cfg):
    """(train, val) of the runs' category in `data_dir`, which must hold the runs' data."""
    ann = data_source.load_annotations({"data_dir": str(data_dir), "category": cfg["category"]})
    fingerprint = pipeline.dataset_fingerprint(ann)
    if fingerprint != cfg["data_fingerprint"]:
        raise DataError(f"the {cfg['category']} annotations here (fingerprint {fingerprint}) "
                        f"are not the ones the runs were trained on ({cfg['data_fingerprint']})",
                        data_dir)
    return data_source.split(cfg, ann)
