#!/bin/bash
# Every row of docs/BENCHMARKS.md's tables: one `run.py bench` per method and preset, one
# at a time (run it on an otherwise idle machine), each writing docs/benchmarks/<name>.json
# and its printed table beside it. The paper presets time 5 steps of 4 images, as a CPU
# trains them at a few images/s. Then `python docs/benchmarks_table.py` prints the tables.
set -eu
cd "$(dirname "$0")/.."
out=docs/benchmarks
mkdir -p "$out"
bench() {  # name args...
  local name=$1; shift
  echo "$(date +%T) $name" >&2
  python run.py bench --category dress "$@" --json "$out/$name.json" > "$out/$name.txt" 2>/dev/null
}
for preset in cpu tiny paper; do
  steps="--steps 20"; [ $preset = paper ] && steps="--steps 5 --batch-size 4"
  for arch in cpm hourglass regression simplebaseline; do
    bench "$arch-$preset" --arch $arch --preset $preset $steps
  done
done
KERAS_BACKEND=jax bench cpm-cpu-jax --arch cpm --preset cpu --steps 20
