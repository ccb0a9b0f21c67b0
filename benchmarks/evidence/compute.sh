#!/usr/bin/env bash
# Evidence round 2, part 3 (issue 17): pre-training compute vs gain.
#
# One long semantic-genesis pre-training on the real CT (the cohort and patterns of
# realct.sh), wider than the CPU preset (LONG_WIDTH, default 16) and for LONG_EPOCHS epochs
# sized to at least 60 minutes of CPU, keeping every KEEP_EVERY-th epoch's weights
# (`semgen pretrain --keep-every`, RUN/epochs/epoch_<n>/); then `semgen evaluate` on lidc-dev
# malignancy at one small label fraction (LONG_FRACTION) with scratch and several of those
# checkpoints, finetune mode, so the report shows how the gain grows (or not) with the
# pre-training compute (each checkpoint's epoch and seconds so far are in RUN/metrics.csv).
#
# Usage: bash benchmarks/evidence/compute.sh [SCRATCH]   (default /tmp/evidence/realct)
# Report + per-trial JSON + the run's metrics.csv land in benchmarks/evidence/results/compute/.
#
# Measured run (30 Nov 2026, this 2-core AMD EPYC, AVX-512 with bf16; THREADS=1 while ncs.sh
# used the other core, and for 30 min a third job): the long pre-training, width 16, 120
# epochs of 240 crops, 5585 s wall and about 68 min of CPU time (about 33 s of CPU an epoch);
# the evaluation (scratch, 4 checkpoints and converged scratch, 5 trials at 10 % labels) 430 s;
# 6017 s in all. The first sizing (360 epochs at ~10 s an epoch) had assumed 2 quiet threads.
# The committed results: `THREADS=1 bash benchmarks/evidence/compute.sh SCRATCH` with SCRATCH
# holding ncc.sh's cohort and patterns (made with 2 threads); the thread count is part of the
# result (README, "Threads, speed and reproducibility").
scratch=${1:-/tmp/evidence/realct}
source "$(dirname "$0")/common.sh"
source "$repo/benchmarks/evidence/realct.sh"
LONG_WIDTH=${LONG_WIDTH:-16}
LONG_EPOCHS=${LONG_EPOCHS:-120}
KEEP_EVERY=${KEEP_EVERY:-30}
LONG_FRACTION=${LONG_FRACTION:-0.1}
FRACTIONS=$LONG_FRACTION MODES=finetune FT_EPOCHS=${FT_EPOCHS_LONG:-10}
results=$repo/benchmarks/evidence/results/compute
run=$scratch/pretrain-long/semantic-genesis-w$LONG_WIDTH
mkdir -p "$scratch"
start "$scratch/timings-compute.tsv" "$(realct_sizes); long run: semantic-genesis width $LONG_WIDTH, $LONG_EPOCHS epochs, weights kept every $KEEP_EVERY epochs, evaluated at label fraction $LONG_FRACTION"
[ -f "$DATA_ROOT/lidc-dev/labels.csv" ] || { echo "compute: $DATA_ROOT/lidc-dev is absent" >&2; exit 2; }

realct_cohort "$scratch"
if [ -f "$run/summary.json" ]; then echo "== long pre-training: reusing $run" >&2; else
  stage "pretrain long" "$semgen" pretrain "$scratch/patterns" --method semantic-genesis --out "$run" --epochs "$LONG_EPOCHS" \
    --patience "$LONG_EPOCHS" --keep-every "$KEEP_EVERY" --preset "$PRESET" --width "$LONG_WIDTH" --patch "$PATCH" \
    --seed "$SEED" --threads "$THREADS" --device "$DEVICE"
fi
inits=()
for ckpt in "$run"/epochs/epoch_*; do inits+=(--init "$ckpt"); done
lidc_evaluate "$scratch/evaluate-compute" "$results" --recipe lidc-nodules "${inits[@]}"
cp "$run/metrics.csv" "$results/pretrain-metrics.csv"
echo "== compute done in $((SECONDS - t_all)) s" >&2
