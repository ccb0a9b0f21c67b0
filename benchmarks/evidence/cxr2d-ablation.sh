#!/usr/bin/env bash
# Evidence, part 1 follow-up (issue 8): why is Semantic Genesis not better than its parts on
# the 2D chest X-rays? Two changes to the semantic branch, each pre-trained on the same
# cxr-pneumonia training images and fine-tuned at 5 % labels, 5 trials, on the same split as
# part 1, then compared with part 1's runs at 5 %:
#   semantic-genesis-c64    4x more pattern classes (C=64, K=16: 3,072 crops) from the same
#                           auto-encoder features: does richer semantics help?
#   semantic-genesis-cls0.1 the classification loss weighted 0.1 instead of the published 0.01:
#                           is the semantic branch too weak in the joint loss?
#
# Usage: bash benchmarks/evidence/cxr2d-ablation.sh [SCRATCH] [DATA]
#   SCRATCH  the folder benchmarks/evidence/cxr2d.sh filled (its cohort and patterns are reused;
#            default /tmp/evidence/cxr2d)
#   DATA     the cxr-pneumonia folder (default ../shared/data/cxr-pneumonia from the repo root)
# Per-trial JSON and the report land in benchmarks/evidence/results/cxr2d-ablation/.
scratch=${1:-/tmp/evidence/cxr2d}
source "$(dirname "$0")/common.sh"
data=${2:-$repo/../shared/data/cxr-pneumonia}
results=$repo/benchmarks/evidence/results/cxr2d-ablation
part1=benchmarks/evidence/results/cxr2d/runs

SEED=${SEED:-0}
WIDTH=${WIDTH:-8}
PATCH=${PATCH:-64}
EPOCHS=${EPOCHS:-16}
FRACTION=${FRACTION:-0.05}
TRIALS=${TRIALS:-5}
SPLIT_SEED=${SPLIT_SEED:-0}

[ -f "$scratch/patterns/features.npy" ] && [ -d "$scratch/cohort" ] || {
  echo "cxr2d-ablation: $scratch holds no cohort/ and patterns/features.npy: run benchmarks/evidence/cxr2d.sh first" >&2; exit 2; }
mkdir -p "$results"
start "$scratch/ablation-timings.tsv" "width $WIDTH, patch ${PATCH}x$PATCH, $EPOCHS epochs, label fraction $FRACTION, $TRIALS trials, split seed $SPLIT_SEED, seed $SEED"

stage "discover C=64" "$semgen" discover "$scratch/cohort" --out "$scratch/patterns-c64" --preset cpu \
  --classes 64 --neighbors 16 --val-neighbors 4 --patch "${PATCH}x$PATCH" --features "$scratch/patterns/features.npy" --seed "$SEED"
common=(--method semantic-genesis --preset cpu --width "$WIDTH" --patch "${PATCH}x$PATCH" --epochs "$EPOCHS" --seed "$SEED")
stage "pretrain semantic-genesis-c64" "$semgen" pretrain "$scratch/patterns-c64" --out "$scratch/pretrain/semantic-genesis-c64" "${common[@]}"
stage "pretrain semantic-genesis-cls0.1" "$semgen" pretrain "$scratch/patterns" --out "$scratch/pretrain/semantic-genesis-cls0.1" \
  --lambda-cls 0.1 "${common[@]}"

for init in semantic-genesis-c64 semantic-genesis-cls0.1; do
  out=$scratch/finetune/$init-f$FRACTION
  stage "finetune $init" "$semgen" finetune "$data" --recipe cxr-pneumonia --out "$out" --name "$init" \
    --init "$scratch/pretrain/$init" --label-fraction "$FRACTION" --trials "$TRIALS" --split-seed "$SPLIT_SEED" --seed "$SEED"
  keep_run "$out" "$results/runs/$init-f$FRACTION"
done

finish cxr2d-ablation "$results" "$part1"/{scratch,semantic-genesis,self-classification,self-restoration}-f"$FRACTION"
