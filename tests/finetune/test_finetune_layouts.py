"""nnU-Net v2 raw and Medical Segmentation Decathlon folders read as they are: pairing by case
with channel suffixes, labels and modality from dataset.json, unpaired cases reported; fine-tuning
and prediction run on them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from semgen.cli import main
from semgen.finetune.data import discover_task
from semgen.finetune.layouts import modality_of
from semgen.io import write_scan
from semgen.utils.seeding import numpy_rng


def _case(image: Path, label: Path | None, i: int) -> None:
    rng = numpy_rng(i, "layouts")
    x, y, z = np.mgrid[:16, :16, :8]
    c = rng.uniform([5, 5, 3], [11, 11, 5])
    mask = ((x - c[0]) ** 2 + (y - c[1]) ** 2 + ((z - c[2]) * 2) ** 2 <= 12).astype(np.uint8)
    write_scan(image, (rng.normal(100, 10, mask.shape) + 120 * mask).astype(np.float32), (1.0, 1.0, 2.0))
    if label is not None:
        write_scan(label, 3 * mask, (1.0, 1.0, 2.0))


def nnunet_raw(root: Path, n: int = 10, channels: int = 1) -> Path:
    for i in range(n):
        _case(root / "imagesTr" / f"ball_{i:03d}_0000.nii.gz", root / "labelsTr" / f"ball_{i:03d}.nii.gz", i)
        for ch in range(1, channels):
            _case(root / "imagesTr" / f"ball_{i:03d}_{ch:04d}.nii.gz", None, i)
    _case(root / "imagesTr" / "lonely_0000.nii.gz", None, 99)
    _case(root / "imagesTs" / "new_000_0000.nii.gz", None, 100)
    (root / "dataset.json").write_text(json.dumps({
        "channel_names": {str(c): "T2" if c == 0 else "ADC" for c in range(channels)},
        "labels": {"background": 0, "ball": 3}, "numTraining": n, "file_ending": ".nii.gz"}))
    return root


def test_nnunet_raw_layout(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = nnunet_raw(tmp_path / "Dataset001_Balls", channels=2)
    with caplog.at_level(logging.WARNING):
        data = discover_task(root)
    assert data.task == "segmentation" and data.modality == "MR" and data.label_names == {3: "ball"}
    assert [s.id for s in data.samples] == [f"ball_{i:03d}" for i in range(10)]
    assert all(s.image.name.endswith("_0000.nii.gz") and s.target.name == f"{s.id}.nii.gz" for s in data.samples)
    assert [Path(s["path"]).name for s in data.skipped] == ["lonely_0000.nii.gz"]
    assert "channel 0000 is used" in caplog.text


def test_nnunet_raw_without_dataset_json_pairs_by_case(tmp_path: Path) -> None:
    root = nnunet_raw(tmp_path / "raw", n=3)
    (root / "dataset.json").unlink()
    data = discover_task(root)
    assert [s.id for s in data.samples] == ["ball_000", "ball_001", "ball_002"] and data.label_names == {}


def test_decathlon_dataset_json(tmp_path: Path) -> None:
    root = tmp_path / "Task99_Balls"
    for i in range(3):
        _case(root / "imagesTr" / f"ball_{i}.nii.gz", root / "labelsTr" / f"ball_{i}.nii.gz", i)
    training = [{"image": f"./imagesTr/ball_{i}.nii.gz", "label": f"./labelsTr/ball_{i}.nii.gz"} for i in range(4)]
    (root / "dataset.json").write_text(json.dumps({
        "name": "Balls", "modality": {"0": "CT"}, "labels": {"0": "background", "3": "ball"},
        "numTraining": 4, "training": training, "test": ["./imagesTs/ball_9.nii.gz"]}))
    data = discover_task(root)
    assert data.modality == "CT" and data.label_names == {3: "ball"}
    assert [s.id for s in data.samples] == ["ball_0", "ball_1", "ball_2"]
    assert "training[3]" in data.skipped[0]["reason"]
    (root / "dataset.json").write_text("{not json")
    with pytest.raises(ValueError, match="dataset.json"):
        discover_task(root)


def test_modality_names() -> None:
    assert [modality_of(n) for n in ("CT", "MRI", "T1", "flair", "noNorm")] == ["CT", "MR", "MR", "MR", None]


@pytest.mark.slow
def test_finetune_and_predict_on_an_nnunet_folder(tmp_path: Path) -> None:
    root = nnunet_raw(tmp_path / "Dataset001_Balls")
    results = tmp_path / "results"
    assert main(["finetune", str(root), "--out", str(results), "--trials", "1", "--epochs", "2", "--width", "4",
                 "--patch", "16x16x8", "--device", "cpu"]) == 0
    meta = json.loads((results / "model.json").read_text())
    assert meta["extra"]["label_values"] == [0, 3] and meta["extra"]["modality"] == "MR"
    out = tmp_path / "pred"
    assert main(["predict", str(results), str(root / "imagesTs"), "--out", str(out)]) == 0
    pred = sitk.ReadImage(str(out / "new_000.nii.gz"))  # nnU-Net names: the case, without the channel suffix
    assert pred.GetSize() == sitk.ReadImage(str(root / "imagesTs" / "new_000_0000.nii.gz")).GetSize()
