"""DICOM: series grouping in messy folders, slice sorting, and the checks on bad series."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from semgen.io import ScanError, find_dicom_series, find_sources, read_dicom_series, read_scan

STUDY = "dicom-brain-mr-study"


def test_series_round_trip_sorted_by_position(tmp_path: Path, volume: np.ndarray, write_dicom) -> None:
    write_dicom(tmp_path / "ct", volume)
    scan = read_scan(tmp_path / "ct")
    np.testing.assert_array_equal(scan.array, volume)
    np.testing.assert_allclose(scan.spacing, (0.8, 0.9, 2.5), rtol=1e-6)
    assert scan.origin == pytest.approx((-5.0, -7.0, 10.0))
    assert scan.modality == "CT" and scan.meta["modality_source"] == "dicom tag (CT)"
    assert scan.meta["patient"] == "P1" and scan.meta["files"] == volume.shape[2]


def test_messy_folder_is_grouped_by_series_uid(tmp_path: Path, volume: np.ndarray, write_dicom) -> None:
    messy = tmp_path / "messy"
    write_dicom(messy, volume, uid="1.2.3.1", patient="A", description="ct", prefix="a")
    write_dicom(messy, volume[:, :, :4] + 2000, uid="1.2.3.2", modality="MR", patient="B", description="t1", prefix="b")
    (messy / "readme.txt").write_text("not an image")
    (messy / "broken.dcm").write_bytes(b"\0" * 200)
    series, problems = find_dicom_series(messy)
    assert {s.uid: len(s.files) for s in series} == {"1.2.3.1": 5, "1.2.3.2": 4}
    assert problems == []
    sources, skipped, failed = find_sources([messy])
    assert sorted(s.name for s in sources) == ["A_ct_3", "B_t1_3"]
    assert [Path(e["path"]).name for e in skipped] == ["readme.txt"]
    assert [(Path(e["path"]).name, e["reason"]) for e in failed] == [("broken.dcm", "not a readable DICOM file")]
    mr = next(s for s in sources if s.series_uid == "1.2.3.2")
    np.testing.assert_array_equal(read_dicom_series(mr.files).array, volume[:, :, :4] + 2000)
    only_ct, skipped_ct, _ = find_sources([messy], modality="CT")
    assert [s.series_uid for s in only_ct] == ["1.2.3.1"]
    assert any("modality MR, not the requested CT" in e["reason"] for e in skipped_ct)


def test_missing_slice_gives_inconsistent_spacing(tmp_path: Path, volume: np.ndarray, write_dicom) -> None:
    write_dicom(tmp_path / "gap", volume, positions=[0.0, 2.5, 5.0, 10.0, 12.5])
    with pytest.raises(ScanError, match="inconsistent slice spacing"):
        read_scan(tmp_path / "gap")


def test_repeated_positions_are_a_4d_series(tmp_path: Path, volume: np.ndarray, write_dicom) -> None:
    write_dicom(tmp_path / "4d", volume, positions=[0.0, 2.5, 0.0, 2.5, 5.0])
    with pytest.raises(ScanError, match="5 files at 3 slice positions"):
        read_scan(tmp_path / "4d")


def test_single_slice_ct_is_not_a_volume_but_a_radiograph_is_2d(
    tmp_path: Path, volume: np.ndarray, write_dicom
) -> None:
    files = write_dicom(tmp_path / "one", volume[:, :, :1])
    with pytest.raises(ScanError, match="single-slice CT"):
        read_dicom_series([str(f) for f in files])
    files = write_dicom(tmp_path / "xr", volume[:, :, :1], modality="DX")
    radiograph = read_scan(files[0])
    assert radiograph.ndim == 2 and radiograph.modality == "XR"
    np.testing.assert_array_equal(radiograph.array, volume[:, :, 0])


def test_folder_with_several_series_is_refused_by_read_scan(tmp_path: Path, volume: np.ndarray, write_dicom) -> None:
    write_dicom(tmp_path / "two", volume, uid="1.2.3.1", prefix="a")
    write_dicom(tmp_path / "two", volume, uid="1.2.3.2", prefix="b")
    with pytest.raises(ScanError, match="2 DICOM series"):
        read_scan(tmp_path / "two")


@pytest.mark.shared_data
def test_real_study_has_five_series_in_slice_order(shared_data: Path) -> None:
    sources, skipped, failed = find_sources([shared_data / STUDY])
    assert not failed and not skipped
    counts = {s.name: len(s.files) for s in sources}
    assert counts == {
        "11-T1post-18670": 22,
        "11_HCropVolume": 40,
        "26401-T1prereg-52906": 22,
        "36468-FLAIRreg-58706": 22,
        "37830-T2reg-78532": 22,
    }
    for source in sources:
        scan = read_dicom_series(source.files, source.path)
        assert scan.modality == "MR" and scan.shape[2] == len(source.files)
        # reference: GDCM's own ordering of the folder, brought to LPS by SimpleITK
        reference = sitk.DICOMOrient(sitk.ReadImage(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(source.path)), "LPS")
        np.testing.assert_array_equal(scan.array, sitk.GetArrayFromImage(reference).T)
        z = np.array([reference.TransformIndexToPhysicalPoint((0, 0, k))[2] for k in range(scan.shape[2])])
        assert np.all(np.diff(z) > 0)  # slices run inferior -> superior


@pytest.mark.shared_data
def test_real_messy_folder_from_two_series(shared_data: Path, tmp_path: Path) -> None:
    messy = tmp_path / "messy"
    messy.mkdir()
    for series in ("37830-T2reg-78532", "11_HCropVolume"):
        for f in sorted((shared_data / STUDY / series).iterdir()):
            shutil.copy(f, messy / f"{series[:5]}_{f.name}")
    (messy / "notes.csv").write_text("a,b\n")
    sources, skipped, failed = find_sources([messy])
    assert sorted(len(s.files) for s in sources) == [22, 40]
    assert sorted(s.name for s in sources) == ["PGBM-003_HippoCrop", "PGBM-003_T2_reg_37870"]
    assert [Path(e["path"]).name for e in skipped] == ["notes.csv"] and not failed
    crop = next(s for s in sources if len(s.files) == 40)
    original = read_scan(shared_data / STUDY / "11_HCropVolume")
    np.testing.assert_array_equal(read_dicom_series(crop.files).array, original.array)
