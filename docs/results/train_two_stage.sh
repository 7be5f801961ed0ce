#!/bin/bash
# The runs of the two-stage table (docs/results/two_stage.py), for one category and seed:
# the first stage (the cpu hourglass at 64 px), the second stage on its crops (the cpu
# hourglass at 128 px, 76 features instead of 88, so that both stages together cost what
# one 128 px hourglass does), and the one-stage hourglass at 128 px (the comparison's own
# run) and at 192 px. Two lanes at once on a 2-core machine, e.g.
#     for s in 0 1 2; do docs/results/train_two_stage.sh skirt $s; done &
#     for s in 0 1 2; do docs/results/train_two_stage.sh dress $s; done & wait
set -u
CODE=${CODE:-$(cd "$(dirname "$0")/../.." && pwd)}
category=$1
seed=$2
suffix=""; [ "$seed" != 0 ] && suffix="-seed$seed"
train() {  # name args...
  local name=$1; shift
  [ -e "runs/$name/checkpoints/best.weights.h5" ] && return
  mkdir -p logs; echo "$(date +%T) training $name" >> train_all.log
  python "$CODE/run.py" train --arch hourglass --category "$category" --preset cpu \
    --data-dir data/synthetic --seed "$seed" "$@" > "logs/$name.log" 2>&1
  echo "$(date +%T) done $name exit $?" >> train_all.log
}
seedname=""; [ "$seed" != 0 ] && seedname="--name seed$seed"
train "$category-hourglass$suffix" $seedname
train "$category-hourglass-64px$suffix" --input-size 64 --name "64px$suffix"
train "$category-hourglass-crop$suffix" --features 76 --name "crop$suffix" \
  --first-stage "runs/$category-hourglass-64px$suffix"
train "$category-hourglass-192px$suffix" --input-size 192 --name "192px$suffix"
