# Sourced by the scripts beside it: one hourglass run, as every table here trains them.
#   hourglass_run RUNS SEED CATEGORY NAME [run.py train options...]
# trains RUNS/CATEGORY-hourglass-NAME (NAME-seedSEED for a seed other than 0) with the cpu
# preset (PRESET overrides it, for a quick check of a script), and skips a run that is
# there already. CODE: the package's folder.
hourglass_run() {
  local runs=$1 seed=$2 category=$3 name=$4; shift 4
  [ "$seed" != 0 ] && name="$name-seed$seed"
  [ -e "$runs/$category-hourglass-$name/metrics.json" ] && return 0
  python "$CODE/run.py" train --arch hourglass --preset "${PRESET:-cpu}" --category "$category" \
    --out "$runs" --seed "$seed" --name "$name" "$@"
}
