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
#   semgen compare --unpaired benchmarks/evidence/results/cxr2d/runs --out benchmarks/evidence/results/cxr2d/report).
# Re-running: prepare and discover resume; a pre-training whose --out already holds a run stops
# the script (delete SCRATCH/pretrain to start again).
scratch=${1:-/tmp/evidence/cxr2d}
source "$(dirname "$0")/common.sh"
data=${2:-$repo/../shared/data/cxr-pneumonia}
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

[ -d "$data/train" ] && [ -d "$data/test" ] || { echo "cxr2d: $data has no train/ and test/ folders" >&2; exit 2; }
mkdir -p "$scratch" "$results"
start "$scratch/timings.tsv" "width $WIDTH, patch ${PATCH}x$PATCH, discovery C=$CLASSES K=$NEIGHBORS (val $VAL_NEIGHBORS), pre-training $EPOCHS epochs on patterns / $MG_EPOCHS epochs x 1 crop per scan for models-genesis, label fractions $FRACTIONS, $TRIALS trials, split seed $SPLIT_SEED, seed $SEED"

stage prepare "$semgen" prepare "$data/train" --out "$scratch/cohort" --seed "$SEED"
stage discover "$semgen" discover "$scratch/cohort" --out "$scratch/patterns" --preset cpu \
  --classes "$CLASSES" --neighbors "$NEIGHBORS" --val-neighbors "$VAL_NEIGHBORS" \
  --patch "${PATCH}x$PATCH" --ae-grid 32x32 --ae-width 8 --ae-epochs 20 --seed "$SEED"

pretrain_four "$scratch/patterns" "$scratch/cohort" "$scratch/pretrain" "$MG_EPOCHS" 1 \
  --preset cpu --width "$WIDTH" --patch "${PATCH}x$PATCH" --seed "$SEED"

for fraction in $FRACTIONS; do
  for init in scratch semantic-genesis models-genesis self-classification self-restoration; do
    if [ "$init" = scratch ]; then from=(--init scratch --width "$WIDTH" --patch "${PATCH}x$PATCH"); else from=(--init "$scratch/pretrain/$init"); fi
    out=$scratch/finetune/$init-f$fraction
    stage "finetune $init $fraction" "$semgen" finetune "$data" --recipe cxr-pneumonia --out "$out" \
      --name "$init" "${from[@]}" --label-fraction "$fraction" --trials "$TRIALS" \
      --split-seed "$SPLIT_SEED" --seed "$SEED"
    keep_run "$out" "$results/runs/$init-f$fraction"
  done
done

finish cxr2d "$results"
