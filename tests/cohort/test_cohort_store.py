"""The cohort store: create_cohort, manifest round trip, memory maps, manifest hash."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from semgen.cohort import MANIFEST_COLUMNS, Cohort, CohortError, ScanRecord, create_cohort, read_manifest


def _ball(shape=(12, 10, 8), radius=3.5) -> np.ndarray:
    grid = np.indices(shape).astype(np.float32)
    centre = (np.array(shape, dtype=np.float32) - 1) / 2
    distance = np.sqrt(((grid - centre[:, None, None, None]) ** 2).sum(0))
    return np.clip(1.2 - distance / radius, 0, 1).astype(np.float32)


def test_create_cohort_round_trip(tmp_path: Path) -> None:
    scans = [("a", _ball(), (1.0, 1.0, 2.0)), ("b", _ball(radius=2.5), (0.5, 0.5, 1.0))]
    cohort = create_cohort(tmp_path / "c", scans, "MR", patients=["p1", "p1"])
    assert cohort.ids == ["a", "b"] and len(cohort) == 2 and "a" in cohort
    assert cohort.spatial_dims == 3
    image = cohort.image("a")
    assert isinstance(image, np.memmap) and image.dtype == np.float16 and image.shape == (12, 10, 8)
    assert not image.flags.writeable
    np.testing.assert_allclose(image, scans[0][1], atol=1e-3)
    mask = cohort.mask("a")
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert mask[6, 5, 4] == 1 and mask[0, 0, 0] == 0
    record = cohort["b"]
    assert record.patient == "p1" and record.spacing == (0.5, 0.5, 1.0) and record.shape == (12, 10, 8)
    assert record.foreground == pytest.approx(float(cohort.mask("b").mean()), abs=1e-4)
    header = (tmp_path / "c" / "manifest.csv").read_text().splitlines()[0]
    assert tuple(header.split(",")) == MANIFEST_COLUMNS
    assert "12x10x8" in (tmp_path / "c" / "manifest.csv").read_text()


def test_manifest_row_round_trip() -> None:
    record = ScanRecord(
        id="x",
        patient="p",
        source="/s.nii",
        modality="CT",
        shape=(5, 6, 7),
        spacing=(0.703125, 0.7, 2.5),
        orientation="LPS",
        window={"kind": "ct", "low": -1000.0, "high": 1000.0},
        checksum="ab",
        origin=(1.5, -2.0, 3.0),
        array="arrays/x.npy",
        mask="masks/x.npy",
        foreground=0.25,
    )
    assert ScanRecord.from_row(record.to_row()) == record
    assert record.to_row()["spacing"] == "0.703125x0.7x2.5"


def test_manifest_hash_follows_content_not_location(tmp_path: Path) -> None:
    first = create_cohort(tmp_path / "one", [("a", _ball(), (1.0, 1.0, 1.0))], "CT")
    shutil.copytree(tmp_path / "one", tmp_path / "moved")
    assert Cohort(tmp_path / "moved").manifest_hash() == first.manifest_hash()
    other = create_cohort(tmp_path / "two", [("a", _ball(radius=2.0), (1.0, 1.0, 1.0))], "CT")
    assert other.manifest_hash() != first.manifest_hash()


def test_2d_cohort_and_refusals(tmp_path: Path) -> None:
    flat = _ball((16, 12, 1))[:, :, 0]
    cohort = create_cohort(tmp_path / "xr", [("x", flat, (1.0, 1.0))], "XR")
    assert cohort.spatial_dims == 2 and cohort.image("x").shape == (16, 12)
    with pytest.raises(ValueError, match="mix 2D and 3D"):
        create_cohort(tmp_path / "mixed", [("x", flat, (1.0, 1.0)), ("y", _ball(), (1.0, 1.0, 1.0))], "XR")
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        create_cohort(tmp_path / "bad", [("x", flat * 3, (1.0, 1.0))], "XR")
    with pytest.raises(CohortError, match="no scan with id"):
        cohort["nope"]
    with pytest.raises(CohortError, match="not a cohort"):
        Cohort(tmp_path / "nowhere")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.csv").write_text("id,shape\nx,1x2\n")
    with pytest.raises(CohortError, match="missing column"):
        read_manifest(tmp_path / "broken")
