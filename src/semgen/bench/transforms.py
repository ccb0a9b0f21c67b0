"""``semgen bench transforms``: corrupted cubes per second, batched torch vs the published
per-sample NumPy/SciPy pipeline.

The baseline below is written straight from the published Semantic Genesis PyTorch data
loader (reference Sec. 3.2 / 3.1): per cube, float64, an elastic deformation
(``gaussian_filter`` of U(-1, 1) fields, sigma 8, mode constant, alpha 991, no z
displacement, ``map_coordinates`` order 1, mode reflect), then exactly one of: local
shuffle of 5 blocks, a Bezier map of 100000 points applied with ``np.interp``, one
in-painting box of 10-21 x 10-21 x 5-10 U(0, 1) noise, out-painting keeping one box of
28-37 x 28-37 x 14-19. Ours is ``get_schedule("semantic-genesis")`` on whole batches.
Both run in one process, one thread ("one CPU core"), interleaved over ``--repeats``
rounds; the median round counts. On CPU the timer is the process CPU time, so other
work on a shared machine does not count against either side; on CUDA it is wall time
after synchronisation.
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import time
from math import comb

import numpy as np

from semgen.utils.progress import Pace

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=int, default=32, help="cubes per batch for the batched transforms (default 32)")
    p.add_argument(
        "--size", type=int, nargs=3, default=(64, 64, 32), metavar=("X", "Y", "Z"), help="cube size (default 64 64 32)"
    )
    p.add_argument("--seconds", type=float, default=3.0, help="measuring time per pipeline per round (default 3)")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the median counts (default 3)")
    p.add_argument("--device", default="cpu", help="device for the batched transforms: cpu (default) or cuda")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def _baseline_elastic(
    image: np.ndarray, rng: np.random.Generator, alpha: float = 991.0, sigma: float = 8.0
) -> np.ndarray:
    from scipy.ndimage import gaussian_filter, map_coordinates

    shape = image.shape
    dx = gaussian_filter(rng.random(shape) * 2 - 1, sigma, mode="constant", cval=0) * alpha
    dy = gaussian_filter(rng.random(shape) * 2 - 1, sigma, mode="constant", cval=0) * alpha
    x, y, z = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), np.arange(shape[2]), indexing="ij")
    indices = np.reshape(x + dx, (-1, 1)), np.reshape(y + dy, (-1, 1)), np.reshape(z, (-1, 1))
    return map_coordinates(image, indices, order=1, mode="reflect").reshape(shape)


def _baseline_local_shuffle(image: np.ndarray, rng: np.random.Generator, n_blocks: int = 5) -> np.ndarray:
    out = image.copy()
    rows, cols, deps = image.shape
    for _ in range(n_blocks):
        bx, by, bz = (
            int(rng.integers(1, rows // 10 + 1)),
            int(rng.integers(1, cols // 10 + 1)),
            int(rng.integers(1, deps // 10 + 1)),
        )
        nx, ny, nz = (
            int(rng.integers(0, rows - bx + 1)),
            int(rng.integers(0, cols - by + 1)),
            int(rng.integers(0, deps - bz + 1)),
        )
        window = image[nx : nx + bx, ny : ny + by, nz : nz + bz].flatten()
        rng.shuffle(window)
        out[nx : nx + bx, ny : ny + by, nz : nz + bz] = window.reshape(bx, by, bz)
    return out


def _baseline_nonlinear(image: np.ndarray, rng: np.random.Generator, n_times: int = 100000) -> np.ndarray:
    points = [[0, 0], [rng.random(), rng.random()], [rng.random(), rng.random()], [1, 1]]
    xp, yp = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    t = np.linspace(0.0, 1.0, n_times)
    poly = np.array([comb(3, i) * t ** (3 - i) * (1 - t) ** i for i in range(4)])
    xvals, yvals = xp @ poly, yp @ poly
    if rng.random() < 0.5:
        xvals = np.sort(xvals)
    else:
        xvals, yvals = np.sort(xvals), np.sort(yvals)
    return np.interp(image, xvals, yvals)


def _baseline_inpaint(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = image.copy()
    rows, cols, deps = image.shape
    bx, by, bz = (int(rng.integers(n // 6, n // 3 + 1)) for n in (rows, cols, deps))
    nx, ny, nz = (int(rng.integers(3, n - s - 3 + 1)) for n, s in ((rows, bx), (cols, by), (deps, bz)))
    out[nx : nx + bx, ny : ny + by, nz : nz + bz] = rng.random((bx, by, bz))
    return out


def _baseline_outpaint(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = rng.random(image.shape)
    rows, cols, deps = image.shape
    bx, by, bz = (n - int(rng.integers(3 * n // 7, 4 * n // 7 + 1)) for n in (rows, cols, deps))
    nx, ny, nz = (int(rng.integers(3, n - s - 3 + 1)) for n, s in ((rows, bx), (cols, by), (deps, bz)))
    out[nx : nx + bx, ny : ny + by, nz : nz + bz] = image[nx : nx + bx, ny : ny + by, nz : nz + bz]
    return out


def baseline_semantic_genesis(cube: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The published per-sample pipeline on one (X, Y, Z) float64 cube in [0, 1]: (input, target)."""
    target = cube.copy()
    x = _baseline_elastic(cube, rng)
    r = rng.random()
    if r <= 0.25:
        x = _baseline_local_shuffle(x, rng)
    elif r <= 0.5:
        x = _baseline_nonlinear(x, rng)
    elif r <= 0.75:
        x = _baseline_inpaint(x, rng)
    else:
        x = _baseline_outpaint(x, rng)
    return x, target


def run(args: argparse.Namespace) -> dict:
    import scipy
    import torch

    from semgen.transforms import get_schedule
    from semgen.utils.seeding import numpy_rng, torch_generator

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    if args.batch < 1 or args.seconds <= 0 or args.repeats < 1:
        raise ValueError("--batch and --repeats must be >= 1 and --seconds > 0")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    on_gpu = device.type == "cuda"

    def clock() -> float:
        if on_gpu:
            torch.cuda.synchronize(device)
            return time.perf_counter()
        return time.process_time()

    size = tuple(args.size)
    cubes = torch.rand((args.batch, 1, *size), generator=torch_generator(args.seed, "bench", "cubes"))
    batch = cubes.to(device)
    numpy_cubes = cubes[:, 0].double().numpy()
    rng = numpy_rng(args.seed, "bench", "baseline")
    gen = torch_generator(args.seed, "bench", "ours", device=device)
    schedules = {name: get_schedule(name) for name in ("semantic-genesis", "models-genesis")}

    def measure_ours(name: str) -> float:
        schedule = schedules[name]
        schedule(batch, gen)  # warm-up
        n, start = 0, clock()
        while True:
            schedule(batch, gen)
            n += args.batch
            elapsed = clock() - start
            if elapsed >= args.seconds:
                return n / elapsed

    def measure_baseline() -> float:
        baseline_semantic_genesis(numpy_cubes[0], rng)
        n, start = 0, clock()
        while True:
            baseline_semantic_genesis(numpy_cubes[n % args.batch], rng)
            n += 1
            elapsed = clock() - start
            if elapsed >= args.seconds:
                return n / elapsed

    rounds: dict[str, list[float]] = {"ours": [], "baseline": [], "models-genesis": []}
    pace = Pace(log, "bench transforms round", args.repeats)
    try:
        for done in range(1, args.repeats + 1):
            rounds["baseline"].append(measure_baseline())
            rounds["ours"].append(measure_ours("semantic-genesis"))
            rounds["models-genesis"].append(measure_ours("models-genesis"))
            pace.step(done, f"semantic-genesis {rounds['ours'][-1]:.1f} cubes/s, published per-sample pipeline "
                            f"{rounds['baseline'][-1]:.1f}, models-genesis {rounds['models-genesis'][-1]:.1f}")
    finally:
        torch.set_num_threads(threads)
    ours, base = statistics.median(rounds["ours"]), statistics.median(rounds["baseline"])
    result = {
        "benchmark": "transforms",
        "schedule": "semantic-genesis",
        "ours_per_s": round(ours, 2),
        "baseline_per_s": round(base, 2),
        "speedup": round(ours / base, 2),
        "models_genesis_per_s": round(statistics.median(rounds["models-genesis"]), 2),
        "rounds": {k: [round(v, 2) for v in vs] for k, vs in rounds.items()},
        "size": list(size),
        "batch": args.batch,
        "device": str(device) + (f" ({torch.cuda.get_device_name(device)})" if on_gpu else ""),
        "baseline_device": "cpu (numpy float64, one cube at a time)",
        "threads": 1,
        "timer": "wall time after cuda synchronize" if on_gpu else "process CPU time",
        "seconds_per_round": args.seconds,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "machine": platform.machine(),
    }
    print(
        f"semantic-genesis: {ours:.1f} cubes/s batched on {device} vs {base:.1f} cubes/s for the published "
        f"per-sample NumPy/SciPy pipeline ({ours / base:.1f}x); models-genesis: {result['models_genesis_per_s']} "
        f"cubes/s; {size[0]}x{size[1]}x{size[2]} cubes, batch {args.batch}, one thread, "
        f"median of {args.repeats} interleaved rounds ({result['timer']})."
    )
    return result
