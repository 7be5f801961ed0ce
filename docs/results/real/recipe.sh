#!/bin/bash
# The recipe that scored best on the real photographs within about an hour of training per
# category on a 2-core CPU (docs/results/real/README.md, "The recipe"): one hourglass trained
# at 192 px on the photos of all five categories, twice (seeds 0 and 1), and at test time
# both runs as one ensemble, each seeing the image and its mirror at three scales, decoded
# with DARK.
#     docs/results/real/recipe.sh CATEGORY TRAIN_DIR RUNS_DIR
# trains what CATEGORY needs (the joint runs are shared: a second category trains nothing)
# and prints, as its last line, the options to give `run.py predict` for CATEGORY, e.g.
#     python run.py predict $(docs/results/real/recipe.sh dress data/fashionai runs | tail -1) \
#         --test-csv TEST.csv --out submission.csv
# CATEGORY all: the same runs, and options that predict every category.
# TRAIN_DIR: a FashionAI folder (Annotations/train.csv and its images); RUNS_DIR: where the
# runs go, as all-hourglass-192px and all-hourglass-192px-seed1. PRESET, EPOCHS and
# INPUT_SIZE (cpu, the preset's 28 and 192 by default) make a quick check of the script
# itself, not the recipe.
set -eu
CODE=${CODE:-$(cd "$(dirname "$0")/../../.." && pwd)}
[ $# = 3 ] || { echo "error: usage: recipe.sh CATEGORY TRAIN_DIR RUNS_DIR" >&2; exit 2; }
category=$1; train_dir=$2; runs=$3
case $category in
  blouse|outwear|dress|skirt|trousers|all) ;;
  *) echo "error: CATEGORY must be blouse, outwear, dress, skirt, trousers or all, got $category" >&2; exit 2 ;;
esac
[ -f "$train_dir/Annotations/train.csv" ] || { echo "error: $train_dir is not a FashionAI folder (no Annotations/train.csv)" >&2; exit 2; }
[ "$category" = all ] || grep -q ",$category," "$train_dir/Annotations/train.csv" || { echo "error: $train_dir/Annotations/train.csv has no $category row" >&2; exit 2; }
. "$(dirname "$0")/hourglass_run.sh"
size=${INPUT_SIZE:-192}
for seed in 0 1; do
  hourglass_run "$runs" "$seed" all "${size}px" --data-dir "$train_dir" --input-size "$size" \
    ${EPOCHS:+--epochs "$EPOCHS"} >&2
done
options="--run $runs/all-hourglass-${size}px --run $runs/all-hourglass-${size}px-seed1"
options="$options --flip --scales 0.75 1 1.25 --decode dark"
[ "$category" = all ] && echo "$options" || echo "$options --category $category"
