#!/usr/bin/env bash
# Evidence round 2, part 3 (issue 17): pre-training compute vs gain. PREPARED, NOT YET RUN.
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
# Runtime: see PILOTS and ESTIMATE below.
#
# PILOTS (2026-11-30, this 2-core AMD EPYC with AVX-512 bf16, SHARED: load average 12-17 on 2
# cores from 7 other agents, so wall times were 5-13x a quiet machine's; CPU seconds are given
# and are inflated too by contention):
#   prepare chest-ct-real + chest-ct at 1 mm: 13 scans, 1.9 GB cohort, 13 min wall, 93 s CPU
#   evaluate lidc-dev (lidc-nodules, scratch width 8, 32x32x32, fraction 1, 1 trial, 2 epochs):
#     13 min wall, 151 s CPU in all (reading 494 crops + 2 epochs of 324 samples + test);
#     scratch test AUC 0.88 after 2 epochs; diameter_mm alone 0.94 on the same 101 test samples
#   the wiring of every step: ncc.sh ran end to end at toy sizes on a generated DATA_ROOT
# Quiet-machine rates used for the ESTIMATE (the pilots are too contended to scale): the
# README benchmark's 71 cubes/s for width-8 32x32x16 pre-training steps (full U-Net), i.e.
# about 0.015 s per training sample-epoch for segmentation, 0.01 s for the encoder-only
# classifier, a third of that for a frozen-encoder probe, with every trial run to its full
# epoch budget (early stopping makes it shorter).
# ESTIMATE (quiet 2 cores): the long run, width 16 (~3x the width-8 cost, ~24 crops/s), about
#   12 s per epoch of ~216 crops + validation: 300 epochs = ~60 min; evaluate scratch + 4
#   checkpoints (epochs 75, 150, 225, 300) x 5 trials at fraction 0.1 (~32 samples), 10 epochs:
#   ~9 min with reading; cohort and patterns reused from ncc.sh (else +5 min): ~70-75 min.
scratch=${1:-/tmp/evidence/realct}
source "$(dirname "$0")/common.sh"
source "$repo/benchmarks/evidence/realct.sh"
LONG_WIDTH=${LONG_WIDTH:-16}
LONG_EPOCHS=${LONG_EPOCHS:-300}
KEEP_EVERY=${KEEP_EVERY:-75}
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
    --patience "$LONG_EPOCHS" --keep-every "$KEEP_EVERY" --preset "$PRESET" --width "$LONG_WIDTH" --patch ${PATCH//x/ } \
    --seed "$SEED" --threads "$THREADS" --device "$DEVICE"
fi
inits=()
for ckpt in "$run"/epochs/epoch_*; do inits+=(--init "$ckpt"); done
lidc_evaluate "$scratch/evaluate-compute" "$results" --recipe lidc-nodules --converged-epochs 0 "${inits[@]}"
cp "$run/metrics.csv" "$results/pretrain-metrics.csv"
echo "== compute done in $((SECONDS - t_all)) s" >&2
