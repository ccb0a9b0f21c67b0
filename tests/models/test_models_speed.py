"""The fast training path and ``semgen bench model`` (tiny sizes; speed itself is not asserted)."""

from __future__ import annotations

import argparse

import pytest
import torch
import torch.utils.flop_counter

from semgen.bench import model as bench_model
from semgen.models import UNet, fast_path_supported, fast_training_context, prepare_model_for_speed


def test_fast_path_keeps_the_function(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    model = UNet(width=4, num_classes=3).eval()
    x = torch.rand(2, 1, 16, 16, 8)
    seg, cls = model(x)
    fast = prepare_model_for_speed(model, "cpu")
    # channels-last on the CPU with or without bf16 (fp32 channels-last is faster there too)
    assert fast.down_tr64.ops[0].conv1.weight.is_contiguous(memory_format=torch.channels_last_3d)
    with fast_training_context("cpu"):
        seg_f, cls_f = fast(x)
    assert torch.isfinite(seg_f).all() and seg_f.shape == seg.shape and cls_f.shape == cls.shape
    torch.testing.assert_close(seg_f.float(), seg, rtol=0.05, atol=0.05)
    monkeypatch.setenv("SEMGEN_FAST", "0")
    assert not fast_path_supported("cpu")
    with fast_training_context("cpu"):
        assert model(x)[0].dtype == torch.float32


def _bench_model(*flags: str) -> dict:
    parser = argparse.ArgumentParser()
    bench_model.add_arguments(parser)
    args = ["--width", "2", "--batch", "2", "--patch", "16x16x8", "--num-classes", "3", "--steps", "2", "--warmup", "1"]
    return bench_model.run(parser.parse_args([*args, *flags]))


def test_bench_model_skips_what_the_cpu_emulates(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without native bf16 the bf16 variants are named as skipped, never timed; fp16 is never timed on a CPU."""
    from semgen.models import speed

    monkeypatch.setattr(speed, "cpu_bf16_native", lambda: False)
    result = _bench_model()
    assert set(result["variants"]) == {"fp32", "fp32_channels_last"}
    assert set(result["skipped"]) == {"bf16", "bf16_channels_last", "fp16_channels_last"}
    assert "emulated" in result["skipped"]["bf16"] and "emulated" in result["skipped"]["fp16_channels_last"]
    assert set(result["peak_gflops"]) == {"fp32"}
    assert result["default"] == "fp32_channels_last"
    # both memory formats compute the same step
    variants = result["variants"]
    assert variants["fp32_channels_last"]["first_loss"] == pytest.approx(variants["fp32"]["first_loss"], rel=1e-4)


def test_bench_model_gflops_follow_from_the_flop_count(monkeypatch: pytest.MonkeyPatch) -> None:
    from semgen.models import speed

    monkeypatch.setattr(speed, "cpu_bf16_native", lambda: True)
    result = _bench_model()
    assert {"bf16", "bf16_channels_last", "fp32"} <= set(result["variants"])
    assert set(result["skipped"]) == {"fp16_channels_last"}
    # the step's FLOPs counted independently: forward + backward of the same U-Net
    model = UNet(width=2, num_classes=3)
    with torch.utils.flop_counter.FlopCounterMode(display=False) as counter:
        seg, cls = model(torch.rand(2, 1, 16, 16, 8))
        (seg.sum() + cls.sum()).backward()
    assert result["gflop_per_step"] == pytest.approx(counter.get_total_flops() / 1e9, rel=0.01)
    for name, v in result["variants"].items():
        assert v["per_s"] > 0 and v["cpu_per_s"] > 0
        # GFLOP/s = FLOPs per step x steps per second; steps per second = cubes/s / batch
        assert v["gflops"] == pytest.approx(result["gflop_per_step"] * v["per_s"] / 2, rel=0.02, abs=0.01)
        peak = result["peak_gflops"][v["precision"]]
        assert v["peak_fraction"] == pytest.approx(v["gflops"] / peak, rel=0.02, abs=0.002)
        assert 0 < v["peak_fraction"] <= 1.2, name
    assert result["default"] == "fp32_channels_last"  # a 16x16x8 patch is too small for bf16 training (see below)
    with pytest.raises(ValueError, match="--patch"):
        _bench_model("--patch", "64x64x32x2")


def test_cpu_bf16_native_follows_torch_capability(monkeypatch: pytest.MonkeyPatch) -> None:
    """ATEN_CPU_CAPABILITY=avx2 (torch's kernels below AVX-512) means no native bf16, whatever the flags say."""
    from semgen.models import speed

    speed.cpu_bf16_native.cache_clear()
    monkeypatch.setattr(speed, "cpu_flags", lambda: frozenset({"avx2", "fma", "avx512f", "avx512_bf16"}))
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert speed.cpu_bf16_native() is False
    speed.cpu_bf16_native.cache_clear()
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.setattr(speed, "cpu_flags", lambda: frozenset({"avx2", "fma", "avx512f"}))
    assert speed.cpu_bf16_native() is False
    speed.cpu_bf16_native.cache_clear()


@pytest.mark.parametrize(
    ("patch", "safe"),
    [((16, 16, 8), False), ((16, 16, 16), False), ((8, 8, 64), False), ((24, 24, 8), True),
     ((32, 32, 16), True), ((64, 64, 32), True), ((32, 8, 32), True), ((16, 16), True)],
)
def test_cpu_fast_path_avoids_tiny_3d_bottlenecks(monkeypatch: pytest.MonkeyPatch, patch, safe: bool) -> None:
    """oneDNN bf16 training gives non-finite weight gradients at <= 2x2 in-plane bottlenecks
    (measured at 16x16x8, 16x16x16, 8x8x64); those patches train in fp32."""
    from semgen.models import speed

    monkeypatch.setattr(speed, "cpu_bf16_native", lambda: True)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    assert fast_path_supported("cpu", patch) is safe
    assert fast_path_supported("cpu") is True
    with fast_training_context("cpu", patch):
        assert torch.is_autocast_enabled("cpu") is safe
