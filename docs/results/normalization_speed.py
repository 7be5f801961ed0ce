#!/usr/bin/env python
"""The input's normalisation in exported models: per-channel constants (Keras's Rescaling)
against row-long ones (engine/plugin/backbones.py's ChannelAffine), the same arithmetic.

From the repository root, on an otherwise idle machine:

    python docs/results/normalization_speed.py [--preset cpu] [--archs ...] [--formats onnx litert]

For each method, the preset's model is built twice from the same seed, once with each
normalisation layer (the weights are the same: neither layer has any), exported as
`export --decode` writes it, and timed by `bench`'s code (engine/inference/exported.py) at
batch 1 and 16, the two files taking turns so that both see the same machine. Prints a
Markdown table of images/s and the ratio new / old, and checks that both files give the
same keypoints.
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

BATCHES = (1, 16)
ROUNDS = 2  # each file is timed this many times per batch, taking turns; the best counts


def per_channel(scale, offset, name):
    import keras
    return keras.layers.Rescaling(scale=scale, offset=offset, name=name)


def build_exportable(cfg, old):
    """The preset's exported network, with the per-channel (old) or row-long normalisation."""
    from engine.inference import exported
    from engine.plugin import backbones
    row_long = backbones.ChannelAffine
    if old:
        backbones.ChannelAffine = per_channel
    try:
        return exported.untrained(cfg)[0]
    finally:
        backbones.ChannelAffine = row_long


def rates(cfg, fmt, tmp):
    """{"old"|"new": {batch: images/s}} and the largest keypoint difference between the two."""
    from engine.inference import exported
    runs = {}
    for which in ("old", "new"):
        path = Path(tmp) / f"{cfg['arch']}-{which}{exported.FORMATS[fmt][1]}"
        exported.write(build_exportable(cfg, old=which == "old"), fmt, path)
        with exported.quiet_stderr():
            runs[which] = exported.runtime(fmt, path)
    size = int(cfg["input_size"])
    rng = np.random.default_rng(0)
    images = {batch: rng.random((batch, size, size, 3), dtype=np.float32) for batch in BATCHES}
    best = {which: {batch: 0.0 for batch in BATCHES} for which in runs}
    with exported.quiet_stderr():
        gap = float(np.abs(runs["old"](images[16]) - runs["new"](images[16])).max())
        for _ in range(ROUNDS):
            for batch in BATCHES:
                for which, run in runs.items():
                    best[which][batch] = max(best[which][batch],
                                             exported.throughput(run, images[batch]))
    return best, gap


def main():
    from data_tools import schema
    from engine.plugin import presets, registry
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu", choices=("tiny", "cpu", "paper"))
    parser.add_argument("--archs", nargs="+", default=[m.name for m in registry.all_methods()])
    parser.add_argument("--formats", nargs="+", default=["onnx", "litert"])
    args = parser.parse_args()
    names = list(schema.keypoint_names("dress"))
    print("| method | input | format | batch 1: old / new (ratio) | batch 16: old / new (ratio) | keypoints' largest difference (px) |")
    print("|---|---:|---|---|---|---:|")
    with tempfile.TemporaryDirectory(prefix="fashion-norm-") as tmp:
        for arch in args.archs:
            cfg = {**presets.resolve(args.preset, arch), "names": names, "weights": "none"}
            for fmt in args.formats:
                best, gap = rates(cfg, fmt, tmp)
                cells = [f"{best['old'][b]:.0f} / {best['new'][b]:.0f} "
                         f"({best['new'][b] / best['old'][b]:.2f}x)" for b in BATCHES]
                print(f"| {arch} | {cfg['input_size']} | {fmt} | {cells[0]} | {cells[1]} | {gap:.2g} |",
                      flush=True)


if __name__ == "__main__":
    main()
