from __future__ import annotations

import subprocess
import sys

import pytest

from semgen import __version__
from semgen.cli import VERBS, main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_every_verb() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "semgen", "--help"], capture_output=True, text=True, encoding="utf-8", check=True
    ).stdout
    for verb in VERBS:
        assert verb in out


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_has_help(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([verb, "--help"])
    assert e.value.code == 0
    assert "usage: semgen" in capsys.readouterr().out


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(tmp_path / "missing.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("semgen inspect: error: ") and "missing.safetensors" in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(ValueError):
        main(["--verbose", "inspect", str(tmp_path / "missing.safetensors")])
