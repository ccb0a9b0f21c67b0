"""``semgen bench discovery``: the vectorised acceptance test and whole self-discovery.

1. **Acceptance test per candidate.** The published lung rule as the official code runs
   it (``pattern_generator_3D.py`` / Models Genesis ``infinite_generator_3D.py``: a
   pure-Python loop over every voxel of a 64x64x32 crop and slices d..d+2, written out
   below) against :class:`semgen.discovery.AcceptanceRule` scoring a batch of candidates
   at once, on the same phantom and the same candidates (their decisions must agree).
   ``acceptance_speedup`` = loop seconds per candidate / vectorised seconds per candidate.
2. **Whole discovery after the auto-encoder** on ``--phantoms`` small phantoms (128x128x64)
   with C = ``--classes``, K = ``--neighbors``, 64x64x32 crops at 3 resolutions: wall time
   and peak resident memory of a fresh process running :func:`semgen.discovery.discover`
   with given per-scan features (each scan averaged down to 8x8x4, a stand-in for the
   auto-encoder's, so that the auto-encoder's training is not timed). Compared with the
   memory the published generator pre-allocates: every cube of every resolution as float64.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

from semgen.utils.progress import Pace

log = logging.getLogger(__name__)

PATCH = (64, 64, 32)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phantoms", type=int, default=64, help="small phantoms in the cohort (64)")
    parser.add_argument("--classes", type=int, default=44, help="C for the whole discovery (44)")
    parser.add_argument("--neighbors", type=int, default=32, help="K for the whole discovery (32)")
    parser.add_argument("--candidates", type=int, default=64, help="candidates scored per vectorised call (64)")
    parser.add_argument("--loop-candidates", type=int, default=3, help="candidates timed with the pure-Python loop (3)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats of the vectorised call (best is kept)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: steady numbers on a shared machine)")
    parser.add_argument("--workdir", help="where the phantom cohort is built and kept (default: a folder in the temp dir)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the phantoms, candidates and discovery")


def published_lung_fraction(volume, start: tuple[int, int, int], crop=(64, 64, 32), threshold: float = 0.425, len_depth: int = 3) -> float:
    """The published per-voxel loop: for every output voxel (i, j, d) the first slice k of
    d..d+len_depth-1 at or above ``threshold`` weighs 1 - k/(len_depth-1); none weighs 0.
    Returns the weight sum over the crop's voxel count (compared with lung_max = 0.15).
    Slices past the volume repeat the last one (the published code never reaches them)."""
    x, y, z = start
    rows, cols, deps = crop
    last = volume.shape[2] - 1
    total = 0.0
    for d in range(deps):
        for i in range(rows):
            for j in range(cols):
                k_found = len_depth - 1
                for k in range(len_depth):
                    if volume[x + i, y + j, min(z + d + k, last)] >= threshold:
                        k_found = k
                        break
                total += 1.0 - k_found / (len_depth - 1)
    return total / (rows * cols * deps)


def _phantom_cohort(root: Path, n: int, seed: int):
    """A cohort of ``n`` small phantoms (built once, then reused)."""
    from semgen.cohort import Cohort, create_cohort
    from semgen.io.intensity import normalize_intensity
    from semgen.phantoms import make_phantom
    from semgen.utils.progress import progress

    if (root / "manifest.csv").is_file():
        cohort = Cohort(root)
        if len(cohort) == n:
            log.info("bench discovery: reusing the %d phantoms in %s", n, root)
            return cohort

    def scans():
        pace = Pace(log, "bench discovery phantoms", n, unit="scan", every=10.0)
        for i in progress(range(n), desc="phantoms", unit="scan"):
            phantom = make_phantom(seed + i, "small")
            image, _ = normalize_intensity(phantom.image, "CT")
            yield f"phantom_{i:03d}", image, phantom.spacing
            pace.step(i + 1, f"built in {root}")

    return create_cohort(root, scans(), "CT")


def _acceptance(cohort, args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from semgen.discovery import AcceptanceRule
    from semgen.discovery.planning import candidate_starts
    from semgen.utils.seeding import numpy_rng

    scan_id = cohort.ids[0]
    volume = np.asarray(cohort.image(scan_id), dtype=np.float32)
    mask = np.asarray(cohort.mask(scan_id))
    starts = candidate_starts(volume.shape, PATCH, args.candidates, numpy_rng(args.seed, "bench-candidates"))
    rule = AcceptanceRule("lung")
    fractions = rule.statistics(volume, mask, starts, PATCH)["dense_fraction"]
    best = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        accepted = rule.accept(volume, mask, starts, PATCH)
        best = min(best, time.perf_counter() - t0)
    generic = AcceptanceRule("generic")
    best_generic = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        generic.accept(volume, mask, starts, PATCH)
        best_generic = min(best_generic, time.perf_counter() - t0)
    looped = min(args.loop_candidates, len(starts))
    t0 = time.perf_counter()
    loop_fractions = [published_lung_fraction(volume, tuple(int(v) for v in s), PATCH) for s in starts[:looped]]
    loop_seconds = (time.perf_counter() - t0) / looped
    agree = bool(np.allclose(loop_fractions, fractions[:looped], atol=1e-9))
    vectorised = best / len(starts)
    return {
        "acceptance_loop_ms_per_candidate": round(loop_seconds * 1e3, 2),
        "acceptance_vectorised_ms_per_candidate": round(vectorised * 1e3, 4),
        "acceptance_speedup": round(loop_seconds / vectorised, 1),
        "acceptance_generic_ms_per_candidate": round(best_generic / len(starts) * 1e3, 4),
        "acceptance_candidates_per_call": len(starts),
        "acceptance_agrees_with_loop": agree,
        "acceptance_accepted": int(accepted.sum()),
        "acceptance_volume": list(volume.shape),
    }


def _peak_rss_kb() -> int:
    """Peak resident memory of this process in KiB: VmHWM (Linux; unlike ``ru_maxrss`` it is not
    inherited from the parent across fork + exec), else ``ru_maxrss``."""
    import resource

    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _discovery_child(cohort_root: str, out: str, features: str, classes: int, neighbors: int, seed: int, threads: int, queue) -> None:
    """Run in a fresh process: discovery with given features; reports seconds and memory."""
    import torch

    from semgen.discovery import DiscoveryConfig, discover
    from semgen.utils.progress import setup_logging

    setup_logging()  # a spawned process starts without the parent's log handlers: discovery's own lines
    torch.set_num_threads(threads)

    baseline = _peak_rss_kb()
    cfg = DiscoveryConfig(classes=classes, neighbors=neighbors, patch=PATCH, features=Path(features), device="cpu", seed=seed)
    t0 = time.perf_counter()
    discover(cohort_root, out, cfg, overwrite=True)
    seconds = time.perf_counter() - t0
    peak = _peak_rss_kb()
    queue.put({"seconds": seconds, "peak_kb": peak, "baseline_kb": baseline})


def _whole_discovery(cohort, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from semgen.discovery import DiscoveryConfig
    from semgen.discovery.autoencoder import resize_to_grid
    from semgen.discovery.pipeline import clamp_counts
    from semgen.utils.splits import validation_patients
    from semgen.utils.io import read_json, save_npy

    features = np.stack([resize_to_grid(cohort.image(i), (8, 8, 4)).flatten().numpy() for i in cohort.ids])
    save_npy(work / "features.npy", features)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(
        target=_discovery_child,
        args=(str(cohort.root), str(work / "patterns"), str(work / "features.npy"), args.classes, args.neighbors, args.seed, args.threads, queue),
    )
    child.start()
    result = queue.get()
    child.join()
    info = read_json(work / "patterns" / "classes.json")
    held_out = validation_patients([r.patient for r in cohort.records], DiscoveryConfig().val_fraction, args.seed, "validation-split")
    is_val = np.array([r.patient in held_out for r in cohort.records], dtype=bool)
    cfg, _ = clamp_counts(
        DiscoveryConfig(classes=args.classes, neighbors=args.neighbors, val_neighbors=30).resolve(3, cuda=False),
        int((~is_val).sum()), int(is_val.sum()),
    )
    cube_bytes = int(np.prod(PATCH)) * 8
    published = (3 * cfg.neighbors * cfg.classes + cfg.val_neighbors * cfg.classes) * cube_bytes
    peak_mb = result["peak_kb"] / 1024
    return {
        "discovery_seconds": round(result["seconds"], 2),
        "peak_rss_mb": round(peak_mb, 1),
        "rss_after_imports_mb": round(result["baseline_kb"] / 1024, 1),
        "published_preallocation_mb": round(published / 2**20, 1),
        "ram_ratio_published_over_ours": round(published / 2**20 / peak_mb, 1),
        "classes": info["num_classes"],
        "neighbors": cfg.neighbors,
        "val_neighbors": cfg.val_neighbors,
        "crops": info["crops"],
        "phantoms": len(cohort),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    work = Path(args.workdir) if args.workdir else Path(tempfile.gettempdir()) / "semgen-bench-discovery"
    work.mkdir(parents=True, exist_ok=True)
    cohort = _phantom_cohort(work / f"cohort-{args.phantoms}-{args.seed}", args.phantoms, args.seed)
    result: dict[str, Any] = {"benchmark": "discovery", "threads": args.threads}
    result.update(_acceptance(cohort, args))
    log.info("bench discovery: acceptance test %.3g ms per candidate vectorised, %.3g ms in the published loop; "
             "now the whole discovery (C=%d, K=%d) in a fresh process",
             result["acceptance_vectorised_ms_per_candidate"], result["acceptance_loop_ms_per_candidate"],
             args.classes, args.neighbors)
    result.update(_whole_discovery(cohort, work, args))
    log.info("bench discovery: whole discovery %.1f s, peak %.0f MB", result["discovery_seconds"], result["peak_rss_mb"])
    return result
