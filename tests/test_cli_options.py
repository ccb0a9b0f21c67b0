"""One CLI convention: sizes as 64x64x32, one flag name per concept, old spellings still
accepted with one warning line, --threads on every computing verb, and every `semgen ...`
example in README.md parses with the real parsers."""

from __future__ import annotations

import argparse
import os
import re
import shlex
from pathlib import Path

import pytest

from semgen.cli import VERBS, build_parser
from semgen.commands.options import (
    DEPRECATED,
    apply_threads,
    busy_note,
    default_threads,
    passive_waits_when_busy,
    sizes,
    spacings,
    upgrade_argv,
)

README = Path(__file__).resolve().parents[1] / "README.md"
COMPUTING = ("phantoms", "prepare", "discover", "pretrain", "finetune", "evaluate", "predict", "show-transforms")


def _parse(argv: list[str]) -> argparse.Namespace:
    verb = next(a for a in argv if not a.startswith("-"))
    return build_parser([verb]).parse_args(argv)


def test_size_and_spacing_words() -> None:
    assert sizes("64x64x32") == (64, 64, 32) and sizes("224X224") == (224, 224)
    assert spacings("1x1x2.5") == (1.0, 1.0, 2.5) and spacings("0.8") == (0.8,)
    for bad in ("64 64", "64x0x32", "axb", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            sizes(bad)
    with pytest.raises(argparse.ArgumentTypeError):
        spacings("1x-1x1")


# old spelling -> the current one, per verb (each parses to the same value)
OLD_AND_NEW = [
    (["discover", "C", "--out", "P", "--patch-size", "32x32x16"], ["discover", "C", "--out", "P", "--patch", "32x32x16"]),
    (["discover", "C", "--out", "P", "--patch-size=32x32x16"], ["discover", "C", "--out", "P", "--patch", "32x32x16"]),
    (["pretrain", "--patch", "64", "64", "32", "data/patterns"], ["pretrain", "--patch", "64x64x32", "data/patterns"]),
    (["pretrain", "--num-workers", "2"], ["pretrain", "--workers", "2"]),
    (["show-transforms", "--patch", "32", "32"], ["show-transforms", "--patch", "32x32"]),
    (["prepare", "in", "--spacing", "1", "1", "2.5", "--out", "c"], ["prepare", "in", "--spacing", "1x1x2.5", "--out", "c"]),
    (["prepare", "in", "--array-spacing", "0.5"], ["prepare", "in", "--array-spacing", "0.5"]),
    (["finetune", "d", "--out", "r", "--validation", "0.1", "--test", "0.3"],
     ["finetune", "d", "--out", "r", "--val-fraction", "0.1", "--test-fraction", "0.3"]),
    (["finetune", "d", "--out", "r", "--patch", "64,64,32", "--spacing", "1,1,1"],
     ["finetune", "d", "--out", "r", "--patch", "64x64x32", "--spacing", "1x1x1"]),
]


@pytest.mark.parametrize(("old", "new"), OLD_AND_NEW)
def test_old_spellings_still_work_with_one_warning(old: list[str], new: list[str]) -> None:
    warnings: list[str] = []
    upgraded = upgrade_argv(old[0], old, warn=warnings.append)
    assert upgraded == new
    assert vars(_parse(upgraded)) == vars(_parse(new))
    changed = sum(o != n for o, n in zip(old, new)) or len(old) != len(new)
    if old[1:] != new[1:] and "0.5" not in old:
        assert changed and len(warnings) >= 1
        assert all(w.startswith(f"semgen {old[0]}: warning: ") and "deprecated" in w for w in warnings)
        assert all(len(w.splitlines()) == 1 for w in warnings)
    none: list[str] = []
    assert upgrade_argv(new[0], new, warn=none.append) == new and not none  # the current spelling passes untouched


def test_every_deprecated_spelling_is_covered_above() -> None:
    tested = {(old[0], w.split("=")[0]) for old, _ in OLD_AND_NEW for w in old if w.startswith("--")}
    for d in DEPRECATED:
        assert any((verb, d.old) in tested for verb in d.verbs), d


def test_the_old_spelling_runs_through_main(capsys: pytest.CaptureFixture[str]) -> None:
    from semgen.cli import main

    with pytest.raises(SystemExit):  # --help after the rewrite: parsing succeeded up to it
        main(["discover", "C", "--out", "P", "--patch-size", "32x32x16", "--help"])
    captured = capsys.readouterr()
    assert "'--patch-size 32x32x16' is deprecated; write '--patch 32x32x16'" in captured.err


@pytest.mark.parametrize("verb", COMPUTING)
def test_computing_verbs_take_threads(verb: str) -> None:
    assert f"{default_threads()} here" in " ".join(_verb_parser(verb).format_help().split())
    args = [verb, "X"] if verb in ("phantoms", "prepare", "finetune", "evaluate", "discover", "predict") else [verb]
    if verb in ("discover", "finetune", "evaluate"):
        args += ["--out", "O"]
    assert _parse([*args, "--threads", "3"]).threads == 3


def test_apply_threads_sets_torch_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    before = torch.get_num_threads()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"):
        monkeypatch.setenv(var, "1")
    try:
        assert apply_threads(2) == 2
        assert torch.get_num_threads() == 2
        import os

        assert os.environ["OMP_NUM_THREADS"] == os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] == "2"
        with pytest.raises(ValueError, match="--threads"):
            apply_threads(0)
    finally:
        torch.set_num_threads(before)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    import os

    cpus = len(os.sched_getaffinity(0))
    assert default_threads() == max(1, cpus // 2)


def readme_commands(text: str) -> tuple[list[str], list[str]]:
    """``(examples, mentions)`` of README.md: ``examples`` are the ``semgen ...`` lines of its
    bash blocks (runnable as written); ``mentions`` are inline code spans (``semgen VERB
    --flag`` in prose, possibly without the required arguments)."""
    mentions = re.findall(r"`(semgen [^`]+)`", text)
    examples = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():  # join `\` continuation lines
            line = line.split("#", 1)[0]
            for part in re.split(r"&&|;", line):
                part = part.strip()
                if re.match(r"^(\S*/)?semgen ", part):  # `semgen ...` or `.venv/bin/semgen ...`
                    examples.append("semgen " + part.split("semgen ", 1)[1])
    return examples, mentions


def _verb_parser(verb: str) -> argparse.ArgumentParser:
    return build_parser([verb])._subparsers._group_actions[0].choices[verb]


def test_every_readme_example_parses_with_the_real_parsers() -> None:
    examples, mentions = readme_commands(README.read_text(encoding="utf-8"))
    assert len(examples) >= 12
    seen_verbs = set()
    for example in examples + mentions:
        try:
            argv = shlex.split(example)[1:]
        except ValueError:  # a prose mention with an unbalanced quote
            argv = example.split()[1:]
        verb = next((a for a in argv if not a.startswith("-")), None)
        if verb is None or verb == "VERB":
            continue  # `semgen VERB --help`
        assert verb in VERBS, example
        warnings: list[str] = []
        assert upgrade_argv(verb, argv, warn=warnings.append) == argv and not warnings, f"old spelling in README: {example}"
        if example in examples:
            seen_verbs.add(verb)
            try:
                _parse(argv)
            except SystemExit:
                pytest.fail(f"README example does not parse: {example}")
        parser = _verb_parser(verb)
        if verb == "bench" and len(argv) > 1 and not argv[1].startswith("-"):  # `semgen bench NAME --flag`
            parser = parser._subparsers._group_actions[0].choices[argv[1]]
        known = set(parser._option_string_actions)
        unknown = [a.split("=")[0] for a in argv if a.startswith("--") and a.split("=")[0] not in known]
        assert not unknown, f"README names flags {verb} does not have: {unknown} in {example}"
    assert seen_verbs == set(VERBS)  # the README runs every verb


def test_a_busy_machine_gets_a_note_about_threads(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    assert busy_note(2, load=0.5, cpus=2) is None and busy_note(1, load=9.0, cpus=2) is None
    note = busy_note(2, load=8.1, cpus=2)
    assert note is not None and "load average 8.1 on 2 CPUs" in note and "--threads 1" in note
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setattr("os.getloadavg", lambda: (64.0, 64.0, 64.0))
    try:
        with caplog.at_level("WARNING"):
            apply_threads(3)  # asked for: no note
            assert not caplog.records
            apply_threads(None)  # the default (2) on a machine this busy: one note
        assert [r.getMessage().startswith("this machine is busy") for r in caplog.records] == [True]
    finally:
        torch.set_num_threads(before)


def test_waiting_threads_sleep_on_a_busy_machine_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # as before torch loads (monkeypatch puts it back)
    monkeypatch.setattr("os.getloadavg", lambda: (0.1, 0.1, 0.1))
    assert not passive_waits_when_busy() and "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.setattr("os.getloadavg", lambda: (64.0, 64.0, 64.0))
    assert passive_waits_when_busy() and os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's choice stays
    assert not passive_waits_when_busy() and os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
