"""Tiny end-to-end fine-tuning in 2D (classification) and 3D (segmentation) on synthetic data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from semgen.cli import main
from semgen.finetune import FinetuneConfig, FinetuneSummary, finetune
from semgen.utils.seeding import numpy_rng


@pytest.fixture(scope="module")
def blobs_2d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Class folders of 32x32 PNGs: 'blob' (a bright disk) vs 'empty' (noise); one broken file."""
    root = tmp_path_factory.mktemp("blobs")
    rng = numpy_rng(0, "blobs")
    yy, xx = np.mgrid[:32, :32]
    for cls in ("blob", "empty"):
        (root / cls).mkdir()
        for i in range(24):
            img = rng.normal(60, 20, (32, 32))
            if cls == "blob":
                cy, cx = rng.integers(8, 24, 2)
                img[(yy - cy) ** 2 + (xx - cx) ** 2 <= 25] += 150
            sitk.WriteImage(sitk.GetImageFromArray(np.clip(img, 0, 255).astype(np.uint8)), str(root / cls / f"{cls}{i:02d}.png"))
    (root / "empty" / "broken.png").write_bytes(b"not a png")
    return root


@pytest.fixture(scope="module")
def spheres_3d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """images/ + labels/ NIfTI volumes 24x16x8 with a bright sphere labelled 1; one unpaired image."""
    from semgen.io import write_scan

    root = tmp_path_factory.mktemp("spheres")
    rng = numpy_rng(0, "spheres")
    x, y, z = np.mgrid[:24, :16, :8]
    for i in range(14):
        c = rng.uniform([6, 5, 3], [18, 11, 5])
        r = rng.uniform(3, 4.5)
        label = ((x - c[0]) ** 2 + (y - c[1]) ** 2 + ((z - c[2]) * 2) ** 2 <= r**2).astype(np.uint8)
        image = rng.normal(100, 15, label.shape) + 120 * label
        write_scan(root / "images" / f"case{i:02d}.nii.gz", image.astype(np.float32), (1.0, 1.0, 2.0))
        write_scan(root / "labels" / f"case{i:02d}.nii.gz", label, (1.0, 1.0, 2.0))
    write_scan(root / "images" / "unpaired.nii.gz", np.zeros((24, 16, 8), np.float32), (1.0, 1.0, 2.0))
    return root


@pytest.mark.slow
def test_2d_classification_end_to_end_via_cli(blobs_2d: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "scratch"
    args = ["finetune", str(blobs_2d), "--out", str(out), "--trials", "2", "--epochs", "8", "--patience", "4",
            "--width", "4", "--patch", "32x32", "--batch-size", "8", "--modality", "XR", "--device", "cpu"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Fine-tuned scratch" in printed and "{" not in printed  # counts as words, no Python reprs
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "classification" and summary["init_name"] == "scratch"
    assert summary["metric_names"] == ["auc", "accuracy"]
    assert len(summary["trials"]) == 2 and summary["trials"][0]["seed"] != summary["trials"][1]["seed"]
    assert summary["mean"]["auc"] > 0.75  # chance is 0.5
    assert any(s["path"].endswith("broken.png") for s in summary["skipped"])
    assert FinetuneSummary.from_json(summary).to_json() == summary  # the file is the typed summary, read back whole
    trial = json.loads((out / "trials" / "trial_0.json").read_text())
    assert len(trial["curves"]["val_loss"]) == trial["epochs_run"] >= trial["best_epoch"] >= 1
    split = json.loads((out / "split.json").read_text())
    # each image is its own patient here; no patient in two splits, every split non-empty
    assert all(split["samples"][s] for s in ("train", "validation", "test"))
    pred = trial["test_predictions"]  # what DeLong's test needs: every test case's probability and label
    assert pred["ids"] == split["samples"]["test"] and len(pred["scores"]) == len(pred["targets"]) == len(pred["ids"])
    assert all(0 <= p <= 1 for p in pred["scores"]) and set(pred["targets"]) <= {0, 1}
    assert (out / "config.yaml").is_file()
    # same seeds -> same results (determinism of split, init and batches)
    again = finetune(FinetuneConfig(data=str(blobs_2d), out=str(tmp_path / "again"), trials=1, epochs=2, width=4,
                                    patch=(32, 32), modality="XR", device="cpu"))
    first = finetune(FinetuneConfig(data=str(blobs_2d), out=str(tmp_path / "first"), trials=1, epochs=2, width=4,
                                    patch=(32, 32), modality="XR", device="cpu"))
    assert again.summary.trials == first.summary.trials
    assert main(["compare", str(out), str(tmp_path / "again"), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.md").is_file() and (tmp_path / "report" / "bars.png").is_file()


@pytest.mark.slow
def test_3d_segmentation_end_to_end_from_a_checkpoint(spheres_3d: Path, tmp_path: Path) -> None:
    from semgen.models import UNet, save_checkpoint

    ckpt = tmp_path / "run" / "model.safetensors"
    save_checkpoint(ckpt, UNet(spatial_dims=3, width=4), {"patch_size": [16, 16, 8], "method": "toy-genesis",
                                                          "intensity_window": {"kind": "mr", "percentiles": [0.5, 99.5]}})
    cfg = FinetuneConfig(data=str(spheres_3d), out=str(tmp_path / "res"), init=str(ckpt.parent), trials=1, epochs=12,
                         patience=6, batch_size=4, patches_per_volume=4, device="cpu", label_fraction=0.8)
    summary = finetune(cfg).summary.to_json()
    assert summary["task"] == "segmentation" and summary["init_name"] == "run"
    # the task decides the inputs (default patch cut to the 24x16x8 volumes, their spacing), not the checkpoint
    assert summary["geometry"]["patch"] == [24, 16, 8] and summary["geometry"]["spacing"] == [1.0, 1.0, 2.0]
    assert summary["geometry"]["modality"] == "MR" and summary["pretraining_geometry"]["patch"] == [16, 16, 8]
    report = summary["init_report"]
    assert report["loaded"] and any(k.startswith("down_tr64") for k in report["loaded"])
    assert sorted(m for m, *_ in report["mismatched"]) == ["out_tr.final_conv.bias", "out_tr.final_conv.weight"]
    assert summary["trials"][0]["dice_mean"] > 0.5  # predicting all foreground gives ~0.2
    assert set(summary["metric_names"]) >= {"iou_mean", "dice_mean", "iou_class1", "dice_class1"}
    assert any("unpaired" in s["path"] for s in summary["skipped"])
    split = json.loads((tmp_path / "res" / "split.json").read_text())
    members = {s: set(ids) for s, ids in split["samples"].items()}
    assert not (members["train"] & members["test"]) and not (members["validation"] & members["test"])
    n_train = sum(v == "train" for v in split["patients"].values())
    assert len(split["train_patients_used"]) == int(np.ceil(0.8 * n_train))
    only = tmp_path / "split-only"
    assert main(["finetune", str(spheres_3d), "--out", str(only), "--split-only", "--label-fraction", "0.8",
                 "--patch", "16x16x8", "--modality", "MR"]) == 0
    alone = json.loads((only / "split.json").read_text())
    assert not (only / "trials").exists() and not (only / "summary.json").exists()
    assert alone["hash"] == split["hash"] and alone["patients"] == split["patients"]
    images = {s: {Path(p).name.split(".")[0] for p in paths} for s, paths in alone["images"].items()}
    assert images["train"] == {p for p, s in split["patients"].items() if s == "train"}  # all, not only the labelled subset
    assert images["test"] == members["test"] and not (images["train"] & images["test"])


def test_phantom_recipes_read_candidates_and_organs(tmp_path: Path) -> None:
    """A phantoms-style folder (manifest.csv + candidates.csv + images/labels) gives cubes
    centred on candidates (patient = phantom id) and multi-class organ segmentation."""
    from semgen.finetune.data import Geometry, discover_task, load_samples
    from semgen.io import write_scan
    from semgen.phantoms import LABELS

    rows, cands = [], []
    for i in range(2):
        pid = f"phantom_{i:03d}"
        hu = np.full((32, 32, 16), -1000, np.int16)
        hu[10:14, 20:24, 6:10] = 40  # a "nodule" block at (12, 22, 8)
        labels = np.zeros(hu.shape, np.uint8)
        labels[4:28, 4:28, 2:14] = 1
        write_scan(tmp_path / "images" / f"{pid}.nii.gz", hu, (2.0, 2.0, 4.0))
        write_scan(tmp_path / "labels" / f"{pid}.nii.gz", labels, (2.0, 2.0, 4.0))
        rows.append(f"{pid},images/{pid}.nii.gz,labels/{pid}.nii.gz")
        cands += [f"{pid},12,22,8,3.0,1", f"{pid},3,3,3,2.0,0"]
    (tmp_path / "manifest.csv").write_text("id,image,labels\n" + "\n".join(rows) + "\n")
    (tmp_path / "candidates.csv").write_text("id,x,y,z,radius_mm,label\n" + "\n".join(cands) + "\n")

    nodules = discover_task(tmp_path)
    assert nodules.recipe == "phantom-nodules" and nodules.task == "classification"
    assert [s.patient for s in nodules.samples] == ["phantom_000"] * 2 + ["phantom_001"] * 2
    loaded, skipped = load_samples(nodules.samples, nodules, Geometry(3, (8, 8, 8), modality="CT"))
    assert not skipped and [item.target for item in loaded] == [1, 0, 1, 0]
    cube = loaded[0].image
    assert cube.shape == (8, 8, 8)
    assert cube[2:6, 2:6, 2:6].min() == pytest.approx(0.52) and cube[0, 0, 0] == 0.0  # 40 HU in the -1000..1000 window
    organs = discover_task(tmp_path, task="segmentation")
    assert organs.recipe == "phantom-organs" and organs.label_names == {k: v for k, v in LABELS.items() if k}


def test_trials_resume_one_by_one_and_other_options_are_refused(blobs_2d: Path, tmp_path: Path, monkeypatch) -> None:
    from semgen.finetune import pipeline as pipeline_module
    from semgen.stage import FolderClaimError

    out = tmp_path / "res"
    cfg = FinetuneConfig(data=str(blobs_2d), out=str(out), trials=3, epochs=1, width=4, patch=(32, 32), modality="XR",
                         device="cpu")
    uninterrupted = finetune(FinetuneConfig(**{**cfg.__dict__, "out": str(tmp_path / "whole")})).summary
    real = pipeline_module.train_trial
    calls = []

    def killed_in_trial_2(*args, **kwargs):
        calls.append(kwargs["desc"])
        if calls == ["trial 1/3", "trial 2/3"]:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "train_trial", killed_in_trial_2)
    with pytest.raises(KeyboardInterrupt):
        finetune(cfg)
    assert sorted(p.name for p in (out / "trials").glob("trial_*.json")) == ["trial_0.json"]
    first = (out / "trials" / "trial_0.json").read_text()
    calls.clear()
    resumed = finetune(cfg).summary
    assert calls == ["trial 2/3", "trial 3/3"]  # the finished trial is kept, the half-finished one redone
    assert (out / "trials" / "trial_0.json").read_text() == first
    assert resumed.trials == uninterrupted.trials and resumed.model == dataclasses.replace(uninterrupted.model, path=out / "model.safetensors")
    monkeypatch.setattr(pipeline_module, "train_trial", real)
    fewer = finetune(FinetuneConfig(**{**cfg.__dict__, "trials": 2})).summary
    assert len(fewer.trials) == 2 and sorted(p.name for p in (out / "trials").glob("trial_*.json")) == ["trial_0.json", "trial_1.json"]
    with pytest.raises(FolderClaimError, match="other options.*lr: 0.001 -> 0.01"):
        finetune(FinetuneConfig(**{**cfg.__dict__, "lr": 1e-2}))
    assert main(["finetune", str(blobs_2d), "--out", str(out), "--trials", "1", "--epochs", "1", "--width", "4",
                 "--patch", "32x32", "--modality", "XR", "--device", "cpu", "--lr", "0.01", "--overwrite"]) == 0
    assert sorted(p.name for p in (out / "trials").glob("trial_*.json")) == ["trial_0.json"]


def test_options_are_checked_at_construction_naming_the_flag() -> None:
    from semgen.stage import ConfigError

    with pytest.raises(ConfigError, match="^--batch-size must be >= 1, got 0$"):
        FinetuneConfig(data="d", out="o", batch_size=0)
    with pytest.raises(ConfigError, match="--trial must be one of the trials 0..1"):
        FinetuneConfig(data="d", out="o", trials=2, trial=2)
    with pytest.raises(ConfigError, match="--patch"):
        FinetuneConfig(data="d", out="o", patch=(0, 0))
