"""Model cards: front matter a Hugging Face hub parses, a body of the checkpoint's facts, and
``semgen inspect`` printing the same facts (one generator)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from semgen.card import card_facts, describe_window, model_card, write_card
from semgen.cli import main
from semgen.models import UNet, save_checkpoint


def _front(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    metadata = {
        "patch_size": [16, 16, 8], "spacing": [1.0, 1.0, 2.0], "method": "semantic-genesis", "manifest_hash": "abc123",
        "intensity_window": {"kind": "ct", "low": -1000.0, "high": 1000.0},
        "extra": {"modality": "CT", "scans": 12, "epoch": 3, "val_loss": 0.0123, "val_metrics": {"acc_cls": 0.75},
                  "seed": 7, "datasets": ["lidc"], "pretrain_config": {"epochs": 5}},
    }
    save_checkpoint(tmp_path / "run" / "model.safetensors", UNet(width=4, num_classes=3), metadata)
    return tmp_path / "run"


def test_card_front_matter_and_body_say_what_the_checkpoint_is(run: Path) -> None:
    card = write_card(run / "model.safetensors", datasets=["my-ct"])
    text = card.read_text()
    front = _front(text)
    assert front["library_name"] == "semgen" and front["license"] == "unknown"
    assert front["datasets"] == ["lidc", "my-ct"]
    assert {"semgen", "semantic-genesis", "ct", "3d", "unet"} <= set(front["tags"])
    assert "pipeline_tag" not in front  # a pre-trained encoder-decoder solves no task yet
    for fact in ("16x16x8", "1x1x2 mm", "CT HU -1000..1000 -> [0, 1]", "abc123", "**scans**: 12",
                 "best epoch 3 of at most 5", "loss 0.0123, acc_cls 0.7500", "width=4", "num_classes=3"):
        assert fact in text, fact
    assert "load_checkpoint(\"model.safetensors\")" in text and "sliding_window_inference" in text
    assert "semgen finetune DATA --init model.safetensors" in text


def test_inspect_prints_the_cards_facts(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["inspect", str(run)]) == 0
    printed = capsys.readouterr().out
    meta = json.loads((run / "model.json").read_text())
    facts = card_facts(meta)
    card = model_card(meta)
    for _, items in facts:
        for label, value in items:
            assert f"{label}: {value}" in printed and f"**{label}**: {value}" in card


def test_window_descriptions() -> None:
    assert describe_window({"kind": "mr", "percentiles": [0.5, 99.5], "low": 1, "high": 2}) == "MR per-volume percentiles 0.5..99.5 -> [0, 1]"
    assert describe_window({"kind": "xr", "low": 0, "high": 255}) == "min-max per image -> [0, 1]"
    assert describe_window(None, "MR").startswith("MR per-volume percentiles 0.5..99.5")


def test_export_holds_its_own_card_and_keeps_the_runs(run: Path, tmp_path: Path) -> None:
    write_card(run / "model.safetensors")
    before = (run / "README.md").read_text()
    assert main(["export", str(run), "--part", "encoder", "--out", str(tmp_path / "hub" / "encoder.safetensors")]) == 0
    text = (tmp_path / "hub" / "README.md").read_text()
    assert "encoder part of" in text and "load_pretrained(model, \"encoder.safetensors\")" in text
    assert main(["export", str(run)]) == 0  # into the run folder: a card of its own name
    assert (run / "model_full.README.md").is_file() and (run / "README.md").read_text() == before
