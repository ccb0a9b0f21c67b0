"""The stage contract shared by every verb that writes a folder (phantoms, prepare, discover,
pretrain, finetune, predict).

A stage

1. takes a typed configuration, a dataclass deriving from :class:`StageConfig`, validated
   once, at construction (``__post_init__`` calls :meth:`StageConfig.validate`; every
   message names the command-line flag, e.g. ``--batch-size must be >= 1``);
2. claims its output folder with :func:`claim_folder`: a lock file holding the owner's pid
   and host (a live owner means a clear refusal naming it; a stale lock of a dead process
   on this host is taken over with a warning), then one decision between *continue*,
   *refuse* and *start again* from the folder's recorded identity (``stage.json``: the
   configuration fields that change the result, declared once per configuration in
   :attr:`StageConfig.IDENTITY`, plus what the stage adds, e.g. a hash of its input), and the
   resolved configuration saved as ``config.yaml``;
3. computes, and returns a typed result (a dataclass) that the command line prints.

A run that fails cleans what its claim created: a folder left holding only the claim's
own files is removed, so it never blocks the corrected re-run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import logging
import os
import shutil
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from semgen.utils.config import config_to_dict, save_config
from semgen.utils.io import write_json

log = logging.getLogger(__name__)

LOCK_FILE = ".semgen.lock"
CLAIM_FILE = "stage.json"
CONFIG_FILE = "config.yaml"


class ConfigError(ValueError):
    """An option out of range; the message names the command-line flag."""


class FolderInUseError(ValueError):
    """Another live process holds the output folder's lock."""


class FolderClaimError(ValueError):
    """The output folder holds another run (other options, another stage or unknown files)."""


class StageConfig:
    """Base of every stage configuration dataclass.

    ``IDENTITY``: the fields whose values change what the stage writes; a folder made with
    other values of these is refused without ``--overwrite`` and one made with the same
    values is continued. ``RENAMED``: former field names -> current ones; configuration files
    (:func:`semgen.utils.config.build_config`) and folders (``stage.json``) written by an
    earlier release are read through it. Subclasses override :meth:`validate` (raise
    :class:`ConfigError` naming the flag); it runs once, when the dataclass is constructed.
    """

    IDENTITY: ClassVar[tuple[str, ...]] = ()
    RENAMED: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for an option out of range."""

    def identity(self) -> dict[str, Any]:
        """The :attr:`IDENTITY` fields as plain values (lists, strings), fit for JSON."""
        values = config_to_dict(self)
        return {name: values[name] for name in self.IDENTITY}


# configuration fields whose flag is not the field's name (semgen.commands.options)
FLAGS = {"num_workers": "--workers"}


def flag(name: str) -> str:
    """The command-line flag of a configuration field: ``batch_size`` -> ``--batch-size``,
    ``num_workers`` -> ``--workers`` (:data:`FLAGS`)."""
    return FLAGS.get(name, "--" + name.replace("_", "-"))


def require(ok: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``ok``."""
    if not ok:
        raise ConfigError(message)


def check_at_least(cfg: Any, names: Iterable[str], minimum: float) -> None:
    """:class:`ConfigError` ``--NAME must be >= MINIMUM`` for the first field (not None) below ``minimum``."""
    for name in names:
        value = getattr(cfg, name)
        if value is not None and value < minimum:
            raise ConfigError(f"{flag(name)} must be >= {minimum}, got {value}")


# ---- the lock --------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs; a zombie (exited, not yet reaped by its
    parent, e.g. just killed by a test harness) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _read_lock(path: Path) -> dict[str, Any] | None:
    try:
        owner = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _create_lock(path: Path, owner: dict[str, Any]) -> bool:
    """Create ``path`` holding ``owner``, atomically and only if it does not exist."""
    tmp = path.with_name(f"{path.name}.{owner['pid']}.tmp")
    tmp.write_text(json.dumps(owner))
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def acquire_lock(root: Path, stage: str) -> Path:
    """Take ``root/.semgen.lock`` for this process; returns its path.

    Raises :class:`FolderInUseError` naming the owner when a live process (or a process on
    another host, which cannot be checked) holds it; takes over, with a warning, a lock left
    by a dead process of this host.
    """
    path = root / LOCK_FILE
    host = socket.gethostname()
    owner = {"pid": os.getpid(), "host": host, "stage": stage,
             "since": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    for _ in range(3):
        if _create_lock(path, owner):
            return path
        held = _read_lock(path)
        if held is None:
            continue
        pid, where = held.get("pid"), held.get("host")
        if isinstance(pid, int) and where == host and (pid == os.getpid() or _pid_alive(pid)):
            raise FolderInUseError(
                f"{root} is in use by semgen {held.get('stage', '?')} (pid {pid} on {host}, since "
                f"{held.get('since', '?')}); wait for it to finish or use another --out"
            )
        if isinstance(pid, int) and where != host:
            raise FolderInUseError(
                f"{root} is in use by semgen {held.get('stage', '?')} (pid {pid} on host {where}, since "
                f"{held.get('since', '?')}); wait for it to finish, use another --out, or delete {path} "
                "if that process is gone"
            )
        log.warning("%s: taking over the lock of semgen %s (pid %s on %s), which is no longer running",
                    root, held.get("stage", "?"), pid, where)
        path.unlink(missing_ok=True)
    raise FolderInUseError(f"{root}: could not take {path} (other processes keep claiming it); try again")


def release_lock(path: Path) -> None:
    """Remove the lock at ``path`` if this process holds it."""
    held = _read_lock(path)
    if held and held.get("pid") == os.getpid() and held.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


# ---- the claim -------------------------------------------------------------------------


@dataclasses.dataclass
class Claim:
    """A claimed output folder. ``resumed``: it held an earlier run of this stage with the same
    identity, which the stage continues; ``created``: the claim made the folder."""

    root: Path
    stage: str
    resumed: bool
    created: bool


def _differences(saved: dict[str, Any], identity: dict[str, Any]) -> str:
    keys = list(identity) + [k for k in saved if k not in identity]
    return "; ".join(f"{k}: {saved.get(k)!r} -> {identity.get(k)!r}" for k in keys if saved.get(k) != identity.get(k))


def _remove(root: Path, names: Iterable[str]) -> None:
    for name in names:
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _decide(root: Path, stage: str, identity: dict[str, Any], outputs: tuple[str, ...], overwrite: bool,
            resume: bool, resume_hint: str, renamed: dict[str, str]) -> bool:
    """Continue (True), start fresh (False) or refuse (:class:`FolderClaimError`): the one place
    where every stage's resume / refuse / overwrite is decided."""
    if overwrite:
        _remove(root, (*outputs, CLAIM_FILE, CONFIG_FILE))
        return False
    claim_path = root / CLAIM_FILE
    if not claim_path.is_file():
        leftovers = [name for name in (*outputs, CONFIG_FILE) if (root / name).exists()]
        if leftovers:
            raise FolderClaimError(
                f"{root} holds {', '.join(leftovers)} from an unknown run; use --overwrite to start again or another --out"
            )
        return False
    try:
        saved = json.loads(claim_path.read_text())
    except (OSError, ValueError):
        raise FolderClaimError(f"{claim_path}: unreadable; use --overwrite to start again or another --out") from None
    if saved.get("stage") != stage:
        raise FolderClaimError(
            f"{root} holds the output of semgen {saved.get('stage')}, not {stage}; use another --out"
        )
    saved_identity = {renamed.get(k, k): v for k, v in (saved.get("identity") or {}).items()}
    if saved_identity != identity:
        raise FolderClaimError(
            f"{root} holds a {stage} run made with other options ({_differences(saved_identity, identity)}); "
            "use --overwrite to start again or another --out"
        )
    if not resume:
        raise FolderClaimError(f"{root} already holds a {stage} run; {resume_hint}")
    return True


@contextlib.contextmanager
def claim_folder(
    root: str | os.PathLike,
    *,
    stage: str,
    identity: dict[str, Any],
    outputs: Iterable[str],
    config: Any = None,
    overwrite: bool = False,
    resume: bool = True,
    resume_hint: str = "use --overwrite to start again or another --out",
    active: bool = True,
) -> Iterator[Claim]:
    """Claim the output folder ``root`` for one run of ``stage`` (see the module docstring).

    ``identity``: plain values that decide the result (compared with the folder's
    ``stage.json``). ``outputs``: names of the files and folders the stage writes in ``root``
    (removed by ``overwrite``; any of them without a ``stage.json`` means an unknown run).
    ``resume=False``: an earlier run with the same identity is refused with ``resume_hint``
    instead of continued. ``config``: the resolved configuration dataclass, saved as
    ``config.yaml``; the identity of a folder made by an earlier release is read through its
    :attr:`StageConfig.RENAMED`. ``active=False`` (a torchrun rank other than 0) claims nothing.

    On an exception inside the block the lock is released, and a folder holding nothing but
    the claim's own files is cleaned (removed when the claim created it).
    """
    root = Path(root)
    outputs = tuple(outputs)
    if not active:
        yield Claim(root, stage, resumed=False, created=False)
        return
    if root.exists() and not root.is_dir():
        raise FolderClaimError(f"{root} exists and is not a folder; give another --out")
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        lock = acquire_lock(root, stage)
    except BaseException:
        if created:
            root.rmdir()
        raise
    try:
        renamed = getattr(config, "RENAMED", {})
        resumed = _decide(root, stage, identity, outputs, overwrite, resume, resume_hint, renamed)
        write_json(root / CLAIM_FILE, {"stage": stage, "identity": identity})
        if config is not None:
            save_config(config, root / CONFIG_FILE)
        yield Claim(root, stage, resumed=resumed, created=created)
    except BaseException:
        _clean_after_failure(root, created)
        raise
    finally:
        release_lock(lock)


def _clean_after_failure(root: Path, created: bool) -> None:
    """After a failed run: when the folder holds only the claim's files, remove them (and the
    folder, if the claim created it); a folder with real outputs is kept to resume from."""
    own = {LOCK_FILE, CLAIM_FILE, CONFIG_FILE}
    names = {p.name for p in root.iterdir()}
    if not names <= own:
        return
    _remove(root, (CLAIM_FILE, CONFIG_FILE))
    if created:
        with contextlib.suppress(OSError):
            (root / LOCK_FILE).unlink(missing_ok=True)
            root.rmdir()


__all__ = [
    "CLAIM_FILE",
    "CONFIG_FILE",
    "LOCK_FILE",
    "Claim",
    "ConfigError",
    "FolderClaimError",
    "FolderInUseError",
    "StageConfig",
    "acquire_lock",
    "check_at_least",
    "claim_folder",
    "flag",
    "release_lock",
    "require",
]
