"""``semgen finetune DATA``: fine-tune scratch or pre-trained weights on a target task over
several seeded trials and write RESULTS/summary.json (see :mod:`semgen.finetune.pipeline`)."""

from __future__ import annotations

import argparse

from semgen.commands.options import add_threads, sizes, spacings

RECIPE_NAMES = ("phantom-nodules", "phantom-organs", "cxr-pneumonia", "hippocampus-mri", "lidc-nodules", "lidc-nodule-masks")


def add_task_arguments(parser: argparse.ArgumentParser) -> None:
    """The data argument and --task/--recipe, shared by ``finetune`` and ``evaluate``."""
    parser.add_argument("data", help="the task's data: class sub-folders, images/ + labels/, a CSV "
                        "(path|image,label[,patient,split]) or a `semgen phantoms` folder")
    parser.add_argument("--task", choices=("classification", "segmentation"), help="default: from the layout or recipe")
    parser.add_argument("--recipe", choices=RECIPE_NAMES, help="a built-in task (default: detected from the layout)")


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Split, loop and geometry options shared by ``finetune`` and ``evaluate``
    (fields of :class:`semgen.finetune.config.FinetuneConfig`), then --device, --threads and --config."""
    parser.add_argument("--split-seed", type=int, help="fixes the patient split and label subsets (default 0)")
    parser.add_argument("--split", help="reuse a saved split.json (pair results on one test set)")
    parser.add_argument("--val-fraction", dest="val_fraction", type=float, help="share of patients for validation (default 0.15)")
    parser.add_argument("--test-fraction", dest="test_fraction", type=float, help="share of patients for testing, unless the data gives a test split (default 0.2)")
    parser.add_argument("--epochs", type=int, help="maximum epochs per trial (default 30)")
    parser.add_argument("--patience", type=int, help="early-stopping patience on validation loss (default 6)")
    parser.add_argument("--batch-size", type=int, help="default 8")
    parser.add_argument("--lr", type=float, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--width", type=int, help="U-Net base width for scratch (default: checkpoint's; else 32 on CUDA, 8 on CPU)")
    parser.add_argument("--patch", type=sizes, metavar="XxYxZ", help="patch size, e.g. 64x64x32 (default: the recipe's, "
                        "else 64x64 / 64x64x32; never the checkpoint's: every initialisation sees the same inputs)")
    parser.add_argument("--spacing", type=spacings, metavar="XxYxZ", help="resample 3D volumes to this spacing in mm, "
                        "e.g. 1x1x1 (default: the recipe's, else the median spacing of the task's images)")
    parser.add_argument("--no-resample", dest="resample", action="store_const", const=False, help="keep 3D volumes at native spacing")
    parser.add_argument("--modality", choices=("CT", "MR", "XR", "OT"), help="intensity normalisation kind (default: the "
                        "recipe's or layout's, else what the images say: DICOM tag, pictures XR, minimum below -500 CT, else MR)")
    parser.add_argument("--ct-window", type=float, nargs=2, metavar=("LOW", "HIGH"),
                        help="CT Hounsfield window mapped to [0, 1] (default -1000 1000, as in pre-training)")
    parser.add_argument("--patches-per-volume", type=int, help="3D segmentation: random patches per training volume per epoch (default 2)")
    parser.add_argument("--foreground-fraction", type=float, help="3D segmentation: share of training patches centred on a "
                        "labelled voxel (default 0.67)")
    parser.add_argument("--overlap", type=float, help="sliding-window overlap for whole-volume prediction (default 0.5)")
    parser.add_argument("--val-patches", type=int, help="3D segmentation: validate each epoch on N fixed patches per "
                        "volume instead of whole volumes (faster; default 0 = whole volumes; the test is always whole)")
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:1, ...")
    add_threads(parser)
    parser.add_argument("--config", help="YAML file of options (flags override it)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_task_arguments(parser)
    parser.add_argument("--out", required=True, help="results folder (summary.json, split.json, trials/)")
    parser.add_argument("--init", help="scratch (default), a run folder, a .safetensors checkpoint or a published .pt")
    parser.add_argument("--name", help="the initialisation's name in reports (default: from --init)")
    parser.add_argument("--trials", type=int, help="independent trials, each with its own seed (default 5; the paper: 10)")
    parser.add_argument("--label-fraction", type=float, help="share of training patients with labels used (default 1)")
    parser.add_argument("--seed", type=int, help="trial seeds derive from it (default 0)")
    parser.add_argument("--split-only", action="store_const", const=True,
                        help="write OUT/split.json (with each split's image files) and stop, e.g. to pre-train "
                        "on the training patients only and fine-tune later with --split OUT/split.json")
    parser.add_argument("--trial", type=int, help="save this trial (0-based) as OUT/model.safetensors for `semgen "
                        "predict` (default: the trial with the best validation score)")
    parser.add_argument("--log", metavar="NAME", help="experiment logger: tensorboard (OUT/tensorboard/: each trial's "
                        "curves per epoch; needs `pip install tensorboard`); default none")
    parser.add_argument("--dataset-name", action="append", metavar="NAME",
                        help="a dataset name for the model card's front matter (README.md); repeatable")
    parser.add_argument("--overwrite", action="store_const", const=True,
                        help="start again in an OUT made with other options (default: refuse it; the same options continue)")
    add_training_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from semgen.finetune.config import FinetuneConfig
    from semgen.finetune.pipeline import finetune
    from semgen.utils.config import config_from_args

    cfg = config_from_args(FinetuneConfig, args)
    result = finetune(cfg)
    out = Path(cfg.out)
    if result.split_only:
        counts = ", ".join(f"{n} {s}" for s, n in result.patients.items())
        print(f"Wrote {out / 'split.json'} (split seed {result.split_seed}, hash {result.split_hash}): {counts} "
              f"patients; its 'images' lists each split's files. Fine-tune on it with --split {out / 'split.json'}.")
        return 0
    summary = result.summary
    mean, sd = summary.primary
    print(
        f"Fine-tuned {summary.init_name} on {summary.task_name} ({summary.task}, label fraction "
        f"{summary.label_fraction:g}) for {len(summary.trials)} trial(s) on samples "
        f"({', '.join(f'{s} {n}' for s, n in summary.split.samples.items())}; {len(summary.skipped)} skipped): test "
        f"{summary.primary_metric} = {'n/a' if mean is None else f'{mean:.4f}'}{'' if sd is None else f' ± {sd:.4f}'}. Wrote "
        f"{out / 'summary.json'}, {out / 'split.json'}, {out / 'trials'}/trial_*.json, {out / 'config.yaml'} and "
        f"{summary.model.path} (trial {summary.model.trial}, {summary.model.selected_by}; apply it "
        f"with `semgen predict {out} SCANS... --out PREDICTIONS`); compare initialisations with `semgen compare {out} OTHER_RESULTS... --out REPORT`."
    )
    return 0
