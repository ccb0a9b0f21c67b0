"""``semgen bench model``: one Semantic Genesis training step of the U-Net (forward, restoration
MSE + 0.01 x pattern cross-entropy, backward, Adam step), fp32 contiguous vs bf16 autocast
(contiguous) vs the fast path (bf16 autocast + channels-last, :mod:`semgen.models.speed`),
optionally torch.compile of the fast path; same initial weights and batch for every variant.

Throughput is in cubes (samples) per second; ``speedup`` = fast / fp32.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import time
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--width", type=int, default=32, help="U-Net base width (32 = published)")
    parser.add_argument("--batch", type=int, default=4, help="cubes per step")
    parser.add_argument("--patch", default="64x64x32", help="cube size XxYxZ (or XxY for 2D), each divisible by 8")
    parser.add_argument("--num-classes", type=int, default=44, help="pattern classes of the head (0 = no head)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant before timing")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the fast path")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the batch")


def _parse_patch(text: str) -> tuple[int, ...]:
    try:
        patch = tuple(int(v) for v in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise ValueError(f"--patch must look like 64x64x32, got {text!r}") from None
    if len(patch) not in (2, 3):
        raise ValueError(f"--patch must have 2 or 3 sizes, got {text!r}")
    return patch


def _measure(
    base, x, target, labels, device, mode: str, steps: int, warmup: int
) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    from semgen.models import fast_training_context, prepare_model_for_speed

    model = copy.deepcopy(base)
    if mode in ("fast", "compile"):
        model = prepare_model_for_speed(model, device)
        context = fast_training_context
    elif mode == "bf16":
        model = model.to(device)

        def context(dev):
            return torch.autocast(device_type=torch.device(dev).type, dtype=torch.bfloat16)
    else:
        model = model.to(device)

        def context(dev):
            return contextlib.nullcontext()

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    step_model = torch.compile(model) if mode == "compile" else model

    def step() -> float:
        with context(device):
            seg, cls = step_model(x)
        loss = F.mse_loss(torch.sigmoid(seg.float()), target)
        if cls is not None:
            loss = loss + 0.01 * F.cross_entropy(cls.float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return float(loss.detach())

    def sync() -> None:
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)

    start = time.perf_counter()
    first_loss = step()
    sync()
    first_s = time.perf_counter() - start
    for _ in range(max(warmup - 1, 0)):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    elapsed = time.perf_counter() - start
    return {"per_s": x.shape[0] * steps / elapsed, "first_step_s": first_s, "first_loss": first_loss}


def run(args: argparse.Namespace) -> dict[str, Any]:
    import os

    import torch

    from semgen.models import UNet, fast_path_supported
    from semgen.utils.seeding import derive_seed, torch_generator

    patch = _parse_patch(args.patch)
    if args.steps < 1 or args.batch < 1:
        raise ValueError("--steps and --batch must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(args.seed, "bench-model", "weights"))
        base = UNet(spatial_dims=len(patch), width=args.width, num_classes=args.num_classes)
    g = torch_generator(args.seed, "bench-model", "batch")
    x = torch.rand((args.batch, 1, *patch), generator=g).to(device)
    target = x.clone()
    labels = torch.randint(0, max(args.num_classes, 1), (args.batch,), generator=g).to(device)

    results = {
        mode: _measure(base, x, target, labels, device, mode, args.steps, args.warmup) for mode in ("fp32", "bf16", "fast")
    }
    out: dict[str, Any] = {
        "benchmark": "model",
        "device": str(device),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "spatial_dims": len(patch),
        "width": args.width,
        "batch": args.batch,
        "patch": list(patch),
        "num_classes": args.num_classes,
        "steps": args.steps,
        "unit": "cubes/s",
        "fp32_per_s": results["fp32"]["per_s"],
        "bf16_contiguous_per_s": results["bf16"]["per_s"],
        "fast_per_s": results["fast"]["per_s"],
        "speedup": results["fast"]["per_s"] / results["fp32"]["per_s"],
        "bf16_contiguous_speedup": results["bf16"]["per_s"] / results["fp32"]["per_s"],
        "fast_path_default": fast_path_supported(device),
        "first_loss_fp32": results["fp32"]["first_loss"],
        "first_loss_fast": results["fast"]["first_loss"],
    }
    if args.compile:
        try:
            compiled = _measure(base, x, target, labels, device, "compile", args.steps, max(args.warmup, 2))
        except Exception as e:  # report a failing compiler in the result instead of crashing
            out["compile_error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        else:
            out["compile_per_s"] = compiled["per_s"]
            out["compile_speedup"] = compiled["per_s"] / results["fp32"]["per_s"]
            out["compile_warmup_s"] = compiled["first_step_s"]
    return out
