#!/usr/bin/env bash
# Runs every semgen benchmark in one go and keeps its JSON in benchmarks/results/ (or $RESULTS).
# Usage: bash benchmarks/run.sh [name ...]   (names: transforms model discovery pretrain)
# Each benchmark measures ours and its baseline in the same run and reports the ratio, and
# names the CPU it ran on (model, flags, torch's CPU capability) in its JSON; benchmarks that
# train also report GFLOP/s and the fraction of a matmul peak measured in the same run.
# Run it on an otherwise idle machine. To measure as a CPU without AVX-512 (AVX2 + FMA only)
# on one that has it:
#   ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 RESULTS=benchmarks/results/avx2 bash benchmarks/run.sh
# (torch's vector kernels and oneDNN's convolutions then use AVX2 only, and bf16 is skipped).
# The GPU check is benchmarks/gpu.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${RESULTS:-benchmarks/results}
mkdir -p "$out"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(transforms model discovery pretrain)
for name in "${names[@]}"; do
  echo "== semgen bench $name" >&2
  semgen bench "$name" --out "$out/$name.json"
done
