"""DICOM series: find them in any folder (grouped by SeriesInstanceUID), check and read them.

GDCM (through SimpleITK's ``ImageSeriesReader``) groups files by SeriesInstanceUID,
so a messy folder holding many series of many patients works like a clean one. The
slices are then sorted by their position along the slice normal and checked here:
a multi-frame file, several files at one position (a 4D or multi-echo series),
differing orientations or sizes, a single slice of a CT/MR volume, or uneven
slice spacing (a missing slice) each raise a :class:`ScanError` that says so.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import SimpleITK as sitk

from semgen.io.scan import Scan, ScanError, itk_reason, itk_warnings_off, scan_from_image

# DICOM Modality (0008,0060) -> semgen modality
DICOM_MODALITIES = {"CT": "CT", "MR": "MR", "CR": "XR", "DX": "XR"}
_TAGS = {
    "modality": "0008|0060",
    "patient": "0010|0020",
    "description": "0008|103e",
    "number": "0020|0011",
    "series_uid": "0020|000e",
    "study_uid": "0020|000d",
    "frames": "0028|0008",
}
# relative and absolute tolerance on slice gaps (mm) before a series counts as unevenly spaced
_GAP_RTOL, _GAP_ATOL = 0.01, 1e-3


@dataclasses.dataclass(frozen=True)
class DicomSeries:
    """One DICOM series found in ``folder``: its files (GDCM order) and identifying tags."""

    folder: str
    uid: str
    files: tuple[str, ...]
    modality_tag: str
    patient: str
    description: str
    number: str


def _header(path: str) -> sitk.ImageFileReader:
    reader = sitk.ImageFileReader()
    reader.SetFileName(path)
    reader.LoadPrivateTagsOff()
    reader.ReadImageInformation()
    return reader


def _tag(reader: sitk.ImageFileReader, name: str) -> str:
    key = _TAGS[name]
    return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else ""


def find_dicom_series(folder: str | os.PathLike) -> tuple[list[DicomSeries], list[tuple[str, str]]]:
    """The DICOM series directly inside ``folder`` (not its subfolders).

    Returns (series, problems); a problem is (path, reason) for a series whose first file has
    no readable image header (e.g. a structured report)."""
    folder = str(folder)
    series: list[DicomSeries] = []
    problems: list[tuple[str, str]] = []
    with itk_warnings_off():
        uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder)
        for uid in sorted(uids):
            files = tuple(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, uid))
            try:
                head = _header(files[0])
            except RuntimeError:
                problems.append((files[0], f"DICOM series {uid} has no readable image (not an image object?)"))
                continue
            series.append(
                DicomSeries(
                    folder=folder,
                    uid=uid,
                    files=files,
                    modality_tag=_tag(head, "modality").upper(),
                    patient=_tag(head, "patient"),
                    description=_tag(head, "description"),
                    number=_tag(head, "number"),
                )
            )
    return series, problems


def read_dicom_series(
    files: list[str] | tuple[str, ...], source: str | None = None, *, modality: str | None = None
) -> Scan:
    """Read one DICOM series (its files, any order) into a canonical :class:`Scan`.

    ``modality`` overrides the Modality tag (CT, MR -> CT, MR; CR, DX -> XR; else OT). A
    single-file CR/DX image gives a 2D scan. Rescale slope/intercept are applied (CT in HU).
    Raises :class:`ScanError` naming ``source`` (default: the folder of the first file).
    """
    if not files:
        raise ScanError(source or "?", "no DICOM files")
    source = source or os.path.dirname(files[0])
    with itk_warnings_off():
        try:
            heads = [_header(f) for f in files]
        except RuntimeError as e:
            raise ScanError(source, f"unreadable DICOM file in the series ({itk_reason(e)})") from None
        first = heads[0]
        tag = _tag(first, "modality").upper()
        if modality is None:
            modality, how = DICOM_MODALITIES.get(tag, "OT"), f"dicom tag ({tag or 'missing'})"
        else:
            how = "flag"
        frames = max(h.GetSize()[2] if len(h.GetSize()) > 2 else 1 for h in heads)
        if frames > 1:
            raise ScanError(source, f"multi-frame DICOM ({frames} frames in one file) is not supported")
        if any(h.GetSize()[:2] != first.GetSize()[:2] for h in heads):
            raise ScanError(source, "slices differ in size")
        directions = np.array([h.GetDirection() for h in heads], dtype=float)
        if np.abs(directions - directions[0]).max() > 1e-3:
            raise ScanError(source, "slices have different orientations")
        normal = directions[0].reshape(3, 3)[:, 2]
        positions = np.array([h.GetOrigin() for h in heads], dtype=float) @ normal
        order = np.argsort(positions, kind="stable")
        gaps = np.diff(positions[order])
        n_positions = 1 + int((gaps > _GAP_ATOL).sum())
        if n_positions < len(files):
            raise ScanError(
                source,
                f"{len(files)} files at {n_positions} slice positions: a 4D or multi-echo series is not supported",
            )
        meta = {
            "patient": _tag(first, "patient"),
            "series_uid": _tag(first, "series_uid"),
            "study_uid": _tag(first, "study_uid"),
            "description": _tag(first, "description"),
            "series_number": _tag(first, "number"),
            "modality_tag": tag,
            "modality_source": how,
            "files": len(files),
        }
        if len(files) == 1:
            if modality != "XR":
                raise ScanError(source, f"single-slice {modality} series: one image is not a volume")
            image = sitk.ReadImage(files[0])[:, :, 0]
            return scan_from_image(image, source, modality, meta)
        step = float(np.median(gaps))
        if gaps.max() - gaps.min() > _GAP_RTOL * step + _GAP_ATOL:
            raise ScanError(
                source,
                f"inconsistent slice spacing: gaps from {gaps.min():.3g} to {gaps.max():.3g} mm (missing slices?)",
            )
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames([files[i] for i in order])
        try:
            image = reader.Execute()
        except RuntimeError as e:
            raise ScanError(source, f"cannot read DICOM pixel data ({itk_reason(e)})") from None
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise ScanError(source, f"colour DICOM ({image.GetNumberOfComponentsPerPixel()} components) is not supported")
    spacing = list(image.GetSpacing())
    spacing[2] = step
    image.SetSpacing(spacing)
    return scan_from_image(image, source, modality, meta)
