"""The report of ``semgen evaluate``: paired statistics per label fraction x mode x
initialisation, the plain-language verdict, ``report.md``, ``report.json`` and
``efficiency.png`` (see :mod:`semgen.finetune.evaluation`).

``python -m semgen.finetune.evaluation_report RESULTS [--out DIR]`` regenerates the report
of a results folder from its ``report.json`` context and per-trial JSON alone (no data, no
training): how the committed evidence tables are rebuilt (:func:`rebuild`)."""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path
from typing import Any

from semgen.finetune.stats import (
    bootstrap_ci,
    holm,
    mean_sd,
    nan_to_none,
    paired_comparison,
    pooled_delong,
    warnings_as_notes,
)
from semgen.utils.io import atomic_write, read_json, write_json
from semgen.viz.efficiency import exact_count, plot_efficiency, share

CONVERGED = "converged"
SCRATCH = "scratch"


def _values(records: list[dict], metric: str) -> list[float | None]:
    return [r["test"].get(metric) for r in records]


def _cell_stats(records: list[dict], metric: str) -> dict[str, Any]:
    vals = _values(records, metric)
    mean, sd, n = mean_sd(vals)
    return {"mean": mean, "sd": sd, "n": n, "values": vals, "ci95_mean": list(bootstrap_ci(vals))}


def _comparison(records: list[dict], ref: list[dict], metric: str, kind: str, seed: int) -> dict[str, Any]:
    stat = paired_comparison(_values(records, metric), _values(ref, metric), seed=seed)
    preds = [r.get("test_predictions") for r in records]
    ref_preds = [r.get("test_predictions") for r in ref]
    if kind == "binary" and metric == "auc" and all(preds) and all(ref_preds):
        stat["p_delong"] = pooled_delong(preds, ref_preds)["p"]
    else:
        stat["p_delong"] = None
    return stat


def build_report(context: dict[str, Any], records: dict[tuple[float, str, str], list[dict]], *, seed: int = 0) -> dict:
    """The report as a JSON-ready dict: ``context`` plus ``results[fraction][mode][init]`` =
    ``{mean, sd, n, values, ci95_mean, diff, ci95, p_paired, p_wilcoxon, p_holm,
    detectable_diff, p_delong, vs_converged: {...the same paired keys}}`` on the primary
    metric (the reference row has no ``diff``; ``vs_converged`` only when the control ran),
    ``converged_stopped`` (per fraction: trials of the control whose early stopping fired
    before the epoch budget) and ``verdict`` (plain language, :func:`verdict`). Holm's
    correction runs over every comparison in one fraction x mode table."""
    notes: set[str] = set()
    with warnings_as_notes(notes):
        results, stopped = _tables(context, records, seed)
    report = {**context, "statistics": STATISTICS, "results": results, "converged_stopped": stopped, "notes": sorted(notes)}
    report["verdict"] = verdict(report)
    return report


def _tables(context: dict[str, Any], records: dict[tuple[float, str, str], list[dict]], seed: int) -> tuple[dict, dict]:
    """``results[fraction][mode][init]`` and the converged control's early stops per fraction."""
    metric, kind, ref_name = context["primary_metric"], context["kind"], context["reference"]
    results: dict[str, dict[str, dict[str, Any]]] = {}
    stopped = {}
    for f in context["label_fractions"]:
        fkey = f"{f:g}"
        conv = records.get((f, CONVERGED, SCRATCH)) or next((v for k, v in records.items() if k[0] == f and k[1] == CONVERGED), None)
        results[fkey] = {}
        if conv is not None:
            stopped[fkey] = sum(r["epochs_run"] < r["epochs"] for r in conv)
        for mode in [*context["modes"], *([CONVERGED] if conv is not None else [])]:
            table: dict[str, Any] = {}
            family: list[tuple[dict, str]] = []
            ref = records.get((f, mode, ref_name))
            for (ff, mm, name), recs in records.items():
                if ff != f or mm != mode:
                    continue
                row = _cell_stats(recs, metric)
                if mode != CONVERGED and name != ref_name and ref is not None:
                    row.update(_comparison(recs, ref, metric, kind, seed))
                    family.append((row, "p_paired"))
                if mode != CONVERGED and conv is not None:
                    row["vs_converged"] = _comparison(recs, conv, metric, kind, seed)
                    family.append((row["vs_converged"], "p_paired"))
                table[name] = row
            for (holder, key), p in zip(family, holm([h[k] for h, k in family])):
                holder["p_holm"] = p
            results[fkey][mode] = table
    return results, stopped


STATISTICS = (
    "Trials pair up: every initialisation ran on the same patient split, the same nested label subsets and the same "
    "trial seeds. Per label fraction and mode: mean and s.d. over trials; against scratch at the same budget and "
    "against converged scratch, the mean paired difference with a bootstrap 95 % confidence interval (expanded "
    "percentile, seeded), the paired t-test (two-sided) and the Wilcoxon signed-rank test, Holm's correction across "
    "the comparisons of the table (p Holm), the smallest difference the paired t-test detects with 80 % power at "
    "alpha 0.05 given the observed spread, and for binary classification DeLong's test of the trial-averaged test AUCs."
)


def labels_phrase(report: dict, fkey: str) -> str:
    """How the labels of one fraction read in the report: ``"5 % labels"``, or with the
    :func:`exact_count`: ``"0.296 % labels (1 patient)"``."""
    n = exact_count(report, float(fkey))
    return f"{share(float(fkey))} % labels" + ("" if n is None else f" ({n} patient{'' if n == 1 else 's'})")


def _pts(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def _pfmt(p: float | None) -> str:
    if p is None or math.isnan(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.2g}" if p < 0.01 else f"= {p:.2f}"


def _effect(stat: dict, metric_label: str, at: str) -> tuple[str, bool]:
    """One clause for one comparison, and whether it is a detected difference."""
    p = stat.get("p_holm")
    if p is None or math.isnan(p):
        return f"{at} there are too few trials to test", False
    lo, hi = stat["ci95"]
    if p < 0.05:
        verb = "adds" if stat["diff"] > 0 else "loses"
        return f"{verb} {_pts(abs(stat['diff']))} [{_pts(lo)}, {_pts(hi)}] {metric_label} points {at} (p {_pfmt(p)})", True
    return (f"{at} no difference is detectable ({'+' if stat['diff'] >= 0 else ''}{_pts(stat['diff'])} "
            f"[{_pts(lo)}, {_pts(hi)}], p {_pfmt(p)}; smallest detectable {_pts(stat['detectable_diff'])} points)"), False


def verdict(report: dict) -> str:
    """A plain-language paragraph generated from the numbers: for each pre-training and
    mode, what it adds or loses against scratch at the same budget at each label fraction
    (detected = Holm-adjusted p < 0.05, with the difference and its 95 % CI in points of the
    primary metric), where no difference is detectable and how small a difference could
    have been, then the same against converged scratch."""
    metric_label = report["primary_metric"].replace("_mean", "").upper()
    ref = report["reference"]
    sentences = []
    others = [i["name"] for i in report["inits"] if i["name"] != ref]
    for mode in report["modes"]:
        for name in others:
            for against, key in ((f"{ref} at the same budget", None), ("converged scratch", "vs_converged")):
                clauses = []
                for fkey, modes in report["results"].items():
                    row = modes.get(mode, {}).get(name)
                    stat = row if key is None else (row or {}).get(key)
                    if not stat or "p_holm" not in stat:
                        continue
                    clauses.append(_effect(stat, metric_label, f"at {labels_phrase(report, fkey)}")[0])
                if clauses:
                    how = "fine-tuned" if mode == "finetune" else "as a frozen-encoder probe"
                    sentences.append(f"Against {against}, {name} ({how}) " + "; ".join(clauses) + ".")
    if report.get("converged"):
        c = report["converged"]
        stopped = report["converged_stopped"]
        n = report["trials"]
        sentences.append(
            f"Converged scratch had up to {c['epochs']} epochs (patience {c['patience']}) against {report['budget']['epochs']}; "
            f"its early stopping fired in " + ", ".join(f"{stopped[f]}/{n} trials at {100 * float(f):g} %" for f in stopped)
            + " (where it did not, scratch may still not have converged)."
        )
    sentences.append(f"Differences are in {metric_label} points (percent); p is Holm-adjusted across each table's comparisons.")
    if report["trials"] < 6:
        sentences.append(f"With {report['trials']} trials the Wilcoxon test cannot reach p < 0.05 (it needs 6 pairs)"
                         + (" and the bootstrap intervals are unreliable (use at least 5)." if report["trials"] < 5 else "."))
    return " ".join(sentences)


def _cell(row: dict, key: str | None = None) -> list[str]:
    stat = row if key is None else row.get(key)
    if not stat or "diff" not in stat:
        return ["-", "-", "-"]
    lo, hi = stat["ci95"]
    sign = "+" if stat["diff"] > 0 else ""
    p = stat.get("p_holm", math.nan)
    mark = "" if p is None or math.isnan(p) else (" \\*" if p < 0.05 else "")
    return [f"{sign}{_pts(stat['diff'])} [{_pts(lo)}, {_pts(hi)}]", f"{_pval(p)}{mark}", _pts(stat["detectable_diff"])]


def _pval(p: float | None) -> str:
    return "n/a" if p is None or math.isnan(p) else f"{p:.3g}"


def baseline_lines(report: dict) -> list[str]:
    """One line per trivial baseline of the report (:func:`semgen.finetune.evaluation.trivial_baselines`)."""
    return [f"Trivial baseline: `{name}` alone scores AUC {_pts(b['auc'])} % on the same {b['samples']} test samples "
            f"({b['patients']} patients); a model has to beat it to be useful."
            for name, b in (report.get("baselines") or {}).items()]


def input_lines(report: dict) -> list[str]:
    """What every initialisation was fine-tuned on, and each checkpoint's pre-training geometry."""
    geometry = report.get("geometry")
    if not geometry:
        return []
    from semgen.finetune.data import Geometry

    lines = [f"Inputs, the same for every initialisation: {Geometry.from_dict(geometry).describe()} "
             f"({'; '.join(f'{k} from {v}' for k, v in (geometry.get('sources') or {}).items())})."]
    return lines + [f"Pre-training geometry: {i['pretraining']}." for i in report["inits"] if i.get("pretraining")]


def render_markdown(report: dict) -> str:
    """``report.md``: what was run (with the trivial baselines' test AUCs), the verdict, one table per label fraction and mode (mean
    ± s.d. in points; against scratch at the same budget: difference [95 % CI], paired-t,
    Wilcoxon and Holm p, detectable difference, DeLong p; against converged scratch:
    difference [95 % CI], Holm p, detectable difference) and the efficiency plot."""
    m = report["primary_metric"]
    ref = report["reference"]
    split = report["split"]
    lines = [
        f"# Does pre-training help? {report['task_name']} ({report['task']}, {m})", "",
        f"Data: `{report['data']}` ({split['samples']['train']} training, {split['samples']['validation']} validation, "
        f"{split['samples']['test']} test samples; {split['patients']['train']}/{split['patients']['validation']}/"
        f"{split['patients']['test']} patients; split seed {split['seed']}, hash {split['hash']}; {report['skipped']} skipped).",
        "Initialisations: " + ", ".join(f"{i['name']} (`{i['source']}`)" for i in report["inits"]) + ".",
        *input_lines(report),
        *baseline_lines(report),
        f"Label fractions: {', '.join(f'{share(f)} %' for f in report['label_fractions'])} of the training patients "
        f"(nested subsets: " + ", ".join(f"{share(float(k))} %: {v['patients']}" for k, v in report["subsets"].items())
        + f" patients). Modes: {', '.join(report['modes'])}. {report['trials']} trials (seeds shared by every initialisation); "
        f"budget {report['budget']['epochs']} epochs, patience {report['budget']['patience']}"
        + (f"; converged scratch {report['converged']['epochs']} epochs, patience {report['converged']['patience']}." if report["converged"] else "."),
        "", "## Verdict", "", report["verdict"], "", "## Statistics", "", report["statistics"], "",
        f"Columns: {m} mean ± s.d. over trials (%); against {ref} at the same budget and mode: paired difference in points "
        "[bootstrap 95 % CI], p of the paired t-test, the Wilcoxon signed-rank test and Holm-adjusted (\\* < 0.05), "
        "the smallest difference detectable with 80 % power (points), DeLong p of the trial-averaged test AUCs; "
        "against converged scratch: difference [95 % CI], Holm p, detectable.", "",
        "![label efficiency](efficiency.png)", "",
    ]
    for fkey, modes in report["results"].items():
        for mode, table in modes.items():
            lines += [f"## {labels_phrase(report, fkey)}, {mode}", ""]
            lines.append(f"| initialisation | n | {m} (%) | diff vs {ref} [95 % CI] | p paired t | p Wilcoxon | p Holm | "
                         "detectable | p DeLong | diff vs converged [95 % CI] | p Holm | detectable |")
            lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
            for name, row in table.items():
                vs_ref = _cell(row)
                extra = [_pval(row.get("p_paired")), _pval(row.get("p_wilcoxon"))] if "diff" in row else ["-", "-"]
                delong = "-" if row.get("p_delong") is None else _pval(row["p_delong"])
                lines.append(f"| {name} | {row['n']} | {_pts(row['mean'])} ± {_pts(row['sd'])} | {vs_ref[0]} | "
                             f"{' | '.join(extra)} | {vs_ref[1]} | {vs_ref[2]} | {delong} | {' | '.join(_cell(row, 'vs_converged'))} |")
            lines.append("")
    lines += [f"**Note:** {note}." for note in report.get("notes", [])]
    return "\n".join(lines)


DERIVED = ("statistics", "results", "converged_stopped", "notes", "verdict", "files")
"""Keys of ``report.json`` computed from the trials; the others are the run's context."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvaluateResult:
    """What ``semgen evaluate`` wrote: the typed result of the evaluation stage
    (:mod:`semgen.stage`); ``OUT/report.json`` is derived from it (:meth:`to_json`).

    ``context``: the run's design, ``report.json``'s leading keys (task, ``task_name``,
    ``inits``, geometry, ``label_fractions``, ``modes``, ``trials``, ``seeds``, budgets,
    ``split``, subsets, baselines; :func:`semgen.finetune.evaluation._context`);
    ``statistics``: how the tables were computed; ``results``: the tables,
    ``results[fraction][mode][init]`` (:func:`build_report`); ``converged_stopped``: per
    fraction, the converged control's early stops; ``notes``: SciPy's warnings; ``verdict``:
    the plain-language answer; ``files``: the paths written (``report.md``, ``report.json``,
    ``efficiency.png``).
    """

    context: dict[str, Any]
    statistics: str
    results: dict[str, dict[str, dict[str, Any]]]
    converged_stopped: dict[str, int]
    notes: list[str]
    verdict: str
    files: tuple[Path, ...]

    @property
    def task_name(self) -> str:
        return self.context["task_name"]

    @property
    def inits(self) -> list[str]:
        """The initialisations' names, the reference's first when scratch was added."""
        return [i["name"] for i in self.context["inits"]]

    @property
    def modes(self) -> list[str]:
        return list(self.context["modes"])

    @property
    def label_fractions(self) -> list[float]:
        return list(self.context["label_fractions"])

    @property
    def trials(self) -> int:
        return self.context["trials"]

    def to_json(self) -> dict[str, Any]:
        """The content of ``report.json``: the context, then the :data:`DERIVED` keys in this
        order (NaN kept, the writer makes it null)."""
        derived = {name: getattr(self, name) for name in DERIVED if name != "files"}
        return {**self.context, **derived, "files": [str(f) for f in self.files]}


def write_report(out: str | Path, report: dict) -> EvaluateResult:
    """Write ``OUT/report.md``, ``OUT/report.json`` (strict JSON: NaN as null) and
    ``OUT/efficiency.png`` of ``report`` (:func:`build_report`); returns the result."""
    out = Path(out)
    files = (out / "report.md", out / "report.json", out / "efficiency.png")
    result = EvaluateResult(context={k: v for k, v in report.items() if k not in DERIVED},
                            **{k: report[k] for k in DERIVED if k != "files"}, files=files)
    doc = result.to_json()
    plot_efficiency(doc, files[2])
    with atomic_write(files[0]) as f:
        f.write(render_markdown(doc) + "\n")
    write_json(files[1], nan_to_none(doc))
    return result


def rebuild(folder: str | Path, out: str | Path | None = None) -> EvaluateResult:
    """Recompute the report of the ``semgen evaluate`` results ``folder`` from its
    ``report.json`` context and ``trials/<mode>/<init>/fraction_<f>/trial_<i>.json``, in the
    grid order ``evaluate`` uses, and write it to ``out`` (default: ``folder``). Returns it."""
    folder = Path(folder)
    context = {k: v for k, v in read_json(folder / "report.json").items() if k not in DERIVED}
    found: dict[tuple[float, str, str], list[dict]] = {}
    for path in sorted((folder / "trials").glob("*/*/fraction_*/trial_*.json")):
        record = read_json(path)
        found.setdefault((float(record["label_fraction"]), record["mode"], record["init"]), []).append(record)
    arms = [(mode, i["name"]) for mode in context["modes"] for i in context["inits"]] + [(CONVERGED, SCRATCH)]
    records = {}
    for f in context["label_fractions"]:
        for mode, init in arms:
            if (f, mode, init) in found:
                records[(f, mode, init)] = sorted(found[(f, mode, init)], key=lambda r: r["trial"])
    return write_report(out or folder, build_report(context, records, seed=int(context.get("seed", 0))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m semgen.finetune.evaluation_report", description=rebuild.__doc__)
    parser.add_argument("results", help="a `semgen evaluate` results folder (report.json + trials/)")
    parser.add_argument("--out", help="where to write report.md, report.json, efficiency.png (default: RESULTS)")
    args = parser.parse_args(argv)
    result = rebuild(args.results, args.out)
    print(f"Rebuilt the report of {args.results}: wrote {', '.join(map(str, result.files))}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
