"""``semgen prepare INPUT... --out COHORT``: read scans of any format into a cohort store."""

from __future__ import annotations

import argparse

from semgen.commands.options import add_threads, spacings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="files and folders of scans (walked recursively)")
    parser.add_argument("--out", help="cohort folder to write (default: cohort)")
    parser.add_argument("--config", help="YAML file of options; flags given here override it")
    parser.add_argument(
        "--modality",
        choices=("auto", "CT", "MR", "XR"),
        help="auto (default): DICOM tag; PNG/JPEG -> XR; other files: minimum below -500 -> CT, else MR. "
        "A given modality is forced and keeps only DICOM series of that modality",
    )
    parser.add_argument(
        "--ct-window",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="CT Hounsfield window mapped to [0, 1] (default -1000 1000)",
    )
    parser.add_argument(
        "--mr-percentiles",
        type=float,
        nargs=2,
        metavar=("LO", "HI"),
        help="MR per-volume percentiles mapped to [0, 1] (default 0.5 99.5)",
    )
    parser.add_argument(
        "--spacing", type=spacings, metavar="XxYxZ", help="resample to this spacing in mm, e.g. 1x1x2.5 (one value: isotropic)"
    )
    parser.add_argument(
        "--array-spacing", type=spacings, metavar="XxYxZ", help="spacing of NumPy inputs in mm, x, y[, z] order, e.g. 1x1x2.5"
    )
    parser.add_argument("--array-axes", metavar="ORDER", help="axis order of NumPy inputs, e.g. zyx (default xyz)")
    parser.add_argument("--workers", type=int, help="worker processes (default min(4, CPU count))")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        default=None,
        help="redo every scan and drop earlier ones instead of resuming",
    )
    parser.add_argument("--seed", type=int, help="recorded in config.yaml (preparing is deterministic)")
    add_threads(parser)


def _print_summary(result) -> None:
    from semgen.cohort.prepare import ALREADY_PREPARED

    for e in result.skipped:
        if e["reason"] != ALREADY_PREPARED:
            print(f"skipped {e['path']}{' [' + e['id'] + ']' if e['id'] else ''}: {e['reason']}")
    for e in result.failed:
        print(f"failed  {e['path']}{' [' + e['id'] + ']' if e['id'] else ''}: {e['reason']}")
    root = result.cohort
    counts = result.counts
    resumed = counts["already_prepared"]
    kind = f" {result.spatial_dims}D {'/'.join(result.modalities)}" if result.scans else ""
    print(
        f"Prepared {counts['ok']} scan(s) into {root}"
        + (f" ({resumed} already prepared, kept)" if resumed else "")
        + f"; {counts['skipped']} skipped, {counts['failed']} failed. The cohort now holds {result.scans}"
        f"{kind} scan(s): {root}/manifest.csv (one row per scan: id, source, modality, shape, spacing, "
        f"orientation, window, checksum), {root}/arrays/<id>.npy (float16 in [0, 1], canonical X, Y[, Z] LPS, "
        f"memory-mappable), {root}/masks/<id>.npy (uint8 body mask), {root}/report.json (every input with its "
        f"reason) and {root}/config.yaml (the options used)."
    )


def run(args: argparse.Namespace) -> int:
    from semgen.cohort.prepare import PrepareConfig, prepare
    from semgen.utils.config import config_from_args

    if not args.inputs:
        args.inputs = None  # let a --config file name them
    cfg = config_from_args(PrepareConfig, args)
    result = prepare(cfg)
    _print_summary(result)
    return 0 if result.counts["ok"] + result.counts["already_prepared"] else 1
