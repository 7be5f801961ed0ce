#!/bin/bash
# The winning recipe's training steps on photographs: one seed's hourglass runs on one
# category of the real sample, cpu preset, from scratch, each beside the plain 28-epoch run
# (train_methods.sh's <category>-hourglass). LINE is one of
#   ohkm       online hard keypoint mining: only the 8 keypoints that cost most count
#   curriculum each image weighted by how hard it was at the last epoch's end
#   two-stage  a first stage at 64 px finds the garment, a second stage at 128 px (76
#              features, so that both together cost what one 128 px hourglass does) is
#              trained on its crops
#   192px      the input at 192 px instead of 128 (2.25 times the cost)
#   256px      the input at 256 px (4 times the cost)
# The runs go to RUNS as <category>-hourglass-<line>, with -seedN after it for seed N > 0.
# CATEGORY all trains the joint model of the recipe (score.py --table recipe) at that size,
# e.g. all-hourglass-192px: `train_steps.sh SAMPLE runs all 0 192px`.
# Two lanes at once on a 2-core machine, e.g.
#     for s in 0 1 2; do docs/results/real/train_steps.sh SAMPLE runs dress $s ohkm; done &
#     for s in 0 1 2; do docs/results/real/train_steps.sh SAMPLE runs dress $s 192px; done & wait
set -eu
CODE=${CODE:-$(cd "$(dirname "$0")/../../.." && pwd)}
sample=$1; runs=$2; category=$3; seed=$4; line=$5
[ -f "$sample/train/Annotations/train.csv" ] || { echo "error: $sample is not the real sample (no train/Annotations/train.csv)" >&2; exit 2; }
suffix=""; [ "$seed" != 0 ] && suffix="-seed$seed"
. "$(dirname "$0")/hourglass_run.sh"
train() {  # name [flags...]
  local name=$1; shift
  hourglass_run "$runs" "$seed" "$category" "$name" --data-dir "$sample/train" "$@"
}
case $line in
  ohkm) train ohkm8 --hard-keypoints 8 ;;
  curriculum) train curriculum --curriculum ;;
  two-stage)
    train 64px --input-size 64
    train crop --features 76 --first-stage "$runs/$category-hourglass-64px$suffix" ;;
  192px) train 192px --input-size 192 ;;
  256px) train 256px --input-size 256 ;;
  *) echo "error: LINE must be ohkm, curriculum, two-stage, 192px or 256px, got $line" >&2; exit 2 ;;
esac
