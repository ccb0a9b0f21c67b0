#!/usr/bin/env bash
# GPU check of semgen's CUDA paths at the paper's size; prints one JSON line (and keeps it in
# benchmarks/results/gpu.json; the --tiny dry run keeps nothing).
#
#   bash benchmarks/gpu.sh                      # on a machine with one CUDA GPU (about 5-8 min)
#   bash benchmarks/gpu.sh --device cpu --tiny  # dry run of the script's logic on a CPU (no compile; a minute)
#
# What runs (semgen bench ..., each in its own process):
#   1. transforms: the batched Semantic Genesis corruptions on the GPU (64x64x32 cubes, batch 32)
#   2. model: the width-32 U-Net training step on 64x64x32 cubes at the largest power-of-two
#      batch (up to 256) whose fp32 step fits: fp32, fp32 channels-last, bf16 and bf16 channels-last
#      autocast, fp16 channels-last autocast with GradScaler, and torch.compile of the default
#      path; each with GFLOP/s and the fraction of the bf16 matmul peak measured in the same run
#   3. pretrain: the trainer at width 32 (corruption on the device, validation, checkpoints,
#      pictures) against its own model step
# The JSON line: device, the batch found, cubes/s per variant, each variant's fraction of the
# GPU's bf16 peak, the corruption throughput and the trainer's share of the model step.
# Not run in CI; needs a CUDA build of PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
device=cuda
tiny=0
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --tiny) tiny=1; shift ;;
    *) echo "usage: bash benchmarks/gpu.sh [--device cuda|cuda:N|cpu] [--tiny]" >&2; exit 2 ;;
  esac
done
semgen=${SEMGEN:-semgen}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "$tiny" = 1 ]; then
  size=(32 32 16); model_args=(--width 2 --patch 16x16x8 --batch 0 --max-batch 4 --steps 2 --warmup 1)
  results=$tmp
  transform_args=(--batch 4 --seconds 0.2 --repeats 1)
  pretrain_args=(--configs cpu --train-crops 4 --validation-crops 2 --epochs 1 --batch 2)
else
  # 256 x 32 channels x 64x64x32 stays below 2^31 elements per activation (cuDNN's limit)
  size=(64 64 32); model_args=(--width 32 --patch 64x64x32 --batch 0 --max-batch 256 --steps 5 --warmup 2 --compile)
  results=benchmarks/results
  transform_args=(--batch 32 --seconds 2 --repeats 3)
  pretrain_args=(--configs width32 --train-crops 64 --validation-crops 16 --epochs 2 --batch 8)
fi
echo "== corruptions on $device" >&2
$semgen bench transforms --device "$device" --size "${size[@]}" "${transform_args[@]}" --out "$tmp/transforms.json" >&2
echo "== U-Net training step on $device (batch search, every precision, compile)" >&2
$semgen bench model --device "$device" "${model_args[@]}" --out "$tmp/model.json" >&2
echo "== trainer against its model step on $device" >&2
$semgen bench pretrain --device "$device" "${pretrain_args[@]}" --out "$tmp/pretrain.json" >&2
mkdir -p "$results"
python3 - "$tmp" <<'PY' | tee "$results/gpu.json"
import json, sys
from pathlib import Path

tmp = Path(sys.argv[1])
transforms, model, pretrain = (json.loads((tmp / f"{n}.json").read_text()) for n in ("transforms", "model", "pretrain"))
peaks = model["peak_gflops"]
anchor = "bf16" if "bf16" in peaks else "fp32"  # a CPU dry run without native bf16 has no bf16 peak
trainer = next(iter(pretrain["configs"].values()))
print(json.dumps({
    "benchmark": "gpu",
    "device": model["device"],
    "width": model["width"], "patch": model["patch"], "batch": model["batch"],
    "gflop_per_step": model["gflop_per_step"],
    "peak_gflops": peaks, "peak_of": anchor,
    "cubes_per_s": {k: v["per_s"] for k, v in model["variants"].items()},
    "fraction_of_peak": {k: round(v["gflops"] / peaks[anchor], 4) for k, v in model["variants"].items()},
    "compile_warmup_s": model["variants"].get("compile", {}).get("warmup_s"),
    "skipped": model["skipped"], "default": model["default"],
    "corrupted_cubes_per_s": transforms["ours_per_s"], "corruption_speedup_vs_numpy": transforms["speedup"],
    "trainer_per_s": trainer["trainer_per_s"], "trainer_over_model": trainer["trainer_over_model"],
    "trainer_precision": trainer["precision"],
}))
PY
