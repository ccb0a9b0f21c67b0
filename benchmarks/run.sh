#!/usr/bin/env bash
# Runs every semgen benchmark in one go and keeps its JSON in benchmarks/results/.
# Usage: bash benchmarks/run.sh [name ...]   (names: transforms model discovery pretrain)
# Each benchmark measures ours and its baseline in the same run and reports the ratio;
# run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results
mkdir -p "$out"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(transforms model discovery pretrain)
for name in "${names[@]}"; do
  echo "== semgen bench $name" >&2
  semgen bench "$name" --out "$out/$name.json"
done
