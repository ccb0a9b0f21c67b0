#!/usr/bin/env bash
# Evidence, part 2 of 3 (issue 8): 3D brain MRI (hippocampus), CPU-sized.
#
# Draws the patient split of hippocampus-mri first and pre-trains a width-8 3D U-Net on the
# TRAINING patients' images only (labels ignored; validation and test patients are never
# seen) with semantic-genesis, models-genesis, self-classification and self-restoration;
# fine-tunes each and scratch on anterior + posterior hippocampus segmentation at a small
# label fraction, 5 trials each, on that same split (every run reads one split.json, so all
# results are paired on one test set); compares them with `semgen compare`.
#
# Usage: bash benchmarks/evidence/mri3d.sh [SCRATCH] [DATA]
#   SCRATCH  big intermediates: split, cohort, patterns, pre-training runs, full fine-tuning
#            results (default /tmp/evidence/mri3d)
#   DATA     the hippocampus-mri folder (default ../shared/data/hippocampus-mri from the repo root)
# PRETRAIN_ONLY=1 stops after the four pre-trainings (hippo-few.sh reuses them).
# Sizes can be overridden through the environment (names below and in hippocampus.sh). The small per-trial JSON
# and the report land in benchmarks/evidence/results/mri3d/ (regenerate the report with
#   semgen compare --unpaired benchmarks/evidence/results/mri3d/runs --out benchmarks/evidence/results/mri3d/report).
scratch=${1:-/tmp/evidence/mri3d}
source "$(dirname "$0")/common.sh"
data=${2:-$repo/../shared/data/hippocampus-mri}
results=$repo/benchmarks/evidence/results/mri3d

source "$repo/benchmarks/evidence/hippocampus.sh"
MG_EPOCHS=${MG_EPOCHS:-16}      # models-genesis epochs on the cohort (MG_CROPS crops per scan each)
MG_CROPS=${MG_CROPS:-4}         # 169 x 4 x 16 = 10,816 crops, about the 12,288 (768 x 16) the pattern methods see

[ -d "$data/images" ] && [ -d "$data/labels" ] || { echo "mri3d: $data has no images/ and labels/ folders" >&2; exit 2; }
mkdir -p "$scratch" "$results"
start "$scratch/timings.tsv" "width $WIDTH, patch $PATCH at 1 mm, discovery C=$CLASSES K=$NEIGHBORS (val $VAL_NEIGHBORS), pre-training $EPOCHS epochs on patterns / $MG_EPOCHS epochs x $MG_CROPS crops per scan for models-genesis; fine-tuning at label fraction $FRACTION, $TRIALS trials, $FT_EPOCHS epochs x $FT_PATCHES patches per volume, validation on $VAL_PATCHES fixed patches per volume, split seed $SPLIT_SEED, seed $SEED"

split=$scratch/split/split.json
stage split "$semgen" finetune "$data" --recipe hippocampus-mri --out "$scratch/split" --split-only --split-seed "$SPLIT_SEED"
rm -rf "$scratch/train-images"; mkdir -p "$scratch/train-images"
"$python" - "$split" "$scratch/train-images" <<'EOF'
import json, os, sys
from pathlib import Path
split, folder = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
for image in split["images"]["train"]:
    os.symlink(Path(image).resolve(), folder / Path(image).name)
print(f"== pre-training cohort: the {len(split['images']['train'])} training patients' images "
      f"({len(split['images']['validation'])} validation and {len(split['images']['test'])} test patients left out)", file=sys.stderr)
EOF
stage prepare "$semgen" prepare "$scratch/train-images" --out "$scratch/cohort" --seed "$SEED"
stage discover "$semgen" discover "$scratch/cohort" --out "$scratch/patterns" --preset cpu \
  --classes "$CLASSES" --neighbors "$NEIGHBORS" --val-neighbors "$VAL_NEIGHBORS" \
  --patch "$PATCH" --seed "$SEED"

pretrain_four "$scratch/patterns" "$scratch/cohort" "$scratch/pretrain" "$MG_EPOCHS" "$MG_CROPS" \
  --preset cpu --width "$WIDTH" --patch "$PATCH" --seed "$SEED"
[ "${PRETRAIN_ONLY:-0}" = 1 ] && { echo "== mri3d: pre-trainings in $scratch/pretrain (PRETRAIN_ONLY=1: no fine-tuning)" >&2; exit 0; }

hippocampus_finetunes "$data" "$scratch/pretrain" "$results" --split "$split"
finish mri3d "$results"
