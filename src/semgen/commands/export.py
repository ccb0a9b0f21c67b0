"""``semgen export RUN``: write a run's weights (encoder or full model) for plain PyTorch, or a
MONAI / nnU-Net backbone's network weights for that framework (``--to monai|nnunet``)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="run folder (model.safetensors) or a semgen checkpoint")
    parser.add_argument(
        "--part", choices=("encoder", "full"), default=None, help="encoder tensors only (published down_tr* names) or all (default: full)"
    )
    parser.add_argument("--to", choices=("pytorch", "monai", "nnunet"), default=None,
                        help="pytorch (semgen's keys, default); monai: a state dict for the MONAI class (strict=True); "
                        "nnunet: a checkpoint for nnUNetv2_train -pretrained_weights (a run pre-trained with that --backbone)")
    parser.add_argument("--plans", default=None, metavar="FILE",
                        help="--to nnunet: an nnU-Net v2 plans file (nnUNetPlans.json); refused unless its network is the run's")
    parser.add_argument("--configuration", default=None, metavar="NAME",
                        help="the plans configuration to check (default: 3d_fullres, or 2d for a 2D run)")
    parser.add_argument("--format", choices=("safetensors", "pt"), default=None,
                        help="file format (default: safetensors; pt for --to monai/nnunet)")
    parser.add_argument("--out", default=None, help="output file (default: <checkpoint stem>_<part>.<ext> beside it)")
    parser.add_argument("--config", default=None, help="YAML file of these options (flags override it)")
    parser.add_argument("--seed", type=int, default=None, help="recorded with the export; exporting is deterministic")


def run(args: argparse.Namespace) -> int:
    from semgen.models.export import ExportConfig, export_weights
    from semgen.utils.config import config_from_args

    result = export_weights(config_from_args(ExportConfig, args))
    params = result["parameters"]["total"]
    if result["to"] != "pytorch":
        print(f"Wrote the {result['to']} weights of {result['source']} ({result['tensors']} tensors, {params:,} parameters) "
              f"to {result['out']}, checked: {result['checked']}; how to load it is in {result['sidecar']} (load_with) "
              f"and in its model card {result['card']}.")
        return 0
    print(
        f"Wrote the {result['part']} weights of {result['source']} ({result['tensors']} tensors, "
        f"{params:,} parameters) to {result['out']} as {result['format']}, with its metadata and the export "
        f"settings in {result['sidecar']} and its model card in {result['card']}; load it into plain PyTorch with model.load_state_dict(...)"
        + (", strict=False for the encoder part (the names are the published down_tr* ones)." if result["part"] == "encoder" else ".")
    )
    return 0
