#!/usr/bin/env bash
# Evidence, part 3 of 3 (issue 8): chest CT to brain MRI, CPU-sized.
#
# The cross-domain case of the paper (pre-trained on chest CT, fine-tuned on brain MRI):
# pre-trains a width-8 3D U-Net on the built-in synthetic chest-CT cohort (`semgen phantoms`,
# labels ignored) with semantic-genesis, models-genesis, self-classification and
# self-restoration; fine-tunes each and scratch on the hippocampus MRI task of part 2 with
# the same split, label fraction, patch, 1 mm spacing and fine-tuning budget, 5 trials each;
# compares them with `semgen compare`.
#
# Usage: bash benchmarks/evidence/ct2mri.sh [SCRATCH] [DATA]
#   SCRATCH  big intermediates: phantoms, cohort, patterns, pre-training runs, full
#            fine-tuning results (default /tmp/evidence/ct2mri)
#   DATA     the hippocampus-mri folder (default ../shared/data/hippocampus-mri from the repo root)
# Sizes can be overridden through the environment (names below and in hippocampus.sh). The small per-trial JSON
# and the report land in benchmarks/evidence/results/ct2mri/ (regenerate the report with
#   semgen compare --unpaired benchmarks/evidence/results/ct2mri/runs --out benchmarks/evidence/results/ct2mri/report).
scratch=${1:-/tmp/evidence/ct2mri}
source "$(dirname "$0")/common.sh"
data=${2:-$repo/../shared/data/hippocampus-mri}
results=$repo/benchmarks/evidence/results/ct2mri

source "$repo/benchmarks/evidence/hippocampus.sh"
PHANTOMS=${PHANTOMS:-64}        # synthetic chest-CT patients (preset small: 128x128x64 voxels)
MG_EPOCHS=${MG_EPOCHS:-16}      # models-genesis epochs on the cohort (MG_CROPS crops per scan each)
MG_CROPS=${MG_CROPS:-12}        # 64 x 12 x 16 = 12,288 crops, the number the pattern methods see (768 x 16)

[ -d "$data/images" ] && [ -d "$data/labels" ] || { echo "ct2mri: $data has no images/ and labels/ folders" >&2; exit 2; }
mkdir -p "$scratch" "$results"
start "$scratch/timings.tsv" "$PHANTOMS phantoms (small), width $WIDTH, patch $PATCH (phantom voxels for pre-training, 1 mm for fine-tuning), discovery C=$CLASSES K=$NEIGHBORS (val $VAL_NEIGHBORS), pre-training $EPOCHS epochs on patterns / $MG_EPOCHS epochs x $MG_CROPS crops per scan for models-genesis; fine-tuning at label fraction $FRACTION, $TRIALS trials, $FT_EPOCHS epochs x $FT_PATCHES patches per volume, validation on $VAL_PATCHES fixed patches per volume, split seed $SPLIT_SEED, seed $SEED"

stage phantoms "$semgen" phantoms "$scratch/phantoms" --n "$PHANTOMS" --preset small --seed "$SEED"
stage prepare "$semgen" prepare "$scratch/phantoms" --out "$scratch/cohort" --seed "$SEED"
stage discover "$semgen" discover "$scratch/cohort" --out "$scratch/patterns" --preset cpu \
  --classes "$CLASSES" --neighbors "$NEIGHBORS" --val-neighbors "$VAL_NEIGHBORS" \
  --patch "$PATCH" --seed "$SEED"

pretrain_four "$scratch/patterns" "$scratch/cohort" "$scratch/pretrain" "$MG_EPOCHS" "$MG_CROPS" \
  --preset cpu --width "$WIDTH" --patch "$PATCH" --seed "$SEED"

hippocampus_finetunes "$data" "$scratch/pretrain" "$results"
finish ct2mri "$results"
