#!/bin/bash
# What the synthetic set (and the other categories' photos) are worth as pretraining: one
# seed's hourglass runs for the dresses of the real sample, cpu preset. LINE is one of
#   synth      a dress hourglass trained on the synthetic set SYNTH (scored on test-A as is:
#              the zero-shot line), then one started from it and trained on the real dresses
#   zero-shot  only the dress hourglass trained on SYNTH (for a set whose fine-tuning is not
#              measured: generator 3's sets with a part left out, `run.py synth --without
#              PART` at commit 8131501)
#   real-all   a hourglass trained on all five categories of the real photos, then a dress
#              hourglass started from it and trained on the real dresses
#   longer     a control: a dress hourglass trained on the real dresses alone for twice the
#              epochs (56)
#   matched    the control at the same budget: 65 epochs on the real dresses alone, as many
#              steps of 16 images as pretraining on the 543 synthetic dresses and fine-tuning
#              on the 410 real ones (28 × (34 + 26) = 1680 against 65 × 26 = 1690)
#   matched-all  the control of real-all's joint model: 162 epochs on the real dresses alone,
#              as many steps as 28 epochs on all 2,394 training photos (28 × 150 = 4200
#              against 162 × 26 = 4212)
# SYNTH: a synthetic FashionAI folder (`run.py synth`), TAG: its name in the run names (e.g.
# v2 for the default generator's set). The runs go to RUNS as <category>-hourglass-<name>:
#   dress-hourglass-synth-TAG, dress-hourglass-fromsynth-TAG, all-hourglass-real,
#   dress-hourglass-fromall, dress-hourglass-e56, dress-hourglass-e65, dress-hourglass-e162
# with -seedN after the name for seed N > 0. Two lanes at once on a 2-core machine, e.g.
#     for s in 0 1; do docs/results/real/train_pretraining.sh SAMPLE data/synthetic v2 runs $s synth & done; wait
set -eu
CODE=${CODE:-$(cd "$(dirname "$0")/../../.." && pwd)}
sample=$1; synth=$2; tag=$3; runs=$4; seed=$5; line=$6
for folder in "$sample/train" "$synth"; do
  [ -f "$folder/Annotations/train.csv" ] || { echo "error: $folder is not a FashionAI folder (no Annotations/train.csv)" >&2; exit 2; }
done
suffix=""; [ "$seed" != 0 ] && suffix="-seed$seed"
. "$(dirname "$0")/hourglass_run.sh"
train() {  # category name data [flags...]
  local category=$1 name=$2 data=$3; shift 3
  hourglass_run "$runs" "$seed" "$category" "$name" --data-dir "$data" "$@"
}
case $line in
  synth)
    train dress "synth-$tag" "$synth"
    train dress "fromsynth-$tag" "$sample/train" --weights "$runs/dress-hourglass-synth-$tag$suffix" ;;
  zero-shot)
    train dress "synth-$tag" "$synth" ;;
  real-all)
    train all real "$sample/train"
    train dress fromall "$sample/train" --weights "$runs/all-hourglass-real$suffix" ;;
  longer)
    train dress e56 "$sample/train" --epochs 56 ;;
  matched)
    train dress e65 "$sample/train" --epochs 65 ;;
  matched-all)
    train dress e162 "$sample/train" --epochs 162 ;;
  *) echo "error: LINE must be synth, zero-shot, real-all, longer, matched or matched-all, got $line" >&2; exit 2 ;;
esac
