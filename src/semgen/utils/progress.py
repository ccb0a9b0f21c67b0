"""What a long run shows as it goes.

- :func:`progress`: tqdm bars on stderr, drawn only in a terminal (not when SEMGEN_NO_PROGRESS is set);
- :func:`setup_logging`: log records go through ``tqdm.write``, so a line printed while a bar is
  drawn stays above the bar instead of being overwritten, and INFO lines are plain text;
- :class:`Pace`: one plain line per epoch or stage step (``done/total``, the caller's
  metrics, throughput, elapsed and estimated remaining time), logged whether or not there is
  a terminal, so a run whose output goes to a file or a pipe still reports as it goes.
"""

from __future__ import annotations

import logging
import os
import sys
import time
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


class _TqdmHandler(logging.Handler):
    """Writes records with ``tqdm.write`` (bars are redrawn below the line) to stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never raise into the run
            self.handleError(record)


class _PlainFormatter(logging.Formatter):
    """INFO as the message alone; warnings and errors say so (``warning: ...``)."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {message}"
        if record.levelno < logging.INFO:
            return f"debug {record.name}: {message}"
        return message


def setup_logging(*, verbose: bool = False) -> None:
    """Route the ``semgen`` loggers through ``tqdm.write`` to stderr: INFO lines
    plain, DEBUG with ``verbose``. Replaces handlers an earlier call installed."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _TqdmHandler)]:
        root.removeHandler(handler)
    handler = _TqdmHandler()
    handler.setFormatter(_PlainFormatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Pace:
    """One plain log line per step of a loop of ``total`` steps.

    ``line(done, detail)`` -> ``"{what} {done}/{total}: {detail}; {rate}, elapsed 1 min 05 s,
    ~2 min 10 s left"``, the remaining time extrapolated from the mean step so far.
    ``step(done, detail)`` logs that line at INFO, at most once per ``every`` seconds (0: every
    step), and always for the last step. ``unit`` names what one step counts (throughput
    ``unit/s``; None: no rate). ``start`` is ``time.perf_counter()`` at the loop's start
    (default now); ``initial``: steps already done before it (a resumed loop).
    """

    def __init__(self, logger: logging.Logger, what: str, total: int, *, unit: str | None = None,
                 every: float = 0.0, initial: int = 0, start: float | None = None) -> None:
        self.logger, self.what, self.total, self.unit, self.every = logger, what, int(total), unit, float(every)
        self.initial = int(initial)
        self.start = time.perf_counter() if start is None else start
        self._last: float | None = None

    def line(self, done: int, detail: str = "") -> str:
        elapsed = time.perf_counter() - self.start
        steps = done - self.initial
        parts = [f"{self.what} {done}/{self.total}" + (f": {detail}" if detail else "")]
        timing = []
        if self.unit and steps > 0 and elapsed > 0:
            rate = steps / elapsed
            timing.append(f"{rate:.3g} {self.unit}/s" if rate >= 1 else f"{1 / rate:.3g} s/{self.unit}")
        timing.append(f"elapsed {duration(elapsed)}")
        if 0 < steps and done < self.total:
            timing.append(f"~{duration(elapsed / steps * (self.total - done))} left")
        return parts[0] + "; " + ", ".join(timing)

    def step(self, done: int, detail: str = "") -> None:
        now = time.perf_counter()
        if done < self.total and self.every > 0 and self._last is not None and now - self._last < self.every:
            return
        self._last = now
        self.logger.info(self.line(done, detail))
