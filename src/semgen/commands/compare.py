"""``semgen compare RESULTS... --out REPORT``: mean ± s.d. per initialisation and task,
paired tests against the reference where trials pair up (else t-tests of the best against the
others), bar and label-efficiency charts (see :mod:`semgen.finetune.compare`)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", help="`semgen finetune` results folders (or folders of them)")
    parser.add_argument("--out", required=True, help="report folder (report.md, report.json, bars.png, label_efficiency.png)")
    parser.add_argument("--welch", action="store_const", const=True,
                        help="unpaired groups: Welch's unequal-variance t-test instead of Student's (the paper's independent two-sample test)")
    parser.add_argument("--unpaired", action="store_const", const=True,
                        help="the independent t-test of the best against each other everywhere, even where the trials "
                        "pair up (the paper's test; how the README's result tables were made)")
    parser.add_argument("--reference", help="paired groups (same split, label subset and trial seeds): test every "
                        "initialisation against this one (default scratch; the best when it is absent)")
    parser.add_argument("--seed", type=int, help="seed of the bootstrap confidence intervals (default 0)")
    parser.add_argument("--allow-mixed", action="store_const", const=True,
                        help="compare results fine-tuned on different inputs (patch, spacing, intensity normalisation); "
                        "refused by default, marked in the report when allowed")
    parser.add_argument("--overwrite", action="store_const", const=True,
                        help="replace a report in --out made from other results or options (without it, such a folder "
                        "is refused; the same comparison again rewrites its report)")
    parser.add_argument("--config", help="YAML file of options (flags override it)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from semgen.finetune.compare import write_report
    from semgen.finetune.config import CompareConfig
    from semgen.utils.config import config_from_args

    cfg = config_from_args(CompareConfig, args)
    result = write_report(cfg.results, cfg.out, equal_var=not cfg.welch, reference=cfg.reference, seed=cfg.seed,
                          unpaired=cfg.unpaired, allow_mixed=cfg.allow_mixed, overwrite=cfg.overwrite)
    best = "; ".join(f"{task_name} @ {fraction:g}: best {init} ({metric})" for task_name, fraction, metric, init in result.best())
    caveat = f"{len(result.noted)} group(s) have p-values SciPy called unreliable (notes in report.md). " if result.noted else ""
    print(
        f"Compared {result.rows} result(s) in {len(result.groups)} task/label-fraction group(s) ({best}). {caveat}"
        f"Wrote {', '.join(map(str, result.files))} and {Path(cfg.out) / 'config.yaml'}."
    )
    return 0
