"""The self-discovery auto-encoder and the per-scan embedding (paper Sec. 2, Fig. 1a).

The published script trains a U-Net *with* skip connections as its "auto-encoder"
(official ``train_autoencoder.py``, default ``--arch Unet``), which can copy its input
through the skips (SG issue #3). Ours is the same layer plan with a real bottleneck
and no skips (the published ``--arch Vnet``): conv pairs (w, 2w), (2w, 4w), ...,
(2^(d-1) w, 2^d w) with batch norm and ReLU, 2x max pooling between levels, and a
decoder of 2x nearest upsampling and conv pairs back to a 1x1(x1) output conv.
The embedding of a scan is the global average pool of the bottleneck (512-d for
width 32, depth 4, as published). Whole scans are resized to a fixed grid
(published 128x128x64), ignoring spacing, as published.

Training: MSE between sigmoid(output) and the input (published), Adam, learning rate
halved on a validation plateau, early stopping, best-validation weights kept.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semgen.utils.io import atomic_path, check_sha256, file_sha256, read_json, write_json
from semgen.utils.progress import Pace, progress
from semgen.utils.resize import resize
from semgen.utils.seeding import derive_seed, torch_generator

log = logging.getLogger(__name__)

ARCHITECTURE = "semgen.discovery.AutoEncoder"


def _conv_pair(spatial_dims: int, c_in: int, c_mid: int, c_out: int) -> nn.Sequential:
    conv = nn.Conv3d if spatial_dims == 3 else nn.Conv2d
    norm = nn.BatchNorm3d if spatial_dims == 3 else nn.BatchNorm2d
    return nn.Sequential(
        conv(c_in, c_mid, 3, padding=1), norm(c_mid), nn.ReLU(inplace=True),
        conv(c_mid, c_out, 3, padding=1), norm(c_out), nn.ReLU(inplace=True),
    )


class AutoEncoder(nn.Module):
    """Conv encoder-decoder without skip connections.

    Input (B, in_channels, *grid) in [0, 1], every grid axis divisible by 2**(depth-1).
    ``forward`` returns logits of the same shape; ``embed`` returns (B, width * 2**depth).
    """

    def __init__(self, spatial_dims: int = 3, in_channels: int = 1, width: int = 32, depth: int = 4) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if depth < 1 or width < 1:
            raise ValueError(f"width and depth must be positive, got width={width}, depth={depth}")
        self.spatial_dims, self.in_channels, self.width, self.depth = spatial_dims, in_channels, width, depth
        self.down = nn.ModuleList()
        c = in_channels
        for level in range(depth):
            self.down.append(_conv_pair(spatial_dims, c, width * 2**level, width * 2 ** (level + 1)))
            c = width * 2 ** (level + 1)
        self.up = nn.ModuleList(
            _conv_pair(spatial_dims, width * 2 ** (level + 2), width * 2 ** (level + 1), width * 2 ** (level + 1))
            for level in reversed(range(depth - 1))
        )
        conv = nn.Conv3d if spatial_dims == 3 else nn.Conv2d
        self.out = conv(width * 2, in_channels, 1)
        self.pool = nn.MaxPool3d(2) if spatial_dims == 3 else nn.MaxPool2d(2)

    @property
    def embedding_dim(self) -> int:
        return self.width * 2**self.depth

    def bottleneck(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, *grid) -> bottleneck features (B, width * 2**depth, *grid / 2**(depth-1))."""
        for level, block in enumerate(self.down):
            if level:
                x = self.pool(x)
            x = block(x)
        return x

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Global average pool of the bottleneck: (B, C, *grid) -> (B, width * 2**depth)."""
        return self.bottleneck(x).flatten(2).mean(dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.bottleneck(x)
        for block in self.up:
            z = block(F.interpolate(z, scale_factor=2, mode="nearest"))
        return self.out(z)

    def arguments(self) -> dict:
        return {"spatial_dims": self.spatial_dims, "in_channels": self.in_channels, "width": self.width, "depth": self.depth}


def build_autoencoder(seed: int, **arguments) -> AutoEncoder:
    """An :class:`AutoEncoder` whose initial weights depend only on ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(derive_seed(seed, "autoencoder-init"))
        return AutoEncoder(**arguments)


def resize_to_grid(volume: np.ndarray, grid: Sequence[int]) -> torch.Tensor:
    """A whole scan (X, Y[, Z]), any float dtype, resized to ``grid``: (1, *grid) float32.
    Trilinear/bilinear, align_corners=False (bilinear also anti-aliased)."""
    return resize(torch.from_numpy(np.asarray(volume, dtype=np.float32))[None], grid, antialias=True)


def train_autoencoder(
    train: torch.Tensor,
    val: torch.Tensor,
    *,
    width: int,
    depth: int,
    epochs: int,
    patience: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: str | torch.device = "cpu",
) -> tuple[AutoEncoder, list[dict]]:
    """Train on ``train`` (N, 1, *grid) in [0, 1], validate on ``val`` (M, 1, *grid) (the
    training set when M = 0). Returns the model with its best-validation weights (on CPU)
    and the per-epoch history [{"epoch", "loss", "val_loss", "lr"}]."""
    spatial_dims = train.ndim - 2
    # channels-last is 2-3x faster for these convolutions on CPU (oneDNN) and no slower on CUDA
    fmt = torch.channels_last_3d if spatial_dims == 3 else torch.channels_last
    model = build_autoencoder(seed, spatial_dims=spatial_dims, in_channels=train.shape[1], width=width, depth=depth)
    model = model.to(device=device, memory_format=fmt)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, factor=0.5, patience=max(1, (2 * patience) // 5), threshold=1e-4, threshold_mode="abs", min_lr=1e-6
    )
    val_set = val if len(val) else train
    generator = torch_generator(seed, "autoencoder-batches")
    best, history = _BestWeights(patience), []
    bar = progress(range(epochs), desc="auto-encoder", unit="epoch")
    pace = Pace(log, "auto-encoder epoch", epochs)
    for epoch in bar:
        epoch_start = time.perf_counter()
        loss = _train_epoch(model, optimizer, train, _batches(len(train), batch_size, generator), device, fmt)
        val_loss = _evaluate(model, val_set, batch_size, device, fmt)
        scheduler.step(val_loss)
        history.append({"epoch": epoch + 1, "loss": loss, "val_loss": val_loss, "lr": optimizer.param_groups[0]["lr"]})
        bar.set_postfix(loss=f"{loss:.4f}", val=f"{val_loss:.4f}")
        pace.step(epoch + 1, f"loss {loss:.4f}, val loss {val_loss:.4f}, lr {optimizer.param_groups[0]['lr']:.2g}, "
                  f"{len(train) / (time.perf_counter() - epoch_start):.3g} scans/s")
        if best.patience_spent(val_loss, model):
            log.info("auto-encoder: validation loss has not improved for %d epochs; stopping at epoch %d", patience, epoch + 1)
            break
    if best.state is not None:
        model.load_state_dict(best.state)
    return model.to(device="cpu", memory_format=torch.contiguous_format).eval(), history


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """One epoch's batches of indices into ``n`` scans, in an order drawn from ``generator``; a
    last batch of one (which batch norm cannot normalise in training mode) joins the one before."""
    order = torch.randperm(n, generator=generator)
    cuts = list(range(0, n, batch_size))
    if len(cuts) > 1 and n - cuts[-1] == 1:
        cuts.pop()
    return [order[begin:end] for begin, end in zip(cuts, [*cuts[1:], n])]


def _train_epoch(model: AutoEncoder, optimizer: torch.optim.Optimizer, train: torch.Tensor, batches: list[torch.Tensor],
                 device: str | torch.device, fmt: torch.memory_format) -> float:
    """One epoch of MSE(sigmoid(model(x)), x) steps over ``batches``; returns the mean loss per scan."""
    model.train()
    total = 0.0
    for index in batches:
        x = train[index].to(device).contiguous(memory_format=fmt)
        loss = F.mse_loss(torch.sigmoid(model(x)), x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(x)
    return total / len(train)


class _BestWeights:
    """Early stopping on the validation loss: an improvement is a loss below the best by more
    than 1e-6; ``state`` holds a copy of the best weights (None before the first)."""

    def __init__(self, patience: int) -> None:
        self.patience, self.loss, self.state, self.since = patience, math.inf, None, 0

    def patience_spent(self, val_loss: float, model: nn.Module) -> bool:
        """Keep ``model``'s weights if ``val_loss`` improves on the best; otherwise whether
        ``patience`` epochs in a row have passed without improvement."""
        if val_loss < self.loss - 1e-6:
            self.loss, self.state, self.since = val_loss, copy.deepcopy(model.state_dict()), 0
            return False
        self.since += 1
        return self.since >= self.patience


@torch.no_grad()
def _evaluate(model: AutoEncoder, data: torch.Tensor, batch_size: int, device: str | torch.device, fmt: torch.memory_format) -> float:
    model.eval()
    total = 0.0
    for begin in range(0, len(data), batch_size):
        x = data[begin : begin + batch_size].to(device).contiguous(memory_format=fmt)
        total += F.mse_loss(torch.sigmoid(model(x)), x, reduction="sum").item() / x[0].numel()
    return total / len(data)


@torch.no_grad()
def embed_grids(
    embed: Callable[[torch.Tensor], torch.Tensor],
    grids: torch.Tensor,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
) -> np.ndarray:
    """Features (N, D) float32: ``embed`` applied to scans already resized to the grid,
    ``grids`` (N, 1, *grid) (any float dtype), ``batch_size`` scans at a time."""
    features = []
    for begin in progress(range(0, len(grids), batch_size), desc="embedding", unit="batch"):
        batch = grids[begin : begin + batch_size].to(device=device, dtype=torch.float32)
        features.append(embed(batch).float().cpu().numpy())
    return np.concatenate(features).astype(np.float32)


def save_autoencoder(path: str | Path, model: AutoEncoder, metadata: dict) -> None:
    """Write ``path`` (.safetensors) and the same stem .json: architecture, arguments and ``metadata``."""
    from safetensors.torch import save_file

    from semgen import __version__

    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))
        digest = file_sha256(tmp)
    write_json(
        path.with_suffix(".json"),
        {"architecture": ARCHITECTURE, "arguments": model.arguments(), "semgen_version": __version__, "sha256": digest, **metadata},
    )


class EncoderError(ValueError):
    """An encoder checkpoint that cannot be used for the embedding."""


def load_encoder(path: str | Path) -> tuple[nn.Module, Callable[[torch.Tensor], torch.Tensor], dict]:
    """Load an embedding network from ``path``: a semgen auto-encoder (this module) or
    any semgen checkpoint that ``semgen.models.load_checkpoint`` rebuilds (the
    embedding is then the global average pool of ``model.encoder(x)[-1]``).

    Returns (module in eval mode, embed function (B, C, *grid) -> (B, D), metadata).
    Raises :class:`EncoderError` naming the file and the problem.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    sidecar = path.with_suffix(".json")
    if not path.is_file():
        raise EncoderError(f"{path}: encoder checkpoint not found")
    try:
        metadata = read_json(sidecar) if sidecar.is_file() else {}
    except ValueError as e:
        raise EncoderError(str(e)) from None
    if metadata.get("architecture") == ARCHITECTURE:
        try:
            check_sha256(path, metadata.get("sha256"), sidecar)
        except ValueError as e:
            raise EncoderError(str(e)) from None
        try:
            model = AutoEncoder(**metadata["arguments"])
            model.load_state_dict(load_file(str(path)))
        except (KeyError, TypeError, RuntimeError, OSError, SafetensorError) as e:
            raise EncoderError(f"{path}: not a usable semgen auto-encoder ({e})") from None
        model.eval()
        return model, model.embed, metadata
    try:
        from semgen.models import load_checkpoint
    except ImportError:
        raise EncoderError(f"{path}: not a semgen auto-encoder checkpoint (no {sidecar.name} naming {ARCHITECTURE})") from None
    try:
        model, metadata = load_checkpoint(path)
    except ValueError as e:
        raise EncoderError(f"{path}: cannot load as an encoder ({e})") from None
    model.eval()

    def embed(x: torch.Tensor) -> torch.Tensor:
        return model.encoder(x)[-1].flatten(2).mean(dim=2)

    return model, embed, metadata
