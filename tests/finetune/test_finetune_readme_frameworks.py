"""The README's "Use with MONAI" and "Use with nnU-Net" sections run as written (paths
replaced by tiny ones, speed flags added)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from semgen.cli import main
from test_finetune_layouts import nnunet_raw

README = Path(__file__).resolve().parents[2] / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"### {title}")
    end = text.find("\n#", start + 4)
    return text[start: end if end > 0 else None]


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def nnunet_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nnunet")
    nnunet_raw(root / "nnUNet_raw" / "Dataset001_Balls")
    return root


FAST = ["--epochs", "2", "--width", "4", "--patch", "16x16x8", "--device", "cpu"]


@pytest.mark.slow
def test_use_with_nnunet_commands_run(nnunet_dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(nnunet_dataset)
    commands = [shlex.split(line) for block in _blocks(_section("Use with nnU-Net"), "bash") for line in block.splitlines()]
    assert [c[:2] for c in commands] == [["semgen", "finetune"], ["semgen", "predict"]]
    finetune = [a if a != "runs/demo" else "scratch" for a in commands[0][1:]] + FAST  # no pre-trained run here
    assert main(finetune) == 0
    assert main(commands[1][1:]) == 0
    assert (nnunet_dataset / "predictions" / "balls" / "new_000.nii.gz").is_file()


@pytest.mark.slow
def test_use_with_monai_snippet_runs(nnunet_dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("monai", reason="MONAI is optional (pip install monai)")
    monkeypatch.chdir(nnunet_dataset)
    assert main(["finetune", "nnUNet_raw/Dataset001_Balls", "--out", "results/demo-organs", "--trials", "1", *FAST]) == 0
    (code,) = _blocks(_section("Use with MONAI"), "python")
    scope: dict = {}
    exec(compile(code.replace("96, 96, 48", "32, 24, 16"), "README", "exec"), scope)
    assert tuple(scope["labels"].shape) == (1, 32, 24, 16) and int(scope["labels"].max()) <= 1
