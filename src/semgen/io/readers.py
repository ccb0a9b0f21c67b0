"""Read any single scan into canonical form: NIfTI, MetaImage, NRRD, DICOM, NumPy, PNG/JPEG.

Every reader ends in :class:`~semgen.io.scan.Scan` with a float32 array in the
canonical (X, Y[, Z]) LPS orientation, and every failure is a :class:`ScanError`
naming the file and the problem in one line: unreadable, truncated (including
gzip-truncated NIfTI, which ITK itself reads silently as zeros), 4D, multi-component,
single-slice, NaN/inf voxels, undeclared NumPy geometry.
"""

from __future__ import annotations

import gzip
import logging
import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from semgen.io.dicom import find_dicom_series, read_dicom_series
from semgen.io.intensity import guess_modality
from semgen.io.scan import (
    MODALITIES,
    Scan,
    ScanError,
    canonicalize,
    image_from_array,
    itk_reason,
    itk_warnings_off,
    missing_reason,
    scan_from_image,
)

ITK_SUFFIXES = (".nii", ".nii.gz", ".mha", ".mhd", ".nrrd", ".nhdr", ".hdr")
NUMPY_SUFFIXES = (".npy", ".npz")
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
SCAN_SUFFIXES = ITK_SUFFIXES + NUMPY_SUFFIXES + PICTURE_SUFFIXES + DICOM_SUFFIXES
log = logging.getLogger(__name__)

# keys of an .npz that declare geometry rather than hold the image
_NPZ_META_KEYS = ("spacing", "axis_order", "origin")
# read size when streaming a gzip-compressed NIfTI
_CHUNK = 1 << 22
# bits per voxel of the NIfTI datatype codes, and the floating-point ones (which can hold NaN/inf)
_NIFTI_BITS = {2: 8, 4: 16, 8: 32, 16: 32, 64: 64, 256: 8, 512: 16, 768: 32, 1024: 64, 1280: 64}
_NIFTI_FLOATS = {16: "f4", 64: "f8"}


def scan_suffix(path: str | os.PathLike) -> str:
    """The lower-case format suffix of ``path`` (".nii.gz" counts as one), or "" if none."""
    name = Path(path).name.lower()
    for suffix in SCAN_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return Path(name).suffix


def scan_stem(path: str | os.PathLike) -> str:
    """The file name without its format suffix ("case_01.nii.gz" -> "case_01")."""
    name = Path(path).name
    suffix = scan_suffix(name)
    return name[: len(name) - len(suffix)] if suffix else name


def is_dicom_file(path: str | os.PathLike) -> bool:
    """True for a DICOM suffix or the "DICM" marker at byte 128 (files without extension)."""
    if scan_suffix(path) in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def _nifti_pixdim(header: bytes, endian: str, size: int) -> tuple[float, ...]:
    """``pixdim[0..7]`` of a NIfTI-1 (348-byte) or NIfTI-2 (540-byte) header."""
    if size == 348:
        return struct.unpack(endian + "8f", header[76:108])
    return struct.unpack(endian + "8d", header[104:168])


def _nifti_header(header: bytes, path: Path) -> tuple[str, int, tuple[int, ...], int, int]:
    """(byte order, header size, dims, datatype code, data offset) of a NIfTI-1 or -2 header."""
    for endian in "<>":
        size = struct.unpack(endian + "i", header[:4])[0]
        if size == 348:
            dims = struct.unpack(endian + "8h", header[40:56])
            datatype = struct.unpack(endian + "h", header[70:72])[0]
            return endian, size, dims, datatype, int(struct.unpack(endian + "f", header[108:112])[0])
        if size == 540:
            datatype = struct.unpack(endian + "h", header[12:14])[0]
            dims = struct.unpack(endian + "8q", header[16:80])
            return endian, size, dims, datatype, struct.unpack(endian + "q", header[168:176])[0]
    raise ScanError(path, "not a NIfTI file (bad header size)")


def _inspect_nifti(path: Path) -> None:
    """Raise for what ITK's NIfTI reader hides: a file or gzip stream holding fewer voxel bytes
    than its header promises (ITK pads with zeros) and NaN/inf voxels (ITK turns them into 0).
    Streams the voxels once in 4 MiB chunks; integer data in a plain .nii only needs its size."""
    gz = path.name.lower().endswith(".gz")
    try:
        with (gzip.open if gz else open)(path, "rb") as f:
            header = f.read(540)
            if len(header) < 348:
                raise ScanError(path, "truncated NIfTI header")
            endian, size, dims, datatype, offset = _nifti_header(header, path)
            spatial = _nifti_pixdim(header, endian, size)[1 : 1 + max(1, min(int(dims[0]), 3))]
            if not all(np.isfinite(spatial)) or min(spatial) <= 0:
                raise ScanError(
                    path,
                    f"voxel size (pixdim) {', '.join(f'{v:g}' for v in spatial)} is not positive, so the spacing is "
                    "unknown; fix the header (e.g. nibabel's set_zooms) rather than guess 1 mm",
                )
            if datatype not in _NIFTI_BITS:
                return  # an unusual datatype: ITK says whether it can read it
            start = max(offset, size)
            count = int(np.prod([max(1, d) for d in dims[1 : 1 + max(1, min(int(dims[0]), 7))]]))
            expected = count * _NIFTI_BITS[datatype] // 8
            floating = np.dtype(_NIFTI_FLOATS[datatype]).newbyteorder(endian) if datatype in _NIFTI_FLOATS else None
            received, bad = 0, 0
            if not gz and floating is None:
                received = path.stat().st_size - start
            else:
                f.seek(start)
                rest = b""
                while chunk := f.read(_CHUNK):
                    received += len(chunk)
                    if floating is not None:
                        rest += chunk
                        usable = len(rest) // floating.itemsize
                        values = np.frombuffer(rest, floating, count=usable)
                        bad += usable - int(np.count_nonzero(np.isfinite(values)))
                        rest = rest[usable * floating.itemsize :]
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ScanError(path, f"truncated or corrupt gzip stream ({e})") from None
    except struct.error:
        raise ScanError(path, "truncated NIfTI header") from None
    if received < expected:
        raise ScanError(path, f"truncated NIfTI: {received} of {expected} voxel bytes")
    if bad:
        raise ScanError(path, f"{bad} voxels are NaN or infinite")


_META_TYPE_BYTES = {"MET_CHAR": 1, "MET_UCHAR": 1, "MET_SHORT": 2, "MET_USHORT": 2, "MET_INT": 4, "MET_UINT": 4,
                    "MET_LONG": 4, "MET_ULONG": 4, "MET_LONG_LONG": 8, "MET_ULONG_LONG": 8, "MET_FLOAT": 4, "MET_DOUBLE": 8}


def _inspect_metaimage(path: Path) -> None:
    """Raise, naming the data file, when the ``.raw`` an ``.mhd`` header points to is missing or
    holds fewer bytes than the header promises (ITK's own message names only the ``.mhd``)."""
    fields: dict[str, str] = {}
    try:
        with open(path, "rb") as f:
            for raw_line in f.read(65536).splitlines():
                key, sep, value = raw_line.decode("latin-1").partition("=")
                if sep:
                    fields[key.strip()] = value.strip()
                if key.strip() == "ElementDataFile":
                    break
    except OSError:
        return  # ITK reports what it cannot read
    name = fields.get("ElementDataFile", "")
    if not name or name == "LOCAL" or name.startswith("LIST") or "%" in name or " " in name:
        return
    data = (path.parent / name) if not Path(name).is_absolute() else Path(name)
    if not data.is_file():
        raise ScanError(path, f"its data file {name} ({data}) is missing")
    if fields.get("CompressedData", "False").lower() == "true":
        return
    try:
        dims = [int(v) for v in fields.get("DimSize", "").split()]
        channels = int(fields.get("ElementNumberOfChannels", "1"))
        header = int(fields.get("HeaderSize", "0"))
        itemsize = _META_TYPE_BYTES[fields.get("ElementType", "")]
    except (ValueError, KeyError):
        return
    expected = int(np.prod(dims)) * channels * itemsize + max(header, 0)
    if dims and data.stat().st_size < expected:
        raise ScanError(path, f"its data file {name} is truncated: {data.stat().st_size} of {expected} bytes")


def _itk_image(path: Path) -> sitk.Image:
    """A scalar 2D/3D SimpleITK image from a NIfTI/MetaImage/NRRD/Analyze file (any direction)."""
    if path.name.lower().endswith((".nii", ".nii.gz")):
        _inspect_nifti(path)
    elif path.name.lower().endswith(".mhd"):
        _inspect_metaimage(path)
    with itk_warnings_off():
        try:
            image = sitk.ReadImage(str(path))
        except RuntimeError as e:
            reason = itk_reason(e)
            if "Unable to determine ImageIO" in reason:
                reason = "not readable as this format (corrupt, truncated or misnamed file)"
            raise ScanError(path, reason) from None
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ScanError(path, f"{image.GetNumberOfComponentsPerPixel()} components per voxel: not a scalar scan")
    if image.GetDimension() == 4:
        if image.GetSize()[3] != 1:
            raise ScanError(path, f"4D image ({image.GetSize()[3]} volumes): semgen prepares 2D or 3D scans")
        image = image[:, :, :, 0]
    if image.GetDimension() not in (2, 3):
        raise ScanError(path, f"{image.GetDimension()}D image: semgen prepares 2D or 3D scans")
    return image


def _numpy_image(
    path: Path, spacing: tuple[float, ...] | None, axis_order: str | None
) -> tuple[sitk.Image, dict[str, Any]]:
    """A canonical SimpleITK image from .npy/.npz plus declared geometry (``spacing`` in x, y[, z]
    order, one value for isotropic; ``axis_order`` names the array's axes, e.g. "zyx", default
    "xyz"; an .npz may declare both itself as arrays named "spacing" and "axis_order")."""
    declared: dict[str, Any] = {}
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            array = loaded
        else:
            with loaded:
                keys = [k for k in loaded.files if k not in _NPZ_META_KEYS]
                key = next((k for k in ("image", "array", "data") if k in keys), keys[0] if len(keys) == 1 else None)
                if key is None:
                    raise ScanError(path, f"cannot tell which array is the image among {sorted(keys)}; name it 'image'")
                array = loaded[key]
                declared = {k: loaded[k] for k in _NPZ_META_KEYS if k in loaded.files}
    except ScanError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ScanError(path, f"not a readable NumPy file ({e})") from None
    if array.dtype.kind not in "biuf":
        raise ScanError(path, f"array of dtype {array.dtype} is not an image")
    if array.ndim not in (2, 3):
        raise ScanError(path, f"{array.ndim}D array {array.shape}: semgen prepares 2D or 3D scans")
    axes = "xyz"[: array.ndim]
    order = axis_order or (str(declared["axis_order"]) if "axis_order" in declared else axes)
    if sorted(order) != sorted(axes):
        raise ScanError(path, f"axis order {order!r} does not name the {array.ndim} axes {axes!r}")
    if spacing is None and "spacing" in declared:
        spacing = tuple(float(s) for s in np.ravel(declared["spacing"]))
    if spacing is None:
        raise ScanError(path, "spacing not declared: pass it (prepare --array-spacing) or store 'spacing' in an .npz")
    if len(spacing) == 1:
        spacing = tuple(spacing) * array.ndim
    if len(spacing) != array.ndim or any(s <= 0 for s in spacing):
        raise ScanError(path, f"declared spacing {tuple(spacing)} does not fit a {array.ndim}D array")
    origin = tuple(float(o) for o in np.ravel(declared["origin"])) if "origin" in declared else None
    canonical = np.transpose(array, [order.index(a) for a in axes])
    image = image_from_array(canonical.astype(np.float32), spacing, origin)
    return image, {"axis_order": order}


def _picture_image(path: Path, spacing: tuple[float, ...] | None) -> tuple[sitk.Image, dict[str, Any]]:
    """A 2D grey image from PNG/JPEG/TIFF/BMP (Pillow, which detects truncated files). RGB files
    holding grey content give their one channel exactly; real colour gives ITU-R 601 luma."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as picture:
            picture.load()
            if picture.mode in ("1", "L", "I", "F") or picture.mode.startswith("I;16"):
                pixels = np.asarray(picture, dtype=np.float32)
            else:
                rgb = np.asarray(picture.convert("RGB"), dtype=np.float32)
                grey = (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 0] == rgb[..., 2]).all()
                pixels = rgb[..., 0] if grey else rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise ScanError(path, f"cannot read image ({e})") from None
    if spacing is not None and len(spacing) != 2:
        raise ScanError(path, f"declared spacing {tuple(spacing)} does not fit a 2D image")
    meta = {"spacing_source": "declared" if spacing else "unknown (1 mm assumed)"}
    return image_from_array(pixels.T, spacing or (1.0, 1.0)), meta


def _dicom_scan(path: Path, modality: str | None) -> Scan:
    if path.is_dir():
        series, _ = find_dicom_series(path)
        if not series:
            raise ScanError(path, "no DICOM series in this folder")
        if len(series) > 1:
            names = ", ".join(s.description or s.uid for s in series)
            raise ScanError(path, f"{len(series)} DICOM series in one folder ({names}); read them one by one")
        return read_dicom_series(series[0].files, str(path), modality=modality)
    return read_dicom_series([str(path)], str(path), modality=modality)


def _finish(scan: Scan, modality: str | None) -> Scan:
    """Shared checks (finite, not single-slice 3D, not constant); then the modality: ``modality``
    if given, else the one the reader found, else a guess from the intensities."""
    finite = np.isfinite(scan.array)
    if not finite.all():
        raise ScanError(scan.source, f"{int(finite.size - finite.sum())} voxels are NaN or infinite")
    if scan.ndim == 3 and min(scan.shape) == 1:
        raise ScanError(scan.source, f"single-slice volume {'x'.join(map(str, scan.shape))}: not a 3D scan")
    if scan.array.size and scan.array.min() == scan.array.max():
        raise ScanError(scan.source, f"constant image (every voxel is {scan.array.flat[0]:g})")
    if modality is not None:
        scan.modality, scan.meta["modality_source"] = modality, "flag"
    elif not scan.modality:
        scan.modality, scan.meta["modality_source"] = guess_modality(scan.array)
    return scan


def read_scan(
    path: str | os.PathLike,
    *,
    modality: str | None = None,
    spacing: tuple[float, ...] | None = None,
    axis_order: str | None = None,
) -> Scan:
    """Read one scan into canonical form: a NIfTI/MetaImage/NRRD file, a DICOM series folder or
    file, a NumPy .npy/.npz, or a PNG/JPEG/TIFF picture (2D, grey).

    ``modality``: "CT", "MR", "XR" or "OT" to override detection (DICOM tag; pictures are XR;
    other files: minimum below -500 -> CT, else MR; ``meta["modality_source"]`` says which).
    ``spacing`` (x, y[, z] mm) and ``axis_order`` (e.g. "zyx") declare the geometry of formats
    that carry none (NumPy, pictures); giving them for other formats is an error.
    Returns a :class:`Scan` with float32 raw intensities. Raises :class:`ScanError`.
    """
    path = Path(path)
    if modality is not None and modality not in MODALITIES:
        raise ValueError(f"modality must be one of {', '.join(MODALITIES)}, got {modality!r}")
    if not path.exists():
        raise ScanError(path, missing_reason(path))
    if not os.access(path, os.R_OK):
        raise ScanError(path, "permission denied")
    suffix = scan_suffix(path)
    if suffix in NUMPY_SUFFIXES:
        image, meta = _numpy_image(path, spacing, axis_order)
        return _finish(scan_from_image(image, str(path), "", meta), modality)
    if axis_order is not None:
        raise ScanError(path, "an axis order can only be declared for NumPy files")
    if suffix in PICTURE_SUFFIXES:
        image, meta = _picture_image(path, spacing)
        return _finish(scan_from_image(image, str(path), "XR", {**meta, "modality_source": "file type"}), modality)
    if spacing is not None:
        raise ScanError(path, "this format carries its own spacing; a declared spacing does not apply")
    if suffix in ITK_SUFFIXES:
        return _finish(scan_from_image(_itk_image(path), str(path), ""), modality)
    if path.is_dir() or is_dicom_file(path):
        return _finish(_dicom_scan(path, modality), None)
    raise ScanError(path, f"not a recognised image format (suffix {suffix or 'none'})")


def _fmt(values) -> str:
    return "x".join(f"{v:g}" for v in values)


def read_label(path: str | os.PathLike, like: Scan | None = None) -> np.ndarray:
    """Read an integer label map (NIfTI/MetaImage/NRRD) in canonical (X, Y[, Z]) orientation.

    With ``like`` (the image the labels belong to), the label map must have the image's shape:
    another shape is a :class:`ScanError` naming both files (never resampled silently). The
    same shape with another spacing or origin is used voxel for voxel, with a logged warning
    naming both files (headers written by different tools often disagree slightly).
    Returns uint8 when every label fits, else int32. Raises :class:`ScanError` for a file that
    is not a label map (non-integer or negative values) or cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise ScanError(path, missing_reason(path))
    if scan_suffix(path) not in ITK_SUFFIXES:
        raise ScanError(path, f"label maps are read from {', '.join(ITK_SUFFIXES)} files")
    image = canonicalize(_itk_image(path))
    if like is not None:
        if tuple(image.GetSize()) != like.shape:
            raise ScanError(
                path,
                f"label map of shape {'x'.join(map(str, image.GetSize()))} does not match its image {like.source} "
                f"({'x'.join(map(str, like.shape))}); give the label map drawn on that image",
            )
        if not (
            np.allclose(image.GetSpacing(), like.spacing, rtol=1e-3, atol=1e-4)
            and np.allclose(image.GetOrigin(), like.origin, atol=1e-2 * max(like.spacing))
        ):
            log.warning(
                "%s: label map spacing %s / origin %s differ from its image %s (%s / %s); used voxel for voxel",
                path, _fmt(image.GetSpacing()), _fmt(image.GetOrigin()), like.source, _fmt(like.spacing), _fmt(like.origin),
            )
    labels = sitk.GetArrayFromImage(image).T
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all() or not np.array_equal(labels, np.round(labels)):
            raise ScanError(path, "not a label map: values are not whole numbers")
    if labels.size and labels.min() < 0:
        raise ScanError(path, f"not a label map: negative value {labels.min():g}")
    dtype = np.uint8 if labels.size == 0 or labels.max() <= 255 else np.int32
    return np.ascontiguousarray(labels.astype(dtype))
