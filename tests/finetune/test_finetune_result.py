"""The typed fine-tuning summary reads what earlier releases wrote: every summary.json of the
committed evidence (made before ``model`` and ``pretraining_geometry`` existed) loads, with
the same numbers, and one without a key every summary has is refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semgen.finetune import FinetuneSummary
from semgen.finetune.data import Geometry

EVIDENCE = sorted((Path(__file__).resolve().parents[2] / "benchmarks" / "evidence").rglob("summary.json"))
FINETUNE = [p for p in EVIDENCE if "trials" in json.loads(p.read_text())]


@pytest.mark.skipif(not FINETUNE, reason="no committed fine-tuning summaries in benchmarks/evidence")
def test_committed_summaries_of_earlier_releases_load_with_their_numbers():
    for path in FINETUNE:
        doc = json.loads(path.read_text())
        summary = FinetuneSummary.from_json(doc, str(path))
        assert summary.trials == doc["trials"] and summary.metric_names == doc["metric_names"], path
        primary = doc["primary_metric"]
        assert summary.primary == (doc["mean"][primary], doc["std"][primary]), path
        assert summary.split.hash == doc["split"]["hash"] and summary.split.samples == doc["split"]["samples"], path
        if "geometry" in doc:
            assert isinstance(summary.geometry, Geometry) and list(summary.geometry.patch) == doc["geometry"]["patch"], path
        written = summary.to_json()
        assert {k: written[k] for k in doc if k not in ("geometry",)} == {k: v for k, v in doc.items() if k != "geometry"}, path


def test_a_summary_without_a_required_key_is_refused_by_name():
    with pytest.raises(ValueError, match=r"x/summary.json: not a semgen finetune summary \(missing primary_metric\)"):
        FinetuneSummary.from_json({"task": "classification", "task_name": "t", "init_name": "scratch",
                                   "metric_names": ["auc"], "trials": []}, "x/summary.json")
