"""``semgen bench NAME``: run one performance benchmark; its last printed line is a JSON object."""

from __future__ import annotations

import argparse
import importlib

# benchmark name -> module under semgen.bench, each with add_arguments(parser) and run(args) -> dict
BENCHMARKS: dict[str, str] = {
    "transforms": "corrupted cubes/s of the batched corruptions vs a per-sample NumPy/SciPy baseline",
    "model": "3D U-Net training step: fp32 contiguous vs bf16 autocast + channels_last",
    "discovery": "vectorised pattern acceptance and whole discovery time and peak RAM",
    "pretrain": "pre-training throughput vs a loop of the published kind",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="benchmark", metavar="NAME", required=True)
    for name, help_text in BENCHMARKS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--out", help="also write the JSON result to this file")
        importlib.import_module(f"semgen.bench.{name}").add_arguments(p)


def run(args: argparse.Namespace) -> int:
    from semgen.utils.io import print_json_result

    result = importlib.import_module(f"semgen.bench.{args.benchmark}").run(args)
    print_json_result(result, args.out)
    return 0
