#!/bin/bash
# Every row of docs/BENCHMARKS.md's tables: one `run.py bench` per method and preset, one
# at a time (run it on an otherwise idle machine), each writing docs/benchmarks/<name>.json
# and its printed table beside it. The paper presets time 5 steps of 4 images, as a CPU
# trains them at a few images/s. Then `python docs/benchmarks_table.py` prints the tables.
# ARCHS="hrnet simcc" docs/benchmarks.sh measures only those methods' training rows, and
# EXPORTED="..." only those methods' exported rows (each default: all six).
set -eu
cd "$(dirname "$0")/.."
out=docs/benchmarks
mkdir -p "$out"
bench() {  # name args...
  local name=$1; shift
  echo "$(date +%T) $name" >&2
  python run.py bench --category dress "$@" --json "$out/$name.json" > "$out/$name.txt" 2>/dev/null
}
ALL="cpm hourglass regression simplebaseline hrnet simcc"
ARCHS=${ARCHS-$ALL}
EXPORTED=${EXPORTED-$ALL}
for preset in cpu tiny paper; do
  steps="--steps 20"; [ $preset = paper ] && steps="--steps 5 --batch-size 4"
  for arch in $ARCHS; do
    bench "$arch-$preset" --arch $arch --preset $preset $steps
  done
done
# The exported models (image in, keypoints out) in onnxruntime and LiteRT, batch 1 and 16.
for preset in cpu paper; do
  for arch in $EXPORTED; do
    bench "$arch-$preset-exported" --arch $arch --preset $preset --exported onnx litert
  done
done
[ "$ARCHS" = "${ARCHS/cpm/}" ] || KERAS_BACKEND=jax bench cpm-cpu-jax --arch cpm --preset cpu --steps 20
