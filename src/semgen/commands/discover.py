"""``semgen discover COHORT --out PATTERNS``: self-discovery of anatomical patterns (paper Sec. 2)."""

from __future__ import annotations

import argparse

from semgen.commands.options import add_threads, sizes


def _range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two numbers like 0.78,1.25, got {text!r}") from None
    return low, high


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cohort", metavar="COHORT", help="a cohort folder (from `semgen prepare` or `semgen phantoms`)")
    parser.add_argument("--out", required=True, metavar="PATTERNS", help="output folder for the pattern set")
    parser.add_argument("--config", metavar="YAML", help="options from a YAML file (flags override it)")
    g = parser.add_argument_group("patterns (defaults follow the paper)")
    g.add_argument("--classes", type=int, help="C, pattern classes (3D 44, 2D 100; clamped to the cohort)")
    g.add_argument("--neighbors", type=int, help="K, training scans per class incl. the reference (3D 200, 2D 1000)")
    g.add_argument("--val-neighbors", dest="val_neighbors", type=int, help="validation scans per class (30)")
    g.add_argument("--resolutions", type=int, help="crops per training scan: 1 native + larger ones resized back (3)")
    g.add_argument("--patch", dest="patch", type=sizes, metavar="XxYxZ", help="native crop size (3D 64x64x32, 2D 224x224)")
    g.add_argument("--multires-scale", dest="multires_scale", type=_range, metavar="LO,HI", help="in-plane size range of extra crops, x patch (0.78,1.25)")
    g.add_argument("--multires-shift", dest="multires_shift", type=int, help="in-plane shift of extra crops (10 for a 64 patch)")
    g.add_argument("--placement", choices=("body", "voxel"), help="body: relative to each scan's body (default); voxel: same indices (published)")
    g.add_argument("--min-distance", dest="min_distance", type=float, help="between class coordinates, voxels of the reference (5)")
    g.add_argument("--acceptance", choices=("generic", "lung", "none"), help="informativeness rule: generic (foreground + texture, default), lung (the published CT rule), none")
    g.add_argument("--lung-threshold", dest="lung_threshold", type=float, help="lung rule: dense level in [0, 1] (0.425 = HU -150)")
    g.add_argument("--lung-max-dense", dest="lung_max_dense", type=float, help="lung rule: max dense weight fraction (0.15)")
    g.add_argument("--min-foreground", dest="min_foreground", type=float, help="generic rule: min body fraction of a crop (0.5)")
    g.add_argument("--min-std", dest="min_std", type=float, help="generic rule: min intensity std of a crop (0.02)")
    g.add_argument("--retry-budget", dest="retry_budget", type=int, help="candidate coordinates per reference (200)")
    g.add_argument("--val-fraction", dest="val_fraction", type=float, help="validation patients, fraction (0.2)")
    a = parser.add_argument_group("auto-encoder")
    a.add_argument("--preset", choices=("auto", "paper", "cpu"), help="paper: 128x128x64 grid, width 32; cpu: 32x32x16 (2D 64x64), width 8 (auto: paper on CUDA)")
    a.add_argument("--ae-grid", dest="ae_grid", type=sizes, metavar="XxYxZ", help="whole-scan resize grid")
    a.add_argument("--ae-width", dest="ae_width", type=int, help="base filters")
    a.add_argument("--ae-depth", dest="ae_depth", type=int, help="levels (4)")
    a.add_argument("--ae-epochs", dest="ae_epochs", type=int, help="maximum epochs")
    a.add_argument("--ae-patience", dest="ae_patience", type=int, help="early stopping patience, epochs")
    a.add_argument("--ae-batch-size", dest="ae_batch_size", type=int, help="batch size (8)")
    a.add_argument("--ae-lr", dest="ae_lr", type=float, help="Adam learning rate (1e-3)")
    a.add_argument("--encoder", metavar="CKPT", help="embed with this auto-encoder/encoder checkpoint instead of training one")
    a.add_argument("--features", metavar="NPY", help="use these per-scan features (rows in cohort order) instead")
    o = parser.add_argument_group("run")
    o.add_argument("--materialize", action="store_const", const=True, help="also write all crops to one float16 array (crops.npy)")
    o.add_argument("--device", help="auto (cuda when available), cpu, cuda, cuda:1, ...")
    o.add_argument("--seed", type=int, help="random seed (0)")
    add_threads(o)
    o.add_argument("--overwrite", action="store_true", help="start again in a PATTERNS folder made with other options")


def run(args: argparse.Namespace) -> int:
    from semgen.discovery.config import DiscoveryConfig
    from semgen.discovery.pipeline import discover
    from semgen.utils.config import config_from_args

    cfg = config_from_args(DiscoveryConfig, args)
    result = discover(args.cohort, args.out, cfg, overwrite=args.overwrite)
    out = result.out
    size = "x".join(map(str, result.patch))
    rejected = result.rejected_references
    print(
        f"Discovered {result.num_classes} anatomical pattern classes in {result.scans} scans of {result.cohort}: "
        f"{result.crops['train']} training and {result.crops['validation']} validation crops of {size} voxels "
        f"({result.resolutions} resolution(s), placed by {result.placement}, {result.acceptance}"
        + (f", {rejected} reference(s) rejected" if rejected else "")
        + f") listed in {out / 'manifest.csv'}; classes in classes.json, neighbours in neighbors.json, "
        f"features in features.npy, the resolved options in config.yaml, and the atlas to check by eye in {out / 'atlas.png'}"
        + (f"; crops materialised in {result.materialized}" if result.materialized else "")
        + (f". {len(result.warnings)} warning(s): " + " | ".join(result.warnings) if result.warnings else "")
        + "."
    )
    return 0
