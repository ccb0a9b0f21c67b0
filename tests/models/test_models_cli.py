"""``semgen inspect`` and ``semgen export``: output, plain-PyTorch loading, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from semgen.cli import main
from semgen.models import UNet, load_checkpoint, load_pretrained, save_checkpoint


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = UNet(width=4, num_classes=3)
    save_checkpoint(tmp_path / "run" / "model.safetensors", model, {"patch_size": [16, 16, 8], "method": "semantic-genesis"})
    return tmp_path / "run"


def test_inspect_text_and_json(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(run_dir)]) == 0
    text = capsys.readouterr().out
    assert "semgen checkpoint" in text and "width=4" in text and "semantic-genesis" in text
    assert main(["inspect", str(run_dir / "model.json"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    counts = info["parameters"]
    model = UNet(width=4, num_classes=3)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["encoder"] + counts["decoder"] + counts["head"] == counts["total"]
    assert info["metadata"]["patch_size"] == [16, 16, 8]


def test_inspect_bad_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "x.pt").write_bytes(b"\x80\x02garbage")
    assert main(["inspect", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert "x.pt" in err and "Traceback" not in err


def test_export_encoder_loads_into_plain_pytorch(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, _ = load_checkpoint(run_dir)
    out = run_dir.parent / "enc.safetensors"
    assert main(["export", str(run_dir), "--part", "encoder", "--out", str(out), "--seed", "1"]) == 0
    assert "encoder" in capsys.readouterr().out
    sd = load_file(str(out))
    assert set(sd) == {k for k in source.state_dict() if k.startswith("down_tr")}
    plain = UNet(width=4)
    result = plain.load_state_dict(sd, strict=False)
    assert not result.unexpected_keys and all(k.startswith(("up_tr", "out_tr")) for k in result.missing_keys)
    for k, v in sd.items():
        assert torch.equal(plain.state_dict()[k], v)
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["export"]["part"] == "encoder" and side["export"]["config"]["seed"] == 1
    report = load_pretrained(UNet(width=4, out_channels=2), out)
    assert len(report.loaded) == len(sd)


def test_export_full_pt_round_trips(run_dir: Path) -> None:
    assert main(["export", str(run_dir / "model.safetensors"), "--format", "pt"]) == 0
    out = run_dir / "model_full.pt"
    sd = torch.load(out, weights_only=True)
    source, _ = load_checkpoint(run_dir)
    assert list(sd) == list(source.state_dict())
    again, meta = load_checkpoint(out)
    assert meta["export"]["format"] == "pt"
    for k, v in source.state_dict().items():
        assert torch.equal(again.state_dict()[k], v)


def test_export_errors(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(run_dir), "--out", str(run_dir / "model.safetensors")]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert main(["export", str(run_dir), "--format", "pt", "--out", str(run_dir / "x.safetensors")]) == 2
    assert main(["export", str(run_dir.parent / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err
