"""Finding scans in folder trees, and stable unique ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from semgen.io import ScanSource, assign_ids, find_sources
from semgen.io.sources import safe_id


def _touch_scan(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 3, 4), np.int16)), str(path))


def test_walk_recognises_formats_and_reports_the_rest(tmp_path: Path) -> None:
    _touch_scan(tmp_path / "a" / "case 1.nii.gz")
    _touch_scan(tmp_path / "a" / "case2.mhd")  # writes case2.raw beside it: part of the scan, not reported
    (tmp_path / "b").mkdir()
    np.save(tmp_path / "b" / "vol.npy", np.zeros((2, 2, 2)))
    _touch_scan(tmp_path / "a" / "labels" / "case 1.nii.gz")
    _touch_scan(tmp_path / "a" / "case2_seg.nii.gz")
    (tmp_path / "a" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "empty").mkdir()
    sources, skipped, failed = find_sources([tmp_path, tmp_path / "missing"])
    assert [Path(s.path).name for s in sources] == ["case 1.nii.gz", "case2.mhd", "vol.npy"]
    assert [s.name for s in sources] == ["case_1", "case2", "vol"]
    reasons = {Path(e["path"]).name: e["reason"] for e in skipped}
    assert reasons == {
        "labels": "folder of label maps or masks, not scans",
        "case2_seg.nii.gz": "file name marks a label map or mask, not a scan",
        ".DS_Store": "not a recognised image format",
        "empty": "empty folder",
    }
    assert failed == [{"path": str(tmp_path / "missing"), "id": "", "reason": "no such file or directory"}]


def test_an_empty_input_folder_fails(tmp_path: Path) -> None:
    sources, skipped, failed = find_sources([tmp_path])
    assert sources == [] and skipped == []
    assert failed[0]["reason"].startswith("empty folder")


def _source(path: str) -> ScanSource:
    p = Path(path)
    return ScanSource(path=path, name=safe_id(p.name.split(".")[0]), parents=p.parent.parts)


def test_ids_are_unique_safe_and_stable() -> None:
    sources = [_source(p) for p in ("/d/train/N/im 1.jpeg", "/d/test/N/im 1.jpeg", "/d/train/P/im2.jpeg", "/e/X.png")]
    ids = assign_ids(sources)
    assert ids == ["train_N_im_1", "test_N_im_1", "im2", "X"]
    assert assign_ids(sources[::-1]) == ids[::-1]  # independent of order
    # earlier ids are kept, and nobody else may take them
    later = [_source("/new/im2.jpeg"), *sources]
    reserved = {s.key: i for s, i in zip(sources, ids, strict=True)}
    assert assign_ids(later, reserved) == ["new_im2", *ids]


@pytest.mark.parametrize("text, expected", [("a b/c", "a_b_c"), ("..x..", "x"), ("é", "scan"), ("-rf", "rf")])
def test_safe_id(text: str, expected: str) -> None:
    assert safe_id(text) == expected
