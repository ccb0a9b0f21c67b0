"""``semgen pretrain [INPUT] --out RUN --method METHOD``: self-supervised pre-training.

INPUT is a pattern set (``semgen discover``), a cohort (``semgen prepare``) or a folder of
scans; missing stages run first and are cached in RUN. With no INPUT the whole chain runs on
the built-in synthetic chest-CT cohort at a CPU-sized preset. Under
``torchrun --nproc-per-node N -m semgen pretrain ...`` it trains with DDP.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from semgen.commands.options import add_threads, sizes

if TYPE_CHECKING:
    from semgen.training.result import PretrainResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from semgen.tasks.methods import METHODS

    parser.add_argument("input", nargs="?", default=None, metavar="INPUT",
                        help="pattern set, cohort, or folder of scans (default: the built-in synthetic cohort)")
    parser.add_argument("--out", default=None, help="run folder (default: runs/pretrain)")
    parser.add_argument("--method", choices=tuple(METHODS), default=None, help="pre-training method (default: semantic-genesis)")
    from semgen.transforms.schedules import SCHEDULES

    parser.epilog = (
        "Several processes (DDP; GPUs or CPU processes): torchrun --nproc-per-node N -m semgen pretrain INPUT "
        "--out RUN ...; --batch-size is per process, rank 0 writes the run, and --threads defaults to this "
        "machine's CPUs divided among the N processes."
    )

    parser.add_argument("--schedule", choices=tuple(SCHEDULES), default=None,
                        help="corruption schedule instead of the method's: one corruption alone (nonlinear, "
                        "local-shuffle, inpaint, outpaint), identity (none) or another method's")
    parser.add_argument("--preset", choices=("auto", "cpu", "paper"), default=None,
                        help="defaults for size and schedule: paper (published) or cpu (minutes on 2 cores); "
                        "auto = paper on a GPU with an INPUT, else cpu")
    parser.add_argument("--seed", type=int, default=None, help="seed of every random choice (default 0)")
    from semgen.models.backbones import backbone_names

    parser.add_argument("--backbone", choices=backbone_names(), default=None,
                        help="the network: semgen (the published U-Net, default) or a MONAI / nnU-Net one "
                        "(pip install 'semgen[monai]' / 'semgen[nnunet]'); the pattern head sits on its bottleneck")
    parser.add_argument("--backbone-args", default=None, metavar="JSON|YAML|FILE",
                        help="the backbone class's own arguments as a JSON/YAML mapping or a .json/.yaml file, over its "
                        "defaults at --width, e.g. '{\"channels\": [16, 32, 64, 128], \"strides\": [2, 2, 2]}'")
    parser.add_argument("--width", type=int, default=None, help="U-Net base width (published 32); a --backbone's default widths")
    parser.add_argument("--patch", type=sizes, default=None, metavar="XxYxZ",
                        help="training crop size, e.g. 64x64x32 or 224x224, divisible by 8 (default: the pattern crops)")
    parser.add_argument("--norm", choices=("batch", "published", "instance"), default=None, help="normalisation layers")
    parser.add_argument("--encoder", choices=("unet", "resnet18"), default=None, help="encoder kind")
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs")
    parser.add_argument("--batch-size", type=int, default=None, help="crops per step per process")
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate (published 1e-3)")
    parser.add_argument("--lr-schedule", choices=("step", "plateau", "none"), default=None,
                        help="step = StepLR(--lr-step, --lr-gamma) (published PyTorch), plateau = ReduceLROnPlateau (Keras)")
    parser.add_argument("--lr-step", type=int, default=None, help="StepLR period in epochs (published 40)")
    parser.add_argument("--lr-gamma", type=float, default=None, help="learning-rate decay factor (0.5)")
    parser.add_argument("--plateau-patience", type=int, default=None, help="ReduceLROnPlateau patience")
    parser.add_argument("--patience", type=int, default=None, help="early-stopping patience in epochs (published 50)")
    parser.add_argument("--warmup-epochs", type=int, default=None,
                        help="epochs of classification alone before joint training (published 20)")
    parser.add_argument("--lambda-rec", type=float, default=None, help="restoration loss weight (published 1)")
    parser.add_argument("--lambda-cls", type=float, default=None, help="classification loss weight (published 0.01)")
    parser.add_argument("--workers", dest="num_workers", type=int, default=None, help="data-loader worker processes")
    parser.add_argument("--val-fraction", dest="val_fraction", type=float, default=None,
                        help="validation patients, fraction (0.2; sub-volume methods)")
    parser.add_argument("--subvolumes-per-scan", type=int, default=None, help="sub-volume methods: crops per scan per epoch")
    parser.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default=None,
                        help="auto = bf16 autocast + channels_last where the hardware supports it")
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N")
    add_threads(parser)
    parser.add_argument("--deterministic", action="store_true", default=None, help="deterministic algorithms (slower); same bytes for the same seed, device and --threads "
                        "(another thread count gives slightly different weights)")
    parser.add_argument("--keep-every", type=int, default=None, metavar="N", help="also keep every N-th epoch's weights in "
                        "RUN/epochs/epoch_<n>/ (a run folder for --init), e.g. to fine-tune along the pre-training (default 0: only the best)")
    parser.add_argument("--pictures-every", type=int, default=None, metavar="N", help="draw curves.png and the "
                        "restoration triplets every N-th epoch and after the last (CPU preset 5, paper 1; metrics.csv every epoch)")
    parser.add_argument("--phantoms", type=int, default=None, help="synthetic patients when no INPUT is given (32)")
    parser.add_argument("--discovery-config", default=None, help="YAML of discovery options when discovery runs")
    parser.add_argument("--log", default=None, metavar="NAME", help="experiment logger: tensorboard (RUN/tensorboard/: "
                        "scalars per epoch, restoration triplets, atlas; needs `pip install tensorboard`); default none")
    parser.add_argument("--dataset-name", action="append", default=None, metavar="NAME",
                        help="a dataset name for the model card's front matter (README.md); repeatable")
    parser.add_argument("--config", default=None, help="YAML file of these options (flags override it)")
    parser.add_argument("--resume", default=None, metavar="RUN", help="continue the run in RUN exactly where it stopped")
    parser.add_argument("--overwrite", action="store_true", default=None, help="replace a run already in --out")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from semgen.pipeline import pretrain
    from semgen.training import PretrainConfig, TrainingDiverged
    from semgen.utils.config import config_from_args

    try:
        if args.resume is not None:
            run_dir = Path(args.resume)
            if args.out is not None and Path(args.out).resolve() != run_dir.resolve():
                raise ValueError(f"--resume {args.resume} continues that folder; --out {args.out} names another")
            if args.config is None:
                if not (run_dir / "config.yaml").is_file():
                    raise ValueError(f"{run_dir}: no config.yaml; not a pre-training run to resume")
                args.config = str(run_dir / "config.yaml")
            args.out = str(run_dir)
            args.resume = True
        cfg = config_from_args(PretrainConfig, args)
        result = pretrain(cfg)
    except TrainingDiverged as e:
        print(f"semgen pretrain: {e}", file=sys.stderr)
        return 1
    if result is not None:
        print(describe(result))
    return 0


def describe(result: PretrainResult) -> str:
    """The one-paragraph summary printed at the end of a run."""
    run = result.run
    parts = [
        f"Pre-trained a {result.spatial_dims}D {'U-Net' if result.backbone == 'semgen' else result.backbone} "
        f"(width {result.width}, patch "
        f"{'x'.join(str(p) for p in result.patch)}) with {result.method}"
        f"{'' if result.schedule is None else ' (schedule ' + result.schedule + ')'} for {result.epochs} epoch(s) "
        f"({result.stopped}; {result.train_seconds:.0f} s of training on {result.world_size} process(es), "
        f"{result.train_samples} training and {result.validation_samples} validation crops)."
    ]
    if result.first_loss_rec is not None:
        if result.joint_epochs > 1:
            parts.append(f"Restoration MSE went from {result.first_loss_rec:.4f} to {result.last_loss_rec:.4f} "
                         f"over {result.joint_epochs} epochs.")
        else:
            parts.append(f"Restoration MSE {result.last_loss_rec:.4f} after one epoch of restoration.")
    if result.final_accuracy is not None:
        of = "validation" if result.accuracy_of.startswith("val_") else "training"
        parts.append(
            f"Pattern accuracy ({of}) {result.final_accuracy:.1%} over "
            f"{result.num_classes} classes (chance {result.chance_accuracy:.1%})."
        )
    if result.final_collapse is not None:
        parts.append(f"Collapse indicator {result.final_collapse:.2f} (0 healthy, 1 constant output).")
    parts.append(
        f"Best weights (epoch {result.best_epoch}) in {run}/model.safetensors + model.json; resumable state "
        f"{run}/last.pt; metrics.csv (every epoch), curves.png and triplets/ (every --pictures-every epochs and "
        f"the last) beside them; configuration in config.yaml; summary.json."
    )
    return " ".join(parts)
