"""Compare fine-tuning results (``semgen compare``): mean ± s.d. per initialisation and
task, a bar chart with error bars and significance marks (Fig. 2 style) and, when one task
was run at several label fractions, a label-efficiency plot.

Tests: where the trials of a group pair up (every result was tested on the same split with
the same label subset, and trial i used the same seed everywhere, as ``semgen finetune``
with equal ``--split-seed``/``--split`` and ``--seed`` does), each initialisation is compared
with the reference (``--reference``, default scratch; the best when the reference is not in
the group) by the paired statistics of :func:`semgen.finetune.stats.paired_comparison`,
Holm-corrected across the group's rows, plus DeLong's test of the pooled test AUCs for
binary classification. Unpaired groups keep the paper's test (Sec. 3, Table 2): the
independent two-sample t-test of the best against each other initialisation, and say so.

Input: result folders written by ``semgen finetune`` (each holds ``summary.json``), or
folders whose sub-folders are such result folders. Results are grouped by task and
label fraction; inside a group, each row is one initialisation.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

from semgen.finetune.config import CompareConfig
from semgen.finetune.data import Geometry
from semgen.finetune.result import REQUIRED
from semgen.finetune.stats import (
    ALPHA,
    MARKS,
    holm,
    mean_sd,
    nan_to_none,
    paired_comparison,
    pooled_delong,
    significance_mark,
    ttest_p,
    warnings_as_notes,
)
from semgen.stage import claim_folder
from semgen.utils.io import atomic_write, read_json, write_json

log = logging.getLogger(__name__)

SUMMARY = "summary.json"
PAIRED_TEST = ("paired t-test (two-sided) of each initialisation against the reference, Holm-corrected across the "
               "table; Wilcoxon signed-rank p; mean paired difference with a bootstrap 95 % CI (expanded percentile); "
               "smallest difference detectable at 80 % power (paired t, alpha 0.05, observed s.d. of the differences); "
               "DeLong's test of the trial-averaged test AUCs (binary classification)")


class ResultsError(ValueError):
    """A results folder is missing or its summary.json is not one semgen finetune wrote."""


def find_summaries(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """``summary.json`` files for the given result folders (or their direct sub-folders, or
    the files themselves), in the order given. Raises :class:`ResultsError` for a path
    holding none."""
    seen: dict[Path, str] = {}
    for p in map(str, paths):
        key = Path(p).resolve()
        if key in seen:
            raise ResultsError(f"{p}: listed twice (also as {seen[key]}); give each results folder once")
        seen[key] = p
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
    """Read and check one summary.json (needs the keys of :data:`semgen.finetune.result.REQUIRED`)."""
    summary = read_json(path)
    missing = [k for k in REQUIRED if k not in summary]
    if missing:
        raise ResultsError(f"{path}: not a semgen finetune summary (missing {', '.join(missing)})")
    summary["_path"] = str(path.parent)
    split = path.parent / "split.json"
    summary["_subset"] = read_json(split).get("train_patients_used") if split.is_file() else None
    return summary


def _trial_predictions(summary: dict) -> list[dict] | None:
    """The ``test_predictions`` of every trial (from ``trials/trial_<i>.json`` beside the
    summary), or None when a trial file or its predictions are missing."""
    out = []
    for t in summary["trials"]:
        path = Path(summary.get("_path", "")) / "trials" / f"trial_{t.get('trial')}.json"
        pred = read_json(path).get("test_predictions") if path.is_file() else None
        if not pred:
            return None
        out.append(pred)
    return out


def pairs_up(members: Sequence[dict]) -> bool:
    """True when the results' trials pair up: same split hash, same label subset (from
    ``split.json``; the split seed when that file is absent), and the same trial seeds in
    the same order, with at least 2 trials."""
    def key(m: dict) -> tuple:
        split = m.get("split", {})
        seeds = tuple(t.get("seed") for t in m["trials"])
        subset = tuple(m["_subset"]) if m.get("_subset") is not None else ("seed", split.get("seed"))
        return split.get("hash"), subset, seeds

    keys = {key(m) for m in members}
    seeds = next(iter(keys))[2]
    return len(keys) == 1 and len(seeds) >= 2 and None not in seeds and len(set(seeds)) == len(seeds)


def add_paired_tests(rows: list[dict], reference: str, metrics: Sequence[str], *, seed: int = 0) -> None:
    """Fill ``row["paired"][metric]`` (:func:`paired_comparison` against the ``reference``
    row, plus ``p_holm``: Holm across the rows of this table) for every row but the
    reference, and ``row["p_value"]``/``row["mark"]`` from the Holm-adjusted p."""
    ref = next(r for r in rows if r["init"] == reference)
    others = [r for r in rows if r is not ref]
    for k in metrics:
        for r in others:
            r.setdefault("paired", {})[k] = paired_comparison(r["values"][k], ref["values"][k], seed=seed)
        for r, p in zip(others, holm([r["paired"][k]["p_paired"] for r in others])):
            r["paired"][k]["p_holm"] = p
    for r in rows:
        r["p_value"] = {k: math.nan if r is ref else r["paired"][k]["p_holm"] for k in metrics}
        r["mark"] = {k: "" if r is ref else significance_mark(r["p_value"][k]) for k in metrics}


def input_geometry(summary: dict) -> Geometry | None:
    """The inputs a fine-tuning saw (``summary.json``'s ``geometry``), None when not recorded."""
    doc = summary.get("geometry")
    return Geometry.from_dict(doc) if isinstance(doc, dict) and doc.get("patch") else None


def check_same_inputs(members: Sequence[dict], where: str, allow_mixed: bool) -> bool:
    """True when every result of a group was fine-tuned on the same inputs (patch, spacing,
    modality, normalisation). Otherwise raises :class:`ResultsError` naming two results and
    their inputs, unless ``allow_mixed`` (then False: the group is marked)."""
    seen: dict[tuple | None, tuple[dict, Geometry | None]] = {}
    for m in members:
        g = input_geometry(m)
        seen.setdefault(g.inputs_key() if g else None, (m, g))
    if len(seen) < 2:
        return True
    if allow_mixed:
        log.warning("%s: results fine-tuned on different inputs are compared (--allow-mixed); the report marks them", where)
        return False
    a, b = list(seen.values())[:2]

    def say(entry: tuple[dict, Geometry | None]) -> str:
        m, g = entry
        return f"{m['_path']} ({m['init_name']}): {g.describe() if g else 'inputs not recorded'}"
    raise ResultsError(f"{where}: the results were fine-tuned on different inputs, so a difference would measure the "
                       f"inputs, not the initialisation: {say(a)}; {say(b)}. Re-run them with the same --patch/--spacing/"
                       "--modality/--ct-window (or the same recipe), or pass --allow-mixed to compare them anyway, marked")


def compare(summaries: Sequence[dict], *, equal_var: bool = True, reference: str = "scratch", seed: int = 0,
            unpaired: bool = False, allow_mixed: bool = False) -> dict:
    """The comparison as a JSON-ready dict: ``groups`` (one per task and label fraction:
    rows of mean, s.d., n, values, p-value and mark per metric; ``paired`` says which test
    was run: paired groups name their ``reference`` and give each other row ``paired``
    statistics per metric and, for binary classification with stored test predictions,
    ``delong``; unpaired groups test the best against each other row) and
    ``label_efficiency`` (per task with several fractions: mean/s.d. of the primary
    metric per initialisation and fraction). ``seed`` seeds the bootstrap intervals;
    ``unpaired`` runs the unpaired test in every group. Results of one group fine-tuned on
    different inputs are refused (:func:`check_same_inputs`) unless ``allow_mixed``; then the
    group has ``same_inputs`` False and each row its ``inputs``."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for s in summaries:
        groups.setdefault((s["task_name"], float(s.get("label_fraction", 1.0))), []).append(s)
    out_groups = [
        _compare_group(task_name, fraction, members, equal_var=equal_var, reference=reference, seed=seed,
                       unpaired=unpaired, allow_mixed=allow_mixed)
        for (task_name, fraction), members in sorted(groups.items())
    ]
    return {
        "test": f"independent two-sample t-test, two-sided, {'equal variances (Student)' if equal_var else 'unequal variances (Welch)'}; best vs each other",
        "paired_test": PAIRED_TEST,
        "unpaired": unpaired,
        "alpha": ALPHA,
        "marks": {mark: level for level, mark in MARKS},
        "groups": out_groups,
        "label_efficiency": _label_efficiency(out_groups),
    }


def _compare_group(task_name: str, fraction: float, members: list[dict], *, equal_var: bool, reference: str, seed: int,
                   unpaired: bool, allow_mixed: bool) -> dict:
    """One table of :func:`compare`: the results of one task at one label fraction."""
    names = [m["init_name"] for m in members]
    # two results with the same init name in one group: tell them apart by folder
    labels = [n if names.count(n) == 1 else f"{n} ({Path(m['_path']).name})" for n, m in zip(names, members)]
    same_inputs = check_same_inputs(members, f"{task_name} at label fraction {fraction:g}", allow_mixed)
    metrics = list(dict.fromkeys(k for m in members for k in m["metric_names"]))
    primary = members[0]["primary_metric"]
    rows = [_row(label, m, metrics) for label, m in zip(labels, members)]
    best = {}
    for k in metrics:
        ranked = [r for r in rows if not math.isnan(r["mean"][k])]
        best[k] = max(ranked, key=lambda r: r["mean"][k])["init"] if ranked else None
    is_paired = not unpaired and len(rows) > 1 and pairs_up(members)
    noted: set[str] = set()
    with warnings_as_notes(noted):
        ref_name = _group_tests(rows, members, labels, metrics, best, primary, is_paired, reference, equal_var, seed)
    hashes = {m.get("split", {}).get("hash") for m in members}
    if len(hashes) > 1:
        log.warning("%s at label fraction %g: results were tested on different splits; "
                    "re-run them with the same --split-seed for a paired comparison", task_name, fraction)
    return {
        "task_name": task_name,
        "task": members[0]["task"],
        "label_fraction": fraction,
        "primary_metric": primary,
        "metrics": metrics,
        "same_test_split": len(hashes) == 1,
        "same_inputs": same_inputs,
        "paired": is_paired,
        "reference": ref_name,
        "best": best,
        "rows": rows,
        "notes": sorted(noted),
    }


def _row(label: str, member: dict, metrics: list[str]) -> dict:
    """One initialisation's row: its trials' values, mean, s.d. and count per metric, and its inputs."""
    values = {k: [t.get(k) for t in member["trials"]] for k in metrics}
    stats_ = {k: mean_sd(v) for k, v in values.items()}
    return {
        "init": label,
        "source": member["_path"],
        "n": len(member["trials"]),
        "mean": {k: s[0] for k, s in stats_.items()},
        "std": {k: s[1] for k, s in stats_.items()},
        "values": values,
        "inputs": g.describe() if (g := input_geometry(member)) else None,
    }


def _label_efficiency(groups: list[dict]) -> list[dict]:
    """Per task with tables at several label fractions: each initialisation's primary-metric
    mean, s.d. and trial count per fraction."""
    efficiency = []
    for task_name in sorted({g["task_name"] for g in groups}):
        gs = [g for g in groups if g["task_name"] == task_name]
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
                "n": [r["n"] for _, r in pts],
            }
        efficiency.append({"task_name": task_name, "primary_metric": primary, "series": series})
    return efficiency


def _group_tests(rows: list[dict], members: list[dict], labels: list[str], metrics: list[str], best: dict,
                 primary: str, is_paired: bool, reference: str, equal_var: bool, seed: int) -> str | None:
    """Fill each row's statistics in place: paired tests against the reference (returned)
    when the trials pair up, else the independent t-test of the best against each row."""
    if is_paired:
        ref_name = reference if reference in labels else best[primary]
        add_paired_tests(rows, ref_name, metrics, seed=seed)
        ref_member = members[labels.index(ref_name)]
        binary = members[0].get("kind") == "binary" and primary == "auc"
        ref_preds = _trial_predictions(ref_member) if binary else None
        for r, m in zip(rows, members):
            preds = _trial_predictions(m) if ref_preds and r["init"] != ref_name else None
            r["delong"] = pooled_delong(preds, ref_preds) if preds else None
        return ref_name
    for r in rows:
        r["p_value"], r["mark"] = {}, {}
        for k in metrics:
            ref = next((b for b in rows if b["init"] == best[k]), None)
            p = math.nan if ref is None or ref is r else ttest_p(ref["values"][k], r["values"][k], equal_var=equal_var)
            r["p_value"][k] = p
            r["mark"][k] = "" if ref is r else significance_mark(p)
    return None


def _pct(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.2f}"


def _p(x: float | None) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.3g}"


def paired_cells(stat: dict | None, delong: dict | None = None) -> list[str]:
    """Markdown cells of one row's paired statistics (in points = % units): difference
    [95 % CI], paired-t p, Wilcoxon p, Holm-adjusted p with its mark, detectable difference,
    DeLong p (``-`` where not computed); all ``-`` for the reference row (``stat`` None)."""
    if stat is None:
        return ["reference", "-", "-", "-", "-", "-"]
    lo, hi = stat["ci95"]
    mark = significance_mark(stat["p_holm"]).replace("*", "\\*")
    return [
        f"{'+' if stat['diff'] > 0 else ''}{_pct(stat['diff'])} [{_pct(lo)}, {_pct(hi)}]",
        _p(stat["p_paired"]),
        _p(stat["p_wilcoxon"]),
        f"{_p(stat['p_holm'])} {mark}",
        _pct(stat["detectable_diff"]),
        "-" if delong is None else _p(delong["p"]),
    ]


PAIRED_HEADER = "diff (points) [95 % CI] | p paired t | p Wilcoxon | p Holm | detectable (points) | p DeLong"


def render_markdown(report: dict) -> str:
    """The comparison as Markdown: one table per task and label fraction, values in %
    (mean ± s.d. (n)), best bold; paired groups add each row's paired statistics against
    the reference on the primary metric, unpaired groups the p-value of the best vs each row."""
    lines = ["# Fine-tuning comparison", "", f"Paired groups: {report['paired_test']}.", "",
             f"Unpaired groups: {report['test']}. "
             "Marks: " + ", ".join(f"{m} p < {lv:g}" for m, lv in report["marks"].items()) + ", n.s. otherwise.", ""]
    for g in report["groups"]:
        primary = g["primary_metric"]
        metrics = [primary, *[m for m in g["metrics"] if m != primary]]
        lines += [f"## {g['task_name']} ({g['task']}), label fraction {g['label_fraction']:g}", ""]
        if not g.get("same_inputs", True):
            lines += ["**Warning (--allow-mixed):** these results were fine-tuned on different inputs (below); a difference "
                      "measures the inputs as much as the initialisation.", ""]
            lines += [f"- {r['init']}: {r['inputs'] or 'inputs not recorded'}" for r in g["rows"]] + [""]
        elif g["rows"] and g["rows"][0].get("inputs"):
            lines += [f"Inputs, the same for every row: {g['rows'][0]['inputs']}.", ""]
        if not g["same_test_split"]:
            lines += ["**Warning:** these results were not tested on the same split; the t-tests are not paired on one test set.", ""]
        if g["paired"]:
            lines += [f"Paired: the trials share the split, label subset and seeds; {primary} against **{g['reference']}**.", ""]
            tail, sep = f" | {PAIRED_HEADER} |", "---|" * 6
        else:
            why = "the trials do not share the split, label subset and seeds" if not report.get("unpaired") else "--unpaired"
            lines += [f"Unpaired ({why}): independent t-test against the best.", ""]
            tail, sep = f" | p vs best ({primary}) |", "---|"
        lines.append("| initialisation | n | " + " | ".join(f"{m} (%)" for m in metrics) + tail)
        lines.append("|---|---|" + "---|" * len(metrics) + sep)
        for r in g["rows"]:
            cells = []
            for m in metrics:
                cell = f"{_pct(r['mean'][m])} ± {_pct(r['std'][m])}"
                cells.append(f"**{cell}**" if g["best"][m] == r["init"] else cell)
            if g["paired"]:
                extra = paired_cells(r.get("paired", {}).get(primary), r.get("delong"))
            else:
                p = r["p_value"][primary]
                extra = ["best" if g["best"][primary] == r["init"] else ("n/a" if math.isnan(p) else f"{p:.3g} {r['mark'][primary]}".replace("*", "\\*"))]
            lines.append(f"| {r['init']} | {r['n']} | " + " | ".join(cells + extra) + " |")
        lines.append("")
        lines += [f"**Note:** {note}." for note in g.get("notes", [])] + ([""] if g.get("notes") else [])
    return "\n".join(lines)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CompareResult:
    """What ``semgen compare`` wrote: the typed result of the comparison stage
    (:mod:`semgen.stage`); ``OUT/report.json`` is derived from it (:meth:`to_json`).

    ``test`` / ``paired_test``: the tests run by unpaired and paired groups; ``unpaired``:
    ``--unpaired`` was given; ``alpha`` and ``marks`` (mark -> p level); ``groups``: one table
    per task and label fraction (:func:`compare`); ``label_efficiency``: per task with several
    label fractions, the primary metric per initialisation and fraction; ``files``: the paths
    written (``report.md``, ``report.json``, ``bars.png`` and, with a label-efficiency series,
    ``label_efficiency.png``).
    """

    test: str
    paired_test: str
    unpaired: bool
    alpha: float
    marks: dict[str, float]
    groups: list[dict]
    label_efficiency: list[dict]
    files: tuple[Path, ...]

    @property
    def rows(self) -> int:
        """Result folders compared, over every group."""
        return sum(len(g["rows"]) for g in self.groups)

    @property
    def noted(self) -> list[dict]:
        """The groups with p-values SciPy called unreliable (their ``notes``)."""
        return [g for g in self.groups if g.get("notes")]

    def best(self) -> list[tuple[str, float, str, str | None]]:
        """Per group: (task name, label fraction, primary metric, the best initialisation on it)."""
        return [(g["task_name"], g["label_fraction"], g["primary_metric"], g["best"][g["primary_metric"]]) for g in self.groups]

    def to_json(self) -> dict:
        """The content of ``report.json`` (keys in this order; NaN kept, the writer makes it null)."""
        doc = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**doc, "files": [str(f) for f in self.files]}


OUTPUTS = ("report.md", "report.json", "bars.png", "label_efficiency.png")


def write_report(paths: Sequence[str | os.PathLike], out: str | os.PathLike, *, equal_var: bool = True,
                 reference: str = "scratch", seed: int = 0, unpaired: bool = False, allow_mixed: bool = False,
                 overwrite: bool = False) -> CompareResult:
    """Compare the results in ``paths`` (paired against ``reference`` where the trials pair
    up) and write ``OUT/report.md``, ``OUT/report.json``, ``OUT/bars.png`` and, when a task has
    several label fractions, ``OUT/label_efficiency.png``, with ``stage.json`` and
    ``config.yaml`` (:class:`~semgen.finetune.config.CompareConfig`). ``OUT`` is claimed with
    :func:`semgen.stage.claim_folder`: the same comparison again rewrites the report, another
    one is refused unless ``overwrite``; bad results are refused before ``OUT`` is made."""
    from semgen.viz.results import plot_bars, plot_label_efficiency

    cfg = CompareConfig(results=tuple(map(str, paths)), out=str(out), welch=not equal_var, unpaired=unpaired, seed=seed,
                        reference=reference, allow_mixed=allow_mixed, overwrite=overwrite)
    out = Path(out)
    summaries = [load_summary(p) for p in find_summaries(paths)]
    report = compare(summaries, equal_var=equal_var, reference=reference, seed=seed, unpaired=unpaired, allow_mixed=allow_mixed)
    files = [out / "report.md", out / "report.json", out / "bars.png"]
    if report["label_efficiency"]:
        files.append(out / "label_efficiency.png")
    result = CompareResult(**report, files=tuple(files))
    with claim_folder(out, stage="compare", identity=cfg.identity(), outputs=OUTPUTS, config=cfg, overwrite=overwrite):
        plot_bars(result.groups, files[2])
        if result.label_efficiency:
            plot_label_efficiency(result.label_efficiency, files[3])
        else:
            (out / "label_efficiency.png").unlink(missing_ok=True)  # from an earlier run of this comparison
        doc = result.to_json()
        with atomic_write(files[0]) as f:
            f.write(render_markdown(doc) + "\n")
        write_json(files[1], nan_to_none(doc))
    return result
