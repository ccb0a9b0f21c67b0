"""Atomic file writes and JSON helpers.

Every file semgen writes goes through a temporary name in the same folder and an
``os.replace``, so an interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _new_temp(path: Path, suffix: str) -> tuple[int, str]:
    """A temporary file beside ``path`` with the permissions a plain ``open`` would give
    (``mkstemp`` alone makes it 0600)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, tmp


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", **open_kwargs: Any) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success rename it onto ``path``.

    On an exception the temporary file is removed and ``path`` is untouched. Text is UTF-8
    whatever the locale.
    """
    if "b" not in mode:
        open_kwargs.setdefault("encoding", "utf-8")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_temp(path, ".tmp")
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for a library that writes files itself
    (SimpleITK, matplotlib, safetensors); rename it onto ``path`` on success, with the
    permissions a plain ``open`` would give (a library may recreate the file as 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _new_temp(path, "".join(path.suffixes) or ".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes as lowercase hex (what ``sha256sum`` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ChecksumError(ValueError):
    """A file whose bytes no longer match the SHA-256 recorded when it was written."""


def check_sha256(path: str | os.PathLike, expected: str | None, recorded_in: str | os.PathLike) -> None:
    """Raise :class:`ChecksumError` naming ``path`` when its SHA-256 is not ``expected``
    (the value recorded in ``recorded_in``); ``expected=None`` (a file from before checksums) passes."""
    if expected is None:
        return
    actual = file_sha256(path)
    if actual != expected:
        raise ChecksumError(
            f"{path}: damaged or changed after it was written (SHA-256 {actual[:16]}..., {Path(recorded_in).name} "
            f"records {str(expected)[:16]}...); restore it from a copy or write it again"
        )


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def to_json(obj: Any, indent: int | None = 2) -> str:
    """Serialise ``obj`` (NumPy scalars/arrays and paths allowed) as JSON text."""
    return json.dumps(obj, indent=indent, default=_json_default, sort_keys=False)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_write(path) as f:
        f.write(to_json(obj) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file, with an error that names the file when it is not valid JSON."""
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save a ``.npy`` array atomically (readable later with ``np.load(mmap_mode='r')``)."""
    with atomic_write(path, "wb") as f:
        np.save(f, np.ascontiguousarray(array))


def print_json_result(result: dict, out: str | os.PathLike | None = None) -> None:
    """Print ``result`` as one compact JSON line (the last line a benchmark prints) and
    optionally save it, indented, to ``out``."""
    if out:
        write_json(out, result)
    print(to_json(result, indent=None), flush=True)
