"""Compare fine-tuning results (``semgen compare``): mean ± s.d. per initialisation and
task, the independent two-sample t-test of the best against each other initialisation
(paper Sec. 3 and Table 2), a bar chart with error bars and significance marks (Fig. 2
style) and, when one task was run at several label fractions, a label-efficiency plot.

Input: result folders written by ``semgen finetune`` (each holds ``summary.json``), or
folders whose sub-folders are such result folders. Results are grouped by task and
label fraction; inside a group, each row is one initialisation.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

from semgen.finetune.stats import ALPHA, MARKS, mean_sd, nan_to_none, significance_mark, ttest_p
from semgen.utils.io import atomic_write, read_json, write_json

log = logging.getLogger(__name__)

SUMMARY = "summary.json"


class ResultsError(ValueError):
    """A results folder is missing or its summary.json is not one semgen finetune wrote."""


def find_summaries(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """``summary.json`` files for the given result folders (or their direct sub-folders, or
    the files themselves), in the order given. Raises :class:`ResultsError` for a path
    holding none."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file() and p.name == SUMMARY:
            found.append(p)
        elif (p / SUMMARY).is_file():
            found.append(p / SUMMARY)
        elif p.is_dir() and (subs := sorted(q / SUMMARY for q in p.iterdir() if (q / SUMMARY).is_file())):
            found.extend(subs)
        else:
            raise ResultsError(f"{p}: no {SUMMARY} here or in its sub-folders (is it a `semgen finetune` --out folder?)")
    return found


def load_summary(path: Path) -> dict:
    """Read and check one summary.json (needs task, init_name, primary_metric, metric_names, trials)."""
    summary = read_json(path)
    missing = [k for k in ("task", "task_name", "init_name", "primary_metric", "metric_names", "trials") if k not in summary]
    if missing:
        raise ResultsError(f"{path}: not a semgen finetune summary (missing {', '.join(missing)})")
    summary["_path"] = str(path.parent)
    return summary


def compare(summaries: Sequence[dict], *, equal_var: bool = True) -> dict:
    """The comparison as a JSON-ready dict: ``groups`` (one per task and label fraction:
    rows of mean, s.d., n, values, p-value and mark vs the best, per metric) and
    ``label_efficiency`` (per task with several fractions: mean/s.d. of the primary
    metric per initialisation and fraction)."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for s in summaries:
        groups.setdefault((s["task_name"], float(s.get("label_fraction", 1.0))), []).append(s)
    out_groups = []
    for (task_name, fraction), members in sorted(groups.items()):
        names = [m["init_name"] for m in members]
        # two results with the same init name in one group: tell them apart by folder
        labels = [n if names.count(n) == 1 else f"{n} ({Path(m['_path']).name})" for n, m in zip(names, members)]
        metrics = list(dict.fromkeys(k for m in members for k in m["metric_names"]))
        primary = members[0]["primary_metric"]
        rows = []
        for label, m in zip(labels, members):
            values = {k: [t.get(k) for t in m["trials"]] for k in metrics}
            stats_ = {k: mean_sd(v) for k, v in values.items()}
            rows.append(
                {
                    "init": label,
                    "source": m["_path"],
                    "n": len(m["trials"]),
                    "mean": {k: s[0] for k, s in stats_.items()},
                    "std": {k: s[1] for k, s in stats_.items()},
                    "values": values,
                }
            )
        best = {}
        for k in metrics:
            ranked = [r for r in rows if not math.isnan(r["mean"][k])]
            best[k] = max(ranked, key=lambda r: r["mean"][k])["init"] if ranked else None
        for r in rows:
            r["p_value"], r["mark"] = {}, {}
            for k in metrics:
                ref = next((b for b in rows if b["init"] == best[k]), None)
                p = math.nan if ref is None or ref is r else ttest_p(ref["values"][k], r["values"][k], equal_var=equal_var)
                r["p_value"][k] = p
                r["mark"][k] = "" if ref is r else significance_mark(p)
        hashes = {m.get("split", {}).get("hash") for m in members}
        if len(hashes) > 1:
            log.warning("%s at label fraction %g: results were tested on different splits; "
                        "re-run them with the same --split-seed for a paired comparison", task_name, fraction)
        out_groups.append(
            {
                "task_name": task_name,
                "task": members[0]["task"],
                "label_fraction": fraction,
                "primary_metric": primary,
                "metrics": metrics,
                "same_test_split": len(hashes) == 1,
                "best": best,
                "rows": rows,
            }
        )
    efficiency = []
    for task_name in sorted({g["task_name"] for g in out_groups}):
        gs = [g for g in out_groups if g["task_name"] == task_name]
        if len(gs) < 2:
            continue
        primary = gs[0]["primary_metric"]
        inits = list(dict.fromkeys(r["init"] for g in gs for r in g["rows"]))
        series = {}
        for init in inits:
            pts = [(g["label_fraction"], r) for g in gs for r in g["rows"] if r["init"] == init]
            series[init] = {
                "label_fraction": [f for f, _ in pts],
                "mean": [r["mean"][primary] for _, r in pts],
                "std": [r["std"][primary] for _, r in pts],
            }
        efficiency.append({"task_name": task_name, "primary_metric": primary, "series": series})
    return {
        "test": f"independent two-sample t-test, two-sided, {'equal variances (Student)' if equal_var else 'unequal variances (Welch)'}; best vs each other",
        "alpha": ALPHA,
        "marks": {mark: level for level, mark in MARKS},
        "groups": out_groups,
        "label_efficiency": efficiency,
    }


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.2f}"


def render_markdown(report: dict) -> str:
    """The comparison as Markdown: one table per task and label fraction, values in %
    (mean ± s.d. (n)), best bold, p-value of the best vs each row on the primary metric."""
    lines = ["# Fine-tuning comparison", "", f"Statistics: {report['test']}. "
             "Marks: " + ", ".join(f"{m} p < {lv:g}" for m, lv in report["marks"].items()) + ", n.s. otherwise.", ""]
    for g in report["groups"]:
        primary = g["primary_metric"]
        metrics = [primary, *[m for m in g["metrics"] if m != primary]]
        lines += [f"## {g['task_name']} ({g['task']}), label fraction {g['label_fraction']:g}", ""]
        if not g["same_test_split"]:
            lines += ["**Warning:** these results were not tested on the same split; the t-tests are not paired on one test set.", ""]
        lines.append("| initialisation | n | " + " | ".join(f"{m} (%)" for m in metrics) + f" | p vs best ({primary}) |")
        lines.append("|---|---|" + "---|" * len(metrics) + "---|")
        for r in g["rows"]:
            cells = []
            for m in metrics:
                cell = f"{_pct(r['mean'][m])} ± {_pct(r['std'][m])}"
                cells.append(f"**{cell}**" if g["best"][m] == r["init"] else cell)
            p = r["p_value"][primary]
            ptxt = "best" if g["best"][primary] == r["init"] else ("n/a" if math.isnan(p) else f"{p:.3g} {r['mark'][primary]}".replace("*", "\\*"))
            lines.append(f"| {r['init']} | {r['n']} | " + " | ".join(cells) + f" | {ptxt} |")
        lines.append("")
    return "\n".join(lines)


def write_report(paths: Sequence[str | os.PathLike], out: str | os.PathLike, *, equal_var: bool = True) -> dict:
    """Compare the results in ``paths`` and write ``OUT/report.md``, ``OUT/report.json``,
    ``OUT/bars.png`` and, when a task has several label fractions, ``OUT/label_efficiency.png``.
    Returns the report dict (with ``files``: the paths written)."""
    from semgen.viz.results import plot_bars, plot_label_efficiency

    out = Path(out)
    summaries = [load_summary(p) for p in find_summaries(paths)]
    report = compare(summaries, equal_var=equal_var)
    files = [out / "report.md", out / "report.json", out / "bars.png"]
    plot_bars(report["groups"], files[2])
    if report["label_efficiency"]:
        files.append(out / "label_efficiency.png")
        plot_label_efficiency(report["label_efficiency"], files[3])
    report["files"] = [str(f) for f in files]
    with atomic_write(files[0]) as f:
        f.write(render_markdown(report) + "\n")
    write_json(files[1], nan_to_none(report))
    return report
