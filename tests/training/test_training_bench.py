"""`semgen bench pretrain`: the real trainer against its own model step, with FLOP-based figures."""

from __future__ import annotations

import json

import pytest

from semgen.cli import main

ARGS = ["bench", "pretrain", "--configs", "cpu", "--epochs", "1", "--batch", "2", "--classes", "3", "--threads", "1"]


def _bench(capsys, *flags: str) -> dict:
    assert main([*ARGS, *flags]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_bench_pretrain_times_the_trainer_against_its_model_step(capsys):
    result = _bench(capsys, "--train-crops", "5", "--validation-crops", "3", "--steps", "2")
    cpu = result["configs"]["cpu"]
    assert cpu["train_crops"] == 5 and cpu["validation_crops"] == 3 and cpu["epochs"] == 1
    # the trainer ran the whole loop: validation and end-of-epoch writing took time, and
    # together they fit in the trainer's span
    breakdown = cpu["breakdown"]
    assert breakdown["validation"] > 0 and breakdown["corruptions"] > 0 and breakdown["data"] > 0
    assert set(cpu["breakdown_cpu"]) == set(breakdown) and cpu["trainer_cpu_seconds"] > 0
    assert breakdown["end_of_epoch"] >= breakdown["checkpoints"] + breakdown["pictures"] > 0
    assert breakdown["validation"] + breakdown["end_of_epoch"] <= cpu["trainer_seconds"]
    # GFLOP/s follow from the step's FLOPs: 5 crops at batch 2 = 2 full steps (the last is dropped)
    steps_per_s = cpu["trainer_per_s"] / 2
    assert cpu["trainer"]["gflops"] == pytest.approx(cpu["gflop_per_step"] * steps_per_s, rel=0.02, abs=0.01)
    assert cpu["model"]["gflops"] == pytest.approx(cpu["gflop_per_step"] * cpu["model_per_s"] / 2, rel=0.02, abs=0.01)
    peak = result["peak_gflops"][cpu["precision"]]
    for part in ("model", "trainer"):
        assert cpu[part]["peak_fraction"] == pytest.approx(cpu[part]["gflops"] / peak, rel=0.02, abs=0.002)
        assert 0 < cpu[part]["peak_fraction"] <= 1.2
    assert cpu["trainer_over_model"] == pytest.approx(cpu["trainer_per_s"] / cpu["model_per_s"], rel=0.01)
    assert result["device"]["kind"] == "cpu" and result["device"]["threads"] == 1


def test_bench_pretrain_counts_the_same_flops_as_bench_model(capsys):
    """Two ways to one number: the trainer's objective on BranchNet and bench model's plain step,
    same U-Net (width 8, 8 classes), same batch and cube size."""
    result = _bench(capsys, "--train-crops", "2", "--validation-crops", "0", "--steps", "1", "--classes", "8")
    assert result["configs"]["cpu"]["breakdown"]["validation"] == 0  # no validation crops, nothing validated
    assert main(["bench", "model", "--width", "8", "--batch", "2", "--patch", "32x32x16", "--num-classes", "8",
                 "--steps", "1", "--warmup", "0", "--threads", "1"]) == 0
    model = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["configs"]["cpu"]["gflop_per_step"] == pytest.approx(model["gflop_per_step"], rel=0.01)


def test_bench_pretrain_refuses_what_the_device_cannot_run(capsys):
    assert main([*ARGS, "--precision", "fp16"]) == 2
    assert "fp16" in capsys.readouterr().err
