"""``semgen predict MODEL INPUT... --out OUT``: apply a fine-tuned model to new scans
(see :mod:`semgen.predict`)."""

from __future__ import annotations

import argparse

from semgen.commands.options import add_threads


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="a `semgen finetune` results folder (its model.safetensors) or that file")
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="scan files and folders in any format `semgen prepare` reads")
    parser.add_argument("--out", help="folder for the label maps (<id>.nii.gz) or predictions.csv, and report.json")
    parser.add_argument("--tta", action="store_const", const=True,
                        help="test-time augmentation: average the probabilities over every combination of axis flips")
    parser.add_argument("--overlap", type=float, help="sliding-window overlap in [0, 1) (default: the fine-tuning run's)")
    parser.add_argument("--batch-size", type=int, help="windows per forward pass (default 4)")
    parser.add_argument("--workers", type=int, help="reading threads (default min(4, CPU count))")
    parser.add_argument("--modality", choices=("CT", "MR", "XR", "OT"),
                        help="intensity normalisation kind (default: the model's, which keeps its stored window)")
    parser.add_argument("--device", help="auto (default), cpu, cuda, cuda:1, ...")
    parser.add_argument("--seed", type=int, help="recorded in config.yaml (prediction is deterministic)")
    parser.add_argument("--config", help="YAML file of options (flags override it)")
    parser.add_argument("--overwrite", action="store_const", const=True,
                        help="replace an earlier prediction made with other options in --out (the same options continue it)")
    add_threads(parser)


def run(args: argparse.Namespace) -> int:
    from semgen.predict import PredictConfig, predict
    from semgen.utils.config import config_from_args

    if not args.inputs:
        args.inputs = None  # let a --config file name them
    cfg = config_from_args(PredictConfig, args)
    report = predict(cfg)
    for e in report["skipped"]:
        print(f"skipped {e['path']}: {e['reason']}")
    for e in report["failed"]:
        print(f"failed  {e['path']}: {e['reason']}")
    counts = report["counts"]
    what = (f"{cfg.out}/<id>.nii.gz label maps on each input's own grid" if report["task"] == "segmentation"
            else f"{cfg.out}/predictions.csv (one row per scan: class probabilities and the predicted class)")
    print(f"Predicted {counts['ok']} scan(s) with {cfg.model} ({report['task']}{', flip TTA' if cfg.tta else ''}); "
          f"{counts['skipped']} skipped, {counts['failed']} failed. Wrote {what} and {cfg.out}/report.json "
          "(every input with its output or reason).")
    return 0 if counts["ok"] else 2
