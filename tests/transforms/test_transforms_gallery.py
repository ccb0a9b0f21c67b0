from __future__ import annotations

import argparse

import numpy as np
import pytest
import SimpleITK as sitk
import yaml
from matplotlib.image import imread

from semgen.cli import main
from semgen.transforms.gallery import GALLERY_COLUMNS, corrupt_columns, pick_patches
from semgen.viz.gallery import draw_gallery


def test_pick_patches_prefers_structure_and_fits_small_axes() -> None:
    volume = np.zeros((64, 64, 6), dtype=np.float32)
    rng = np.random.default_rng(0)
    volume[:24, :24] = rng.random((24, 24, 6))
    volume[40:, 40:] = rng.random((24, 24, 6))
    patches = pick_patches(volume, (16, 16, 8), 2, seed=0)
    assert [p.shape for p in patches] == [(16, 16, 6), (16, 16, 6)]
    assert all(p.std() > 0.2 for p in patches)  # inside the textured corners, not the empty background
    assert not np.array_equal(patches[0], patches[1])
    assert all(np.array_equal(a, b) for a, b in zip(patches, pick_patches(volume, (16, 16, 8), 2, seed=0)))


@pytest.mark.parametrize("shape", [(32, 32, 16), (48, 48)])
def test_gallery_columns_are_the_named_corruptions_of_every_patch(tmp_path, shape) -> None:
    rng = np.random.default_rng(1)
    patches = [rng.random(shape).astype(np.float32) for _ in range(2)]
    columns = corrupt_columns(patches, seed=3)
    assert [t for t, _ in columns] == ["original"] + [t for t, _ in GALLERY_COLUMNS]
    assert np.array_equal(columns[0][1], np.stack(patches))
    for title, images in columns[1:]:
        assert images.shape == (2, *shape) and images.min() >= 0 and images.max() <= 1
        assert not np.array_equal(images, columns[0][1]), title  # every column corrupts
    again = corrupt_columns(patches, seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(columns, again))
    fig = draw_gallery(columns, tmp_path / "g.png")
    assert len(fig.axes) == 2 * len(columns)  # one panel per patch and column
    titles = [ax.get_title().replace("\n", " ") for ax in fig.axes[: len(columns)]]
    assert titles == [t for t, _ in columns]
    assert "local shuffle (Models Genesis, 10,000 blocks)" in titles
    shown = fig.axes[len(columns)].images[0]  # second patch, original: the middle slice, X across
    middle = patches[1][..., shape[-1] // 2] if len(shape) == 3 else patches[1]
    assert np.array_equal(shown.get_array(), middle.T) and shown.get_clim() == (0, 1)
    assert imread(tmp_path / "g.png").shape[:2] == (round((1.8 * 2 + 0.3) * 100), round(1.8 * len(columns) * 100))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]


def test_show_transforms_cli_on_a_scan_file(tmp_path, capsys) -> None:
    hu = np.full((20, 48, 48), -1000, dtype=np.int16)  # SimpleITK order (z, y, x)
    hu[:, 8:40, 8:40] = np.random.default_rng(2).integers(-900, 400, (20, 32, 32))
    path = tmp_path / "ct.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(hu), str(path))
    out = tmp_path / "gallery.png"
    assert (
        main(["show-transforms", "--input", str(path), "--out", str(out), "--rows", "2", "--patch", "32x32x16"])
        == 0
    )
    assert imread(out).shape[:2] == (round((1.8 * 2 + 0.3) * 100), round(1.8 * (len(GALLERY_COLUMNS) + 1) * 100))
    cfg = yaml.safe_load((tmp_path / "gallery.yaml").read_text())
    assert cfg["input"] == str(path) and cfg["rows"] == 2 and cfg["patch"] == [32, 32, 16]
    printed = capsys.readouterr().out
    assert "Wrote" in printed and "intensity window CT -1000..1000" in printed
    assert "{" not in printed and "'" not in printed  # no Python repr (dict, tuple of strings) reaches the user


def test_show_transforms_cli_default_phantom(tmp_path) -> None:
    out = tmp_path / "gallery.png"
    assert (
        main(["show-transforms", "--preset", "tiny", "--rows", "1", "--patch", "32x32x16", "--out", str(out)])
        == 0
    )
    assert out.is_file()


def test_show_transforms_rejects_bad_input(tmp_path, capsys) -> None:
    assert main(["show-transforms", "--patch", "32", "--out", str(tmp_path / "g.png")]) == 2
    assert "--patch" in capsys.readouterr().err
    assert main(["show-transforms", "--preset", "tiny", "--patch", "32x32", "--out", str(tmp_path / "g.png")]) == 2
    assert "3-D image needs a --patch of 3 sizes" in capsys.readouterr().err
    junk = tmp_path / "notes.txt"
    junk.write_text("not an image")
    assert main(["show-transforms", "--input", str(junk), "--out", str(tmp_path / "g.png")]) == 2
    assert f"error: {junk}" in capsys.readouterr().err
    assert not (tmp_path / "g.png").exists()


def test_bench_transforms_measures_interleaved_rounds_on_one_thread() -> None:
    import torch

    from semgen.bench import transforms as bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # not the benchmark's 1, so a setting it forgot to give back shows
    try:
        result = bench.run(
            parser.parse_args(["--batch", "2", "--size", "32", "32", "16", "--seconds", "0.02", "--repeats", "3"])
        )
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert {k: len(v) for k, v in result["rounds"].items()} == {"ours": 3, "baseline": 3, "models-genesis": 3}
    assert all(v > 0 for vs in result["rounds"].values() for v in vs)
    assert result["threads"] == 1 and result["size"] == [32, 32, 16] and result["batch"] == 2


def test_baseline_pipeline_keeps_shape_and_range() -> None:
    from semgen.bench.transforms import baseline_semantic_genesis

    rng = np.random.default_rng(0)
    cube = rng.random((64, 64, 32))
    for _ in range(8):
        x, target = baseline_semantic_genesis(cube, rng)
        assert x.shape == cube.shape and np.array_equal(target, cube)
        assert x.min() >= 0 and x.max() <= 1 and not np.array_equal(x, cube)
