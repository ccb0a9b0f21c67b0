"""Find the scans in any mix of files and folders, and give each a stable, unique id.

A folder is walked recursively. Image files are recognised by suffix, DICOM files by
suffix or by their "DICM" marker; DICOM files in a folder are grouped into series by
SeriesInstanceUID (so a messy folder of many patients works), and series of an
unwanted modality are reported, not read. Folders named like label maps or masks
(``labels``, ``masks``, ``segmentations`` ...) and files whose name says so
(``case_seg.nii.gz``, ``chest_ct_labels.nii.gz``) are skipped with a reason: they look
like scans but are not. Everything that is not used becomes one report entry
``{"path", "id", "reason"}`` in ``skipped`` or ``failed``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

from semgen.io.dicom import DICOM_MODALITIES, find_dicom_series, read_dicom_series
from semgen.io.patients import patient_from_name
from semgen.io.readers import (
    DICOM_SUFFIXES,
    ITK_SUFFIXES,
    NUMPY_SUFFIXES,
    PICTURE_SUFFIXES,
    is_dicom_file,
    read_scan,
    scan_stem,
    scan_suffix,
)
from semgen.io.scan import Scan, missing_reason

# file stems naming a label map or mask ("case_seg", "chest_ct_labels", "mask-01")
LABEL_NAME = re.compile(r"(?:^|[_.-])(?:labels?|seg|segmentations?|masks?)(?:$|[_.-])", re.IGNORECASE)
LABEL_FOLDERS = frozenset({"labels", "label", "labelstr", "labelsts", "masks", "mask", "segmentations", "seg", "gt"})
# data files that belong to a header of the same stem (MetaImage .raw, Analyze/NRRD detached data)
_DATA_SUFFIXES = (".raw", ".zraw", ".img", ".raw.gz", ".img.gz")
_HEADER_SUFFIXES = (".mhd", ".nhdr", ".hdr")


@dataclasses.dataclass(frozen=True)
class ScanSource:
    """One scan to prepare: a file, or a DICOM series (``files``) found in folder ``path``."""

    path: str
    name: str
    kind: str = "file"
    files: tuple[str, ...] = ()
    series_uid: str = ""
    modality_tag: str = ""
    patient: str = ""
    parents: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        """What identifies this input across runs: its path and (for DICOM) series UID."""
        return (self.path, self.series_uid)


def entry(path: str | os.PathLike, reason: str, id: str = "") -> dict[str, str]:
    """One report line: ``{"path", "id", "reason"}``."""
    return {"path": str(path), "id": id, "reason": reason}


def safe_id(text: str) -> str:
    """A filesystem- and shell-safe id: letters, digits, ``.``, ``_``, ``-`` only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-") or "scan"


def _dicom_sources(
    folder: str, candidates: list[str], modality: str | None, skipped: list, failed: list
) -> list[ScanSource]:
    series, problems = find_dicom_series(folder)
    failed.extend(entry(path, reason) for path, reason in problems)
    covered = {f for s in series for f in s.files} | {path for path, _ in problems}
    failed.extend(entry(f, "not a readable DICOM file") for f in candidates if f not in covered)
    sources = []
    for s in series:
        mapped = DICOM_MODALITIES.get(s.modality_tag)
        label = f"DICOM series {s.description or s.uid} ({len(s.files)} files)"
        if modality is None and mapped is None:
            skipped.append(
                entry(
                    folder,
                    f"{label}: modality {s.modality_tag or 'missing'} is not one of "
                    f"{', '.join(DICOM_MODALITIES)}; pass --modality to prepare it anyway",
                )
            )
            continue
        if modality is not None and mapped is not None and mapped != modality:
            skipped.append(entry(folder, f"{label}: modality {s.modality_tag}, not the requested {modality}"))
            continue
        if len(series) == 1:
            name, parents = Path(folder).name, Path(folder).parent.parts
        else:
            name = "_".join(p for p in (s.patient, s.description, s.number) if p) or s.uid[-12:]
            parents = Path(folder).parts
        sources.append(
            ScanSource(
                path=folder,
                name=safe_id(name),
                kind="dicom",
                files=s.files,
                series_uid=s.uid,
                modality_tag=s.modality_tag,
                patient=s.patient,
                parents=parents,
            )
        )
    return sources


def _folder(folder: str, filenames: list[str], modality: str | None, skipped: list, failed: list) -> list[ScanSource]:
    headers = {scan_stem(f).lower() for f in filenames if scan_suffix(f) in _HEADER_SUFFIXES}
    sources: list[ScanSource] = []
    dicom: list[str] = []
    for name in sorted(filenames):
        path = os.path.join(folder, name)
        suffix = scan_suffix(name)
        data_suffix = next((d for d in _DATA_SUFFIXES if name.lower().endswith(d)), None)
        if data_suffix and name[: -len(data_suffix)].lower() in headers:
            continue
        if suffix in ITK_SUFFIXES + NUMPY_SUFFIXES + PICTURE_SUFFIXES:
            if LABEL_NAME.search(scan_stem(name)):
                skipped.append(entry(path, "file name marks a label map or mask, not a scan"))
                continue
            sources.append(ScanSource(path=path, name=safe_id(scan_stem(name)), parents=Path(folder).parts))
        elif suffix in DICOM_SUFFIXES or is_dicom_file(path):
            dicom.append(path)
        else:
            skipped.append(entry(path, "not a recognised image format"))
    if dicom:
        sources.extend(_dicom_sources(folder, dicom, modality, skipped, failed))
    return sources


def find_sources(
    inputs: Iterable[str | os.PathLike], *, modality: str | None = None
) -> tuple[list[ScanSource], list[dict[str, str]], list[dict[str, str]]]:
    """Every scan under ``inputs`` (files and folders, walked recursively).

    ``modality`` ("CT", "MR", "XR") keeps only DICOM series of that modality; without it,
    DICOM series of unsupported modalities are skipped. Returns (sources sorted by path,
    skipped entries, failed entries).
    """
    sources: list[ScanSource] = []
    skipped: list[dict[str, str]] = []
    failed: list[dict[str, str]] = []
    for given in inputs:
        root = os.path.abspath(given)
        if not os.path.exists(root):
            failed.append(entry(given, missing_reason(given)))
            continue
        if not os.access(root, os.R_OK):
            failed.append(entry(given, "permission denied"))
            continue
        if os.path.isfile(root):
            sources.extend(_folder(os.path.dirname(root), [os.path.basename(root)], modality, skipped, failed))
            continue
        found_any = False

        def unreadable(error: OSError) -> None:
            failed.append(entry(error.filename, f"cannot list folder ({error.strerror})"))

        for folder, subfolders, filenames in os.walk(root, onerror=unreadable):
            kept = []
            for sub in sorted(subfolders):
                if sub.startswith("."):
                    skipped.append(entry(os.path.join(folder, sub), "hidden folder"))
                elif sub.lower() in LABEL_FOLDERS:
                    skipped.append(entry(os.path.join(folder, sub), "folder of label maps or masks, not scans"))
                else:
                    kept.append(sub)
            subfolders[:] = kept
            if filenames:
                found_any = True
                sources.extend(_folder(folder, filenames, modality, skipped, failed))
            elif not subfolders and folder != root:
                skipped.append(entry(folder, "empty folder"))
        if not found_any:
            failed.append(entry(given, "empty folder: no files to prepare"))
    sources.sort(key=lambda s: s.key)
    return sources, skipped, failed


def assign_ids(sources: list[ScanSource], reserved: Mapping[tuple[str, str], str] | None = None) -> list[str]:
    """A unique id per source, stable across runs: the file stem (or series folder name) when
    that is unique, else prefixed with as many parent folder names as needed, else suffixed
    with a hash of the path. ``reserved`` maps the keys of sources prepared earlier to their
    ids, which they keep and nobody else gets."""
    reserved = dict(reserved or {})
    ids: dict[tuple[str, str], str] = {s.key: reserved[s.key] for s in sources if s.key in reserved}
    taken = {i.lower() for i in reserved.values()}
    pending = [s for s in sources if s.key not in ids]
    for depth in range(4):
        groups: dict[str, list[tuple[str, ScanSource]]] = defaultdict(list)
        for s in pending:
            parts = s.parents[max(0, len(s.parents) - depth) :] if depth else ()
            candidate = safe_id("_".join([*parts, s.name]))
            groups[candidate.lower()].append((candidate, s))
        pending = []
        for lowered, members in groups.items():
            if len(members) == 1 and lowered not in taken:
                candidate, s = members[0]
                ids[s.key] = candidate
                taken.add(lowered)
            else:
                pending.extend(s for _, s in members)
    for s in pending:
        ids[s.key] = f"{s.name}_{hashlib.sha1('|'.join(s.key).encode()).hexdigest()[:8]}"
    return [ids[s.key] for s in sources]


def read_source(
    source: ScanSource,
    modality: str | None = None,
    array_spacing: tuple[float, ...] | None = None,
    array_axes: str | None = None,
) -> Scan:
    """Read one found source (a file or a DICOM series) into a canonical :class:`Scan`, with
    ``meta["patient"]`` set (DICOM tag, else the series folder, else
    :func:`~semgen.io.patients.patient_from_name`). ``array_spacing``
    and ``array_axes`` declare the geometry of NumPy inputs. Raises ``ScanError``."""
    if source.kind == "dicom":
        scan = read_dicom_series(source.files, source.path, modality=modality)
        scan.meta["patient"] = scan.meta.get("patient") or source.patient or source.name
        return scan
    numpy = scan_suffix(source.path) in NUMPY_SUFFIXES
    scan = read_scan(
        source.path,
        modality=modality,
        spacing=array_spacing if numpy else None,
        axis_order=array_axes if numpy else None,
    )
    scan.meta.setdefault("patient", patient_from_name(source.path))
    return scan
