#!/bin/bash
# One seed's runs of `compare --train --seeds 3 --category CATEGORY`, in compare's settings,
# one method after another (the RLE line last). Three lanes, one per seed, run at once:
# at any moment the machine trains three copies of one method, so every method is timed
# under the same sharing. From the repository root, with the default synthetic set in
# data/synthetic (any first run makes it, or: python run.py synth --out data/synthetic
# --images-per-category 800 --seed 0):
#     for s in 0 1 2; do docs/results/train_lanes.sh dress $s & done; wait
#     python run.py compare --category dress --seeds 3 --data-dir data/synthetic --out report
set -u
CODE=${CODE:-$(cd "$(dirname "$0")/../.." && pwd)}
category=$1
seed=$2
for line in "cpm" "hourglass" "simplebaseline" "regression" "regression rle"; do
  set -- $line
  arch=$1; variant=${2:-}
  suffix="$variant"
  [ "$seed" != 0 ] && suffix="${suffix:+$suffix-}seed$seed"
  name="$category-$arch${suffix:+-$suffix}"
  [ -e "runs/$name/checkpoints/best.weights.h5" ] && continue
  extra=()
  [ -n "$variant" ] && extra+=(--loss "$variant")
  [ -n "$suffix" ] && extra+=(--name "$suffix")
  mkdir -p logs; echo "$(date +%T) training $name" >> train_all.log
  python "$CODE/run.py" train --arch "$arch" --category "$category" --preset cpu --seed "$seed" \
    --data-dir data/synthetic --out runs "${extra[@]}" > "logs/$name.log" 2>&1
  echo "$(date +%T) done $name exit $?" >> train_all.log
done
