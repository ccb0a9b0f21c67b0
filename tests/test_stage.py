"""The stage contract: validation at construction, the folder lock, identity and cleanup."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import subprocess
import sys
from typing import ClassVar

import pytest
import yaml

from semgen.stage import (
    CLAIM_FILE,
    LOCK_FILE,
    ConfigError,
    FolderClaimError,
    FolderInUseError,
    StageConfig,
    check_at_least,
    claim_folder,
)


@dataclasses.dataclass
class ToyConfig(StageConfig):
    IDENTITY: ClassVar[tuple[str, ...]] = ("seed", "size")

    seed: int = 0
    size: int = 4
    workers: int = 1

    def validate(self) -> None:
        check_at_least(self, ("size", "workers"), 1)


def claim(root, cfg: ToyConfig, **kwargs):
    return claim_folder(root, stage="toy", identity=cfg.identity(), outputs=("out.txt",), config=cfg, **kwargs)


def test_validation_runs_at_construction_and_names_the_flag():
    with pytest.raises(ConfigError, match="^--size must be >= 1, got 0$"):
        ToyConfig(size=0)
    with pytest.raises(ConfigError, match="--workers"):
        dataclasses.replace(ToyConfig(), workers=-1)


def test_identity_is_the_declared_fields_only():
    assert ToyConfig(seed=3, size=5, workers=9).identity() == {"seed": 3, "size": 5}


def test_claim_saves_identity_and_config_and_releases_the_lock(tmp_path):
    root = tmp_path / "run"
    with claim(root, ToyConfig(seed=1)) as c:
        assert c.created and not c.resumed
        lock = json.loads((root / LOCK_FILE).read_text())
        assert lock["pid"] == os.getpid() and lock["host"] == socket.gethostname()
        (root / "out.txt").write_text("done")
    assert not (root / LOCK_FILE).exists()
    assert json.loads((root / CLAIM_FILE).read_text()) == {"stage": "toy", "identity": {"seed": 1, "size": 4}}
    assert yaml.safe_load((root / "config.yaml").read_text())["workers"] == 1


def test_same_identity_resumes_other_identity_is_refused_overwrite_starts_again(tmp_path):
    root = tmp_path / "run"
    with claim(root, ToyConfig(seed=1)):
        (root / "out.txt").write_text("one")
    with claim(root, ToyConfig(seed=1, workers=4)) as again:
        assert again.resumed
    with pytest.raises(FolderClaimError, match=r"other options \(seed: 1 -> 2\).*--overwrite"):
        with claim(root, ToyConfig(seed=2)):
            pass
    assert (root / "out.txt").read_text() == "one"
    with claim(root, ToyConfig(seed=2), overwrite=True) as fresh:
        assert not fresh.resumed and not (root / "out.txt").exists()


def test_resume_false_refuses_a_finished_run_with_the_hint(tmp_path):
    with claim(tmp_path, ToyConfig()):
        pass
    with pytest.raises(FolderClaimError, match="pass --resume"):
        with claim(tmp_path, ToyConfig(), resume=False, resume_hint="pass --resume"):
            pass


def test_unknown_files_are_refused(tmp_path):
    (tmp_path / "out.txt").write_text("someone else's")
    with pytest.raises(FolderClaimError, match="out.txt from an unknown run"):
        with claim(tmp_path, ToyConfig()):
            pass
    assert (tmp_path / "out.txt").read_text() == "someone else's"


def test_a_file_as_folder_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(FolderClaimError, match="not a folder"):
        with claim(tmp_path / "f", ToyConfig()):
            pass


def test_a_live_owner_is_refused_by_name(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname(), "stage": "prepare"}))
        with pytest.raises(FolderInUseError, match=f"in use by semgen prepare \\(pid {sleeper.pid} on"):
            with claim(tmp_path, ToyConfig()):
                pass
        assert (tmp_path / LOCK_FILE).exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_the_same_process_cannot_claim_a_folder_twice(tmp_path):
    with claim(tmp_path, ToyConfig()):
        with pytest.raises(FolderInUseError, match=f"pid {os.getpid()}"):
            with claim(tmp_path, ToyConfig()):
                pass


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "stage": "toy"}))
    with caplog.at_level(logging.WARNING, logger="semgen.stage"):
        with claim(tmp_path, ToyConfig()) as c:
            assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert c.root == tmp_path
    assert any(f"pid {dead.pid}" in r.getMessage() and "no longer running" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc to tell a zombie")
def test_a_killed_but_unreaped_owner_counts_as_dead(tmp_path):
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        killed.kill()
        os.waitid(os.P_PID, killed.pid, os.WEXITED | os.WNOWAIT)  # exited, still a zombie: not reaped
        (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": killed.pid, "host": socket.gethostname(), "stage": "toy"}))
        with claim(tmp_path, ToyConfig()):
            assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    finally:
        killed.wait()


def test_a_lock_from_another_host_is_refused(tmp_path):
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere", "stage": "toy"}))
    with pytest.raises(FolderInUseError, match="on host elsewhere.*delete"):
        with claim(tmp_path, ToyConfig()):
            pass


def test_a_failed_run_removes_the_folder_it_created(tmp_path):
    root = tmp_path / "new"
    with pytest.raises(RuntimeError):
        with claim(root, ToyConfig(seed=1)):
            raise RuntimeError("boom")
    assert not root.exists()
    with claim(root, ToyConfig(seed=2)) as c:  # the corrected re-run is not blocked
        assert not c.resumed


def test_a_failed_run_keeps_real_outputs_to_resume_and_cleans_an_existing_folder(tmp_path):
    keep = tmp_path / "keep"
    with pytest.raises(RuntimeError):
        with claim(keep, ToyConfig()):
            (keep / "out.txt").write_text("partial")
            raise RuntimeError("boom")
    assert (keep / "out.txt").exists() and (keep / CLAIM_FILE).exists() and not (keep / LOCK_FILE).exists()
    with claim(keep, ToyConfig()) as c:
        assert c.resumed
    existing = tmp_path / "existing"
    existing.mkdir()
    with pytest.raises(RuntimeError):
        with claim(existing, ToyConfig()):
            raise RuntimeError("boom")
    assert existing.is_dir() and not any(existing.iterdir())


def test_an_inactive_claim_touches_nothing(tmp_path):
    with claim(tmp_path / "rank1", ToyConfig(), active=False) as c:
        assert not c.resumed
    assert not (tmp_path / "rank1").exists()
