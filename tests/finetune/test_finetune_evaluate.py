"""semgen evaluate on the built-in phantoms (tiny: width 4, 16x16x8 cubes, 1-2 epochs): pairing,
the report, resume after a kill, refusal, and the frozen-encoder probe."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

import semgen.finetune.evaluation as ev
from semgen.cli import main
from semgen.finetune.data import Geometry
from semgen.finetune.evaluation import EvaluateConfig, Probe, evaluate
from semgen.finetune.evaluation_report import EvaluateResult
from semgen.finetune.stats import nan_to_none
from semgen.finetune.train import Arrays, TrainSettings, train_trial
from semgen.stage import ConfigError, FolderClaimError


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """8 tiny phantoms (nodule-candidate classification) and a width-4 checkpoint pre-trained on 16x16x8."""
    from semgen.models import UNet, save_checkpoint
    from semgen.phantoms import write_cohort

    root = tmp_path_factory.mktemp("evaluate")
    write_cohort(root / "phantoms", 8, seed=0, preset="tiny", workers=1)
    save_checkpoint(root / "toy" / "model.safetensors", UNet(spatial_dims=3, width=4),
                    {"patch_size": [16, 16, 8], "method": "toy-genesis"})
    return root / "phantoms", root / "toy"


def _cfg(cohort: tuple[Path, Path], out: Path, **kw) -> EvaluateConfig:
    data, ckpt = cohort
    base = dict(data=str(data), out=str(out), inits=("scratch", str(ckpt)), recipe="phantom-nodules",
                label_fractions=(0.5, 1.0), trials=2, modes=("finetune",), epochs=1, patience=1, converged_epochs=2,
                batch_size=8, device="cpu", val_fraction=0.25, test_fraction=0.25)
    return EvaluateConfig(**{**base, **kw})


@contextlib.contextmanager
def spy(fail_at: int | None = None):
    """Record what every trial trains and tests on (ids, seed, the head's initial weights);
    raise KeyboardInterrupt (a kill) when trial number ``fail_at`` (0-based) starts."""
    calls: list[dict] = []

    def recording(model, splits, **kw):
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt
        inner = model.model if isinstance(model, Probe) else model
        calls.append({"desc": kw["desc"], "seed": kw["seed"], "train": list(splits["train"].ids),
                      "validation": list(splits["validation"].ids), "test": list(splits["test"].ids),
                      "fc": inner.fc.weight.detach().clone()})
        return train_trial(model, splits, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev, "train_trial", recording)
        yield calls


@pytest.fixture(scope="module")
def uninterrupted(cohort, tmp_path_factory: pytest.TempPathFactory) -> tuple[EvaluateResult, list[dict], Path]:
    out = tmp_path_factory.mktemp("uninterrupted") / "report"
    with spy() as calls:
        report = evaluate(_cfg(cohort, out))
    return report, calls, out


def test_every_initialisation_sees_the_same_split_subsets_and_seeds(uninterrupted) -> None:
    report, calls, _ = uninterrupted
    # 2 fractions x (finetune scratch, finetune toy, converged scratch) x 2 trials
    assert len(calls) == 12
    by_fraction: dict[str, list[dict]] = {}
    for c in calls:
        by_fraction.setdefault(c["desc"].split("@ ")[1].split(",")[0], []).append(c)
    for f, group in by_fraction.items():
        assert len({tuple(c["train"]) for c in group}) == 1, f
        assert len({tuple(c["test"]) for c in group}) == 1 and len({tuple(c["validation"]) for c in group}) == 1
        for trial in ("trial 1", "trial 2"):
            same = [c for c in group if c["desc"].endswith(trial)]
            assert len(same) == 3 and len({c["seed"] for c in same}) == 1
            # the same trial seed initialises the new head identically, whatever the encoder's weights
            assert all(torch.equal(same[0]["fc"], c["fc"]) for c in same)
    half, full = set(by_fraction["0.5"][0]["train"]), set(by_fraction["1"][0]["train"])
    assert half < full  # nested label subsets
    assert by_fraction["0.5"][0]["test"] == by_fraction["1"][0]["test"]
    assert len({c["seed"] for c in calls}) == 2


def test_report_holds_paired_statistics_plot_and_verdict(uninterrupted) -> None:
    report, _, out = uninterrupted
    saved = json.loads((out / "report.json").read_text())
    for f in ("0.5", "1"):
        table = saved["results"][f]["finetune"]
        assert set(table) == {"scratch", "toy"}
        toy, scratch = table["toy"], table["scratch"]
        for key in ("mean", "sd", "n", "diff", "ci95", "p_paired", "p_holm", "detectable_diff", "p_delong", "vs_converged"):
            assert key in toy, key
        assert toy["n"] == 2 and "diff" not in scratch and "vs_converged" in scratch
        assert toy["diff"] == pytest.approx(np.mean(np.subtract(toy["values"], scratch["values"])))
        if toy["p_paired"] is not None and 0 < toy["p_paired"] < 1:
            assert toy["p_paired"] == pytest.approx(stats.ttest_rel(toy["values"], scratch["values"]).pvalue)
        assert set(saved["results"][f]["converged"]) == {"scratch"}
    assert "toy (fine-tuned)" in saved["verdict"] and "converged scratch" in saved["verdict"]
    md = (out / "report.md").read_text()
    assert "## Verdict" in md and "## 50 % labels, finetune" in md and "| toy | 2 |" in md
    # one set of inputs for every initialisation, and the checkpoint's own pre-training geometry beside it
    assert f"Inputs, the same for every initialisation: {Geometry.from_dict(saved['geometry']).describe()}" in md
    assert "Pre-training geometry: toy: pre-trained at 3D, patch 16x16x8" in md
    assert (out / "efficiency.png").stat().st_size > 1000
    from semgen.viz.efficiency import plot_efficiency

    (ax,) = plot_efficiency(saved).axes  # one panel per mode; y inside the metric's range, CI bands included
    low, high = ax.get_ylim()
    assert 0 <= low < high <= 100
    assert len(ax.lines) == 3 and len(ax.collections) == 3  # scratch, toy, converged scratch
    for band in ax.collections:
        ys = band.get_paths()[0].vertices[:, 1]
        assert ys.min() >= 0 and ys.max() <= 100
    for mode, init in (("finetune", "toy"), ("converged", "scratch")):
        record = json.loads((out / "trials" / mode / init / "fraction_0.5" / "trial_0.json").read_text())
        assert record["mode"] == mode and record["init"] == init and record["test_predictions"]["ids"]
    assert report.verdict == saved["verdict"]


def test_a_fraction_cut_to_an_exact_count_reads_as_that_count(uninterrupted) -> None:
    from semgen.finetune.evaluation_report import labels_phrase, render_markdown
    from semgen.viz.efficiency import plot_efficiency

    subsets = {"0.05": {"patients": 9}, "0.00295858": {"patients": 1}, "0.0443787": {"patients": 8}}
    assert labels_phrase({"subsets": subsets}, "0.05") == "5 % labels"
    assert labels_phrase({"subsets": subsets}, "0.00295858") == "0.296 % labels (1 patient)"
    assert labels_phrase({"subsets": subsets}, "0.0443787") == "4.44 % labels (8 patients)"
    # the report's 50 % relabelled as a share that cuts the same patients, given to 6 digits
    _, _, out = uninterrupted
    saved = json.loads((out / "report.json").read_text())
    n = saved["subsets"]["0.5"]["patients"]
    f = (n - 1 / 3) / saved["subsets"]["1"]["patients"]
    assert f"{100 * f:g}" != f"{100 * f:.3g}"
    saved["label_fractions"] = [f, 1.0]
    for key in ("results", "subsets"):
        saved[key] = {(f"{f:g}" if k == "0.5" else k): v for k, v in saved[key].items()}
    assert f"## {100 * f:.3g} % labels ({n} patients), finetune" in render_markdown(saved)
    assert "## 100 % labels, finetune" in render_markdown(saved)
    (ax,) = plot_efficiency(saved).axes
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{100 * f:.3g}\n({n})", "100"]


def test_report_json_is_the_typed_result(uninterrupted) -> None:
    report, _, out = uninterrupted
    saved = json.loads((out / "report.json").read_text())
    # the keys and order of every earlier release (benchmarks/evidence/claims.py reads results, split, seeds)
    assert list(saved) == ["task", "task_name", "kind", "data", "primary_metric", "inits", "geometry", "reference",
                           "label_fractions", "modes", "trials", "seed", "seeds", "budget", "converged", "split", "subsets",
                           "skipped", "baselines", "statistics", "results", "converged_stopped", "notes", "verdict", "files"]
    assert saved == json.loads(json.dumps(nan_to_none(report.to_json())))
    assert report.files == (out / "report.md", out / "report.json", out / "efficiency.png")
    assert report.inits == ["scratch", "toy"] and report.modes == ["finetune"] and report.trials == 2
    assert report.label_fractions == [0.5, 1.0] and set(report.results) == {"0.5", "1"}


def test_the_report_rebuilds_from_the_trials_alone(uninterrupted, tmp_path: Path) -> None:
    from semgen.finetune.evaluation_report import main as rebuild_main

    _, _, out = uninterrupted
    assert rebuild_main([str(out), "--out", str(tmp_path / "again")]) == 0
    before, after = (json.loads((d / "report.json").read_text()) for d in (out, tmp_path / "again"))
    assert {k: v for k, v in after.items() if k != "files"} == {k: v for k, v in before.items() if k != "files"}
    assert (tmp_path / "again" / "report.md").read_text() == (out / "report.md").read_text()


def test_jobs_share_the_trials_and_give_the_same_report(cohort, uninterrupted, tmp_path: Path) -> None:
    report, _, _ = uninterrupted
    out = tmp_path / "shared"
    with spy() as calls:  # records this process's trials only; the spawned one runs the rest
        shared = evaluate(_cfg(cohort, out, jobs=2))
    assert len(calls) == 6  # every other of the 12 trials in grid order
    assert [c["desc"] for c in calls] == [f"{m} @ {f}, trial {t}" for f in ("0.5", "1")
                                          for m in ("finetune scratch", "finetune toy", "converged scratch") for t in (1,)]
    assert len(list((out / "trials").rglob("trial_*.json"))) == 12
    for f, modes in report.to_json()["results"].items():
        for mode, table in modes.items():
            for name, row in table.items():
                assert shared.to_json()["results"][f][mode][name]["values"] == row["values"], (f, mode, name)
    assert shared.verdict == report.verdict


def test_resume_after_a_kill_gives_the_same_report(cohort, uninterrupted, tmp_path: Path) -> None:
    first, _, first_out = uninterrupted
    out = tmp_path / "report"
    with spy(fail_at=5), pytest.raises(KeyboardInterrupt):
        evaluate(_cfg(cohort, out))
    finished = sorted((out / "trials").rglob("trial_*.json"))
    assert len(finished) == 5 and not (out / "report.json").exists()
    finished[-1].write_text(finished[-1].read_text()[:40])  # a trial file cut short: redone
    with spy() as calls:
        again = evaluate(_cfg(cohort, out))
    assert len(calls) == 12 - 5 + 1
    strip = lambda r: {k: v for k, v in r.to_json().items() if k != "files"}  # noqa: E731
    assert json.loads(json.dumps(strip(again))) == json.loads(json.dumps(strip(first)))
    assert (out / "report.md").read_text() == (first_out / "report.md").read_text()


def test_other_options_on_an_existing_report_are_refused(cohort, uninterrupted) -> None:
    _, _, out = uninterrupted
    with pytest.raises(FolderClaimError, match="other options.*trials"):
        evaluate(_cfg(cohort, out, trials=3))
    with pytest.raises(ConfigError, match="--label-fractions"):
        _cfg(cohort, out, label_fractions=(0.0, 1.0))
    with pytest.raises(ConfigError, match="--modes"):
        _cfg(cohort, out, modes=("linear",))


def _settings(patch: tuple[int, ...]) -> TrainSettings:
    return TrainSettings(2, 2, 4, 1e-2, patch, 2, 0.5, 0.5, torch.device("cpu"))


@pytest.mark.parametrize("task", ["classification", "segmentation"])
def test_probe_leaves_every_encoder_tensor_unchanged(task: str) -> None:
    from semgen.models import EncoderClassifier, UNet

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    if task == "classification":
        model = EncoderClassifier({"spatial_dims": 2, "width": 4}, 1)
        split = lambda n: Arrays(torch.rand(n, 1, 16, 16, generator=g), torch.randint(0, 2, (n,), generator=g), [str(i) for i in range(n)])  # noqa: E731
        trained = ("fc.",)
    else:
        model = UNet(spatial_dims=2, width=4, out_channels=2)
        split = lambda n: Arrays([torch.rand(1, 16, 16, generator=g) for _ in range(n)],  # noqa: E731
                                 [torch.randint(0, 2, (16, 16), generator=g) for _ in range(n)], [str(i) for i in range(n)])
        trained = ("up_tr", "out_tr")
    encoder = model.part_names()["encoder"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    probe = Probe(model)
    train_trial(probe, {"train": split(8), "validation": split(4), "test": split(4)}, task=task,
                kind="binary" if task == "classification" else "segmentation", label_names={1: "one"},
                primary_metric="auc" if task == "classification" else "iou_mean", settings=_settings((16, 16)), seed=0)
    after = model.state_dict()
    frozen = [k for k in before if k.split(".")[0] in encoder]
    assert frozen and any("running_mean" in k for k in frozen)  # batch-norm statistics included
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith(trained))
    # without the probe, the same training moves the encoder: the check above can fail
    for name in encoder:
        getattr(model, name).requires_grad_(True)
    train_trial(model, {"train": split(8), "validation": split(4), "test": split(4)}, task=task,
                kind="binary" if task == "classification" else "segmentation", label_names={1: "one"},
                primary_metric="auc" if task == "classification" else "iou_mean", settings=_settings((16, 16)), seed=0)
    assert any(not torch.equal(before[k], model.state_dict()[k]) for k in frozen)


def test_cli_help_documents_every_option_and_bad_input_is_one_line(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    from semgen.stage import flag

    text = capsys.readouterr().out
    flags = {"inits": "--init", "resample": "--no-resample", "data": "data"}
    for field in dataclasses.fields(EvaluateConfig):
        assert flags.get(field.name, flag(field.name)) in text, field.name
    assert main(["evaluate", "nowhere", "--out", "x", "--label-fractions", "0.5,2"]) == 2
    assert "semgen evaluate: error: --label-fractions must be in (0, 1]" in capsys.readouterr().err


def test_each_trial_line_is_printed_once(cohort, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import logging

    from semgen.utils.progress import setup_logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    setup_logging()  # what the CLI installs
    try:
        evaluate(_cfg(cohort, tmp_path / "report", label_fractions=(1.0,), trials=1))
    finally:
        for h in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(h)
        root.setLevel(level)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[")]
    assert len(lines) == 3 and len(set(lines)) == 3  # scratch, the checkpoint, converged scratch
