#!/usr/bin/env bash
# Evidence, part 1 of 3 (issue 8): 2D chest X-ray, CPU-sized.
#
# Pre-trains a width-8 2D U-Net on the TRAINING images of cxr-pneumonia (labels ignored:
# pre-training never sees the folder names) with semantic-genesis, models-genesis,
# self-classification and self-restoration; fine-tunes each and scratch on pneumonia
# classification at two label fractions, 5 trials each, on one shared patient split and
# test set (the dataset's test/ folder); compares them with `semgen compare`.
#
# Usage: bash benchmarks/evidence/cxr2d.sh [SCRATCH] [DATA]
#   SCRATCH  big intermediates: cohort, patterns, pre-training runs, full fine-tuning
#            results (default /tmp/evidence/cxr2d)
#   DATA     the cxr-pneumonia folder (default ../shared/data/cxr-pneumonia from the repo root)
# Sizes can be overridden through the environment (names below). The small per-trial JSON
# and the report land in benchmarks/evidence/results/cxr2d/ (regenerate the report with
#   semgen compare benchmarks/evidence/results/cxr2d/runs --out benchmarks/evidence/results/cxr2d/report).
# Stages resume: a stage whose output already exists is skipped by semgen itself where it can.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
scratch=${1:-/tmp/evidence/cxr2d}
data=${2:-$repo/../shared/data/cxr-pneumonia}
semgen=${SEMGEN:-$repo/.venv/bin/semgen}
[ -x "$semgen" ] || semgen=semgen
results=$repo/benchmarks/evidence/results/cxr2d

SEED=${SEED:-0}
WIDTH=${WIDTH:-8}               # U-Net base width (published 32)
PATCH=${PATCH:-64}              # crop / fine-tuning size, PATCHxPATCH (published 224)
CLASSES=${CLASSES:-16}          # C, pattern classes (published 2D: 100)
NEIGHBORS=${NEIGHBORS:-32}      # K, training patients per class (published 2D: 1000)
VAL_NEIGHBORS=${VAL_NEIGHBORS:-8}
EPOCHS=${EPOCHS:-16}            # pre-training epochs on the pattern set (C*K*3 crops each)
MG_EPOCHS=${MG_EPOCHS:-6}       # models-genesis epochs on the cohort (one crop per scan each)
FRACTIONS=${FRACTIONS:-"0.05 0.2"}
TRIALS=${TRIALS:-5}
SPLIT_SEED=${SPLIT_SEED:-0}
export SEMGEN_NO_PROGRESS=${SEMGEN_NO_PROGRESS:-1}

[ -d "$data/train" ] && [ -d "$data/test" ] || { echo "cxr2d: $data has no train/ and test/ folders" >&2; exit 2; }
mkdir -p "$scratch" "$results"
t_all=$SECONDS
stage() {  # stage NAME COMMAND...: run, log the wall time
  local name=$1 t0=$SECONDS; shift
  echo "== $name: $*" >&2
  "$@"
  echo "== $name: $((SECONDS - t0)) s" >&2
  printf '%s\t%s\n' "$name" "$((SECONDS - t0))" >> "$scratch/timings.tsv"
}
: > "$scratch/timings.tsv"

echo "== machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), torch $("$repo/.venv/bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null || python -c 'import torch; print(torch.__version__)'), $(date -u +%FT%TZ)" >&2
echo "== sizes: width $WIDTH, patch ${PATCH}x$PATCH, discovery C=$CLASSES K=$NEIGHBORS (val $VAL_NEIGHBORS), pre-training $EPOCHS epochs on patterns / $MG_EPOCHS epochs x 1 crop per scan for models-genesis, label fractions $FRACTIONS, $TRIALS trials, split seed $SPLIT_SEED, seed $SEED" >&2

stage prepare "$semgen" prepare "$data/train" --out "$scratch/cohort" --seed "$SEED"
stage discover "$semgen" discover "$scratch/cohort" --out "$scratch/patterns" --preset cpu \
  --classes "$CLASSES" --neighbors "$NEIGHBORS" --val-neighbors "$VAL_NEIGHBORS" \
  --patch-size "${PATCH}x$PATCH" --ae-grid 32x32 --ae-width 8 --ae-epochs 20 --seed "$SEED"

common=(--preset cpu --width "$WIDTH" --patch "$PATCH" "$PATCH" --seed "$SEED")
for method in semantic-genesis self-classification self-restoration; do
  stage "pretrain $method" "$semgen" pretrain "$scratch/patterns" --method "$method" \
    --out "$scratch/pretrain/$method" --epochs "$EPOCHS" "${common[@]}"
done
stage "pretrain models-genesis" "$semgen" pretrain "$scratch/cohort" --method models-genesis \
  --out "$scratch/pretrain/models-genesis" --epochs "$MG_EPOCHS" --subvolumes-per-scan 1 "${common[@]}"

for fraction in $FRACTIONS; do
  for init in scratch semantic-genesis models-genesis self-classification self-restoration; do
    if [ "$init" = scratch ]; then from=(--init scratch --width "$WIDTH" --patch "${PATCH}x$PATCH"); else from=(--init "$scratch/pretrain/$init"); fi
    out=$scratch/finetune/$init-f$fraction
    stage "finetune $init $fraction" "$semgen" finetune "$data" --recipe cxr-pneumonia --out "$out" \
      --name "$init" "${from[@]}" --label-fraction "$fraction" --trials "$TRIALS" \
      --split-seed "$SPLIT_SEED" --seed "$SEED"
    keep=$results/runs/$init-f$fraction
    rm -rf "$keep"; mkdir -p "$keep"
    cp -r "$out/summary.json" "$out/trials" "$keep/"  # split.json is large and rebuilt from --split-seed
  done
done

stage compare "$semgen" compare "$results/runs" --out "$results/report"
cp "$scratch/timings.tsv" "$results/timings.tsv"
echo "== cxr2d done in $((SECONDS - t_all)) s: report in $results/report, per-trial JSON in $results/runs" >&2
