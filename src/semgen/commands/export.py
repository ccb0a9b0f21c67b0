"""``semgen export RUN``: write a run's weights (encoder or full model) for plain PyTorch."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run folder (model.safetensors) or a semgen checkpoint")
    parser.add_argument(
        "--part", choices=("encoder", "full"), default=None, help="encoder tensors only (published down_tr* names) or all (default: full)"
    )
    parser.add_argument("--format", choices=("safetensors", "pt"), default=None, help="file format (default: safetensors)")
    parser.add_argument("--out", default=None, help="output file (default: <checkpoint stem>_<part>.<ext> beside it)")
    parser.add_argument("--config", default=None, help="YAML file of these options (flags override it)")
    parser.add_argument("--seed", type=int, default=None, help="recorded with the export; exporting is deterministic")


def run(args: argparse.Namespace) -> int:
    from semgen.models.export import ExportConfig, export_weights
    from semgen.utils.config import config_from_args

    result = export_weights(config_from_args(ExportConfig, args))
    params = result["parameters"]["total"]
    print(
        f"Wrote the {result['part']} weights of {result['source']} ({result['tensors']} tensors, "
        f"{params:,} parameters) to {result['out']} as {result['format']}, with its metadata and the export "
        f"settings in {result['sidecar']} and its model card in {result['card']}; load it into plain PyTorch with model.load_state_dict(...)"
        + (", strict=False for the encoder part (the names are the published down_tr* ones)." if result["part"] == "encoder" else ".")
    )
    return 0
