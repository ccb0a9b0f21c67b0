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


def format_description(info: dict) -> str:
    """The human-readable text of :func:`semgen.models.describe_checkpoint`'s result."""
    from semgen.card import backbone_args, card_facts, format_facts

    dtypes = ", ".join(info["dtypes"])
    lines = [f"{info['path']}: {info['looks_like']}, {info['tensors']} tensors ({dtypes})"]
    arch = info["architecture"]
    meta = info["metadata"] or {}
    if meta.get("format_version") is not None:  # the model card's facts (semgen.card): one generator for both
        lines.append(format_facts(card_facts(meta)))
    elif arch is None:
        lines.append("architecture: not recognised (not a semgen / published U-Net layout)")
    else:
        name, args = backbone_args(arch)
        label = "architecture (inferred from the keys)" if info["architecture_inferred"] else "architecture"
        lines.append(f"{label}: {name}(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")")
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
