"""``semgen inspect FILE``: a checkpoint's metadata and parameter counts per part.

FILE is a semgen ``.safetensors``, its ``.json``, a run folder (``model.safetensors``), an
export, or a published ``.pt`` (then the key layout and the architecture it looks like).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="checkpoint (.safetensors/.json/.pt) or run folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--seed", type=int, default=None, help="accepted like every verb; inspect is deterministic")


def _fmt_size(value) -> str:
    if isinstance(value, (list, tuple)):
        return "x".join(str(v) for v in value)
    return "-" if value is None else str(value)


def format_description(info: dict) -> str:
    """The human-readable text of :func:`semgen.models.describe_checkpoint`'s result."""
    dtypes = ", ".join(info["dtypes"])
    lines = [f"{info['path']}: {info['looks_like']}, {info['tensors']} tensors ({dtypes})"]
    arch = info["architecture"]
    if arch is None:
        lines.append("architecture: not recognised (not a semgen / published U-Net layout)")
    else:
        args = arch.get("args", {})
        if "unet_or_args" in args:
            args = {**args["unet_or_args"], "num_outputs": args.get("num_outputs"), "dropout": args.get("dropout")}
        label = "architecture (inferred from the keys)" if info["architecture_inferred"] else "architecture"
        lines.append(f"{label}: {arch['name']}(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")")
    meta = info["metadata"] or {}
    if meta.get("format_version") is not None:
        lines.append(
            f"method: {meta.get('method') or '-'}; patch size: {_fmt_size(meta.get('patch_size'))}; "
            f"spacing: {_fmt_size(meta.get('spacing'))} mm; intensity window: {meta.get('intensity_window') or '-'}"
        )
        lines.append(
            f"axis order: {meta.get('axis_order')} ({meta.get('orientation')}); pattern classes: "
            f"{meta.get('num_classes')}; training manifest: {meta.get('manifest_hash') or '-'}; "
            f"semgen {meta.get('semgen_version')}, created {meta.get('created')}"
        )
    if meta.get("export"):
        lines.append(f"export: {meta['export']['part']} part of {meta['export']['source']}")
    if info["dropped"]:
        lines.append(f"ignored when loading: {len(info['dropped'])} tensors (e.g. {info['dropped'][0]})")
    lines.append("parameters: " + ", ".join(f"{part} {n:,}" for part, n in info["parameters"].items()))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from semgen.models import describe_checkpoint
    from semgen.utils.io import to_json

    info = describe_checkpoint(args.file)
    print(to_json(info, indent=None) if args.json else format_description(info))
    return 0
