from __future__ import annotations

import numpy as np
import pytest
import torch

from semgen.discovery.autoencoder import (
    AutoEncoder,
    EncoderError,
    build_autoencoder,
    embed_grids,
    load_encoder,
    resize_to_grid,
    save_autoencoder,
    train_autoencoder,
)


@pytest.mark.parametrize("dims,grid", [(3, (16, 16, 8)), (2, (16, 24))])
def test_shapes_and_every_parameter_gets_a_gradient(dims, grid) -> None:
    model = AutoEncoder(spatial_dims=dims, width=2, depth=3)
    x = torch.rand(2, 1, *grid)
    y = model(x)
    assert y.shape == x.shape
    assert model.embed(x).shape == (2, 2 * 2**3) == (2, model.embedding_dim)
    torch.nn.functional.mse_loss(torch.sigmoid(y), x).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_output_passes_only_through_the_bottleneck() -> None:
    # no skip connections: the output depends on the input only through the bottleneck
    model = AutoEncoder(spatial_dims=2, width=2, depth=3).eval()
    x = torch.rand(1, 1, 16, 16)
    z = model.bottleneck(x)
    decoded = z
    for block in model.up:
        decoded = block(torch.nn.functional.interpolate(decoded, scale_factor=2, mode="nearest"))
    torch.testing.assert_close(model.out(decoded), model(x))


def test_training_is_deterministic_and_lowers_the_loss() -> None:
    g = torch.Generator().manual_seed(0)
    data = torch.rand(6, 1, 8, 8, 8, generator=g)
    kwargs = dict(width=2, depth=2, epochs=4, patience=10, batch_size=3, lr=1e-2, seed=7)
    a, history = train_autoencoder(data[:4], data[4:], **kwargs)
    b, _ = train_autoencoder(data[:4], data[4:], **kwargs)
    for (_, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        torch.testing.assert_close(pa, pb)
    assert len(history) == 4
    assert history[-1]["loss"] < history[0]["loss"]
    assert not build_autoencoder(1, spatial_dims=3, width=2, depth=2).state_dict()["down.0.0.weight"].equal(
        build_autoencoder(2, spatial_dims=3, width=2, depth=2).state_dict()["down.0.0.weight"]
    )


def test_save_load_round_trip(tmp_path) -> None:
    model = build_autoencoder(0, spatial_dims=3, width=2, depth=2).eval()
    path = tmp_path / "ae.safetensors"
    save_autoencoder(path, model, {"grid": [8, 8, 8]})
    loaded, embed, meta = load_encoder(path)
    x = torch.rand(3, 1, 8, 8, 8)
    np.testing.assert_allclose(embed_grids(embed, x, batch_size=2), model.embed(x).detach().numpy(), rtol=1e-6)
    assert meta["grid"] == [8, 8, 8] and meta["arguments"]["width"] == 2
    with pytest.raises(EncoderError, match="not found"):
        load_encoder(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    (tmp_path / "junk.json").write_text('{"architecture": "semgen.discovery.AutoEncoder", "arguments": {"width": 2}}')
    with pytest.raises(EncoderError, match="junk.safetensors"):
        load_encoder(tmp_path / "junk.safetensors")


def test_resize_to_grid_preserves_range() -> None:
    volume = np.random.default_rng(0).random((20, 18, 10)).astype(np.float16)
    out = resize_to_grid(volume, (8, 8, 4))
    assert out.shape == (1, 8, 8, 4) and out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1
    torch.testing.assert_close(resize_to_grid(volume, (20, 18, 10)), torch.from_numpy(volume.astype(np.float32))[None])


def test_saved_autoencoder_is_checksummed_and_follows_the_umask(tmp_path) -> None:
    import os
    import struct

    model = build_autoencoder(0, spatial_dims=3, width=2, depth=2)
    path = tmp_path / "ae.safetensors"
    save_autoencoder(path, model, {"grid": [8, 8, 8]})
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
    data = bytearray(path.read_bytes())
    data[8 + struct.unpack("<Q", bytes(data[:8]))[0] + 5] ^= 0x01  # a tensor byte; the header stays intact
    path.write_bytes(bytes(data))
    with pytest.raises(EncoderError, match=r"ae\.safetensors: damaged or changed"):
        load_encoder(path)
