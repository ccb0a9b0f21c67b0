"""One name per concept (``patch``, ``val_fraction``, ``test_fraction``, as the flags say), and
what earlier releases wrote under the former names (config.yaml, --config files, stage.json)
still reads: as the current names, with a warning, or refused when both names are given."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
import yaml

from semgen.discovery.config import DiscoveryConfig
from semgen.finetune.config import FinetuneConfig
from semgen.finetune.evaluation import EvaluateConfig
from semgen.stage import CLAIM_FILE, FolderClaimError, claim_folder, flag
from semgen.training.config import PretrainConfig
from semgen.utils.config import build_config

FORMER = {
    DiscoveryConfig: ({"patch_size": [32, 32, 16]}, {"patch": (32, 32, 16)}),
    PretrainConfig: ({"validation_fraction": 0.3}, {"val_fraction": 0.3}),
    FinetuneConfig: ({"data": "d", "out": "o", "validation": 0.1, "test": 0.3}, {"val_fraction": 0.1, "test_fraction": 0.3}),
    EvaluateConfig: ({"validation": 0.1, "test": 0.3}, {"val_fraction": 0.1, "test_fraction": 0.3}),
}


@pytest.mark.parametrize("cls", list(FORMER), ids=lambda c: c.__name__)
def test_a_config_file_with_former_names_reads_as_the_current_ones(cls, tmp_path, caplog):
    old, current = FORMER[cls]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(old))
    with caplog.at_level(logging.WARNING):
        cfg = build_config(cls, path)
    assert {k: getattr(cfg, k) for k in current} == current
    assert all(f"{name!r} is now called {cls.RENAMED[name]!r}" in caplog.text for name in old if name in cls.RENAMED)
    both = {**old, **{cls.RENAMED[k]: v for k, v in old.items() if k in cls.RENAMED}}
    path.write_text(yaml.safe_dump({k: list(v) if isinstance(v, tuple) else v for k, v in both.items()}))
    with pytest.raises(ValueError, match="former name of"):
        build_config(cls, path)


@pytest.mark.parametrize("cls", [DiscoveryConfig, PretrainConfig, FinetuneConfig, EvaluateConfig], ids=lambda c: c.__name__)
def test_every_field_is_named_as_its_flag_and_former_names_are_gone(cls):
    fields = {f.name for f in dataclasses.fields(cls)}
    assert not fields & set(cls.RENAMED) and set(cls.RENAMED.values()) <= fields
    assert not fields & {"patch_size", "validation", "validation_fraction", "test"}
    assert {flag(name) for name in fields & {"patch", "val_fraction", "test_fraction"}} <= {"--patch", "--val-fraction", "--test-fraction"}


def test_a_folder_claimed_by_an_earlier_release_is_continued_and_other_options_still_refused(tmp_path):
    cfg = DiscoveryConfig(patch=(16, 16, 8), seed=2)
    root = tmp_path / "patterns"
    root.mkdir()
    identity = cfg.identity()
    former = {("patch_size" if k == "patch" else k): v for k, v in identity.items()}
    (root / CLAIM_FILE).write_text(json.dumps({"stage": "discover", "identity": former}))
    (root / "classes.json").write_text("{}")
    with claim_folder(root, stage="discover", identity=identity, outputs=("classes.json",), config=cfg) as claim:
        assert claim.resumed
    assert json.loads((root / CLAIM_FILE).read_text())["identity"] == identity  # rewritten under the current names
    (root / CLAIM_FILE).write_text(json.dumps({"stage": "discover", "identity": former}))
    other = dataclasses.replace(cfg, patch=(8, 8, 8))
    with pytest.raises(FolderClaimError, match=r"patch: \[16, 16, 8\] -> \[8, 8, 8\]"):
        with claim_folder(root, stage="discover", identity=other.identity(), outputs=("classes.json",), config=other):
            pass

