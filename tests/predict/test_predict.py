"""``semgen predict``: fine-tuning saves its chosen trial; predictions land on each input's own
grid (flipped and oblique directions included), label values and class names come back,
test-time flips are flip-equivariant, bad files are reported and skipped."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
import yaml
from sklearn.metrics import roc_auc_score

from semgen.cli import main
from semgen.finetune import FinetuneConfig, finetune
from semgen.io import read_scan, write_scan
from semgen.predict import PredictError, load_model, probabilities
from semgen.utils.seeding import numpy_rng


@pytest.fixture(scope="module")
def spheres(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """images/ + labels/ volumes 24x16x8 at 1x1x2 mm, a bright ball labelled 2 (not 1)."""
    root = tmp_path_factory.mktemp("spheres")
    rng = numpy_rng(0, "predict-spheres")
    x, y, z = np.mgrid[:24, :16, :8]
    for i in range(12):
        c = rng.uniform([7, 5, 3], [17, 11, 5])
        label = 2 * ((x - c[0]) ** 2 + (y - c[1]) ** 2 + ((z - c[2]) * 2) ** 2 <= 16).astype(np.uint8)
        image = rng.normal(100, 10, label.shape) + 100 * (label > 0)
        write_scan(root / "images" / f"case{i:02d}.nii.gz", image.astype(np.float32), (1.0, 1.0, 2.0))
        write_scan(root / "labels" / f"case{i:02d}.nii.gz", label, (1.0, 1.0, 2.0))
    return root


@pytest.fixture(scope="module")
def seg_results(spheres: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("seg") / "results"
    finetune(FinetuneConfig(data=str(spheres), out=str(out), trials=2, epochs=6, patience=6, width=4,
                            patch=(16, 16, 8), spacing=(1.0, 1.0, 1.0), modality="MR", batch_size=4,
                            patches_per_volume=4, device="cpu", dataset_name=("spheres",)))
    return out


def _reoriented(src: Path, dst: Path) -> None:
    """The same physical image stored with permuted, flipped and slightly oblique axes."""
    image = sitk.ReadImage(str(src))
    image = sitk.Flip(sitk.PermuteAxes(image, [2, 0, 1]), [True, False, True])
    direction = np.array(image.GetDirection()).reshape(3, 3)
    t = np.deg2rad(7.0)
    rot = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
    center = image.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in image.GetSize()])
    image.SetDirection((rot @ direction).ravel().tolist())
    moved = image.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in image.GetSize()])
    image.SetOrigin((np.array(image.GetOrigin()) + np.array(center) - np.array(moved)).tolist())
    sitk.WriteImage(image, str(dst))


def test_finetune_saves_the_best_trial_as_a_self_describing_checkpoint(seg_results: Path) -> None:
    summary = json.loads((seg_results / "summary.json").read_text())
    meta = json.loads((seg_results / "model.json").read_text())
    trials = [json.loads((seg_results / "trials" / f"trial_{i}.json").read_text()) for i in range(2)]
    scores = [t["curves"]["val_iou_mean"][t["best_epoch"] - 1] for t in trials]
    assert summary["model"]["trial"] == meta["extra"]["trial"] == int(np.argmax(scores))
    assert meta["extra"]["task"] == "segmentation" and meta["extra"]["label_values"] == [0, 2]
    assert meta["patch_size"] == [16, 16, 8] and meta["spacing"] == [1.0, 1.0, 1.0]
    assert meta["extra"]["modality"] == "MR" and meta["architecture"]["args"]["out_channels"] == 2
    card = (seg_results / "README.md").read_text()
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["pipeline_tag"] == "image-segmentation" and front["datasets"] == ["spheres"]
    assert f"**trial**: {summary['model']['trial']} (best validation iou_mean)" in card
    assert "**labels**: 2 class2" in card and "semgen predict model.safetensors SCANS" in card


def test_predict_writes_label_maps_on_each_inputs_own_grid(spheres: Path, seg_results: Path, tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    inputs = tmp_path / "scans"
    inputs.mkdir()
    for i in (10, 11):
        (inputs / f"case{i:02d}.nii.gz").write_bytes((spheres / "images" / f"case{i:02d}.nii.gz").read_bytes())
    _reoriented(spheres / "images" / "case10.nii.gz", inputs / "turned.nii.gz")
    (inputs / "broken.nii.gz").write_bytes(b"not a scan")
    out = tmp_path / "pred"
    with caplog.at_level(logging.INFO, logger="semgen.predict"):
        assert main(["predict", str(seg_results), str(inputs), "--out", str(out), "--device", "cpu"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["counts"] == {"ok": 3, "skipped": 0, "failed": 1}
    assert any(r.getMessage().startswith("predict 4/4: ") for r in caplog.records)  # the plain line, also in a pipe
    assert report["failed"][0]["path"].endswith("broken.nii.gz")
    for name in ("case10", "case11", "turned"):
        src, pred = sitk.ReadImage(str(inputs / f"{name}.nii.gz")), sitk.ReadImage(str(out / f"{name}.nii.gz"))
        assert pred.GetSize() == src.GetSize()
        assert np.allclose(pred.GetSpacing(), src.GetSpacing()) and np.allclose(pred.GetOrigin(), src.GetOrigin())
        assert np.allclose(pred.GetDirection(), src.GetDirection())
        assert set(np.unique(sitk.GetArrayFromImage(pred))) <= {0, 2}
    # the turned file holds the same physical image: read canonically, both predictions are the same voxels
    same = read_scan(out / "case10.nii.gz", modality="OT").array
    turned = read_scan(out / "turned.nii.gz", modality="OT").array
    assert same.shape == turned.shape and np.array_equal(same, turned)
    truth = read_scan(spheres / "labels" / "case10.nii.gz", modality="OT").array
    dice = 2 * ((same > 0) & (truth > 0)).sum() / ((same > 0).sum() + (truth > 0).sum())
    assert dice > 0.5, dice


def test_flip_tta_is_flip_equivariant(seg_results: Path) -> None:
    model = load_model(seg_results, torch.device("cpu"))
    image = numpy_rng(1, "tta").random((16, 16, 8)).astype(np.float32)  # one window: positions are symmetric
    mirrored = np.ascontiguousarray(image[::-1, :, ::-1])
    with_tta = probabilities(model, image, tta=True)
    assert np.allclose(probabilities(model, mirrored, tta=True)[:, ::-1, :, ::-1], with_tta, atol=1e-5)
    plain = probabilities(model, image)
    assert not np.allclose(probabilities(model, mirrored)[:, ::-1, :, ::-1], plain, atol=1e-5)
    assert np.allclose(with_tta.sum(0), 1, atol=1e-5)


def test_predict_refuses_a_checkpoint_without_a_task(tmp_path: Path) -> None:
    from semgen.models import UNet, save_checkpoint

    save_checkpoint(tmp_path / "model.safetensors", UNet(spatial_dims=2, width=4))
    with pytest.raises(PredictError, match="not a fine-tuned checkpoint"):
        load_model(tmp_path, torch.device("cpu"))


def test_classification_writes_probabilities_and_none_readable_exits_2(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    rng = numpy_rng(0, "predict-blobs")
    yy, xx = np.mgrid[:32, :32]
    for cls in ("blob", "empty"):
        (root / cls).mkdir(parents=True)
        for i in range(16):
            img = rng.normal(60, 20, (32, 32))
            if cls == "blob":
                cy, cx = rng.integers(8, 24, 2)
                img[(yy - cy) ** 2 + (xx - cx) ** 2 <= 25] += 150
            sitk.WriteImage(sitk.GetImageFromArray(np.clip(img, 0, 255).astype(np.uint8)), str(root / cls / f"{cls}{i:02d}.png"))
    results = tmp_path / "results"
    assert main(["finetune", str(root), "--out", str(results), "--trials", "2", "--trial", "1", "--epochs", "6",
                 "--width", "4", "--patch", "32x32", "--modality", "XR", "--device", "cpu"]) == 0
    assert json.loads((results / "model.json").read_text())["extra"]["trial"] == 1
    out = tmp_path / "pred"
    assert main(["predict", str(results / "model.safetensors"), str(root), "--out", str(out), "--tta"]) == 0
    with open(out / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 32 and set(rows[0]) == {"id", "source", "p_blob", "p_empty", "predicted"}
    assert all(abs(float(r["p_blob"]) + float(r["p_empty"]) - 1) < 1e-5 for r in rows)
    assert all(r["predicted"] == ("blob" if float(r["p_blob"]) >= 0.5 else "empty") for r in rows)
    truth = [Path(r["source"]).parent.name == "blob" for r in rows]
    assert roc_auc_score(truth, [float(r["p_blob"]) for r in rows]) > 0.9  # the probabilities rank the classes
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"no")
    assert main(["predict", str(results), str(tmp_path / "bad"), "--out", str(tmp_path / "none")]) == 2


def test_predict_is_a_stage_continued_refused_or_overwritten(spheres: Path, seg_results: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pred"
    scan = str(spheres / "images" / "case10.nii.gz")
    assert main(["predict", str(seg_results), scan, "--out", str(out)]) == 0
    claim = json.loads((out / "stage.json").read_text())
    assert claim["stage"] == "predict" and claim["identity"]["model_sha256"] == json.loads((seg_results / "model.json").read_text())["sha256"]
    assert (out / "config.yaml").is_file() and not (out / ".semgen.lock").exists()
    written = (out / "case10.nii.gz").stat().st_mtime_ns
    assert main(["predict", str(seg_results), scan, "--out", str(out)]) == 0  # the same command continues
    assert (out / "case10.nii.gz").stat().st_mtime_ns == written  # the label map is kept, not redone
    assert json.loads((out / "report.json").read_text())["counts"]["ok"] == 1
    capsys.readouterr()
    assert main(["predict", str(seg_results), scan, "--out", str(out), "--tta"]) == 2  # other options: refused
    assert "other options (tta: False -> True); use --overwrite" in capsys.readouterr().err
    assert main(["predict", str(seg_results), scan, "--out", str(out), "--tta", "--overwrite"]) == 0
    assert json.loads((out / "report.json").read_text())["tta"] is True
    for bad, flag in ((["--overlap", "1.5"], "--overlap"), (["--batch-size", "0"], "--batch-size")):
        assert main(["predict", str(seg_results), scan, "--out", str(tmp_path / "bad"), *bad]) == 2
        assert flag in capsys.readouterr().err and not (tmp_path / "bad").exists()
