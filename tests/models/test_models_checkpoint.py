"""Checkpoints: exact save/load round trip, metadata, and the loading policy over every layout."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from semgen.models import (
    CheckpointError,
    EncoderClassifier,
    UNet,
    describe_checkpoint,
    load_checkpoint,
    load_pretrained,
    save_checkpoint,
)


def _trained(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every tensor (weights and BN running stats) a distinctive value."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for v in model.state_dict().values():
            if v.is_floating_point():
                v.copy_(torch.rand(v.shape, generator=g) + 0.5)
            else:
                v.fill_(7)
    return model


def _assert_same_state(a: torch.nn.Module, b: torch.nn.Module, keys=None) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    for k in keys if keys is not None else sa:
        assert torch.equal(sa[k], sb[k]), k


def test_save_load_round_trip_is_exact(tmp_path: Path) -> None:
    model = _trained(UNet(spatial_dims=3, width=4, num_classes=3, norm="published"))
    meta_in = {
        "patch_size": [16, 16, 8],
        "spacing": [1.0, 1.0, 2.5],
        "intensity_window": {"kind": "ct", "low": -1000, "high": 1000},
        "method": "semantic-genesis",
        "manifest_hash": "abc123",
        "epochs": 3,
    }
    save_checkpoint(tmp_path / "run" / "model.safetensors", model, meta_in)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["model.json", "model.safetensors"]
    for source in (tmp_path / "run", tmp_path / "run" / "model.json", tmp_path / "run" / "model.safetensors"):
        loaded, meta = load_checkpoint(source)
        assert type(loaded) is UNet and loaded.architecture == model.architecture
        _assert_same_state(model, loaded)
    x = torch.rand(2, 1, 16, 16, 8)
    torch.testing.assert_close(loaded.eval()(x)[0], model.eval()(x)[0], rtol=0, atol=0)
    assert meta["format"] == "semgen-checkpoint" and meta["format_version"] == 1
    assert meta["spatial_dims"] == 3 and meta["in_channels"] == 1 and meta["out_channels"] == 1
    assert meta["num_classes"] == 3 and meta["axis_order"] == "XYZ" and meta["orientation"] == "LPS"
    assert meta["patch_size"] == [16, 16, 8] and meta["manifest_hash"] == "abc123"
    assert meta["extra"] == {"epochs": 3} and meta["semgen_version"]


def test_encoder_classifier_round_trip(tmp_path: Path) -> None:
    model = _trained(EncoderClassifier({"spatial_dims": 2, "width": 4, "encoder": "resnet18"}, 4))
    save_checkpoint(tmp_path / "clf.safetensors", model)
    loaded, meta = load_checkpoint(tmp_path / "clf.safetensors")
    assert type(loaded) is EncoderClassifier and meta["spatial_dims"] == 2
    _assert_same_state(model, loaded)


def test_save_rejects_contradicting_metadata(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="contradicts"):
        save_checkpoint(tmp_path / "m.safetensors", UNet(width=4), {"spatial_dims": 2})
    with pytest.raises(ValueError, match=".safetensors"):
        save_checkpoint(tmp_path / "m.pt", UNet(width=4), {})
    assert list(tmp_path.iterdir()) == []


def _published_state(width: int = 4, num_classes: int = 0, spatial_dims: int = 3, in_channels: int = 1):
    source = _trained(UNet(spatial_dims, in_channels, width=width, num_classes=num_classes), seed=1)
    return source, source.state_dict()


def test_loads_models_genesis_layout(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    source, sd = _published_state()
    path = tmp_path / "Genesis_Chest_CT.pt"
    torch.save({"epoch": 5, "state_dict": {f"module.{k}": v for k, v in sd.items()}, "optimizer_state_dict": {}}, path)
    model = UNet(width=4)
    with caplog.at_level(logging.INFO, logger="semgen.models.checkpoint"):
        report = load_pretrained(model, path)
    assert report.layout == "models-genesis"
    assert len(report.loaded) == 106 and not (report.missing or report.unexpected or report.mismatched)
    _assert_same_state(source, model)
    assert "loaded 106/106 tensors" in caplog.text


def test_loads_semantic_genesis_layout_and_drops_extras(tmp_path: Path) -> None:
    source, sd = _published_state(num_classes=6)
    weird = {}
    for k, v in sd.items():
        prefix = "module.classficationNet." if k.startswith(("down_tr", "clc_out")) else "module."
        weird[prefix + k] = v
    weird["module.projection_head.0.weight"] = torch.ones(3, 3)
    weird["module.prototypes.weight"] = torch.ones(5, 3)
    path = tmp_path / "semantic_genesis_chest_ct.pt"
    torch.save({"epoch": 1, "state_dict": weird, "best_loss": 0.1}, path)
    model = UNet(width=4, num_classes=6)
    report = load_pretrained(model, path)
    assert report.layout == "semantic-genesis"
    assert len(report.loaded) == 115 and not (report.missing or report.unexpected or report.mismatched)
    assert sorted(report.dropped) == ["module.projection_head.0.weight", "module.prototypes.weight"]
    _assert_same_state(source, model)

    unet = UNet(width=4)  # the published head is unexpected for a UNet without one, not an error
    report = load_pretrained(unet, path)
    assert sorted({k.split(".")[0] for k in report.unexpected}) == ["clc_out"]


def test_loads_bare_state_dict_and_our_checkpoint_into_other_heads(tmp_path: Path) -> None:
    source, sd = _published_state(num_classes=3)
    torch.save(sd, tmp_path / "bare.pth")
    seg = UNet(width=4, out_channels=4)  # segmentation with 4 classes: out_tr differs
    report = load_pretrained(seg, tmp_path / "bare.pth")
    assert report.layout == "state-dict"
    assert [m[0] for m in report.mismatched] == ["out_tr.final_conv.weight", "out_tr.final_conv.bias"]
    assert report.mismatched[0][1:] == ((1, 8, 1, 1, 1), (4, 8, 1, 1, 1))
    _assert_same_state(source, seg, [k for k in sd if not k.startswith(("out_tr", "clc_out"))])

    save_checkpoint(tmp_path / "ours.safetensors", source)
    clf = EncoderClassifier({"width": 4}, 2)
    report = load_pretrained(clf, tmp_path / "ours.json")
    assert report.layout == "semgen" and report.missing == ["fc.weight", "fc.bias"]
    _assert_same_state(source, clf, list(clf.encoder.state_dict()))


def test_errors_for_files_that_are_not_checkpoints(tmp_path: Path) -> None:
    model = UNet(width=4)
    (tmp_path / "notes.pt").write_text("hello, I am not a checkpoint\n")
    (tmp_path / "noise.safetensors").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(CheckpointError, match="notes.pt: not a PyTorch checkpoint"):
        load_pretrained(model, tmp_path / "notes.pt")
    with pytest.raises(CheckpointError, match="noise.safetensors: not a readable safetensors"):
        load_pretrained(model, tmp_path / "noise.safetensors")
    with pytest.raises(CheckpointError, match="no such file"):
        load_pretrained(model, tmp_path / "absent.pt")
    torch.save({"epoch": 3, "lr": 0.1}, tmp_path / "meta.pt")
    with pytest.raises(CheckpointError, match="no state dict found"):
        load_pretrained(model, tmp_path / "meta.pt")
    with pytest.raises(CheckpointError, match="no semgen metadata"):
        torch.save(model.state_dict(), tmp_path / "plain.pt")
        load_checkpoint(tmp_path / "plain.pt")


def test_errors_for_truncated_files(tmp_path: Path) -> None:
    model = UNet(width=4)
    save_checkpoint(tmp_path / "m.safetensors", model)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "m.pt")
    for name in ("m.safetensors", "m.pt"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(data[: len(data) // 2])
        with pytest.raises(CheckpointError, match=name):
            load_pretrained(model, tmp_path / name)
    with pytest.raises(CheckpointError, match="m.safetensors"):
        load_checkpoint(tmp_path / "m.safetensors")


def test_errors_for_other_architecture_and_dimension(tmp_path: Path) -> None:
    _, sd8 = _published_state(width=8)
    with pytest.raises(CheckpointError, match="width 8.*width=8"):
        load_pretrained(UNet(width=4), sd8)
    _, sd2d = _published_state(spatial_dims=2)
    with pytest.raises(CheckpointError, match="weights are 2D, the model is 3D"):
        load_pretrained(UNet(width=4), sd2d)
    with pytest.raises(CheckpointError, match="encoder tensors would not be loaded"):
        load_pretrained(UNet(width=4, encoder="resnet18"), sd8)
    report = load_pretrained(UNet(width=4, encoder="resnet18"), _published_state()[1], allow_missing_encoder=True)
    assert report.loaded and all(k.startswith(("up_tr", "out_tr")) for k in report.loaded)
    assert all(k.startswith(("stem", "layer")) for k in report.missing)


def test_channel_mismatch_error_and_adaptation() -> None:
    source, sd = _published_state(in_channels=1)
    with pytest.raises(CheckpointError, match="expects 1 input channel.*model has 3.*adapt_first_conv"):
        load_pretrained(UNet(in_channels=3, width=4), sd)
    x = torch.rand(2, 1, 16, 16, 8)
    source.eval()
    for mode in ("mean", "repeat"):
        model = UNet(in_channels=3, width=4)
        report = load_pretrained(model, sd, adapt_first_conv=mode)
        assert report.adapted == ["down_tr64.ops.0.conv1.weight"]
        model.eval()
        # a grey image repeated over 3 channels gives the original response
        torch.testing.assert_close(model(x.repeat(1, 3, 1, 1, 1))[0], source(x)[0], rtol=1e-4, atol=1e-5)


def test_describe_published_file(tmp_path: Path) -> None:
    _, sd = _published_state(width=8, num_classes=5)
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}}, tmp_path / "ynet.pt")
    info = describe_checkpoint(tmp_path / "ynet.pt")
    assert info["architecture_inferred"] and info["tensors"] == 115
    assert info["architecture"]["args"] == {
        "spatial_dims": 3, "in_channels": 1, "out_channels": 1, "width": 8, "num_classes": 5,
        "norm": "batch", "encoder": "unet",
    }
    total = sum(p.numel() for p in UNet(width=8, num_classes=5).parameters())
    assert info["parameters"]["total"] == total


def test_weights_carry_their_sha256_and_a_flipped_bit_is_refused(tmp_path: Path) -> None:
    import hashlib
    import json
    import os
    import struct

    path = tmp_path / "model.safetensors"
    save_checkpoint(path, _trained(UNet(width=4)))
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # like every other file, not 0600
    data = bytearray(path.read_bytes())
    header_end = 8 + struct.unpack("<Q", bytes(data[:8]))[0]
    data[header_end + 100] ^= 0x01
    path.write_bytes(bytes(data))
    for load in (load_checkpoint, lambda p: load_pretrained(UNet(width=4), p), describe_checkpoint):
        with pytest.raises(CheckpointError, match=r"model\.safetensors: damaged or changed .*model\.json records"):
            load(path)
