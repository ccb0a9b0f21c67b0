#!/usr/bin/env bash
# Evidence round 2, part 2 (issue 17): 3D CT nodule segmentation, the paper's NCS analogue. PREPARED, NOT YET RUN.
#
# The initialisations of ncc.sh (scratch, converged scratch, and the four pre-trainings on the
# real CT; reused from SCRATCH when ncc.sh ran first, else pre-trained here) evaluated with
# `semgen evaluate` on the lidc-dev nodule masks (recipe lidc-nodules --task segmentation:
# image and mask cut to 32x32x32 at 1 mm on one grid), IoU / Dice, label fractions 5 % to
# 100 %, modes finetune and probe (probe: frozen encoder, the decoder trains), 5 trials.
#
# Usage: bash benchmarks/evidence/ncs.sh [SCRATCH]   (default /tmp/evidence/realct, shared with ncc.sh)
# Sizes: environment overrides, names in realct.sh. Report + per-trial JSON land in
# benchmarks/evidence/results/ncs/.
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
# ESTIMATE (quiet 2 cores), FT_EPOCHS=8, CONVERGED_EPOCHS=30 (set below), segmentation ~1.5x
#   the classifier's cost (0.021 s a sample-epoch): after ncc.sh (its cohort and pre-trainings
#   reused): reading 2 min, finetune 5 x 5 x 8 epochs x 453 = 90,600 sample-epochs = 32 min,
#   probe (decoder trains) ~19 min, converged 24 min: ~77 min (up to ~2x at the pilot's rate);
#   standalone (pre-training here too) +20 min: run ncc.sh first.
scratch=${1:-/tmp/evidence/realct}
source "$(dirname "$0")/common.sh"
FT_EPOCHS=${FT_EPOCHS:-8} FT_PATIENCE=${FT_PATIENCE:-3} CONVERGED_EPOCHS=${CONVERGED_EPOCHS:-30}  # segmentation costs ~1.5x
source "$repo/benchmarks/evidence/realct.sh"
results=$repo/benchmarks/evidence/results/ncs
# one patch per volume: the crop is the patch, so a second would repeat it
realct_lidc_part ncs "$results" --recipe lidc-nodules --task segmentation --patches-per-volume 1
