"""The paper's claims against our committed evidence: one line per claim and data set.

    python benchmarks/evidence/claims.py            # prints the Markdown table of README "Results"

Each line pairs two initialisations trial by trial (the committed runs of one part share the
patient split, the label subset and the trial seeds) and gives the mean paired difference of
the primary metric in points with its bootstrap 95 % CI, the paired t-test p and, within each
claim, Holm's correction across its lines. Verdict: "supported" where the Holm-adjusted p is
below 0.05 and the difference favours the claim, "contradicted" where it is below 0.05 the
other way, else "not shown" with the smallest difference the trials could have detected.
Reads ``results/<part>/runs/<init>[-f<fraction>]/summary.json`` (``semgen finetune`` runs) or
``results/<part>/report.json`` (``semgen evaluate``, mode finetune); a part not yet run is
named under the table as not yet run.
"""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path

from semgen.finetune.stats import holm, paired_comparison
from semgen.utils.io import read_json
from semgen.viz.efficiency import exact_count

_read = functools.lru_cache(maxsize=None)(read_json)  # each results file once, however many lines use it
RESULTS = Path(__file__).resolve().parent / "results"
SG, SC, SR, MG = "semantic-genesis", "self-classification", "self-restoration", "models-genesis"
PARTS = {  # part -> (data set in words, label fractions)
    "cxr2d": ("2D chest X-ray pneumonia, AUC", (0.05, 0.2)),
    "cxr2d-addons": ("2D chest X-ray pneumonia, AUC", (0.05,)),
    "mri3d": ("3D hippocampus MRI, IoU", (0.1,)),
    "ct2mri": ("3D hippocampus MRI pre-trained on synthetic CT, IoU", (0.1,)),
    "ncc": ("3D LIDC nodule malignancy (NCC analogue), AUC", (0.05, 0.1, 0.25, 1.0)),
    "ncs": ("3D LIDC nodule segmentation (NCS analogue), IoU", (0.05, 0.1, 0.25, 1.0)),
    "hippo-few": ("3D hippocampus MRI, IoU", (0.00295858, 0.00887574, 0.0207101, 0.0443787)),
}
MAIN_PARTS = ("cxr2d", "mri3d", "ct2mri", "ncc", "ncs", "hippo-few")
CLAIMS = [  # (claim, [(part, initialisation, reference)])
    ("Semantic Genesis beats training from scratch", [(p, SG, "scratch") for p in MAIN_PARTS]),
    ("Semantic Genesis beats its parts: self-classification", [(p, SG, SC) for p in MAIN_PARTS]),
    ("Semantic Genesis beats its parts: self-restoration", [(p, SG, SR) for p in MAIN_PARTS]),
    ("Semantic Genesis beats Models Genesis", [(p, SG, MG) for p in MAIN_PARTS]),
    ("Semantics improve other methods", [("cxr2d-addons", "inpainting+semantics", "inpainting"),
                                         ("cxr2d-addons", "context-restoration+semantics", "context-restoration")]),
]


def trial_values(part: str, init: str, fraction: float) -> tuple[list[float], tuple] | None:
    """The primary metric of each trial of ``init`` in ``part`` at ``fraction``, in trial
    order, with what pairs the trials (split hash and trial seeds); None when that run is not
    committed."""
    folder = RESULTS / part
    if (folder / "report.json").is_file():
        report = _read(folder / "report.json")
        cell = report["results"].get(f"{fraction:g}", {}).get("finetune", {}).get(init)
        return (cell["values"], (report["split"]["hash"], tuple(report["seeds"]))) if cell else None
    for name in (f"{init}-f{fraction:g}", init):
        path = folder / "runs" / name / "summary.json"
        if path.is_file():
            summary = _read(path)
            if math.isclose(float(summary.get("label_fraction", 1.0)), fraction):
                pairing = (summary["split"]["hash"], tuple(t["seed"] for t in summary["trials"]))
                return [t[summary["primary_metric"]] for t in summary["trials"]], pairing
    return None


def paired(part: str, init: str, ref: str, fraction: float) -> dict | None:
    """:func:`paired_comparison` of ``init`` against ``ref``; refuses trials that do not pair."""
    a, b = trial_values(part, init, fraction), trial_values(part, ref, fraction)
    if not (a and b):
        return None
    if a[1] != b[1]:
        raise SystemExit(f"{part} at {fraction:g}: {init} and {ref} were not run on the same split and trial seeds")
    return paired_comparison(a[0], b[0])


def _labels(part: str, fraction: float) -> str:
    """The labels a line was trained with: a percentage, or, for a fraction chosen to cut an
    exact number of patients (:func:`semgen.viz.efficiency.exact_count`), that number."""
    report = RESULTS / part / "report.json"
    n = exact_count(_read(report) if report.is_file() else {}, fraction)
    return f"{100 * fraction:g} %" if n is None else f"{n} labelled volume{'s' if n > 1 else ''}"


def _pts(x: float) -> str:
    return f"{'+' if x > 0 else ''}{100 * x:.2f}"


def claim_rows() -> list[dict]:
    """Every line of the claims table: claim, part, fraction, initialisation, reference and the
    paired statistics with the Holm-adjusted p and the verdict (None where not yet run)."""
    rows = []
    for claim, lines in CLAIMS:
        family = []
        for part, init, ref in lines:
            for f in PARTS[part][1]:
                stat = paired(part, init, ref, f)
                family.append({"claim": claim, "part": part, "fraction": f, "init": init, "reference": ref, "stat": stat})
        tested = [r for r in family if r["stat"]]
        for r, p in zip(tested, holm([r["stat"]["p_paired"] for r in tested])):
            r["p_holm"] = p
            shown = not math.isnan(p) and p < 0.05
            r["verdict"] = ("supported" if r["stat"]["diff"] > 0 else "contradicted") if shown else "not shown"
        rows += family
    return rows


def markdown(rows: list[dict]) -> str:
    """The table of :func:`claim_rows` (differences in points of the primary metric, x100)."""
    lines = ["| paper's claim | data (labels) | comparison | paired diff [95 % CI] | p paired t | p Holm | verdict |",
             "|---|---|---|---|---|---|---|"]
    missing = sorted({r["part"] for r in rows if r["stat"] is None}, key=list(PARTS).index)
    for r in rows:
        s = r["stat"]
        if s is None:
            continue
        data = f"{PARTS[r['part']][0]} ({_labels(r['part'], r['fraction'])})"
        versus = f"{r['init']} vs {r['reference']}"
        lo, hi = s["ci95"]
        verdict = r["verdict"] if r["verdict"] != "not shown" else \
            f"not shown (detectable: {100 * s['detectable_diff']:.1f})"
        lines.append(f"| {r['claim']} | {data} | {versus} | {_pts(s['diff'])} [{_pts(lo)}, {_pts(hi)}] | "
                     f"{s['p_paired']:.2g} | {r['p_holm']:.2g} | {verdict} |")
    if missing:
        lines += ["", "Not yet run: " + "; ".join(f"{p} ({PARTS[p][0]})" for p in missing) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown(claim_rows()) + "\n")
