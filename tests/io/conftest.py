"""Fixtures for the io tests: small synthetic scans written in every format, and DICOM series."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk


def asymmetric_volume(shape: tuple[int, ...] = (7, 9, 5)) -> np.ndarray:
    """An int16 (X, Y, Z) volume in which every voxel differs and no flip or permutation of the
    axes maps it onto itself, with CT-like values (minimum -1000)."""
    return (np.arange(int(np.prod(shape)), dtype=np.int16).reshape(shape) * 3 - 1000).astype(np.int16)


def dicom_series(
    folder: Path,
    volume: np.ndarray,
    spacing: tuple[float, float, float] = (0.8, 0.9, 2.5),
    *,
    uid: str = "1.2.826.0.1.3680043.2.1125.1",
    modality: str = "CT",
    patient: str = "P1",
    description: str = "axial",
    positions: list[float] | None = None,
    prefix: str = "slice",
) -> list[Path]:
    """Write a canonical (X, Y, Z) int16 ``volume`` as one DICOM file per axial slice (identity
    orientation); ``positions`` overrides the z position of each slice. File names are shuffled
    against slice order so readers must sort by position. Returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    depth = volume.shape[2]
    z = positions if positions is not None else [10.0 + k * spacing[2] for k in range(depth)]
    names = np.random.default_rng(0).permutation(depth)
    files = []
    for k in range(depth):
        plane = sitk.GetImageFromArray(np.ascontiguousarray(volume[:, :, k].T)[None])
        plane.SetSpacing(spacing)
        tags = {
            "0008|0060": modality,
            "0010|0020": patient,
            "0008|103e": description,
            "0020|000e": uid,
            "0020|000d": "1.2.826.0.1.3680043.2.1125.99",
            "0020|0011": "3",
            "0020|0013": str(k + 1),
            "0020|0032": f"-5\\-7\\{z[k]}",
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0018|0050": str(spacing[2]),
            "0008|0018": f"{uid}.{k + 1}",
        }
        for key, value in tags.items():
            plane.SetMetaData(key, value)
        path = folder / f"{prefix}{names[k]:03d}.dcm"
        writer.SetFileName(str(path))
        writer.Execute(plane)
        files.append(path)
    return files


@pytest.fixture
def volume() -> np.ndarray:
    return asymmetric_volume()


@pytest.fixture
def write_dicom() -> Callable[..., list[Path]]:
    return dicom_series
