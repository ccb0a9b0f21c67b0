"""`semgen bench pretrain` prints one JSON object with the agreed keys as its last line."""

from __future__ import annotations

import json

from semgen.cli import main


def test_bench_pretrain_reports_ours_baseline_and_speedup(capsys):
    assert main(["bench", "pretrain", "--configs", "cpu", "--steps", "1", "--warmup", "0", "--batch", "2", "--classes", "3"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["benchmark"] == "pretrain" and result["config"] == "cpu"
    assert result["ours_per_s"] > 0 and result["baseline_per_s"] > 0
    assert result["speedup"] == result["configs"]["cpu"]["speedup"]
    assert 0 <= result["configs"]["cpu"]["ours_data_fraction"] <= 1
