"""``semgen phantoms OUT``: write the built-in synthetic chest-CT cohort."""

from __future__ import annotations

import argparse


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


def run(args: argparse.Namespace) -> int:
    import csv
    import time

    from semgen.phantoms.writer import PhantomsConfig, write_cohort
    from semgen.utils.config import config_from_args

    start = time.perf_counter()
    cfg = config_from_args(PhantomsConfig, args)
    cfg.validate()
    manifest = write_cohort(
        cfg.out, cfg.n, cfg.seed, cfg.preset, workers=cfg.workers, montage_patients=cfg.montage_patients
    )
    root = manifest.parent
    with open(manifest, newline="") as f:
        rows = list(csv.DictReader(f))
    with open(root / "candidates.csv", newline="") as f:
        labels = [int(r["label"]) for r in csv.DictReader(f)]
    types = sorted({r["type_name"] for r in rows})
    print(
        f"Wrote {len(rows)} synthetic chest CTs ({cfg.preset} preset: {rows[0]['shape']} voxels at "
        f"{rows[0]['spacing']} mm, {len(types)} patient types: {', '.join(types)}) to {root}: "
        f"int16 HU images in images/, organ label maps in labels/, nodule masks in nodules/ "
        f"(NIfTI, LPS); {sum(labels)} nodules and {len(labels) - sum(labels)} vessel-bifurcation "
        f"look-alikes in candidates.csv; one row per patient in manifest.csv; slices in montage.png; "
        f"configuration in config.yaml (seed {cfg.seed}). Took {time.perf_counter() - start:.1f} s."
    )
    return 0
