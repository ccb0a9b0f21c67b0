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
# Runtime estimate on a quiet 2-core CPU: see ESTIMATE below (pilots on a SHARED machine).
scratch=${1:-/tmp/evidence/realct}
source "$(dirname "$0")/common.sh"
source "$repo/benchmarks/evidence/realct.sh"
results=$repo/benchmarks/evidence/results/ncs
mkdir -p "$scratch"
start "$scratch/timings-ncs.tsv" "$(realct_sizes)"
[ -f "$DATA_ROOT/lidc-dev/labels.csv" ] || { echo "ncs: $DATA_ROOT/lidc-dev is absent" >&2; exit 2; }

realct_cohort "$scratch"
realct_pretrain "$scratch"
mapfile -t inits < <(pretrained_inits "$scratch")
# one patch per volume: the crop is the patch, so a second would repeat it
lidc_evaluate "$scratch/evaluate-ncs" "$results" --recipe lidc-nodules --task segmentation --patches-per-volume 1 "${inits[@]}"
echo "== ncs done in $((SECONDS - t_all)) s" >&2
