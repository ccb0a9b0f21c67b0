"""``semgen bench pretrain``: Semantic Genesis pre-training throughput, ours vs a loop of the published kind.

Both loops train the same U-Net from the same initial weights on the same in-memory crops
with the same objective (restoration MSE + 0.01 x pattern cross-entropy, Adam), one
process, in this order per configuration:

- **baseline** (the published ``pytorch/train.py`` + ``SemanticGenesis_Dataset``): every cube
  corrupted one at a time by the per-sample NumPy/SciPy pipeline (float64 elastic warp, then
  one of four corruptions; :func:`semgen.bench.transforms.baseline_semantic_genesis`),
  stacked, fp32, contiguous memory;
- **ours** (what ``semgen pretrain`` does): a DataLoader reads crops (float32 tensors in
  memory), the whole batch is corrupted at once by ``get_schedule("semantic-genesis")`` on
  the device with the trainer's generator, and the step runs on the models area's fast
  path (bf16 autocast + channels-last where the hardware supports it).

Configurations: ``width32`` (the published model, 64x64x32 cubes) and ``cpu`` (the CPU
preset of ``semgen pretrain``: width 8, 32x32x16 crops, batch 8). Throughput is cubes per
second of wall time over ``--steps`` steps after ``--warmup`` untimed ones; the result also
gives the share of our step time spent waiting for data (``ours_data_fraction``: near 0
means the pipeline keeps the device busy).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import time
from typing import Any

CONFIGS: dict[str, dict[str, Any]] = {
    "width32": {"width": 32, "patch": (64, 64, 32), "batch": 2},
    "cpu": {"width": 8, "patch": (32, 32, 16), "batch": 8},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--configs", default="width32,cpu", help="comma-separated of: " + ", ".join(CONFIGS))
    parser.add_argument("--steps", type=int, default=3, help="timed steps per loop and configuration (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    parser.add_argument("--batch", type=int, default=None, help="cubes per step (default: 2 at width32, 8 at cpu)")
    parser.add_argument("--classes", type=int, default=44, help="pattern classes of the head (published 44)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, crops and corruptions")


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _measure(kind: str, base, crops, labels, batch: int, steps: int, warmup: int, device, seed: int) -> dict[str, float]:
    """Train ``steps`` timed steps of loop ``kind`` ("ours" or "baseline"); cubes/s and data share."""
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from semgen.bench.transforms import baseline_semantic_genesis
    from semgen.models import fast_training_context, prepare_model_for_speed
    from semgen.tasks import BranchNet, Objective, get_method
    from semgen.utils.seeding import numpy_rng, torch_generator

    objective = Objective(get_method("semantic-genesis"))
    model = copy.deepcopy(base)
    if kind == "ours":
        model = prepare_model_for_speed(model, device)

        def autocast():
            return fast_training_context(device)

        loader = DataLoader(
            TensorDataset(crops, labels), batch_size=batch, shuffle=True, drop_last=True,
            generator=torch_generator(seed, "bench-pretrain", "order"), pin_memory=device.type == "cuda",
        )
        generator = torch_generator(seed, "bench-pretrain", "corrupt", device=device)

        def batches():
            while True:
                for x, y in loader:
                    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                    with torch.no_grad():
                        inputs, targets = objective.corrupt(x, generator)
                    yield inputs, targets, y
    else:
        model = model.to(device)
        autocast = contextlib.nullcontext
        rng = numpy_rng(seed, "bench-pretrain", "baseline")
        cubes = crops[:, 0].double().numpy()

        def batches():
            while True:
                index = rng.permutation(len(cubes))[:batch]
                pairs = [baseline_semantic_genesis(cubes[i], rng) for i in index]
                inputs = torch.from_numpy(np.stack([p[0] for p in pairs])[:, None]).float().to(device)
                targets = torch.from_numpy(np.stack([p[1] for p in pairs])[:, None]).float().to(device)
                yield inputs, targets, labels[torch.from_numpy(index)].to(device)

    net = BranchNet(model).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    source = batches()
    data_s = 0.0

    def step() -> float:
        nonlocal data_s
        t0 = time.perf_counter()
        inputs, targets, y = next(source)
        _sync(device)
        data_s += time.perf_counter() - t0
        with autocast():
            out = objective(net, {"input": inputs, "target": targets, "label": y})
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        optimizer.step()
        return float(out["loss"].detach())

    for _ in range(warmup):
        step()
    _sync(device)
    data_s = 0.0
    start = time.perf_counter()
    losses = [step() for _ in range(steps)]
    _sync(device)
    elapsed = time.perf_counter() - start
    return {"per_s": batch * steps / elapsed, "data_fraction": data_s / elapsed, "last_loss": losses[-1]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    import os
    import platform

    import torch

    from semgen.models import UNet, fast_path_supported
    from semgen.utils.seeding import derive_seed, torch_generator

    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown or not names:
        raise ValueError(f"--configs: unknown {', '.join(unknown) or '(none given)'}; known: {', '.join(CONFIGS)}")
    if args.steps < 1 or args.warmup < 0 or args.classes < 2 or (args.batch is not None and args.batch < 1):
        raise ValueError("--steps and --batch must be >= 1, --warmup >= 0, --classes >= 2")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        spec = CONFIGS[name]
        batch = args.batch or spec["batch"]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(args.seed, "bench-pretrain", name, "weights"))
            base = UNet(spatial_dims=3, width=spec["width"], num_classes=args.classes)
        g = torch_generator(args.seed, "bench-pretrain", name, "crops")
        n = max(4 * batch, 16)
        crops = torch.rand((n, 1, *spec["patch"]), generator=g)
        labels = torch.randint(0, args.classes, (n,), generator=g)
        measured = {
            kind: _measure(kind, base, crops, labels, batch, args.steps, args.warmup, device, args.seed)
            for kind in ("baseline", "ours")
        }
        results[name] = {
            "width": spec["width"],
            "patch": list(spec["patch"]),
            "batch": batch,
            "ours_per_s": round(measured["ours"]["per_s"], 3),
            "baseline_per_s": round(measured["baseline"]["per_s"], 3),
            "speedup": round(measured["ours"]["per_s"] / measured["baseline"]["per_s"], 2),
            "ours_data_fraction": round(measured["ours"]["data_fraction"], 3),
            "baseline_data_fraction": round(measured["baseline"]["data_fraction"], 3),
        }
    head = results[names[0]]
    out: dict[str, Any] = {
        "benchmark": "pretrain",
        "unit": "cubes/s",
        "config": names[0],
        "ours_per_s": head["ours_per_s"],
        "baseline_per_s": head["baseline_per_s"],
        "speedup": head["speedup"],
        "configs": results,
        "method": "semantic-genesis",
        "num_classes": args.classes,
        "steps": args.steps,
        "warmup": args.warmup,
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""),
        "fast_path": fast_path_supported(device),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }
    for name, r in results.items():
        print(
            f"{name}: width {r['width']}, {'x'.join(map(str, r['patch']))} cubes, batch {r['batch']}: ours "
            f"{r['ours_per_s']} cubes/s vs baseline {r['baseline_per_s']} cubes/s ({r['speedup']}x); "
            f"data wait {r['ours_data_fraction']:.0%} of our step time vs {r['baseline_data_fraction']:.0%} for the baseline."
        )
    return out
