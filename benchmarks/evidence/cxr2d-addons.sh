#!/usr/bin/env bash
# Evidence, part 1 follow-up (issue 8): the paper's Fig. 3 on the 2D chest X-rays. Does adding
# the semantic branch (classification of the discovered patterns) improve in-painting (Pathak
# et al.) and context restoration (Chen et al.)? Each pair is pre-trained on the same
# cxr-pneumonia training images (the plain method on random crops as published, the
# "+semantics" method on part 1's pattern set) and fine-tuned at 5 % labels, 5 trials, on the
# same split as part 1.
#
# Usage: bash benchmarks/evidence/cxr2d-addons.sh [SCRATCH] [DATA]
#   SCRATCH  the folder benchmarks/evidence/cxr2d.sh filled (its cohort and patterns are reused;
#            default /tmp/evidence/cxr2d)
#   DATA     the cxr-pneumonia folder (default ../shared/data/cxr-pneumonia from the repo root)
# Per-trial JSON and the report land in benchmarks/evidence/results/cxr2d-addons/.
scratch=${1:-/tmp/evidence/cxr2d}
source "$(dirname "$0")/common.sh"
data=${2:-$repo/../shared/data/cxr-pneumonia}
results=$repo/benchmarks/evidence/results/cxr2d-addons

SEED=${SEED:-0}
WIDTH=${WIDTH:-8}
PATCH=${PATCH:-64}
EPOCHS=${EPOCHS:-16}            # on the pattern set (1,536 crops each), as part 1
CROP_EPOCHS=${CROP_EPOCHS:-6}   # plain methods: epochs of one random crop per scan, as part 1's models-genesis
FRACTION=${FRACTION:-0.05}
TRIALS=${TRIALS:-5}
SPLIT_SEED=${SPLIT_SEED:-0}

[ -f "$scratch/patterns/classes.json" ] && [ -d "$scratch/cohort" ] || {
  echo "cxr2d-addons: $scratch holds no cohort/ and patterns/: run benchmarks/evidence/cxr2d.sh first" >&2; exit 2; }
mkdir -p "$results"
start "$scratch/addons-timings.tsv" "width $WIDTH, patch ${PATCH}x$PATCH, $EPOCHS epochs on patterns / $CROP_EPOCHS epochs x 1 crop per scan, label fraction $FRACTION, $TRIALS trials, split seed $SPLIT_SEED, seed $SEED"

common=(--preset cpu --width "$WIDTH" --patch "${PATCH}x$PATCH" --seed "$SEED")
for method in inpainting context-restoration; do
  stage "pretrain $method" "$semgen" pretrain "$scratch/cohort" --method "$method" --out "$scratch/pretrain/$method" \
    --epochs "$CROP_EPOCHS" --subvolumes-per-scan 1 "${common[@]}"
  stage "pretrain $method+semantics" "$semgen" pretrain "$scratch/patterns" --method "$method+semantics" \
    --out "$scratch/pretrain/$method+semantics" --epochs "$EPOCHS" "${common[@]}"
done

for init in inpainting inpainting+semantics context-restoration context-restoration+semantics; do
  out=$scratch/finetune/$init-f$FRACTION
  stage "finetune $init" "$semgen" finetune "$data" --recipe cxr-pneumonia --out "$out" --name "$init" \
    --init "$scratch/pretrain/$init" --label-fraction "$FRACTION" --trials "$TRIALS" --split-seed "$SPLIT_SEED" --seed "$SEED"
  keep_run "$out" "$results/runs/$init-f$FRACTION"
done

finish cxr2d-addons "$results" benchmarks/evidence/results/cxr2d/runs/scratch-f"$FRACTION"
