"""The ``semgen`` command line: thin verbs over the library.

Each verb lives in ``semgen.commands.<module>`` and exposes
``add_arguments(parser)`` and ``run(args) -> int``; a ``ValueError`` it raises (bad input)
becomes one ``semgen VERB: error: ...`` line on stderr and exit code 2. Command modules import only
``argparse`` at module level (heavy imports happen inside ``run``), so
``semgen --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from semgen import __version__

# verb -> (module under semgen.commands, one-line help)
VERBS: dict[str, tuple[str, str]] = {
    "phantoms": ("phantoms", "write the built-in synthetic chest-CT cohort (NIfTI + labels + manifest)"),
    "prepare": ("prepare", "read scans (NIfTI, DICOM, MetaImage, NRRD, NumPy, PNG/JPEG) into a cohort store"),
    "discover": ("discover", "self-discovery: auto-encoder, similar patients, pattern classes, atlas"),
    "pretrain": ("pretrain", "self-supervised pre-training (Semantic Genesis, ablations, add-ons)"),
    "finetune": ("finetune", "fine-tune on a target classification or segmentation task"),
    "predict": ("predict", "apply a fine-tuned model to new scans: label maps or class probabilities"),
    "evaluate": ("evaluate", "does pre-training help? paired fine-tune/probe trials vs scratch, statistics, verdict"),
    "compare": ("compare", "compare fine-tuning results: mean +/- s.d., paired or unpaired tests, charts"),
    "show-transforms": ("show_transforms", "draw a gallery of the self-restoration corruptions"),
    "inspect": ("inspect", "print a checkpoint's metadata and parameter counts"),
    "export": ("export", "write a run's weights for plain PyTorch (encoder or full model)"),
    "bench": ("bench", "run a performance benchmark and print JSON"),
}


def _load(verb: str):
    module, _ = VERBS[verb]
    return importlib.import_module(f"semgen.commands.{module}")


def build_parser(verbs: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Build the top-level parser; only the verbs in ``verbs`` get their full arguments."""
    parser = argparse.ArgumentParser(
        prog="semgen",
        description="Semantic Genesis for PyTorch: pre-train U-Nets on unlabeled medical images, "
        "fine-tune them, and prove with statistics that the weights help.",
    )
    parser.add_argument("--version", action="version", version=f"semgen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb, (_, help_text) in VERBS.items():
        p = sub.add_parser(verb, help=help_text, description=help_text)
        if verbs is not None and verb in verbs:
            _load(verb).add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``semgen``; returns the process exit code."""
    from semgen.commands.options import apply_threads, passive_waits_when_busy, upgrade_argv

    passive_waits_when_busy()  # before the verbs' parsers load torch
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = next((a for a in argv if not a.startswith("-")), None)
    if verb in VERBS:
        argv = upgrade_argv(verb, argv)
    parser = build_parser([verb] if verb in VERBS else [])
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 0
    from semgen.utils.progress import setup_logging

    setup_logging(verbose=args.verbose)
    try:
        if hasattr(args, "threads"):
            apply_threads(args.threads)
        return int(_load(args.verb).run(args) or 0)
    except ValueError as e:
        # bad input (a ValueError subclass names the file and the problem): one line, exit 2;
        # --verbose keeps the traceback
        if args.verbose:
            raise
        print(f"semgen {args.verb}: error: {e}", file=sys.stderr)
        return 2
