"""``semgen show-transforms``: draw a gallery of the self-restoration corruptions."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from semgen.commands.options import add_threads, sizes


@dataclass
class ShowTransformsConfig:
    """``input``: a scan file (any format semgen reads) or None for a built-in phantom of
    ``preset``; ``out``: the PNG; ``rows``: example patches; ``patch``: patch size (X Y Z;
    a 2-D image uses X Y); ``modality``: override the scan's detected modality."""

    input: str | None = None
    out: str = "gallery.png"
    rows: int = 3
    patch: tuple[int, ...] = (64, 64, 32)
    preset: str = "small"
    modality: str | None = None
    seed: int = 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", help="a scan to take patches from (default: a synthetic phantom)")
    parser.add_argument("--out", help="gallery PNG to write (default gallery.png)")
    parser.add_argument("--rows", type=int, help="number of example patches (default 3)")
    parser.add_argument("--patch", type=sizes, metavar="XxYxZ", help="patch size, e.g. 64x64x32 or 224x224 (default 64x64x32)")
    parser.add_argument("--preset", help="phantom preset when no --input is given (default small)")
    parser.add_argument("--modality", help="CT, MR, XR or OT: override the detected modality of --input")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--config", help="YAML file with these options")
    add_threads(parser)


def run(args: argparse.Namespace) -> int:
    from semgen.io import normalize_intensity, read_scan
    from semgen.phantoms import make_phantom
    from semgen.transforms.gallery import GALLERY_COLUMNS, corrupt_columns, pick_patches
    from semgen.utils.config import config_from_args, save_config
    from semgen.viz.gallery import draw_gallery

    cfg = config_from_args(ShowTransformsConfig, args)
    if cfg.rows < 1 or len(cfg.patch) not in (2, 3) or min(cfg.patch) < 1:
        raise ValueError(f"need --rows >= 1 and a --patch of 2 or 3 positive sizes, got {cfg.rows} and {cfg.patch}")
    if cfg.input is None:
        phantom = make_phantom(cfg.seed, cfg.preset)
        volume, window = normalize_intensity(phantom.image, "CT")
        source = f"phantom (seed {cfg.seed}, preset {cfg.preset})"
    else:
        scan = read_scan(cfg.input, modality=cfg.modality)
        volume, window = normalize_intensity(scan.array, scan.modality)
        source = f"{cfg.input} ({scan.modality})"
    if len(cfg.patch) < volume.ndim:
        raise ValueError(f"{source}: a {volume.ndim}-D image needs a --patch of {volume.ndim} sizes, got {cfg.patch}")
    patches = pick_patches(volume, cfg.patch[: volume.ndim], cfg.rows, cfg.seed)
    out = Path(cfg.out)
    draw_gallery(corrupt_columns(patches, cfg.seed), out)
    config_path = out.with_suffix(".yaml")
    save_config(cfg, config_path)
    shape = "x".join(str(s) for s in patches[0].shape)
    print(
        f"Wrote {out}: {len(patches)} patches of {shape} voxels from {source}, intensity window {window['kind'].upper()} {window['low']:.4g}..{window['high']:.4g}, "
        f"each shown as the original and {len(GALLERY_COLUMNS)} corruptions "
        f"({', '.join(t for t, _ in GALLERY_COLUMNS)}){', middle slice' if len(patches[0].shape) == 3 else ''}; "
        f"configuration in {config_path}."
    )
    return 0
