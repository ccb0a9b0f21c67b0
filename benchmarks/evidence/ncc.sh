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
# Runtime estimate on a quiet 2-core CPU: see ESTIMATE below (from timed pilots on a SHARED
# machine, load average about 12 on 2 cores, so the pilots ran several times slower than quiet).
gpu=0; [ "${1:-}" = --gpu ] && { gpu=1; shift; }
scratch=${1:-/tmp/evidence/realct}
source "$(dirname "$0")/common.sh"
[ "$gpu" = 1 ] && source "$repo/benchmarks/evidence/paper-gpu.sh"
source "$repo/benchmarks/evidence/realct.sh"
results=$repo/benchmarks/evidence/results/ncc
if [ "$gpu" = 1 ]; then results=$results-gpu; fi
mkdir -p "$scratch"
start "$scratch/timings-ncc.tsv" "$(realct_sizes)"
[ -f "$DATA_ROOT/lidc-dev/labels.csv" ] || { echo "ncc: $DATA_ROOT/lidc-dev is absent" >&2; exit 2; }

realct_cohort "$scratch"
realct_pretrain "$scratch"
mapfile -t inits < <(pretrained_inits "$scratch")
lidc_evaluate "$scratch/evaluate-ncc" "$results" --recipe lidc-nodules "${inits[@]}"
echo "== ncc done in $((SECONDS - t_all)) s" >&2
