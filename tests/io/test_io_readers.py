"""Readers: round trips for every format, canonical orientation, clear errors for bad files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from semgen.io import Scan, ScanError, read_label, read_scan, resample, write_scan

SPACING = (0.8, 0.9, 2.5)
ORIGIN = (-5.0, 12.0, 30.0)


def _itk(array_xyz: np.ndarray, spacing, origin, direction=None) -> sitk.Image:
    image = sitk.GetImageFromArray(np.ascontiguousarray(array_xyz.T))
    image.SetSpacing(spacing)
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(np.asarray(direction, dtype=float).ravel().tolist())
    return image


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz", ".mha", ".mhd", ".nrrd"])
def test_itk_formats_round_trip(tmp_path: Path, volume: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"scan{suffix}"
    sitk.WriteImage(_itk(volume, SPACING, ORIGIN), str(path))
    scan = read_scan(path)
    assert scan.array.dtype == np.float32 and scan.shape == volume.shape
    np.testing.assert_array_equal(scan.array, volume)
    np.testing.assert_allclose(scan.spacing, SPACING, rtol=1e-6)
    np.testing.assert_allclose(scan.origin, ORIGIN, atol=1e-5)
    assert scan.modality == "CT" and scan.meta["modality_source"].startswith("intensity")
    assert scan.meta["orientation"] == "LPS"


@pytest.mark.parametrize("suffix", [".nii.gz", ".mha", ".nrrd"])
def test_write_scan_round_trip(tmp_path: Path, volume: np.ndarray, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    write_scan(path, volume, SPACING, ORIGIN)
    scan = read_scan(path)
    np.testing.assert_array_equal(scan.array, volume)
    np.testing.assert_allclose(scan.spacing, SPACING, rtol=1e-6)
    np.testing.assert_allclose(scan.origin, ORIGIN, atol=1e-5)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # nothing temporary left behind


def test_write_scan_refuses_unknown_format(tmp_path: Path, volume: np.ndarray) -> None:
    with pytest.raises(ValueError, match="cannot write"):
        write_scan(tmp_path / "x.mhd", volume, SPACING)


def _direction_variants(volume: np.ndarray):
    """The same physical image stored with other axis orders/flips: (array, spacing, origin, direction)."""
    shape = np.array(volume.shape)
    spacing = np.array(SPACING)
    origin = np.array(ORIGIN)
    # RAS-like storage: x and y flipped
    flipped = volume[::-1, ::-1, :]
    far = origin + np.array([(shape[0] - 1) * spacing[0], (shape[1] - 1) * spacing[1], 0.0])
    yield flipped, spacing, far, np.diag([-1.0, -1.0, 1.0])
    # axes stored as (z, x, y), z running inferior (I): array axis i points along direction column i
    permuted = np.transpose(volume, (2, 0, 1))[::-1, :, :]
    top = origin + np.array([0.0, 0.0, (shape[2] - 1) * spacing[2]])
    direction = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]])
    yield permuted, spacing[[2, 0, 1]], top, direction


def test_other_direction_matrices_give_the_same_canonical_scan(tmp_path: Path, volume: np.ndarray) -> None:
    sitk.WriteImage(_itk(volume, SPACING, ORIGIN), str(tmp_path / "canonical.nii.gz"))
    reference = read_scan(tmp_path / "canonical.nii.gz")
    codes = set()
    for i, (array, spacing, origin, direction) in enumerate(_direction_variants(volume)):
        assert not np.array_equal(array.shape, volume.shape) or not np.array_equal(array, volume)
        path = tmp_path / f"variant{i}.nii.gz"
        sitk.WriteImage(_itk(np.ascontiguousarray(array), spacing, origin, direction), str(path))
        scan = read_scan(path)
        np.testing.assert_array_equal(scan.array, reference.array)
        np.testing.assert_allclose(scan.spacing, reference.spacing, rtol=1e-6)
        np.testing.assert_allclose(scan.origin, reference.origin, atol=1e-4)
        assert scan.meta["orientation"] == "LPS"
        codes.add(scan.meta["source_orientation"])
    assert codes == {"RAS", "ILP"}


def test_oblique_scan_keeps_its_rotation(tmp_path: Path, volume: np.ndarray) -> None:
    angle = np.radians(10.0)
    rotation = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    sitk.WriteImage(_itk(volume, SPACING, ORIGIN, rotation), str(tmp_path / "oblique.mha"))
    scan = read_scan(tmp_path / "oblique.mha")
    np.testing.assert_array_equal(scan.array, volume)
    assert scan.meta["orientation"] == "LPS (oblique 10.0 deg)"
    np.testing.assert_allclose(np.reshape(scan.meta["direction"], (3, 3)), rotation, atol=1e-6)


def test_numpy_with_declared_geometry(tmp_path: Path, volume: np.ndarray) -> None:
    np.save(tmp_path / "zyx.npy", np.transpose(volume, (2, 1, 0)))
    scan = read_scan(tmp_path / "zyx.npy", spacing=SPACING, axis_order="zyx")
    np.testing.assert_array_equal(scan.array, volume)
    assert scan.spacing == SPACING and scan.meta["axis_order"] == "zyx"
    np.savez(tmp_path / "vol.npz", image=np.transpose(volume, (1, 0, 2)), spacing=np.array(SPACING), axis_order="yxz")
    scan = read_scan(tmp_path / "vol.npz")
    np.testing.assert_array_equal(scan.array, volume)
    assert scan.spacing == SPACING
    iso = read_scan(tmp_path / "zyx.npy", spacing=(2.0,), axis_order="zyx")
    assert iso.spacing == (2.0, 2.0, 2.0)


def test_numpy_without_spacing_or_with_bad_axes_is_refused(tmp_path: Path, volume: np.ndarray) -> None:
    np.save(tmp_path / "v.npy", volume)
    with pytest.raises(ScanError, match="spacing not declared"):
        read_scan(tmp_path / "v.npy")
    with pytest.raises(ScanError, match="axis order"):
        read_scan(tmp_path / "v.npy", spacing=SPACING, axis_order="zyy")
    with pytest.raises(ScanError, match="own spacing"):
        sitk.WriteImage(_itk(volume, SPACING, ORIGIN), str(tmp_path / "v.nii"))
        read_scan(tmp_path / "v.nii", spacing=SPACING)


def test_grey_rgb_jpeg_and_png_become_one_channel(tmp_path: Path) -> None:
    grey = np.random.default_rng(0).integers(0, 256, (24, 32), dtype=np.uint8)  # rows (y), columns (x)
    Image.fromarray(grey).convert("RGB").save(tmp_path / "xray.png")
    scan = read_scan(tmp_path / "xray.png")
    assert scan.ndim == 2 and scan.shape == (32, 24) and scan.modality == "XR"
    np.testing.assert_array_equal(scan.array, grey.T)
    smooth = np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (24, 1))
    Image.fromarray(smooth).convert("RGB").save(tmp_path / "xray.jpeg", quality=95)
    jpeg = read_scan(tmp_path / "xray.jpeg")
    assert jpeg.shape == (32, 24)
    assert np.abs(jpeg.array - smooth.T).max() <= 8  # lossy, but the same picture


def test_colour_picture_becomes_luma(tmp_path: Path) -> None:
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "red.png")
    rgb[0, 0] = 0
    Image.fromarray(rgb).save(tmp_path / "red2.png")
    scan = read_scan(tmp_path / "red2.png")
    assert scan.array[1, 1] == pytest.approx(0.299 * 200)


def _truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("name", ["t.nii", "t.nii.gz", "t.mha", "t.nrrd", "t.npy", "t.png", "t.jpg"])
def test_truncated_files_are_refused_by_name(tmp_path: Path, volume: np.ndarray, name: str) -> None:
    path = tmp_path / name
    noisy = np.random.default_rng(1).integers(0, 255, (40, 40, 6)).astype(np.int16)
    if name.endswith(".npy"):
        np.save(path, noisy)
    elif name.endswith((".png", ".jpg")):
        Image.fromarray(noisy[:, :, 0].astype(np.uint8)).save(path)
    else:
        sitk.WriteImage(_itk(noisy, SPACING, ORIGIN), str(path))
    _truncate(path, 0.9)
    with pytest.raises(ScanError) as error:
        read_scan(path, spacing=SPACING if name.endswith(".npy") else None)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_corrupt_missing_and_unknown_inputs(tmp_path: Path) -> None:
    (tmp_path / "junk.nii.gz").write_bytes(b"not an image at all" * 20)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ScanError, match="junk.nii.gz"):
        read_scan(tmp_path / "junk.nii.gz")
    with pytest.raises(ScanError, match="not a recognised image format"):
        read_scan(tmp_path / "notes.txt")
    with pytest.raises(ScanError, match="no such file"):
        read_scan(tmp_path / "missing.nii")


def test_bad_content_is_refused(tmp_path: Path, volume: np.ndarray) -> None:
    nan = volume.astype(np.float32)
    nan[1, 2, 3] = np.nan
    nan[0, 0, 0] = np.inf
    sitk.WriteImage(_itk(nan, SPACING, ORIGIN), str(tmp_path / "nan.nii.gz"))
    with pytest.raises(ScanError, match="2 voxels are NaN or infinite"):
        read_scan(tmp_path / "nan.nii.gz")
    sitk.WriteImage(_itk(volume[:, :, :1], SPACING, ORIGIN), str(tmp_path / "one.nii.gz"))
    with pytest.raises(ScanError, match="single-slice"):
        read_scan(tmp_path / "one.nii.gz")
    four_d = sitk.JoinSeries([_itk(volume, SPACING, ORIGIN)] * 3)
    sitk.WriteImage(four_d, str(tmp_path / "4d.nii.gz"))
    with pytest.raises(ScanError, match="4D image"):
        read_scan(tmp_path / "4d.nii.gz")
    vector = sitk.Compose([_itk(volume, SPACING, ORIGIN)] * 2)
    sitk.WriteImage(vector, str(tmp_path / "vec.mha"))
    with pytest.raises(ScanError, match="components"):
        read_scan(tmp_path / "vec.mha")
    sitk.WriteImage(_itk(np.full((4, 4, 4), 7, np.int16), SPACING, ORIGIN), str(tmp_path / "flat.nrrd"))
    with pytest.raises(ScanError, match="constant"):
        read_scan(tmp_path / "flat.nrrd")


def test_single_volume_4d_file_is_read_as_3d(tmp_path: Path, volume: np.ndarray) -> None:
    sitk.WriteImage(sitk.JoinSeries([_itk(volume, SPACING, ORIGIN)]), str(tmp_path / "4d1.nii.gz"))
    np.testing.assert_array_equal(read_scan(tmp_path / "4d1.nii.gz").array, volume)


def test_modality_guess_and_override(tmp_path: Path, volume: np.ndarray) -> None:
    sitk.WriteImage(_itk((volume + 1000).astype(np.uint16), SPACING, ORIGIN), str(tmp_path / "mr.nii.gz"))
    assert read_scan(tmp_path / "mr.nii.gz").modality == "MR"
    forced = read_scan(tmp_path / "mr.nii.gz", modality="CT")
    assert forced.modality == "CT" and forced.meta["modality_source"] == "flag"
    with pytest.raises(ValueError, match="modality"):
        read_scan(tmp_path / "mr.nii.gz", modality="PET")


def test_gzip_truncated_nifti_is_not_silently_zero_filled(tmp_path: Path) -> None:
    noisy = np.random.default_rng(2).integers(-1000, 1000, (30, 30, 10)).astype(np.int16)
    path = tmp_path / "cut.nii.gz"
    sitk.WriteImage(_itk(noisy, SPACING, ORIGIN), str(path))
    with gzip.open(path) as f:
        raw = f.read()
    path.write_bytes(gzip.compress(raw[: len(raw) - 500]))  # a valid gzip stream, too few voxels
    with pytest.raises(ScanError, match="truncated NIfTI"):
        read_scan(path)


def test_read_label_canonical_and_checked_against_its_image(tmp_path: Path, volume: np.ndarray, caplog) -> None:
    labels = (np.arange(volume.size).reshape(volume.shape) % 3).astype(np.uint8)
    direction = np.diag([-1.0, -1.0, 1.0])
    far = np.array(ORIGIN) + np.array([(volume.shape[0] - 1) * SPACING[0], (volume.shape[1] - 1) * SPACING[1], 0])
    sitk.WriteImage(
        _itk(np.ascontiguousarray(labels[::-1, ::-1]), SPACING, far, direction), str(tmp_path / "lab.nii.gz")
    )
    sitk.WriteImage(_itk(volume, SPACING, ORIGIN), str(tmp_path / "img.nii.gz"))
    image = read_scan(tmp_path / "img.nii.gz")
    same = read_label(tmp_path / "lab.nii.gz", like=image)
    assert same.dtype == np.uint8
    np.testing.assert_array_equal(same, labels)
    # another grid is never resampled silently: another shape is refused naming both files,
    # the same shape with another spacing is used voxel for voxel with a warning naming both
    coarse = resample(image, (1.6, 1.8, 5.0))
    with pytest.raises(ScanError, match=r"lab\.nii\.gz: label map of shape .* does not match its image"):
        read_label(tmp_path / "lab.nii.gz", like=coarse)
    stretched = Scan(image.array, (2.0, 2.0, 2.0), image.origin, image.modality, "img.nii.gz", image.meta)
    np.testing.assert_array_equal(read_label(tmp_path / "lab.nii.gz", like=stretched), labels)
    assert "lab.nii.gz: label map spacing" in caplog.text and "img.nii.gz" in caplog.text
    sitk.WriteImage(_itk(volume.astype(np.float32) / 7, SPACING, ORIGIN), str(tmp_path / "soft.nii.gz"))
    with pytest.raises(ScanError, match="not a label map"):
        read_label(tmp_path / "soft.nii.gz")


def test_resample_identity_and_geometry(volume: np.ndarray) -> None:
    scan = Scan(volume.astype(np.float32), SPACING, ORIGIN, "CT", "memory", {})
    same = resample(scan, SPACING)
    np.testing.assert_allclose(same.array, scan.array, atol=1e-3)
    coarse = resample(scan, (1.6, 1.8, 5.0))
    assert coarse.shape == (4, 4, 2) and coarse.spacing == (1.6, 1.8, 5.0) and coarse.origin == ORIGIN
    np.testing.assert_allclose(coarse.array, volume[::2, ::2, ::2][:4, :4, :2], atol=1e-3)
    with pytest.raises(ScanError, match="2 values"):
        resample(scan, (1.0, 1.0))
