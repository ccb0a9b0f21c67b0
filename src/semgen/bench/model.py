"""``semgen bench model``: one Semantic Genesis training step of the U-Net (forward, restoration
MSE + 0.01 x pattern cross-entropy, backward, Adam step) in each precision and memory format
the device runs natively; same initial weights and batch for every variant.

Sizes: the CPU preset of ``semgen pretrain`` on a CPU (width 8, batch 8, 32x32x16, 8 classes),
the published model on a GPU (width 32, batch 2, 64x64x32, 44 classes); each flag overrides.

Variants: ``fp32`` (contiguous), ``fp32_channels_last``, ``bf16`` and ``bf16_channels_last``
(autocast), ``fp16_channels_last`` (autocast + GradScaler, CUDA only), and with ``--compile``
``compile`` (torch.compile of the path the trainer uses). A variant the hardware cannot run
natively (bf16 on a CPU without AVX512-BF16/AMX, fp16 on a CPU) is not timed: it is named
under ``skipped`` with the reason. Each timed variant reports cubes (samples) per second of wall time
(``cpu_per_s``: per second of this process's CPU time, steadier on a shared machine),
achieved GFLOP/s (the step's FLOPs counted by ``torch.utils.flop_counter``) and the fraction
of the peak measured in the same run by a large matmul in the variant's dtype.
``default`` names the variant ``semgen pretrain --precision auto`` uses;
``speedup`` = default / fp32.
"""

from __future__ import annotations

import argparse
import copy
import logging
import time
from typing import Any

from semgen.utils.progress import Pace

log = logging.getLogger(__name__)

# variant -> (precision, channels-last)
VARIANTS: dict[str, tuple[str, bool]] = {
    "fp32": ("fp32", False),
    "fp32_channels_last": ("fp32", True),
    "bf16": ("bf16", False),
    "bf16_channels_last": ("bf16", True),
    "fp16_channels_last": ("fp16", True),
}


# the sizes --width, --batch, --patch and --num-classes default to: the CPU preset of semgen
# pretrain on a CPU (a step of 47 GFLOP), the published model on a GPU (1,508 GFLOP per step:
# minutes per variant on 2 CPU cores, over 10 min in all on a shared 2-core machine)
SIZES = {"cpu": {"width": 8, "batch": 8, "patch": "32x32x16", "num_classes": 8},
         "cuda": {"width": 32, "batch": 2, "patch": "64x64x32", "num_classes": 44}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    cpu, gpu = SIZES["cpu"], SIZES["cuda"]
    parser.add_argument("--width", type=int, default=None,
                        help=f"U-Net base width (default {cpu['width']} on a CPU, as semgen pretrain's CPU preset; "
                             f"{gpu['width']}, the published width, on a GPU)")
    parser.add_argument("--batch", type=int, default=None,
                        help=f"cubes per step (default {cpu['batch']} on a CPU, {gpu['batch']} on a GPU); 0 = the largest "
                             "power of two up to --max-batch whose fp32 step fits in memory")
    parser.add_argument("--max-batch", type=int, default=512, help="upper limit of the --batch 0 search (512)")
    parser.add_argument("--patch", default=None, help="cube size XxYxZ (or XxY for 2D), each divisible by 8 (default "
                        f"{cpu['patch']} on a CPU, {gpu['patch']} on a GPU)")
    parser.add_argument("--num-classes", type=int, default=None, help="pattern classes of the head, 0 = no head "
                        f"(default {cpu['num_classes']} on a CPU, {gpu['num_classes']} on a GPU)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per variant (5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per variant before timing")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the default path")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the batch")


def _parse_patch(text: str) -> tuple[int, ...]:
    try:
        patch = tuple(int(v) for v in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise ValueError(f"--patch must look like 64x64x32, got {text!r}") from None
    if len(patch) not in (2, 3):
        raise ValueError(f"--patch must have 2 or 3 sizes, got {text!r}")
    return patch


def training_step(model, optimizer, x, target, labels, precision: str, scaler=None):
    """One Semantic Genesis step (as the trainer's objective at the default weights): forward
    under autocast in ``precision`` (none for fp32), losses in fp32, backward, Adam step.
    Returns the loss tensor (detached)."""
    import contextlib

    import torch
    import torch.nn.functional as F

    from semgen.bench.hardware import DTYPES

    autocast = (
        contextlib.nullcontext()
        if precision == "fp32"
        else torch.autocast(device_type=x.device.type, dtype=DTYPES[precision])
    )
    with autocast:
        seg, cls = model(x)
    loss = F.mse_loss(torch.sigmoid(seg.float()), target)
    if cls is not None:
        loss = loss + 0.01 * F.cross_entropy(cls.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return loss.detach()


def largest_batch(base, patch: tuple[int, ...], num_classes: int, device, limit: int) -> int:
    """The largest power of two <= ``limit`` at which one fp32 contiguous training step (the
    variant needing the most memory) runs on ``device`` without running out of memory."""
    import torch

    from semgen.bench.hardware import sync

    fits = 0
    batch = 1
    while batch <= limit:
        model = copy.deepcopy(base).to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        try:
            x = torch.rand((batch, 1, *patch), device=device)
            labels = torch.zeros(batch, dtype=torch.long, device=device)
            training_step(model, optimizer, x, x, labels, "fp32")
            sync(device)
        except torch.OutOfMemoryError:
            break
        except RuntimeError:
            if device.type != "cuda":
                raise
            break  # a cuDNN / CUDA limit of tensor sizes: does not fit either
        finally:
            del model, optimizer
            if device.type == "cuda":
                torch.cuda.empty_cache()
        fits, batch = batch, batch * 2
    if fits == 0:
        raise ValueError(f"--batch 0: not even one {'x'.join(map(str, patch))} cube fits on {device}")
    return fits


def _measure(name: str, base, x, target, labels, precision: str, channels_last: bool, compiled: bool, steps: int,
             warmup: int) -> dict[str, Any]:
    """Time ``steps`` training steps after ``warmup`` untimed ones (at least one: the step whose
    FLOPs are counted), logging a line at most every 10 s; cubes/s, FLOPs per step, first loss."""
    import torch

    from semgen.bench.hardware import Clock, count_flops, sync

    device = x.device
    model = copy.deepcopy(base).to(device)
    if channels_last:
        fmt = torch.channels_last_3d if x.dim() == 5 else torch.channels_last
        model = model.to(memory_format=fmt)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    step_model = torch.compile(model) if compiled else model

    def step() -> torch.Tensor:
        return training_step(step_model, optimizer, x, target, labels, precision, scaler)

    if compiled:  # count on an eager copy: FLOPs are the model's, whoever runs it
        eager = copy.deepcopy(model)
        flops = count_flops(lambda: training_step(eager, torch.optim.Adam(eager.parameters()), x, target, labels, precision))
        start = time.perf_counter()
        first_loss = float(step())
    else:  # the first warm-up step is the counted one
        start = time.perf_counter()
        losses = []
        flops = count_flops(lambda: losses.append(float(step())))
        first_loss = losses[0]
    sync(device)
    first_s = time.perf_counter() - start
    untimed = max(warmup, 1)
    pace = Pace(log, f"{name} step", untimed + steps, every=10.0, start=start)
    pace.step(1, "untimed")
    for done in range(2, untimed + 1):
        step()
        pace.step(done, "untimed")
    clock = Clock(device)
    for done in range(untimed + 1, untimed + steps + 1):
        step()
        pace.step(done, "timed")
    elapsed, cpu = clock.elapsed()
    return {
        "per_s": x.shape[0] * steps / elapsed, "cpu_per_s": x.shape[0] * steps / cpu, "seconds": elapsed,
        "flops_per_step": flops, "first_step_s": first_s, "first_loss": first_loss,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from semgen.bench.hardware import describe_device, efficiency, matmul_peak, skip_reason
    from semgen.models import UNet
    from semgen.models.speed import default_variant
    from semgen.utils.seeding import derive_seed, torch_generator

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    for name, value in SIZES["cuda" if device.type == "cuda" else "cpu"].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    patch = _parse_patch(args.patch)
    if args.steps < 1 or args.batch < 0 or args.warmup < 0 or args.max_batch < 1:
        raise ValueError("--steps and --max-batch must be at least 1, --batch and --warmup at least 0")
    if args.threads:
        torch.set_num_threads(args.threads)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(args.seed, "bench-model", "weights"))
        base = UNet(spatial_dims=len(patch), width=args.width, num_classes=args.num_classes)
    batch = args.batch or largest_batch(base, patch, args.num_classes, device, args.max_batch)
    g = torch_generator(args.seed, "bench-model", "batch")
    x = torch.rand((batch, 1, *patch), generator=g).to(device)
    target = x.clone()
    labels = torch.randint(0, max(args.num_classes, 1), (batch,), generator=g).to(device)

    skipped = {name: reason for name, (precision, _) in VARIANTS.items() if (reason := skip_reason(device, precision))}
    peaks = {p: matmul_peak(device, p) for p in sorted({VARIANTS[n][0] for n in VARIANTS if n not in skipped})}
    default = default_variant(device, patch)
    timed: dict[str, dict[str, Any]] = {}
    flops: dict[str, int] = {}
    plan = [(name, *VARIANTS[name], False) for name in VARIANTS if name not in skipped]
    if args.compile:
        plan.append(("compile", *VARIANTS[default], True))
    pace = Pace(log, "bench model variant", len(plan))
    for done, (name, precision, channels_last, compiled) in enumerate(plan, 1):
        try:
            m = _measure(name, base, x, target, labels, precision, channels_last, compiled, args.steps, args.warmup)
        except Exception as e:  # a failing compiler is reported in the result instead of crashing the benchmark
            if not compiled:
                raise
            skipped[name] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            pace.step(done, f"{name} failed ({skipped[name]})")
            continue
        pace.step(done, f"{name}: {m['per_s']:.3g} cubes/s, first step {m['first_step_s']:.2f} s")
        flops[name] = m["flops_per_step"]
        timed[name] = {
            "per_s": round(m["per_s"], 4),
            "cpu_per_s": round(m["cpu_per_s"], 4),
            **efficiency(m["flops_per_step"], args.steps, m["seconds"], peaks[precision]),
            "precision": precision,
            "channels_last": channels_last,
            "first_loss": m["first_loss"],
        }
        if compiled:
            timed[name]["warmup_s"] = round(m["first_step_s"], 2)
    fp32 = timed["fp32"]["per_s"]
    out: dict[str, Any] = {
        "benchmark": "model",
        "unit": "cubes/s",
        "device": describe_device(device),
        "spatial_dims": len(patch),
        "width": args.width,
        "batch": batch,
        "batch_searched": args.batch == 0,
        "patch": list(patch),
        "num_classes": args.num_classes,
        "steps": args.steps,
        "warmup": args.warmup,
        "gflop_per_step": round(flops["fp32"] / 1e9, 3),
        "peak_gflops": {p: round(v, 1) for p, v in peaks.items()},
        "variants": timed,
        "skipped": skipped,
        "default": default,
        "fp32_per_s": fp32,
        "default_per_s": timed[default]["per_s"],
        "speedup": round(timed[default]["per_s"] / fp32, 3),
    }
    for name, r in timed.items():
        print(f"{name}: {r['per_s']:.3f} cubes/s, {r['gflops']} GFLOP/s = {r['peak_fraction']:.0%} of the {r['precision']} matmul peak")
    for name, reason in skipped.items():
        print(f"{name}: skipped ({reason})")
    return out
