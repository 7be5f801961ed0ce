"""The tables of docs/BENCHMARKS.md from the JSON files that docs/benchmarks.sh writes.

    python docs/benchmarks_table.py [docs/benchmarks]

Prints, in Markdown: the machine(s), the training step of every method and preset, the
input pipeline as each of those runs measured it, and the exported models' inference.
"""
import json
import sys
from pathlib import Path

ORDER = ["cpm", "hourglass", "regression", "simplebaseline", "hrnet", "simcc"]
PRESETS = ["tiny", "cpu", "paper"]


def load(folder):
    rows = [dict(json.loads(p.read_text()), file=p.stem) for p in sorted(Path(folder).glob("*.json"))]
    key = lambda r: (r["file"].endswith("jax"), PRESETS.index(r["preset"]), ORDER.index(r["arch"]))
    return sorted(rows, key=key)


def step_cell(figure):
    if not figure:
        return "—"
    return f"{figure['images_per_s']:.3g} ({figure['share_of_matmul']:.0%})"


def training_table(rows):
    rows = [r for r in rows if r["training"]]
    lines = ["| run | input / batch | parameters | GFLOP per image, forward | float32 (share) "
             "| mixed_bfloat16 (share) | bf16 / f32 |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        f32, bf16 = r["training"].get("float32"), r["training"].get("mixed_bfloat16")
        any_figure = f32 or bf16
        ratio = f"{bf16['images_per_s'] / f32['images_per_s']:.2f}×" if f32 and bf16 else "—"
        lines.append(f"| {r['file']} | {r['input_size']} / {r['batch_size']} "
                     f"| {any_figure['parameters'] / 1e6:.2f} M | {any_figure['flops_per_image'] / 1e9:.3g} "
                     f"| {step_cell(f32)} | {step_cell(bf16)} | {ratio} |")
    return lines


def pipeline_table(rows):
    rows = [r for r in rows if r.get("pipeline")]
    lines = ["| run | tf 128 px: 1 / 2 threads | tf 256 px | imgaug 128 px | imgaug 256 px "
             "| preset's size: `--fast` / no augmentation / `--cache` |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        p = r["pipeline"]
        pair = lambda name, size: (f"{p[f'{name}, {size} px, 1 thread']:.0f} / "
                                   f"{p[f'{name}, {size} px, 2 threads']:.0f}")
        s = r["input_size"]
        at_size = " / ".join(f"{p[k]:.0f}" for k in (f"tf, {s} px, --fast", f"tf, {s} px, without augmentation",
                                                    f"tf, {s} px, from the HDF5 cache (--cache)"))
        lines.append(f"| {r['file']} ({r['pipeline_images']} images) | {pair('tf', 128)} | {pair('tf', 256)} "
                     f"| {pair('imgaug', 128)} | {pair('imgaug', 256)} | {at_size} |")
    return lines


def exported_table(rows):
    """Images/s of each exported model (image in, keypoints out), per runtime and batch."""
    rows = [r for r in rows if r.get("exported")]
    lines = ["| run | input | GFLOP per image | onnxruntime, batch 1 / 16 | LiteRT, batch 1 / 16 |",
             "|---|---|---:|---:|---:|"]
    for r in rows:
        cell = lambda fmt: " / ".join(f"{r['exported'][fmt][b]:.3g}" for b in ("1", "16"))
        lines.append(f"| {r['file']} | {r['input_size']} | {r['flops_per_image'] / 1e9:.3g} "
                     f"| {cell('onnx')} | {cell('litert')} |")
    return lines


def matmul_rates(rows):
    rates = {}
    for r in rows:
        for precision, figure in r["training"].items():
            rates.setdefault(precision, []).append(figure["matmul_flops"] / 1e12)
    return "; ".join(f"{p}: {min(v):.2f}–{max(v):.2f} TFLOP/s" for p, v in rates.items())


def main(folder="docs/benchmarks"):
    rows = load(folder)
    if not rows:
        sys.exit(f"error: no bench JSON in {folder}")
    print("Machines: " + "; ".join(sorted({r["machine"] for r in rows})))
    print(f"\nMeasured matrix-product rates (per run, on the spot): {matmul_rates(rows)}\n")
    print("\n".join(training_table(rows)))
    print()
    print("\n".join(pipeline_table(rows)))
    print()
    print("\n".join(exported_table(rows)))


if __name__ == "__main__":
    main(*sys.argv[1:])
