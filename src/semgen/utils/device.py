"""Device resolution: the one place that turns ``--device`` into a ``torch.device``."""

from __future__ import annotations

import torch


def resolve_device(device: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> this process's CUDA device (``cuda:LOCAL_RANK``) when there is one, else the
    CPU; ``"cuda"`` without an index -> ``cuda:LOCAL_RANK``; anything else as given. A CUDA
    device asked for on a machine without one is a ``ValueError`` naming ``--device``."""
    if device == "auto":
        return torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"--device {device!r}: not a device name (auto, cpu, cuda, cuda:N, ...)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {device!r} requested but CUDA is not available")
        if dev.index is None:
            dev = torch.device("cuda", local_rank)
    return dev
