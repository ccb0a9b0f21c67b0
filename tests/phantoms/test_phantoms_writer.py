from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import yaml

from semgen.cli import main
from semgen.phantoms import PRESETS, make_phantom, patient_plan, write_cohort


def _read(path: Path) -> tuple[np.ndarray, sitk.Image]:
    image = sitk.ReadImage(str(path))
    return sitk.GetArrayFromImage(image).transpose(2, 1, 0), image


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("phantoms")
    manifest = write_cohort(out, 3, seed=11, preset="tiny", workers=1)
    assert manifest == out / "manifest.csv"
    return out


def test_nifti_geometry_types_and_round_trip(written: Path) -> None:
    rows = _rows(written / "manifest.csv")
    assert [r["id"] for r in rows] == ["phantom_000", "phantom_001", "phantom_002"]
    preset = PRESETS["tiny"]
    for row in rows:
        ph = make_phantom(int(row["seed"]), "tiny", int(row["patient_type"]))
        image, itk = _read(written / row["image"])
        assert itk.GetPixelID() == sitk.sitkInt16
        assert itk.GetSize() == preset.shape
        assert np.allclose(itk.GetSpacing(), preset.spacing)
        assert np.allclose(itk.GetDirection(), np.eye(3).ravel())  # LPS identity
        assert np.allclose(itk.GetOrigin(), ph.origin)
        assert np.array_equal(image, np.rint(ph.image).astype(np.int16))
        labels, itk_labels = _read(written / row["labels"])
        assert itk_labels.GetPixelID() == sitk.sitkUInt8
        assert np.array_equal(labels, ph.labels)
        nodules, _ = _read(written / row["nodules"])
        assert np.array_equal(nodules, ph.nodule_mask)
        assert row["shape"] == "64x64x32" and row["spacing"] == "5.8x5.8x10" and row["orientation"] == "LPS"
        assert int(row["n_nodules"]) == len(ph.nodules) and int(row["n_lookalikes"]) == len(ph.lookalikes)


def test_candidates_match_nodule_masks(written: Path) -> None:
    candidates = _rows(written / "candidates.csv")
    assert {c["label"] for c in candidates} == {"0", "1"}
    masks = {r["id"]: _read(written / r["nodules"])[0] for r in _rows(written / "manifest.csv")}
    for c in candidates:
        voxel = (int(c["x"]), int(c["y"]), int(c["z"]))
        assert masks[c["id"]][voxel] == int(c["label"])
        # the mm columns are the voxel centre in LPS scanner coordinates
        mm = np.array([float(c["x_mm"]), float(c["y_mm"]), float(c["z_mm"])])
        origin = -(np.array(PRESETS["tiny"].shape) - 1) / 2 * np.array(PRESETS["tiny"].spacing)
        assert np.allclose(mm, origin + np.array(voxel) * np.array(PRESETS["tiny"].spacing), atol=0.01)


def test_montage_and_config_written(written: Path) -> None:
    assert (written / "montage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    cfg = yaml.safe_load((written / "config.yaml").read_text())
    assert cfg["n"] == 3 and cfg["seed"] == 11 and cfg["preset"] == "tiny"
    assert not list(written.rglob(".*.tmp")) and not list(written.rglob(".*.nii.gz"))  # no temporaries


def test_patient_plan_is_balanced_and_seeded() -> None:
    plan = patient_plan(8, seed=5)
    assert sorted(t for _, _, t in plan) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert plan == patient_plan(8, seed=5)
    assert plan != patient_plan(8, seed=6)
    assert len({s for _, s, _ in plan}) == 8


@pytest.mark.slow
def test_output_does_not_depend_on_workers(tmp_path: Path, written: Path) -> None:
    write_cohort(tmp_path, 3, seed=11, preset="tiny", workers=2)
    assert _rows(tmp_path / "manifest.csv") == _rows(written / "manifest.csv")
    assert _rows(tmp_path / "candidates.csv") == _rows(written / "candidates.csv")
    for name in ("images/phantom_001.nii.gz", "labels/phantom_002.nii.gz"):
        assert np.array_equal(_read(tmp_path / name)[0], _read(written / name)[0])


def test_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cohort"
    code = main(["phantoms", str(out), "--n", "2", "--seed", "3", "--preset", "tiny", "--workers", "1"])
    assert code == 0
    summary = capsys.readouterr().out
    assert "Wrote 2 synthetic chest CTs" in summary and str(out) in summary
    assert len(_rows(out / "manifest.csv")) == 2
    assert len(list((out / "images").glob("*.nii.gz"))) == 2
    assert yaml.safe_load((out / "config.yaml").read_text())["seed"] == 3


def test_cli_config_file_and_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "phantoms.yaml"
    config.write_text("n: 1\npreset: tiny\nworkers: 1\nseed: 4\n")
    out = tmp_path / "from_yaml"
    assert main(["phantoms", str(out), "--config", str(config), "--seed", "9"]) == 0
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["n"] == 1 and saved["seed"] == 9  # the flag overrides the file
    config.write_text("n: 0\n")
    assert main(["phantoms", str(tmp_path / "bad"), "--config", str(config)]) == 2
    assert "--n must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
