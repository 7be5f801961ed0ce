#!/bin/bash
# The methods on photographs: every method (and regression's RLE variant) trained on the real
# sample's training dresses only, cpu preset, seeds 0, 1, 2, from scratch; the runs that
# score.py --table methods then scores on test-A. Two lanes at once on a 2-core machine:
#     docs/results/real/train_methods.sh SAMPLE RUNS hourglass simplebaseline &
#     docs/results/real/train_methods.sh SAMPLE RUNS cpm regression & wait
# SAMPLE: the real sample's folder (its train/ is trained on); RUNS: where the runs go.
set -eu
CODE=${CODE:-$(cd "$(dirname "$0")/../../.." && pwd)}
sample=$1; runs=$2; shift 2
[ -f "$sample/train/Annotations/train.csv" ] || { echo "error: $sample is not the real sample (no train/Annotations/train.csv)" >&2; exit 2; }
python "$CODE/run.py" compare --category dress --data-dir "$sample/train" --preset cpu \
  --seeds 3 --train --runs-dir "$runs" --methods "$@" --out "$runs/compare-val-$(echo "$@" | tr ' ' '-')"
