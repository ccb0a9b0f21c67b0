"""The fast training path and ``semgen bench model`` (tiny sizes; speed itself is not asserted)."""

from __future__ import annotations

import argparse

import pytest
import torch

from semgen.bench import model as bench_model
from semgen.models import UNet, fast_path_supported, fast_training_context, prepare_model_for_speed


def test_fast_path_keeps_the_function(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    model = UNet(width=4, num_classes=3).eval()
    x = torch.rand(2, 1, 16, 16, 8)
    seg, cls = model(x)
    fast = prepare_model_for_speed(model, "cpu")
    if fast_path_supported("cpu"):
        assert fast.down_tr64.ops[0].conv1.weight.is_contiguous(memory_format=torch.channels_last_3d)
    with fast_training_context("cpu"):
        seg_f, cls_f = fast(x)
    assert torch.isfinite(seg_f).all() and seg_f.shape == seg.shape and cls_f.shape == cls.shape
    torch.testing.assert_close(seg_f.float(), seg, rtol=0.05, atol=0.05)
    monkeypatch.setenv("SEMGEN_FAST", "0")
    assert not fast_path_supported("cpu")
    with fast_training_context("cpu"):
        assert model(x)[0].dtype == torch.float32


def test_bench_model_reports_both_paths() -> None:
    parser = argparse.ArgumentParser()
    bench_model.add_arguments(parser)
    args = parser.parse_args(["--width", "2", "--batch", "2", "--patch", "16x16x8", "--steps", "1", "--warmup", "1"])
    result = bench_model.run(args)
    for key in ("fp32_per_s", "fast_per_s", "speedup", "bf16_contiguous_per_s"):
        assert result[key] > 0
    assert result["speedup"] == pytest.approx(result["fast_per_s"] / result["fp32_per_s"])
    assert result["first_loss_fast"] == pytest.approx(result["first_loss_fp32"], rel=0.05)
    with pytest.raises(ValueError, match="--patch"):
        bench_model.run(parser.parse_args(["--patch", "64x64x32x2"]))


@pytest.mark.parametrize(
    ("patch", "safe"),
    [((16, 16, 8), False), ((16, 16, 16), False), ((8, 8, 64), False), ((24, 24, 8), True),
     ((32, 32, 16), True), ((64, 64, 32), True), ((32, 8, 32), True), ((16, 16), True)],
)
def test_cpu_fast_path_avoids_tiny_3d_bottlenecks(monkeypatch: pytest.MonkeyPatch, patch, safe: bool) -> None:
    """oneDNN bf16 training gives non-finite weight gradients at <= 2x2 in-plane bottlenecks
    (measured at 16x16x8, 16x16x16, 8x8x64); those patches train in fp32."""
    from semgen.models import speed

    monkeypatch.setattr(speed, "_cpu_has_bf16", lambda: True)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    assert fast_path_supported("cpu", patch) is safe
    assert fast_path_supported("cpu") is True
    with fast_training_context("cpu", patch):
        assert torch.is_autocast_enabled("cpu") is safe
