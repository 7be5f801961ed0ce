#!/bin/bash
# One seed's hourglass runs of the training steps' table (docs/results/recipes.py): online
# hard keypoint mining (8 of the dress's 15 keypoints) and the curriculum; or, with "plain",
# the comparison's own hourglass runs of seeds 0 and 1 trained again into runs-timing/ (the
# same figures: training is deterministic), so that every line's training time is measured
# under the same sharing of the machine. Three lanes at once, then the third seed:
#     for s in 0 1; do docs/results/train_recipes.sh dress $s & done; \
#         docs/results/train_recipes.sh dress plain & wait
#     docs/results/train_recipes.sh dress 2
set -u
CODE=${CODE:-$(cd "$(dirname "$0")/../.." && pwd)}
category=$1
seed=$2
train() {  # name out args...
  local name=$1 out=$2; shift 2
  [ -e "$out/$name/checkpoints/best.weights.h5" ] && return
  mkdir -p logs; echo "$(date +%T) training $name" >> train_all.log
  python "$CODE/run.py" train --arch hourglass --category "$category" --preset cpu \
    --data-dir data/synthetic --out "$out" "$@" > "logs/$out-$name.log" 2>&1
  echo "$(date +%T) done $out/$name exit $?" >> train_all.log
}
if [ "$seed" = plain ]; then  # the comparison's seeds 0 and 1, trained again for their times
  train "$category-hourglass" runs-timing --seed 0
  train "$category-hourglass-seed1" runs-timing --seed 1 --name seed1
  exit
fi
suffix=""; [ "$seed" != 0 ] && suffix="-seed$seed"
train "$category-hourglass-ohkm8$suffix" runs --seed "$seed" --hard-keypoints 8 --name "ohkm8$suffix"
train "$category-hourglass-curriculum$suffix" runs --seed "$seed" --curriculum --name "curriculum$suffix"
