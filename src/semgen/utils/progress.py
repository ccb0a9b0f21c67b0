"""Progress bars (tqdm) that stay quiet when output is not a terminal or SEMGEN_NO_PROGRESS is set."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_enabled() -> bool:
    """True when progress bars should be drawn (stderr is a terminal, not disabled)."""
    return not os.environ.get("SEMGEN_NO_PROGRESS") and sys.stderr.isatty()


def progress(iterable: Iterable[T] | None = None, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)`` drawn on stderr, disabled when :func:`progress_enabled` is false."""
    kwargs.setdefault("disable", not progress_enabled())
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)
