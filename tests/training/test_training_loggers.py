"""Experiment loggers (``--log``): per-epoch scalars and pictures in pre-training and
fine-tuning through one small interface; TensorBoard when its package is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from semgen.cli import main
from semgen.loggers import LOGGERS, Logger, LoggerError, check_logger, register_logger

COMMON = ["--width", "4", "--epochs", "2", "--warmup-epochs", "1", "--batch-size", "4", "--precision", "fp32"]
CALLS: list[tuple] = []


@pytest.fixture()
def memory_logger():
    """A logger that is one small class: it records every call."""

    @register_logger("memory")
    class MemoryLogger(Logger):
        def scalars(self, step, values, prefix=""):
            CALLS.append(("scalars", step, prefix, dict(values)))

        def image(self, tag, image, step):
            CALLS.append(("image", step, tag, np.asarray(image).shape))

    CALLS.clear()
    yield CALLS
    del LOGGERS["memory"]


def test_pretrain_logs_every_epoch_triplets_and_the_atlas(patterns, tmp_path, memory_logger) -> None:
    assert main(["pretrain", str(patterns / "patterns"), "--out", str(tmp_path / "run"), *COMMON, "--log", "memory"]) == 0
    scalars = [c for c in memory_logger if c[0] == "scalars"]
    assert [c[1] for c in scalars] == [1, 2] and all("loss" in c[3] for c in scalars)
    assert "val_loss" in scalars[-1][3] and "phase" in scalars[-1][3]  # the logger gets the row; it keeps numbers
    images = {(c[2], c[1]) for c in memory_logger if c[0] == "image"}
    assert ("atlas", 0) in images and ("triplets", 2) in images
    assert all(len(c[3]) == 3 and c[3][2] == 3 for c in memory_logger if c[0] == "image")  # RGB pictures


def test_finetune_logs_each_trials_curves(tmp_path, memory_logger) -> None:
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(10):
            img = rng.normal(60 if cls == "a" else 160, 20, (16, 16)).clip(0, 255).astype(np.uint8)
            sitk.WriteImage(sitk.GetImageFromArray(img), str(tmp_path / "data" / cls / f"{cls}{i}.png"))
    assert main(["finetune", str(tmp_path / "data"), "--out", str(tmp_path / "res"), "--trials", "2", "--epochs", "3",
                 "--width", "4", "--patch", "16x16", "--modality", "XR", "--log", "memory"]) == 0
    prefixes = [c[2] for c in memory_logger if c[0] == "scalars"]
    assert prefixes.count("trial_0/") >= 1 and prefixes.count("trial_1/") >= 1
    assert {"train_loss", "val_loss", "val_auc", "lr"} <= set(memory_logger[0][3])


def test_unknown_or_missing_logger_is_a_clear_error(monkeypatch, capsys) -> None:
    with pytest.raises(LoggerError, match="unknown logger"):
        check_logger("wandb-typo")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    with pytest.raises(LoggerError, match="pip install tensorboard"):
        check_logger("tensorboard")
    assert main(["finetune", "x", "--out", "y", "--log", "tensorboard"]) == 2  # refused before reading any data
    assert capsys.readouterr().err.strip() == ("semgen finetune: error: --log tensorboard needs the tensorboard package: "
                                               "pip install tensorboard")


def test_tensorboard_event_files(patterns, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard is optional (pip install tensorboard)")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    assert main(["pretrain", str(patterns / "patterns"), "--out", str(run), *COMMON, "--log", "tensorboard"]) == 0
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0}).Reload()
    assert [e.step for e in events.Scalars("loss")] == [1, 2]
    assert "val_loss" in events.Tags()["scalars"]
    assert {"atlas", "triplets"} <= set(events.Tags()["images"])
