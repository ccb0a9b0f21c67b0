"""Options every verb spells the same way, and the old spellings that still work for one release.

- sizes and spacings are one word, ``64x64x32`` / ``1x1x1`` (:func:`sizes`, :func:`spacings`);
- the same concept has the same flag in every verb: ``--patch``, ``--spacing``,
  ``--val-fraction``, ``--test-fraction``, ``--workers``, ``--threads``, ``--out``, ``--seed``;
- :func:`upgrade_argv` rewrites a deprecated spelling (``--patch-size``, ``--patch 64 64 32``,
  ``--spacing 1 1 1``, ``--validation``, ...) into the current one and prints one warning line,
  so scripts written for the previous release keep running.

Only ``argparse``, ``os`` and ``sys`` at module level: ``semgen --help`` stays instant.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

_NUMBER = re.compile(r"^[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?$")


def sizes(text: str) -> tuple[int, ...]:
    """argparse type: ``64x64x32`` (or ``224x224``) -> ``(64, 64, 32)``, positive integers."""
    try:
        values = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 64x64x32, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes like 64x64x32, got {text!r}")
    return values


def spacings(text: str) -> tuple[float, ...]:
    """argparse type: ``1x1x2.5`` -> ``(1.0, 1.0, 2.5)`` mm; one value (``1``) means isotropic."""
    try:
        values = tuple(float(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected spacings in mm like 1x1x2.5, got {text!r}") from None
    if not values or not min(values) > 0:
        raise argparse.ArgumentTypeError(f"expected positive spacings like 1x1x2.5, got {text!r}")
    return values


def default_threads() -> int:
    """``$OMP_NUM_THREADS`` when set, else the CPUs this process may run on
    (``os.sched_getaffinity``; ``os.cpu_count`` elsewhere) shared among the processes
    ``torchrun`` starts on this machine (``LOCAL_WORLD_SIZE``)."""
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"])
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


def add_threads(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--threads N``: CPU threads of each process (torch, OpenMP/BLAS, ITK)."""
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help=f"CPU threads per process for torch, OpenMP/BLAS and ITK (default: $OMP_NUM_THREADS if set, else the "
        f"CPUs this process may use; {default_threads()} here). Results are reproducible at a fixed thread count; on a busy machine fewer "
        f"threads than cores is often faster",
    )


def busy_note(threads: int, load: float | None = None, cpus: int | None = None) -> str | None:
    """One line for a default of ``threads`` > 1 on a busy machine (1-minute load average, default
    ``os.getloadavg``, at least the ``cpus``), else ``None``. There each thread waits for the
    others at every parallel operation: a pre-training step with 2 threads on 2 busy cores ran
    over 10x slower than with one (README, "Threads, speed and reproducibility")."""
    if threads < 2:
        return None
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # not on this platform
            return None
    cpus = cpus or os.cpu_count() or 1
    if load < cpus:
        return None
    return (f"this machine is busy (load average {load:.1f} on {cpus} CPUs): with {threads} threads per process this "
            "run can be several times slower than with --threads 1 (another thread count gives slightly different results)")


def passive_waits_when_busy() -> bool:
    """On a busy machine (:func:`busy_note` for 2 threads) let waiting OpenMP threads sleep
    instead of spin (``OMP_WAIT_POLICY=PASSIVE``) unless the variable is set; a spinning
    thread takes the core from the thread it waits for. Same results, only the waiting
    changes: one 2-thread step at the CPU preset ran 1.5-3x faster so on our busy 2-core
    machine. OpenMP reads it when torch loads, so this runs first; returns True when it set it."""
    if "OMP_WAIT_POLICY" in os.environ or "torch" in sys.modules or busy_note(2) is None:
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return True


def apply_threads(threads: int | None) -> int:
    """Use ``threads`` (default :func:`default_threads`) CPU threads in this process and in the
    worker processes it starts: sets ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``,
    ``OPENBLAS_NUM_THREADS``, ``ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS`` and, if torch is loaded or
    loads later, torch's intra-op threads; warns (:func:`busy_note`) when the default meets a busy
    machine. Returns the number used; ``ValueError`` below 1."""
    n = default_threads() if threads is None else int(threads)
    if n < 1:
        raise ValueError(f"--threads must be at least 1, got {n}")
    if threads is None and (note := busy_note(n)):
        import logging

        logging.getLogger(__name__).warning(note)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"):
        os.environ[var] = str(n)
    if "torch" in sys.modules:  # otherwise torch reads OMP_NUM_THREADS when it loads
        sys.modules["torch"].set_num_threads(n)
    return n


@dataclass(frozen=True)
class Deprecated:
    """An old spelling of a verb's flag: ``old`` becomes ``new``; ``numbers``: the old form took
    several numbers as separate words (``--patch 64 64 32``), joined with ``x``."""

    verbs: tuple[str, ...]
    old: str
    new: str
    numbers: bool = False


DEPRECATED: tuple[Deprecated, ...] = (
    Deprecated(("discover",), "--patch-size", "--patch"),
    Deprecated(("pretrain", "show-transforms"), "--patch", "--patch", numbers=True),
    Deprecated(("prepare",), "--spacing", "--spacing", numbers=True),
    Deprecated(("prepare",), "--array-spacing", "--array-spacing", numbers=True),
    Deprecated(("finetune", "evaluate"), "--patch", "--patch"),
    Deprecated(("finetune", "evaluate"), "--spacing", "--spacing"),
    Deprecated(("finetune", "evaluate"), "--validation", "--val-fraction"),
    Deprecated(("finetune", "evaluate"), "--test", "--test-fraction"),
    Deprecated(("pretrain",), "--num-workers", "--workers"),
)


def upgrade_argv(verb: str, argv: Sequence[str], *, warn=None) -> list[str]:
    """``argv`` with the deprecated spellings of ``verb`` rewritten to the current ones; each
    rewrite prints one line (``semgen VERB: warning: ...``) through ``warn`` (default: stderr)."""
    warn = warn or (lambda line: print(line, file=sys.stderr))
    rules = {d.old: d for d in DEPRECATED if verb in d.verbs}
    out: list[str] = []
    i = 0
    argv = list(argv)
    while i < len(argv):
        word = argv[i]
        flag, eq, value = word.partition("=")
        rule = rules.get(flag)
        if rule is None or word == "--":
            out.append(word)
            i += 1
            if word == "--":
                out.extend(argv[i:])
                break
            continue
        if eq:
            values, i = [value], i + 1
        else:
            values, i = [], i + 1
            while i < len(argv) and (not values or rule.numbers) and _NUMBER.match(argv[i].replace(",", "")):
                values.append(argv[i])
                i += 1
            if not values and i < len(argv):  # a value that is not a number: let the parser judge it
                values, i = [argv[i]], i + 1
        joined = "x".join(v.replace(",", "x") for v in values)
        if rule.old != rule.new or len(values) > 1 or "," in "".join(values):
            warn(
                f"semgen {verb}: warning: '{' '.join([flag, *values])}' is deprecated; write "
                f"'{rule.new} {joined}' (the old spelling goes in the next release)"
            )
        out.extend([rule.new, joined] if values else [rule.new])
    return out
