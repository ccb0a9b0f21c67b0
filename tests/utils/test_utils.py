from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from semgen.utils.config import build_config, save_config
from semgen.utils.io import atomic_write, read_json, save_npy, write_json
from semgen.utils.seeding import derive_seed, numpy_rng, torch_generator


def test_atomic_write_leaves_nothing_on_error(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_json_and_npy_round_trip(tmp_path: Path) -> None:
    write_json(tmp_path / "x.json", {"a": np.float32(1.5), "b": np.arange(3), "c": tmp_path})
    assert read_json(tmp_path / "x.json") == {"a": 1.5, "b": [0, 1, 2], "c": str(tmp_path)}
    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    save_npy(tmp_path / "x.npy", arr)
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy", mmap_mode="r"), arr)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json"):
        read_json(tmp_path / "bad.json")


def test_seeds_are_deterministic_and_independent() -> None:
    assert derive_seed(1, "worker", 0) == derive_seed(1, "worker", 0)
    assert derive_seed(1, "worker", 0) != derive_seed(1, "worker", 1)
    assert derive_seed(1, "a") != derive_seed(2, "a")
    assert numpy_rng(3, "x").random() == numpy_rng(3, "x").random()
    a = torch.rand(4, generator=torch_generator(5, "t"))
    b = torch.rand(4, generator=torch_generator(5, "t"))
    assert torch.equal(a, b)


@dataclasses.dataclass
class _Cfg:
    n: int = 3
    lr: float = 1e-3
    size: tuple[int, ...] = (64, 64, 32)
    name: str | None = None


def test_config_layers_and_errors(tmp_path: Path) -> None:
    y = tmp_path / "c.yaml"
    y.write_text("n: 5\nlr: 1\nsize: [32, 32, 16]\n")
    cfg = build_config(_Cfg, y, n=7, name=None)
    assert cfg == _Cfg(n=7, lr=1.0, size=(32, 32, 16), name=None)
    save_config(cfg, tmp_path / "out.yaml")
    assert build_config(_Cfg, tmp_path / "out.yaml") == cfg
    (tmp_path / "bad.yaml").write_text("nn: 5\n")
    with pytest.raises(ValueError, match="bad.yaml.*unknown option.*nn"):
        build_config(_Cfg, tmp_path / "bad.yaml")
    with pytest.raises(ValueError, match="--n"):
        build_config(_Cfg, n="five")


def test_atomic_files_follow_the_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "p.txt") as f:
            f.write("x")
    finally:
        os.umask(old)
    assert (tmp_path / "p.txt").stat().st_mode & 0o777 == 0o644
