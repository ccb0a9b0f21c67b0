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
# Sizes can be overridden through the environment (names below). The small per-trial JSON
# and the report land in benchmarks/evidence/results/mri3d/ (regenerate the report with
#   semgen compare benchmarks/evidence/results/mri3d/runs --out benchmarks/evidence/results/mri3d/report).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
scratch=${1:-/tmp/evidence/mri3d}
data=${2:-$repo/../shared/data/hippocampus-mri}
semgen=${SEMGEN:-$repo/.venv/bin/semgen}
[ -x "$semgen" ] || semgen=semgen
python=${PYTHON:-$repo/.venv/bin/python}
[ -x "$python" ] || python=python3
results=$repo/benchmarks/evidence/results/mri3d

SEED=${SEED:-0}
WIDTH=${WIDTH:-8}               # U-Net base width (published 32)
PATCH=${PATCH:-32x32x16}        # pre-training crop and fine-tuning patch (published 64x64x32)
CLASSES=${CLASSES:-16}          # C, pattern classes (published 3D: 44)
NEIGHBORS=${NEIGHBORS:-16}      # K, training patients per class (published 3D: 200)
VAL_NEIGHBORS=${VAL_NEIGHBORS:-4}
EPOCHS=${EPOCHS:-16}            # pre-training epochs on the pattern set (C*K*3 crops each)
MG_EPOCHS=${MG_EPOCHS:-8}       # models-genesis epochs on the cohort (MG_CROPS crops per scan each)
MG_CROPS=${MG_CROPS:-2}
FRACTION=${FRACTION:-0.1}       # share of the training patients whose labels are used
TRIALS=${TRIALS:-5}
FT_EPOCHS=${FT_EPOCHS:-25}      # fine-tuning epochs (early stopping on validation loss)
FT_PATCHES=${FT_PATCHES:-8}     # random training patches per volume per epoch
VAL_PATCHES=${VAL_PATCHES:-2}   # fixed validation patches per volume (the test is predicted whole)
SPLIT_SEED=${SPLIT_SEED:-0}
export SEMGEN_NO_PROGRESS=${SEMGEN_NO_PROGRESS:-1}

[ -d "$data/images" ] && [ -d "$data/labels" ] || { echo "mri3d: $data has no images/ and labels/ folders" >&2; exit 2; }
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

echo "== machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), torch $("$python" -c 'import torch; print(torch.__version__)'), $(date -u +%FT%TZ)" >&2
echo "== sizes: width $WIDTH, patch $PATCH at 1 mm, discovery C=$CLASSES K=$NEIGHBORS (val $VAL_NEIGHBORS), pre-training $EPOCHS epochs on patterns / $MG_EPOCHS epochs x $MG_CROPS crops per scan for models-genesis; fine-tuning at label fraction $FRACTION, $TRIALS trials, $FT_EPOCHS epochs x $FT_PATCHES patches per volume, validation on $VAL_PATCHES fixed patches per volume, split seed $SPLIT_SEED, seed $SEED" >&2

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
  --patch-size "$PATCH" --seed "$SEED"

common=(--preset cpu --width "$WIDTH" --patch ${PATCH//x/ } --seed "$SEED")
for method in semantic-genesis self-classification self-restoration; do
  stage "pretrain $method" "$semgen" pretrain "$scratch/patterns" --method "$method" \
    --out "$scratch/pretrain/$method" --epochs "$EPOCHS" "${common[@]}"
done
stage "pretrain models-genesis" "$semgen" pretrain "$scratch/cohort" --method models-genesis \
  --out "$scratch/pretrain/models-genesis" --epochs "$MG_EPOCHS" --subvolumes-per-scan "$MG_CROPS" "${common[@]}"

for init in scratch semantic-genesis models-genesis self-classification self-restoration; do
  if [ "$init" = scratch ]; then from=(--init scratch --width "$WIDTH"); else from=(--init "$scratch/pretrain/$init"); fi
  out=$scratch/finetune/$init
  stage "finetune $init" "$semgen" finetune "$data" --recipe hippocampus-mri --out "$out" --name "$init" "${from[@]}" \
    --split "$split" --split-seed "$SPLIT_SEED" --label-fraction "$FRACTION" --trials "$TRIALS" --epochs "$FT_EPOCHS" \
    --patch "$PATCH" --spacing 1x1x1 --patches-per-volume "$FT_PATCHES" --val-patches "$VAL_PATCHES" --seed "$SEED"
  keep=$results/runs/$init
  rm -rf "$keep"; mkdir -p "$keep"
  cp -r "$out/summary.json" "$out/trials" "$keep/"  # split.json is rebuilt with --split-only --split-seed
done

stage compare "$semgen" compare "$results/runs" --out "$results/report"
cp "$scratch/timings.tsv" "$results/timings.tsv"
echo "== mri3d done in $((SECONDS - t_all)) s: report in $results/report, per-trial JSON in $results/runs" >&2
