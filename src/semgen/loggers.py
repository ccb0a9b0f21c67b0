"""Experiment loggers (``--log NAME`` on ``semgen pretrain`` and ``semgen finetune``).

A logger receives per-epoch scalars and pictures (the restoration triplets, the pattern
atlas) beside what the run folder already holds; it is off by default. Another logger is one
small class registered by name::

    @register_logger("mine")
    class MyLogger(Logger):
        def scalars(self, step, values, prefix=""): ...
        def image(self, tag, image, step): ...

``tensorboard`` writes TensorBoard event files into ``RUN/tensorboard/`` through
``torch.utils.tensorboard``, which needs the optional ``tensorboard`` package.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

LOGGERS: dict[str, type[Logger]] = {}


class LoggerError(ValueError):
    """An unknown logger or one whose package is missing (names ``--log`` and what to install)."""


class Logger:
    """The interface: per-epoch scalars, pictures, close. ``root`` is the run folder."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def scalars(self, step: int, values: Mapping[str, Any], prefix: str = "") -> None:
        """Log the finite numbers of ``values`` at ``step`` (an epoch), each under ``prefix + name``."""

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """Log a picture: ``image`` (H, W) or (H, W, 3|4), uint8 or float in [0, 1]."""

    def image_file(self, tag: str, path: str | os.PathLike, step: int) -> None:
        """Log a PNG/JPEG the run has written (e.g. ``triplets/epoch_003.png``, ``atlas.png``)."""
        from PIL import Image

        with Image.open(path) as picture:
            self.image(tag, np.asarray(picture.convert("RGB")), step)

    def close(self) -> None:
        """Flush and release what the logger holds."""


def register_logger(name: str) -> Callable[[type[Logger]], type[Logger]]:
    """Class decorator: make a :class:`Logger` subclass available as ``--log name``."""

    def add(cls: type[Logger]) -> type[Logger]:
        LOGGERS[name] = cls
        return cls

    return add


def numbers(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite int/float entries of ``values`` (booleans, None, NaN and text left out)."""
    return {k: float(v) for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


@register_logger("tensorboard")
class TensorBoardLogger(Logger):
    """TensorBoard event files in ``ROOT/tensorboard/`` (``tensorboard --logdir ROOT``)."""

    def __init__(self, root: str | os.PathLike) -> None:
        super().__init__(root)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise LoggerError("--log tensorboard needs the tensorboard package: pip install tensorboard") from None
        self.writer = SummaryWriter(log_dir=str(self.root / "tensorboard"))

    def scalars(self, step: int, values: Mapping[str, Any], prefix: str = "") -> None:
        for name, value in numbers(values).items():
            self.writer.add_scalar(prefix + name, value, step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        image = np.asarray(image)
        self.writer.add_image(tag, image, step, dataformats="HW" if image.ndim == 2 else "HWC")

    def close(self) -> None:
        self.writer.close()


def check_logger(name: str | None) -> None:
    """Raise :class:`LoggerError` for an unknown ``--log`` name, or for ``tensorboard`` when its
    package is not installed (so a run fails before any work, not at its first epoch)."""
    import importlib.util

    if name in (None, "none"):
        return
    if name not in LOGGERS:
        raise LoggerError(f"--log {name!r}: unknown logger; use one of none, {', '.join(sorted(LOGGERS))}")
    if name == "tensorboard" and importlib.util.find_spec("tensorboard") is None:
        raise LoggerError("--log tensorboard needs the tensorboard package: pip install tensorboard")


def make_logger(name: str | None, root: str | os.PathLike) -> Logger:
    """The logger named ``name`` writing beside ``root``; ``None`` or ``"none"``: one that does nothing."""
    check_logger(name)
    return Logger(root) if name in (None, "none") else LOGGERS[name](root)
