"""``semgen prepare``: mixed good and bad inputs, resuming, options, the CLI, the real folders."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from semgen.cli import main
from semgen.cohort import Cohort, PrepareConfig, prepare
from semgen.cohort.prepare import ALREADY_PREPARED
from semgen.stage import LOCK_FILE, ConfigError, FolderClaimError, FolderInUseError


def _write(path: Path, array_xyz: np.ndarray, spacing=(0.8, 0.8, 2.0)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array_xyz.T))
    image.SetSpacing(spacing[: array_xyz.ndim])
    sitk.WriteImage(image, str(path))
    return path


def _ct(shape=(24, 20, 6)) -> np.ndarray:
    """int16 HU: air around an elliptic 40 HU body with a -850 HU lung."""
    x, y = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    hu = np.full(shape[:2], -1000, np.int16)
    hu[((x - 12) / 10) ** 2 + ((y - 10) / 8) ** 2 <= 1] = 40
    hu[((x - 9) / 3) ** 2 + ((y - 10) / 4) ** 2 <= 1] = -850
    return np.repeat(hu[:, :, None], shape[2], axis=2)


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    """A folder of good scans in several formats and one example of every kind of bad input."""
    root = tmp_path / "in"
    _write(root / "ct" / "chest.nii.gz", _ct())
    _write(root / "mr" / "head.mha", (_ct() + 1000).astype(np.uint16))
    (root / "arrays").mkdir()
    np.save(root / "arrays" / "vol.npy", _ct().T)
    _write(root / "ct" / "labels" / "chest.nii.gz", np.zeros((4, 4, 4), np.uint8))
    bad = root / "bad"
    truncated = _write(bad / "truncated.nii.gz", _ct())
    truncated.write_bytes(truncated.read_bytes()[:200])
    (bad / "junk.nii").write_bytes(b"junk" * 100)
    nan = _ct().astype(np.float32)
    nan[3, 3, 3] = np.nan
    _write(bad / "nan.mha", nan)
    _write(bad / "one_slice.nii.gz", _ct()[:, :, :1])
    four_d = sitk.JoinSeries([sitk.GetImageFromArray(_ct().T)] * 2)
    sitk.WriteImage(four_d, str(bad / "four_d.nii.gz"))
    (bad / "notes.txt").write_text("hello")
    (root / "empty").mkdir()
    return root


def _reasons(entries: list[dict]) -> dict[str, str]:
    return {Path(e["path"]).name: e["reason"] for e in entries}


def test_prepare_mixed_folder(messy: Path, tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    report = prepare(
        PrepareConfig(inputs=(str(messy),), out=str(out), workers=1, array_spacing=(0.8, 0.8, 2.0), array_axes="zyx")
    )
    assert sorted(e["id"] for e in report.ok) == ["chest", "head", "vol"]
    failed = _reasons(report.failed)
    assert set(failed) == {"truncated.nii.gz", "junk.nii", "nan.mha", "one_slice.nii.gz", "four_d.nii.gz"}
    assert failed["nan.mha"] == "1 voxels are NaN or infinite"
    assert "single-slice" in failed["one_slice.nii.gz"] and "4D image" in failed["four_d.nii.gz"]
    assert all("\n" not in r for r in failed.values())
    assert set(_reasons(report.skipped)) == {"labels", "notes.txt", "empty"}
    assert json.loads((out / "report.json").read_text())["failed"] == report.failed
    cohort = Cohort(out)
    assert cohort.ids == ["chest", "head", "vol"] and cohort.spatial_dims == 3
    assert cohort["chest"].modality == "CT" and cohort["head"].modality == "MR"
    assert cohort["chest"].window == {"kind": "ct", "low": -1000.0, "high": 1000.0}
    for scan_id in cohort.ids:
        image = np.asarray(cohort.image(scan_id), dtype=np.float32)
        assert image.shape == (24, 20, 6) and image.min() == 0.0 and image.max() <= 1.0
        assert 0.2 < cohort[scan_id].foreground < 0.8
    assert float(cohort.image("chest").max()) == pytest.approx(1040 / 2000, abs=1e-3)  # 40 HU in -1000..1000
    assert float(cohort.image("head").max()) == 1.0  # MR: percentile min-max
    np.testing.assert_array_equal(cohort.image("vol"), cohort.image("chest"))  # npy declared as zyx
    assert cohort["vol"].spacing == (0.8, 0.8, 2.0)
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".")]
    assert leftovers == [] and (out / "config.yaml").is_file()


def test_resume_skips_finished_scans_and_guards_options(messy: Path, tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    cfg = PrepareConfig(inputs=(str(messy / "ct"), str(messy / "mr")), out=str(out), workers=1)
    prepare(cfg)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "arrays").iterdir()}
    again = prepare(cfg)
    assert again.ok == [] and again.already_prepared == 2
    assert {e["reason"] for e in again.skipped if e["id"]} == {ALREADY_PREPARED}
    assert {p.name: p.stat().st_mtime_ns for p in (out / "arrays").iterdir()} == before
    (out / "arrays" / "head.npy").unlink()  # an interrupted or damaged scan is redone
    assert [e["id"] for e in prepare(cfg).ok] == ["head"]
    with pytest.raises(FolderClaimError, match=r"other options \(ct_window: \[-1000.0, 1000.0\] -> \[-200.0, 300.0\]\)"):
        prepare(PrepareConfig(inputs=cfg.inputs, out=str(out), workers=1, ct_window=(-200.0, 300.0)))
    redone = prepare(
        PrepareConfig(inputs=(str(messy / "ct"),), out=str(out), workers=1, ct_window=(-200.0, 300.0), overwrite=True)
    )
    assert [e["id"] for e in redone.ok] == ["chest"]
    assert Cohort(out).ids == ["chest"] and not (out / "arrays" / "head.npy").exists()
    assert Cohort(out)["chest"].window["low"] == -200.0


def test_resampling_and_forced_modality(messy: Path, tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    report = prepare(PrepareConfig(inputs=(str(messy / "ct"),), out=str(out), workers=1, spacing=(1.6,), modality="MR"))
    assert len(report.ok) == 1
    record = Cohort(out)["chest"]
    assert record.spacing == (1.6, 1.6, 1.6) and record.shape == (12, 10, 8)
    assert record.modality == "MR" and record.modality_source == "flag" and record.window["kind"] == "mr"


def test_a_cohort_never_mixes_2d_and_3d(messy: Path, tmp_path: Path) -> None:
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16), dtype=np.uint8)).save(messy / "ct" / "xray.png")
    report = prepare(PrepareConfig(inputs=(str(messy / "ct"), str(messy / "mr")), out=str(tmp_path / "c"), workers=1))
    assert _reasons(report.skipped)["xray.png"] == "2D scan, but the cohort is 3D (a cohort never mixes them)"
    assert Cohort(tmp_path / "c").ids == ["chest", "head"]
    assert not (tmp_path / "c" / "arrays" / "xray.npy").exists()


def test_cli_summary_and_exit_codes(messy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cohort"
    assert (
        main(["prepare", str(messy / "ct"), str(messy / "bad"), "--out", str(out), "--workers", "1", "--seed", "3"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "failed  " + str(messy / "bad" / "junk.nii") in printed
    assert "Prepared 1 scan(s)" in printed and "5 failed" in printed
    assert "seed: 3" in (out / "config.yaml").read_text()
    assert main(["prepare", str(messy / "bad"), "--out", str(tmp_path / "none"), "--workers", "1"]) == 1
    assert main(["prepare", str(messy / "ct"), str(messy / "bad"), "--out", str(out), "--workers", "1"]) == 0  # resumed
    assert "(1 already prepared, kept)" in capsys.readouterr().out
    assert main(["prepare", str(messy / "ct"), "--out", str(out), "--ct-window", "0", "100"]) == 2
    assert "other options" in capsys.readouterr().err


@pytest.mark.slow
def test_worker_pool_gives_the_same_cohort(messy: Path, tmp_path: Path) -> None:
    serial = prepare(PrepareConfig(inputs=(str(messy),), out=str(tmp_path / "one"), workers=1, array_spacing=(2.0,)))
    pooled = prepare(PrepareConfig(inputs=(str(messy),), out=str(tmp_path / "two"), workers=2, array_spacing=(2.0,)))
    assert sorted(map(str, pooled.failed)) == sorted(map(str, serial.failed))
    assert Cohort(tmp_path / "one").manifest_hash() == Cohort(tmp_path / "two").manifest_hash()


@pytest.mark.shared_data
def test_real_hippocampus_subset(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "hippocampus-mri"
    subset = tmp_path / "hippocampus-mri"
    for folder in ("images", "labels"):
        (subset / folder).mkdir(parents=True)
        for f in sorted((source / folder).glob("*.nii.gz"))[:10]:
            (subset / folder / f.name).symlink_to(f)
    report = prepare(PrepareConfig(inputs=(str(subset),), out=str(tmp_path / "c"), workers=1))
    assert len(report.ok) == 10 and report.failed == []
    assert _reasons(report.skipped) == {"labels": "folder of label maps or masks, not scans"}
    cohort = Cohort(tmp_path / "c")
    assert {r.modality for r in cohort.records} == {"MR"} and {r.spacing for r in cohort.records} == {(1.0, 1.0, 1.0)}
    assert all(r.window["kind"] == "mr" and r.foreground > 0.1 for r in cohort.records)


@pytest.mark.shared_data
def test_real_dicom_study(shared_data: Path, tmp_path: Path) -> None:
    report = prepare(
        PrepareConfig(inputs=(str(shared_data / "dicom-brain-mr-study"),), out=str(tmp_path / "c"), workers=1)
    )
    assert report.failed == [] and report.skipped == []
    cohort = Cohort(tmp_path / "c")
    shapes = {r.id: r.shape for r in cohort.records}
    assert shapes["11_HCropVolume"] == (34, 50, 40) and shapes["37830-T2reg-78532"] == (280, 320, 22)
    assert len(shapes) == 5 and {r.patient for r in cohort.records} == {"PGBM-003"}
    assert cohort["11-T1post-18670"].orientation == "LPS (oblique 10.8 deg)"


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_chest_ct(shared_data: Path, tmp_path: Path) -> None:
    report = prepare(PrepareConfig(inputs=(str(shared_data / "chest-ct"),), out=str(tmp_path / "c"), workers=1))
    assert [e["id"] for e in report.ok] == ["chest_ct"]
    assert "chest_ct_labels.nii.gz" in _reasons(report.skipped)
    record = Cohort(tmp_path / "c")["chest_ct"]
    assert record.modality == "CT" and record.shape == (512, 512, 133)
    assert record.spacing == pytest.approx((0.703125, 0.703125, 2.5))
    assert record.source_orientation == "LAS" and 0.3 < record.foreground < 0.6
    mid = np.asarray(Cohort(tmp_path / "c").image("chest_ct")[:, :, 66], dtype=np.float32)
    # canonical LPS: the spine (densest voxel on the midline) is posterior (large y), and the
    # heart makes the patient's left half (large x) denser than the right half
    assert mid[256].argmax() > 300
    assert mid[256:, 100:300].mean() > mid[:256, 100:300].mean() + 0.02


def test_gzip_truncation_is_reported_not_zero_filled(tmp_path: Path) -> None:
    path = _write(tmp_path / "in" / "cut.nii.gz", _ct())
    with gzip.open(path) as f:
        raw = f.read()
    path.write_bytes(gzip.compress(raw[:-100]))
    report = prepare(PrepareConfig(inputs=(str(tmp_path / "in"),), out=str(tmp_path / "c"), workers=1))
    assert report.ok == [] and "truncated NIfTI" in report.failed[0]["reason"]


@pytest.mark.slow
@pytest.mark.shared_data
def test_real_hippocampus_folder(shared_data: Path, tmp_path: Path) -> None:
    report = prepare(PrepareConfig(inputs=(str(shared_data / "hippocampus-mri"),), out=str(tmp_path / "c"), workers=1))
    assert report.counts["ok"] == 261 and report.failed == []
    assert _reasons(report.skipped)["labels"] == "folder of label maps or masks, not scans"
    assert len(Cohort(tmp_path / "c")) == 261


def test_two_prepares_into_one_folder_never_mix(messy: Path, tmp_path: Path) -> None:
    out = tmp_path / "cohort"
    first = PrepareConfig(inputs=(str(messy / "ct"),), out=str(out), workers=1)
    second = PrepareConfig(inputs=(str(messy / "mr"),), out=str(out), workers=1)
    # while one holds the folder, the other is refused and names it
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out.mkdir()
        owner = {"pid": sleeper.pid, "host": socket.gethostname(), "stage": "prepare"}
        (out / LOCK_FILE).write_text(json.dumps(owner))
        with pytest.raises(FolderInUseError, match=f"pid {sleeper.pid}"):
            prepare(second)
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]
    finally:
        sleeper.kill()
        sleeper.wait()
    prepare(first)  # the lock of the dead process is taken over
    with pytest.raises(FolderClaimError, match="other options.*inputs"):
        prepare(second)
    assert Cohort(out).ids == ["chest"]
    assert main(["prepare", str(messy / "mr"), "--out", str(out), "--workers", "1"]) == 2
    redone = prepare(PrepareConfig(inputs=second.inputs, out=str(out), workers=1, overwrite=True))
    assert [e["id"] for e in redone.ok] == ["head"] and Cohort(out).ids == ["head"]
    assert not (out / LOCK_FILE).exists()


def test_options_are_checked_at_construction_naming_the_flag() -> None:
    with pytest.raises(ConfigError, match="^--workers must be >= 0"):
        PrepareConfig(inputs=("x",), workers=-1)
    with pytest.raises(ConfigError, match="no inputs"):
        PrepareConfig()
