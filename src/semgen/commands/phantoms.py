"""``semgen phantoms OUT``: write the built-in synthetic chest-CT cohort."""

from __future__ import annotations

import argparse

from semgen.commands.options import add_threads


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="output folder (created; files in it are replaced atomically)")
    parser.add_argument("--n", type=int, default=None, help="number of patients (default 32)")
    parser.add_argument("--seed", type=int, default=None, help="cohort seed (default 0)")
    parser.add_argument(
        "--preset",
        choices=("tiny", "small", "standard"),
        default=None,
        help="volume size: tiny 64x64x32, small 128x128x64 (default), standard 256x256x128; "
        "all cover 371x371x320 mm",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="worker processes (default 0: one per CPU core)"
    )
    parser.add_argument("--config", help="YAML file of options (flags given here override it)")
    parser.add_argument("--overwrite", action="store_true", default=None,
                        help="replace phantoms of another count, seed or preset in OUT")
    add_threads(parser)


def run(args: argparse.Namespace) -> int:
    import time

    from semgen.phantoms.writer import PhantomsConfig, phantoms
    from semgen.utils.config import config_from_args

    start = time.perf_counter()
    cfg = config_from_args(PhantomsConfig, args)
    result = phantoms(cfg)
    root = result.root
    print(
        f"{'Kept' if result.reused else 'Wrote'} {result.n} synthetic chest CTs ({cfg.preset} preset: {result.shape} voxels at "
        f"{result.spacing} mm, {len(result.types)} patient types: {', '.join(result.types)}) "
        f"{'already in' if result.reused else 'to'} {root}: "
        f"int16 HU images in images/, organ label maps in labels/, nodule masks in nodules/ "
        f"(NIfTI, LPS); {result.nodules} nodules and {result.lookalikes} vessel-bifurcation "
        f"look-alikes in candidates.csv; one row per patient in manifest.csv; slices in montage.png; "
        f"configuration in config.yaml (seed {cfg.seed}). Took {time.perf_counter() - start:.1f} s."
    )
    return 0
