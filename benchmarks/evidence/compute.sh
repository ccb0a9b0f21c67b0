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
#   the same at 32x32x16 (the default patch), 3 epochs, load average about 9: 158 s wall,
#     82 s CPU in all; reading the 494 crops about 18 s; the trial 140 s wall (3 epochs of 324
#     training + 69 validation samples, then 101 test): about 22 s CPU an epoch; AUC 0.87
#   the wiring of every step: ncc.sh, ncs.sh, compute.sh and hippo-few.sh ran end to end at
#     toy sizes on generated data (DATA_ROOT / MRI3D_SCRATCH pointing at them)
# Rates used for the ESTIMATE: a quiet 2-core machine runs width-8 32x32x16 U-Net training
# steps at 71 cubes/s (README benchmark `pretrain`, CPU preset), i.e. about 0.014 s per
# training sample-epoch; the pilot's 22 s CPU an epoch (0.056 s CPU a sample, contended)
# says it may be up to 2x slower. Estimates give both; every trial is counted at its full
# epoch budget (early stopping makes it shorter). The next session should time TRIALS=1 first
# (a fifth of the evaluation) and cut FRACTIONS or epochs if it projects past 90 min.
# ESTIMATE (quiet 2 cores): the long run, width 16 (~3x the width-8 cost, ~24 crops/s), about
#   9-11 s per epoch of ~216 crops + validation: 360 epochs = ~60-65 min; evaluate scratch + 4
#   checkpoints (epochs 90, 180, 270, 360) x 5 trials at fraction 0.1 (~32 samples), 10
#   epochs: ~9 min with reading; cohort and patterns reused from ncc.sh (else +5 min): ~75 min
#   at the benchmark rate (up to ~2x at the pilot's: then LONG_EPOCHS=180 still gives >= 60
#   min of CPU time on 2 cores).
scratch=${1:-/tmp/evidence/realct}
source "$(dirname "$0")/common.sh"
source "$repo/benchmarks/evidence/realct.sh"
LONG_WIDTH=${LONG_WIDTH:-16}
LONG_EPOCHS=${LONG_EPOCHS:-360}
KEEP_EVERY=${KEEP_EVERY:-90}
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
lidc_evaluate "$scratch/evaluate-compute" "$results" --recipe lidc-nodules --converged-epochs 0 "${inits[@]}"
cp "$run/metrics.csv" "$results/pretrain-metrics.csv"
echo "== compute done in $((SECONDS - t_all)) s" >&2
