"""The CPU training step at the CPU preset (width 8, batch 8, 32x32x16, 8 classes) in the
variants the README's "fp32 CPU path" table compares: contiguous or channels-last memory, and
Adam as a for-loop, foreach or fused; with --compile, torch.compile of the channels-last fused
step against eager (its warm-up timed: point TORCHINDUCTOR_CACHE_DIR at a fresh folder for an
empty cache, run again for a kept one). CPU seconds (and wall seconds) per step, median of
interleaved rounds; one JSON line.

    python benchmarks/cpu_step_variants.py --threads 1
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/cpu_step_variants.py --threads 1
    python benchmarks/cpu_step_variants.py --threads 1 --compile bf16
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch

from semgen.bench.model import training_step
from semgen.models import UNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="steps per variant per round")
    parser.add_argument("--compile", choices=("fp32", "bf16"), default=None,
                        help="time torch.compile of the channels-last fused step in this precision instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = UNet(spatial_dims=3, width=8, num_classes=8)
    g = torch.Generator().manual_seed(1)
    x = torch.rand((8, 1, 32, 32, 16), generator=g)
    labels = torch.randint(0, 8, (8,), generator=g)
    precision = args.compile or "fp32"

    def make(channels_last: bool, optimizer: str, compiled: bool = False):
        model = copy.deepcopy(base)
        if channels_last:
            model = model.to(memory_format=torch.channels_last_3d)
        kind = {"fused": {"fused": True}, "foreach": {"foreach": True}, "loop": {"foreach": False}}[optimizer]
        adam = torch.optim.Adam(model.parameters(), lr=1e-3, **kind)
        return (torch.compile(model) if compiled else model), adam

    result: dict = {"capability": torch.backends.cpu.get_cpu_capability(), "threads": args.threads, "precision": precision}
    if args.compile:
        variants = {"eager": make(True, "fused"), "compiled": make(True, "fused", compiled=True)}
        wall, cpu = time.perf_counter(), time.process_time()
        training_step(*variants["compiled"], x, x, labels, precision)
        result["warmup_wall_s"], result["warmup_cpu_s"] = round(time.perf_counter() - wall, 1), round(time.process_time() - cpu, 1)
    else:
        variants = {f"{'channels_last' if cl else 'contiguous'}-{opt}": make(cl, opt)
                    for cl in (False, True) for opt in ("loop", "foreach", "fused")}
    for model, adam in variants.values():
        training_step(model, adam, x, x, labels, precision)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (model, adam) in variants.items():
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(args.steps):
                training_step(model, adam, x, x, labels, precision)
            times[name].append(((time.process_time() - cpu) / args.steps, (time.perf_counter() - wall) / args.steps))
    for name, pairs in times.items():
        result[name] = {"cpu_s": round(statistics.median(c for c, _ in pairs), 4),
                        "wall_s": round(statistics.median(w for _, w in pairs), 4)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
