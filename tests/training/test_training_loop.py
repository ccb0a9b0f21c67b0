"""The pre-training loop on a tiny in-memory pattern set: outputs, fixed validation, guards, NaN, exact resume."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch.utils.data import Dataset

from semgen.models import load_checkpoint
from semgen.training import (
    PretrainConfig,
    ResumeError,
    Trainer,
    TrainingData,
    TrainingDiverged,
    claim_run,
    read_metrics,
    resolve_config,
)
from semgen.stage import FolderClaimError
from semgen.utils.config import build_config

PATCH = (16, 16, 16)  # the published local-shuffle block sizes need axes >= 10
# summary.json's keys in 0.x releases (readers of run folders rely on them)
SUMMARY_KEYS = [
    "method", "schedule", "run", "stopped", "epochs", "warmup_epochs", "best_epoch", "best_loss", "train_seconds",
    "world_size", "num_classes", "chance_accuracy", "final_accuracy", "accuracy_of", "first_loss_rec", "last_loss_rec",
    "final_collapse", "train_samples", "validation_samples", "patch", "spatial_dims", "width", "backbone", "files", "last",
]


class ToyPatterns(Dataset):
    """``n`` crops of ``classes`` fixed random prototypes plus a little noise, in [0, 1]."""

    def __init__(self, n: int, classes: int = 3, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.protos = 0.8 * torch.rand((classes, 1, *PATCH), generator=torch.Generator().manual_seed(99))
        self.labels = torch.arange(n) % classes
        self.noise = 0.2 * torch.rand((n, 1, *PATCH), generator=g)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.protos[self.labels[i]] + self.noise[i], int(self.labels[i])


def _data(classes=3):
    return TrainingData(
        train=ToyPatterns(24, classes, seed=1),
        validation=ToyPatterns(9, classes, seed=2),
        spatial_dims=3,
        patch=PATCH,
        num_classes=classes,
        metadata={"spacing": [1.0, 1.0, 1.0], "intensity_window": {"kind": "ct", "low": -1000, "high": 1000}},
    )


def _cfg(tmp_path, **kw):
    base = dict(out=str(tmp_path / "run"), width=4, epochs=3, warmup_epochs=1, batch_size=6, num_workers=0,
                precision="fp32", device="cpu", triplets=2)
    base.update(kw)
    return resolve_config(PretrainConfig(**base), cuda=False)


def _train(cfg, data=None, on_step=None):
    with claim_run(cfg) as state:
        return Trainer(cfg, data or _data(), cfg.out, state=state, on_step=on_step).run()


@pytest.mark.parametrize("given, method, expected", [
    ({}, "semantic-genesis", (6, 8)),  # the CPU preset's own schedule: long warm-up, 2 joint epochs
    ({"epochs": 5}, "semantic-genesis", (2, 5)),  # --epochs given: the table's warm-up
    ({"warmup_epochs": 1}, "semantic-genesis", (1, 4)),
    ({}, "self-restoration", (0, 4)),  # one branch: no warm-up, the table's epochs
    ({}, "self-classification", (0, 4)),
])
def test_the_cpu_presets_schedule(tmp_path, given, method, expected):
    cfg = resolve_config(PretrainConfig(out=str(tmp_path / "run"), preset="cpu", method=method, **given), cuda=False)
    assert (cfg.warmup_epochs, cfg.epochs) == expected
    paper = resolve_config(PretrainConfig(out=str(tmp_path / "run"), preset="paper", method=method, **given), cuda=False)
    assert paper.epochs == given.get("epochs", 10000)


def test_a_run_writes_a_readable_folder(tmp_path):
    cfg = _cfg(tmp_path, pictures_every=2)  # triplets of epoch 2 (every 2nd) and 3 (the last); none of the warm-up
    summary = _train(cfg)
    run = tmp_path / "run"
    for name in ("model.safetensors", "model.json", "last.pt", "metrics.csv", "curves.png", "summary.json", "config.yaml"):
        assert (run / name).is_file(), name
    rows = read_metrics(run / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[0]["phase"] == "warmup" and rows[0]["loss_rec"] is None and rows[0]["loss_cls"] is not None
    assert rows[1]["phase"] == "joint" and rows[1]["loss_rec"] is not None and rows[1]["val_acc_cls"] is not None
    assert all(0.0 <= r["collapse"] <= 1.0 for r in rows)
    assert sorted(p.name for p in (run / "triplets").iterdir()) == ["epoch_002.png", "epoch_003.png"]
    model, meta = load_checkpoint(run / "model.safetensors")
    assert meta["method"] == "semantic-genesis" and meta["num_classes"] == 3 and list(meta["patch_size"]) == list(PATCH)
    assert model.clc_out is not None
    assert summary.epochs == 3 and summary.chance_accuracy == pytest.approx(1 / 3)
    assert summary.weights == run / "model.safetensors" and summary.patch == tuple(PATCH)
    # summary.json is the typed result, with these keys in this order (a key added later may
    # come in between; readers of earlier run folders rely on the rest)
    written = json.loads((run / "summary.json").read_text())
    assert written == json.loads(json.dumps(summary.to_json()))
    assert [key for key in written if key in SUMMARY_KEYS] == SUMMARY_KEYS


def test_keep_every_keeps_each_nth_epochs_weights_as_a_run_folder(tmp_path):
    from semgen.training.checkpoint import load_state

    _train(_cfg(tmp_path, epochs=4, keep_every=2))
    run = tmp_path / "run"
    assert sorted(p.name for p in (run / "epochs").iterdir()) == ["epoch_002", "epoch_004"]
    rows = read_metrics(run / "metrics.csv")
    kept = {}
    for n in (2, 4):
        model, meta = load_checkpoint(run / "epochs" / f"epoch_{n:03d}")
        assert meta["extra"]["epoch"] == n and meta["extra"]["val_loss"] == pytest.approx(rows[n - 1]["val_loss"])
        kept[n] = model.state_dict()
    final = load_state(run / "last.pt")["model"]  # the state after epoch 4
    assert all(torch.equal(kept[4][k], v) for k, v in final.items())
    assert any(not torch.equal(kept[2][k], v) for k, v in final.items() if v.is_floating_point())
    _train(_cfg(tmp_path, epochs=1, overwrite=True))
    assert not (run / "epochs").exists()  # a replaced run leaves no epoch weights of the old one

def test_validation_corruptions_are_fixed_from_epoch_to_epoch(tmp_path):
    trainer = Trainer(_cfg(tmp_path), _data(), tmp_path / "run")
    first = trainer._validate(warmup=False)
    second = trainer._validate(warmup=False)
    assert first[0] == second[0]
    *arrays, labels = first[2]
    for a, b in zip(arrays, second[2][:3]):
        assert (a == b).all()
    # each triplet row names its pattern class and the corruptions applied to it
    assert labels == second[2][3] and len(labels) == len(arrays[0])
    schedule = trainer.objective.schedule
    assert all(label.startswith("class ") and "elastic" in label for label in labels), labels
    assert {label.split("\n")[0] for label in labels} == {f"class {c}" for c in range(len(labels))}
    names = {s.corruption.replace("_", " ") for s in schedule.steps[1].steps}
    assert all(any(n in label for n in names) for label in labels), labels


def test_restoration_loss_falls_on_the_toy_set(tmp_path):
    cfg = _cfg(tmp_path, method="self-restoration", epochs=4, lr=3e-3, warmup_epochs=0)
    _train(cfg)
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert rows[-1]["loss_rec"] < rows[0]["loss_rec"]
    assert all(r["loss_cls"] is None for r in rows)


def test_an_existing_run_is_refused_unless_resume_or_overwrite(tmp_path):
    _train(_cfg(tmp_path, epochs=1))
    with pytest.raises(FolderClaimError, match="--resume"):
        _train(_cfg(tmp_path, epochs=1))
    summary = _train(_cfg(tmp_path, epochs=1, overwrite=True))
    assert summary.epochs == 1


def test_resume_with_another_method_model_or_seed_is_refused(tmp_path):
    _train(_cfg(tmp_path, epochs=1))
    with pytest.raises(FolderClaimError, match="method: 'semantic-genesis' -> 'self-restoration'"):
        _train(_cfg(tmp_path, epochs=2, resume=True, method="self-restoration"))
    with pytest.raises(FolderClaimError, match="width: 4 -> 8"):
        _train(_cfg(tmp_path, epochs=2, resume=True, width=8))
    with pytest.raises(FolderClaimError, match="seed: 0 -> 5"):
        _train(_cfg(tmp_path, epochs=2, resume=True, seed=5))
    assert _train(_cfg(tmp_path, epochs=2, resume=True)).epochs == 2  # more epochs: the same run, extended


def test_a_run_folder_of_an_earlier_release_resumes(tmp_path):
    """config.yaml and stage.json written under a former option name (validation_fraction)."""
    _train(_cfg(tmp_path, epochs=1))
    run = tmp_path / "run"
    for name in ("config.yaml", "stage.json"):
        (run / name).write_text((run / name).read_text().replace("val_fraction", "validation_fraction"))
    cfg = resolve_config(build_config(PretrainConfig, run / "config.yaml", resume=True, epochs=2), cuda=False)
    assert _train(cfg).epochs == 2
    assert "validation_fraction" not in (run / "stage.json").read_text()


def test_resume_without_a_state_is_refused(tmp_path):
    with pytest.raises(ResumeError, match="no training state"):
        _train(_cfg(tmp_path, resume=True))


def test_classification_needs_two_classes(tmp_path):
    with pytest.raises(ValueError, match="at least 2"):
        Trainer(_cfg(tmp_path), _data(classes=1), tmp_path / "run")


def test_a_nan_loss_stops_the_run_naming_step_batch_and_checkpoint(tmp_path):
    cfg = _cfg(tmp_path, epochs=2, warmup_epochs=0, batch_size=12)

    def poison(epoch, step):
        if step == 3:  # first step of the second epoch: the next forward pass gives NaN
            with torch.no_grad():
                next(trainer.model.parameters()).fill_(float("nan"))

    with pytest.raises(TrainingDiverged) as err, claim_run(cfg) as state:
        trainer = Trainer(cfg, _data(), cfg.out, state=state, on_step=poison)
        trainer.run()
    message = str(err.value)
    assert "epoch 2, step 4" in message and "batch 1 of the epoch" in message
    assert f"Last good checkpoint: {tmp_path / 'run' / 'last.pt'} (end of epoch 1" in message


def _weights(path):
    from semgen.training.checkpoint import load_state

    return load_state(path)["model"]


@pytest.mark.slow
def test_killed_mid_epoch_then_resumed_ends_with_the_same_weights(tmp_path):
    torch.use_deterministic_algorithms(True)
    try:
        full = _cfg(tmp_path / "a", epochs=3, deterministic=True)
        _train(full)

        class Killed(Exception):
            pass

        def kill(epoch, step):
            if epoch == 1 and step == 6:  # second epoch (4 steps each), mid-way
                raise Killed

        part = _cfg(tmp_path / "b", epochs=3, deterministic=True)
        with pytest.raises(Killed):
            _train(part, on_step=kill)
        assert [r["epoch"] for r in read_metrics(tmp_path / "b" / "run" / "metrics.csv")] == [1]
        _train(dataclasses.replace(part, resume=True))
    finally:
        torch.use_deterministic_algorithms(False)
    a, b = _weights(tmp_path / "a" / "run" / "last.pt"), _weights(tmp_path / "b" / "run" / "last.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    last_a = read_metrics(tmp_path / "a" / "run" / "metrics.csv")[-1]
    last_b = read_metrics(tmp_path / "b" / "run" / "metrics.csv")[-1]
    assert last_a["val_loss"] == last_b["val_loss"] and last_a["loss"] == last_b["loss"]
