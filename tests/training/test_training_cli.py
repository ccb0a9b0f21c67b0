"""`semgen pretrain` on a tiny real pattern set: the command, input detection and checks, sub-volumes, DDP."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from semgen.cli import main
from semgen.training import detect_input, read_metrics

COMMON = ["--width", "4", "--epochs", "2", "--warmup-epochs", "1", "--batch-size", "4", "--precision", "fp32", "--seed", "3"]


def test_inputs_are_recognised(patterns, tmp_path):
    assert detect_input(patterns / "patterns") == "patterns"
    assert detect_input(patterns / "cohort") == "cohort"
    assert detect_input(tmp_path) == "scans"
    with pytest.raises(ValueError, match="no such file"):
        detect_input(tmp_path / "missing")


def test_pretrain_on_a_pattern_set_writes_the_run_and_prints_a_summary(patterns, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", str(patterns / "patterns"), "--out", str(out), *COMMON]) == 0
    printed = capsys.readouterr().out
    assert "semantic-genesis" in printed and "model.safetensors" in printed
    rows = read_metrics(out / "metrics.csv")
    assert len(rows) == 2 and rows[1]["loss_rec"] is not None
    meta = json.loads((out / "model.json").read_text())
    assert meta["method"] == "semantic-genesis" and meta["manifest_hash"] and meta["num_classes"] == 3
    card = (out / "README.md").read_text()  # the model card of the saved (best) checkpoint
    assert "library_name: semgen" in card and f"**training manifest**: {meta['manifest_hash']}" in card
    assert "**scans**: 10" in card and "**modality**: MR" in card
    # the same folder again is refused, and --resume continues to more epochs
    assert main(["pretrain", str(patterns / "patterns"), "--out", str(out), *COMMON]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["pretrain", "--resume", str(out), "--epochs", "3"]) == 0
    assert [r["epoch"] for r in read_metrics(out / "metrics.csv")] == [1, 2, 3]
    assert main(["pretrain", "--resume", str(out), "--method", "self-restoration"]) == 2
    assert "other options (method: 'semantic-genesis' -> 'self-restoration')" in capsys.readouterr().err


def test_bad_input_is_refused_before_training(patterns, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", str(patterns / "patterns"), "--out", str(out), *COMMON, "--patch", "24x24x16"]) == 2
    assert "larger than the crops" in capsys.readouterr().err
    assert main(["pretrain", str(patterns / "patterns"), "--out", str(out), *COMMON, "--patch", "12x12x12"]) == 2
    assert "divisible by 8" in capsys.readouterr().err
    assert not (out / "last.pt").exists()


def test_a_pattern_set_of_one_class_is_refused_for_classification(patterns, tmp_path, capsys):
    from semgen.utils.io import read_json, write_json

    single = tmp_path / "single"
    single.mkdir()
    for name in ("manifest.csv",):
        lines = (patterns / "patterns" / name).read_text().splitlines()
        (single / name).write_text("\n".join([lines[0]] + [ln for ln in lines[1:] if ln.startswith("0,")]) + "\n")
    info = read_json(patterns / "patterns" / "classes.json")
    write_json(single / "classes.json", {**info, "num_classes": 1})
    assert main(["pretrain", str(single), "--out", str(tmp_path / "run"), *COMMON]) == 2
    assert "needs at least 2" in capsys.readouterr().err


def test_models_genesis_trains_on_random_subvolumes_of_the_cohort(patterns, tmp_path):
    out = tmp_path / "mg"
    common = [a for a in COMMON if a not in ("--warmup-epochs", "1")]  # no classification branch to warm up
    args = ["pretrain", str(patterns / "cohort"), "--out", str(out), "--method", "models-genesis", *common]
    assert main([*args, "--patch", "16x16x16", "--subvolumes-per-scan", "2"]) == 0
    rows = read_metrics(out / "metrics.csv")
    assert all(r["loss_cls"] is None and r["loss_rec"] is not None for r in rows)
    assert not (out / "patterns").exists()  # no discovery for Models Genesis


@pytest.mark.slow
def test_torchrun_with_two_cpu_processes_writes_one_run(patterns, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SEMGEN_NO_PROGRESS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--standalone",
        "-m", "semgen", "pretrain", str(patterns / "patterns"), "--out", str(out), *COMMON,
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Pre-trained a 3D U-Net") == 1  # only rank 0 reports
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["epochs"] == 2
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    rows = read_metrics(out / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2]


def test_two_pretrains_with_other_seeds_into_one_folder_never_mix(patterns, tmp_path, capsys):
    import socket

    from semgen.stage import LOCK_FILE

    out = tmp_path / "run"
    args = ["pretrain", str(patterns / "patterns"), "--out", str(out), *COMMON[:-2]]
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:  # while seed 1 holds the folder, seed 2 is refused and names the owner
        out.mkdir()
        (out / LOCK_FILE).write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname(), "stage": "pretrain"}))
        assert main([*args, "--seed", "2"]) == 2
        assert f"in use by semgen pretrain (pid {sleeper.pid}" in capsys.readouterr().err
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]
    finally:
        sleeper.kill()
        sleeper.wait()
    assert main([*args, "--seed", "1"]) == 0  # the dead owner's lock is taken over
    weights = (out / "model.safetensors").read_bytes()
    assert main([*args, "--seed", "2"]) == 2
    assert "other options (seed: 1 -> 2)" in capsys.readouterr().err
    assert main(["pretrain", "--resume", str(out), "--seed", "2"]) == 2
    assert (out / "model.safetensors").read_bytes() == weights and "seed: 1" in (out / "config.yaml").read_text()
    assert main([*args, "--seed", "2", "--overwrite"]) == 0
    assert "seed: 2" in (out / "config.yaml").read_text()


def test_a_failed_run_leaves_no_folder_behind(patterns, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["pretrain", str(patterns / "patterns"), "--out", str(out), *COMMON, "--patch", "12x12x12"]) == 2
    assert "divisible by 8" in capsys.readouterr().err and not out.exists()
    assert main(["pretrain", str(patterns / "patterns"), "--out", str(out), *COMMON, "--seed", "4"]) == 0


def test_a_run_whose_output_goes_to_a_pipe_reports_every_epoch(patterns, tmp_path):
    """No terminal, no progress bar: one plain line per epoch still reaches stderr."""
    env = {k: v for k, v in os.environ.items() if k != "SEMGEN_NO_PROGRESS"}
    cmd = [sys.executable, "-m", "semgen", "pretrain", str(patterns / "patterns"), "--out", str(tmp_path / "run"),
           *COMMON, "--threads", "1"]
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [ln for ln in done.stderr.splitlines() if ln.startswith("epoch ")]
    assert [ln.split(":")[0] for ln in lines] == ["epoch 1/2", "epoch 2/2"]
    assert lines[0].startswith("epoch 1/2: warmup; train loss ") and "~" in lines[0] and "left" in lines[0]
    assert lines[1].startswith("epoch 2/2: joint; train loss ")
    for part in ("restoration", "val loss", "accuracy", "crops/s", "elapsed"):
        assert part in lines[1], part
    assert "\r" not in done.stderr  # no bar drawn into the pipe
    assert "Pre-trained a 3D U-Net" in done.stdout


def test_flags_that_make_no_sense_are_refused_or_warned(patterns, tmp_path, capsys, monkeypatch, caplog):
    import logging

    import torch

    from semgen.models import speed
    from semgen.training import PretrainConfig
    from semgen.training.trainer import _precision

    args = ["pretrain", str(patterns / "cohort"), "--out", str(tmp_path / "mg"), "--method", "models-genesis",
            "--warmup-epochs", "2"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--warmup-epochs 2" in err and "only a restoration branch" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "mg").exists()
    with pytest.raises(SystemExit):
        main(["pretrain", "--schedule", "no-such-schedule"])
    monkeypatch.setattr(speed, "cpu_bf16_native", lambda: False)
    with caplog.at_level(logging.WARNING, logger="semgen.training.trainer"):
        _precision(PretrainConfig(precision="bf16"), torch.nn.Linear(2, 2), torch.device("cpu"), (16, 16, 16))
    assert "no bf16 instructions" in caplog.text and "9x slower" in caplog.text
    caplog.clear()
    monkeypatch.setattr(speed, "cpu_bf16_native", lambda: True)
    with caplog.at_level(logging.WARNING, logger="semgen.training.trainer"):
        _precision(PretrainConfig(precision="bf16"), torch.nn.Linear(2, 2), torch.device("cpu"), (16, 16, 16))
    assert "bf16" not in caplog.text


def test_schedule_flag_reaches_the_single_corruption_and_identity_schedules(patterns, tmp_path):
    out = tmp_path / "identity"
    common = [a for a in COMMON if a not in ("--warmup-epochs", "1")]
    assert main(["pretrain", str(patterns / "patterns"), "--out", str(out), "--method", "self-restoration",
                 "--schedule", "identity", *common, "--epochs", "1"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schedule"] == "identity"
    import torch

    from semgen.tasks import Objective, get_method
    from semgen.utils.seeding import torch_generator

    crops = torch.rand(2, 1, 32, 32, 32, generator=torch_generator(0, "crops"))
    for name in ("identity", "nonlinear", "local-shuffle", "inpaint", "outpaint"):
        objective = Objective(get_method("self-restoration"), schedule=name)
        corrupted, target = objective.corrupt(crops, torch_generator(1, name))
        assert torch.equal(target, crops)
        assert torch.equal(corrupted, crops) == (name == "identity"), name


def test_the_summary_does_not_claim_a_change_over_one_epoch():
    from semgen.commands.pretrain import describe
    from semgen.training import PretrainResult

    base = PretrainResult(
        method="semantic-genesis", schedule=None, run=Path("r"), stopped="completed", epochs=3, warmup_epochs=2,
        best_epoch=3, best_loss=0.04, train_seconds=3.0, world_size=1, num_classes=0, chance_accuracy=None,
        final_accuracy=None, accuracy_of="acc_cls", first_loss_rec=0.0416, last_loss_rec=0.0416, final_collapse=None,
        train_samples=10, validation_samples=2, patch=(16, 16, 16), spatial_dims=3, width=8, last=None,
    )
    one = describe(base)
    assert "from 0.0416 to 0.0416" not in one and "0.0416 after one epoch" in one
    many = describe(dataclasses.replace(base, epochs=4, first_loss_rec=0.05, last_loss_rec=0.04))
    assert "from 0.0500 to 0.0400 over 2 epochs" in many