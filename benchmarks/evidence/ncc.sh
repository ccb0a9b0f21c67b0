#!/usr/bin/env bash
# Evidence round 2, part 1 (issue 17): 3D CT nodule malignancy, the paper's NCC analogue. PREPARED, NOT YET RUN.
#
# Pre-trains a 3D U-Net on the real CT of ../shared/data (chest-ct-real + chest-ct; see
# realct.sh for the sizes and when phantoms are added) with semantic-genesis, models-genesis,
# self-classification and self-restoration, then runs `semgen evaluate` on lidc-dev malignancy
# (recipe lidc-nodules: crops at 1 mm isotropic, centred, 32x32x32) with scratch and converged
# scratch, label fractions 5 % to 100 %, modes finetune and probe, 5 trials. The report states
# the trivial baseline beside its tables: the test AUC of diameter_mm alone on the same test
# patients.
#
# Usage: bash benchmarks/evidence/ncc.sh [SCRATCH]     (GPU, paper sizes: ncc.sh --gpu [SCRATCH])
#   SCRATCH  cohort, patterns, pre-training runs, evaluation (default /tmp/evidence/realct;
#            ncs.sh and compute.sh reuse its cohort and pre-trainings)
# Sizes: environment overrides, names in realct.sh. Report + per-trial JSON land in
# benchmarks/evidence/results/ncc/.
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
# ESTIMATE (quiet 2 cores): prepare 2 min + discover 3 min + 4 pre-trainings x ~4 min (40
#   epochs of about 216 crops) = ~20 min; evaluate: reading 1 min, finetune 5 inits x 5 trials
#   x 10 epochs x 324 x (0.05+0.1+0.25+1) = 113,000 sample-epochs = 26 min, probe (encoder
#   forward only) ~9 min, converged scratch (40 epochs, 5 trials) 21 min: ~77 min in all at the
#   benchmark rate, up to ~130 min at the pilot's; upper bounds (no early stopping).
gpu=0; [ "${1:-}" = --gpu ] && { gpu=1; shift; }
scratch=${1:-/tmp/evidence/realct}
source "$(dirname "$0")/common.sh"
[ "$gpu" = 1 ] && source "$repo/benchmarks/evidence/paper-gpu.sh"
source "$repo/benchmarks/evidence/realct.sh"
results=$repo/benchmarks/evidence/results/ncc
if [ "$gpu" = 1 ]; then results=$results-gpu; fi
realct_lidc_part ncc "$results" --recipe lidc-nodules
