"""``semgen evaluate DATA --init scratch --init RUN ... --out REPORT``: fine-tune (and probe)
every initialisation on the same split, nested label subsets and trial seeds, with a
converged-scratch control, and report paired statistics and a verdict
(see :mod:`semgen.finetune.evaluation`)."""

from __future__ import annotations

import argparse

from semgen.commands.finetune import add_task_arguments, add_training_arguments


def _fraction_list(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(",") if v.strip())


def _mode_list(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_task_arguments(parser)
    parser.add_argument("--init", dest="inits", action="append", metavar="INIT",
                        help="an initialisation to evaluate, repeatable: scratch, a run folder, a .safetensors checkpoint or "
                        "a published .pt (scratch is added when absent; it is the reference, with the first checkpoint's "
                        "width and patch)")
    parser.add_argument("--out", required=True, help="report folder: report.md, report.json, efficiency.png, trials/ "
                        "(an interrupted run resumes here)")
    parser.add_argument("--label-fractions", type=_fraction_list, metavar="F,F,...",
                        help="shares of training patients with labels, nested subsets (default 0.02,0.05,0.1,0.25,1)")
    parser.add_argument("--trials", type=int, help="trials per initialisation, mode and fraction; trial i has the same seed "
                        "for every initialisation (default 5)")
    parser.add_argument("--modes", type=_mode_list, metavar="MODE,...",
                        help="finetune (the whole network) and/or probe (frozen encoder: a linear head on the pooled "
                        "bottleneck for classification, the decoder for segmentation) (default finetune)")
    parser.add_argument("--converged-epochs", type=int, help="epoch budget of the converged-scratch control "
                        "(default 4x --epochs; 0: no control)")
    parser.add_argument("--converged-patience", type=int, help="its early-stopping patience (default 4x --patience)")
    parser.add_argument("--reference", help="the initialisation every other is compared with (default scratch)")
    parser.add_argument("--overwrite", action="store_const", const=True,
                        help="delete an earlier evaluation in --out made with other options and start again "
                        "(without it, such a folder is refused; one with the same options is resumed)")
    parser.add_argument("--seed", type=int, help="trial seeds and the bootstrap derive from it (default 0)")
    parser.add_argument("--jobs", type=int, help="processes that share the trials, each with --threads / JOBS threads: "
                        "small networks train faster as several 1-thread processes than as one with many threads; "
                        "results do not depend on it beyond the thread count's rounding (default 1)")
    add_training_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from semgen.finetune.evaluation import EvaluateConfig, evaluate
    from semgen.utils.config import config_from_args

    cfg = config_from_args(EvaluateConfig, args)
    result = evaluate(cfg)
    print(f"Evaluated {len(result.inits)} initialisation(s) x {len(result.modes)} mode(s) x "
          f"{len(result.label_fractions)} label fraction(s) x {result.trials} trial(s) on {result.task_name}. "
          f"{result.verdict} Wrote {', '.join(map(str, result.files))}.")
    return 0
