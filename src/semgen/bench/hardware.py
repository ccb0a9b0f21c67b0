"""What the benchmarks anchor their figures to: the machine, what it computes natively, its
measured matmul peak and the FLOP count of a step.

- :func:`describe_device`: CPU model, the vector flags that matter (AVX2, FMA, AVX-512,
  AVX512-BF16, AMX), PyTorch's CPU capability and ``ONEDNN_MAX_CPU_ISA``; or the GPU name.
- :func:`skip_reason`: why a precision is not timed on a device (``None`` = it is native):
  bf16 on a CPU without AVX512-BF16/AMX (emulated, tens of times slower), fp16 on any CPU.
- :func:`matmul_peak`: GFLOP/s of a large square matmul in a dtype, best of a few; the
  practical peak a training step is compared with.
- :func:`count_flops`: FLOPs of one call (``torch.utils.flop_counter.FlopCounterMode``:
  convolutions and matmuls forward and backward; element-wise work is not counted).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
FLAGS_SHOWN = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile")


def describe_device(device: torch.device) -> dict[str, Any]:
    """The device a benchmark ran on, for its JSON: ``{"kind", "name", ...}``."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return {"kind": "cuda", "name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                "capability": f"{props.major}.{props.minor}", "torch": torch.__version__}
    from semgen.models.speed import cpu_bf16_native, cpu_flags

    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), name)
    except OSError:
        pass
    flags = cpu_flags()
    return {
        "kind": "cpu",
        "name": name,
        "flags": [f for f in FLAGS_SHOWN if f in flags] if flags is not None else None,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "native_bf16": cpu_bf16_native(),
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
    }


def skip_reason(device: torch.device, precision: str) -> str | None:
    """Why ``precision`` (fp32, bf16, fp16) is not timed on ``device``; ``None`` when it runs natively."""
    if precision == "fp32":
        return None
    if device.type == "cuda":
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            return "this GPU has no bf16"
        return None
    if precision == "fp16":
        return "fp16 on a CPU is emulated"
    from semgen.models.speed import cpu_bf16_native

    if not cpu_bf16_native():
        return "bf16 is emulated on this CPU (no AVX512-BF16/AMX in use)"
    return None


class Clock:
    """Wall time and this process's CPU time since the clock started (after a device sync).

    On a shared CPU the CPU time is the steadier measure of work: time slices other jobs
    take do not count. With one torch thread on an idle machine the two agree; with more
    threads the CPU time adds the threads up (and any spin-waiting)."""

    def __init__(self, device: torch.device):
        self.device = device
        sync(device)
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def elapsed(self) -> tuple[float, float]:
        """(wall seconds, CPU seconds) since the clock started."""
        sync(self.device)
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def sync(device: torch.device) -> None:
    """Wait for queued GPU work (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, precision: str = "fp32", size: int | None = None, repeats: int = 3) -> float:
    """Measured peak in GFLOP/s: best of ``repeats`` timings of an (n x n) @ (n x n) matmul in
    ``precision`` (2 n^3 FLOPs; n = 2048 on the CPU, 8192 on a GPU, unless ``size``)."""
    n = size or (8192 if device.type == "cuda" else 2048)
    g = torch.Generator().manual_seed(0)
    a = torch.rand((n, n), generator=g).to(device=device, dtype=DTYPES[precision])
    b = torch.rand((n, n), generator=g).to(device=device, dtype=DTYPES[precision])
    a @ b
    sync(device)
    best = float("inf")
    calls = 4 if device.type == "cuda" else 1
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - start) / calls)
    return 2 * n**3 / best / 1e9


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call of ``fn`` (convolutions and matmuls, forward and backward, as
    ``torch.utils.flop_counter.FlopCounterMode`` counts them)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def efficiency(flops_per_step: int, steps: int, seconds: float, peak_gflops: float) -> dict[str, float]:
    """``{"gflops": achieved GFLOP/s, "peak_fraction": achieved / peak}`` for ``steps`` steps in ``seconds``."""
    gflops = flops_per_step * steps / seconds / 1e9
    return {"gflops": round(gflops, 2), "peak_fraction": round(gflops / peak_gflops, 3)}
