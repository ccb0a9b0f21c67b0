"""The atlas: which classes are flagged, what atlas.json says, what the picture holds."""

from __future__ import annotations

import numpy as np

from semgen.discovery.atlas import atlas_data
from semgen.discovery.planning import CropTable
from semgen.viz.atlas import GAP, INFO, LABEL, LEGEND, PANEL, draw_atlas, legend_lines

SHAPE = (48, 48, 16)


def _volumes() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Six scans: a textured body in x, y in [8, 40), air around it."""
    images, masks = {}, {}
    for i in range(6):
        rng = np.random.default_rng(i)
        image = np.zeros(SHAPE, dtype=np.float32)
        image[8:40, 8:40] = 0.3 + 0.4 * rng.random((32, 32, SHAPE[2]))
        image[8:24, 8:40] += 0.2 * (np.arange(32) % 5 == 0)[None, :, None]  # a structure shared by every scan
        images[f"s{i}"] = np.clip(image, 0, 1)
        mask = np.zeros(SHAPE, dtype=np.uint8)
        mask[8:40, 8:40] = 1
        masks[f"s{i}"] = mask
    return images, masks


def _table(starts: list[tuple[int, int, int]]) -> CropTable:
    """One class per start: native crops of 16x16x8 at that start on scans 0..4 (class c's
    reference = scan c), plus one larger crop per class that the atlas must not show."""
    rows = []
    for c, start in enumerate(starts):
        order = [c] + [s for s in range(5) if s != c]
        rows += [(c, s, False, 1, start, (16, 16, 8)) for s in order]
        rows.append((c, order[1], False, 2, (0, 0, 0), (32, 32, 16)))
    cols = list(zip(*rows))
    return CropTable(
        klass=np.array(cols[0]), scan=np.array(cols[1]), split=np.array(cols[2]), resolution=np.array(cols[3]),
        start=np.array(cols[4]), size=np.array(cols[5]), distance=np.zeros(len(rows), dtype=np.float32),
    )


def test_atlas_flags_air_classes_and_near_duplicates() -> None:
    images, masks = _volumes()
    ids = sorted(images)
    # class 0 and class 2: the same body position (near-duplicates); class 1: in the air; class 3: elsewhere in the body
    table = _table([(10, 10, 4), (32, 32, 4), (10, 10, 4), (22, 22, 4)])
    atlas = atlas_data(table, [0, 1, 2, 3], ids, images.__getitem__, masks.__getitem__, neighbors_shown=3)
    info = atlas.to_json()
    flags = {c["class"]: c["flags"] for c in info["classes"]}
    assert info["flagged"] == [0, 1, 2]
    assert any("outside the body" in f for f in flags[1]) and not any("outside" in f for f in flags[0] + flags[3])
    by_class = {c["class"]: c for c in info["classes"]}
    assert by_class[0]["duplicate_of"][0] == 2 and by_class[2]["duplicate_of"][0] == 0
    assert by_class[0]["correlation"][0] > 0.95 and 3 not in by_class[0]["duplicate_of"] and flags[3] == []
    assert by_class[1]["body_fraction"] == 0.25 and by_class[0]["body_fraction"] == 1.0
    for c in info["classes"]:  # the reference first, then 3 neighbours, only native crops, slice through the centre
        assert [p["reference"] for p in c["shown"]] == [True, False, False, False]
        assert c["shown"][0]["scan"] == c["reference"] and all(p["slice_index"] == 8 for p in c["shown"])
        assert all(p["size"] == (16, 16) for p in c["shown"])


def test_atlas_picture_has_a_legend_one_row_per_class_and_red_flags(tmp_path) -> None:
    from matplotlib.colors import to_rgba

    images, masks = _volumes()
    table = _table([(10, 10, 4), (32, 32, 4)])
    atlas = atlas_data(table, [0, 1], sorted(images), images.__getitem__, masks.__getitem__)
    fig = draw_atlas(atlas, tmp_path / "atlas.png")
    width, height = (fig.get_size_inches() * fig.dpi).round().astype(int)
    assert (height, width) == (LEGEND + 2 * (PANEL + LABEL), 5 * (2 * PANEL + GAP) - GAP + INFO)
    texts = {t.get_text(): t for t in fig.texts}
    for line, _ in legend_lines(atlas):
        assert line in texts
    legend = " ".join(line for line, _ in legend_lines(atlas))
    for word in ("reference", "yellow box", "axial slice", "resolution 1 of 2", "16x16x8", "1 of 2 classes flagged"):
        assert word in legend
    assert "ref s0  z=8" in texts and "ref s1  z=8" in texts
    assert to_rgba(texts["class 1"].get_color()) == to_rgba("red") and to_rgba(texts["class 0"].get_color()) == to_rgba("blue")
    assert any("outside the body" in t for t in texts)
    from matplotlib.image import imread

    png = imread(tmp_path / "atlas.png")
    assert png.shape[:2] == (height, width)
    yellow = (np.abs(png[..., :3] - np.array([1.0, 220 / 255, 0.0])) < 0.02).all(axis=2)
    assert yellow.sum() > 4 * 20  # the crop outlines
