"""Branching tubular trees (pulmonary arteries, veins, bronchi) grown generation by generation.

Each generation is computed for all open branch tips at once: a parent of radius ``r``
splits into two children whose radii follow Murray's law (``r1^3 + r2^3 = r^3``), the
thicker child deviating less from the parent's direction; children are steered outward
from the hilum and stop at the lung boundary or below a minimum radius.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from semgen.phantoms.geometry import unit


@dataclass(frozen=True)
class Tree:
    """Segments in the body frame (mm): ``p0``, ``p1`` (N, 3), radii ``r0``, ``r1`` (N,),
    ``parent`` (N,) index of the parent segment (-1 for a root), ``generation`` (N,)."""

    p0: np.ndarray
    p1: np.ndarray
    r0: np.ndarray
    r1: np.ndarray
    parent: np.ndarray
    generation: np.ndarray

    def __len__(self) -> int:
        return len(self.p0)

    def junctions(self) -> tuple[np.ndarray, np.ndarray]:
        """Bifurcation points (M, 3) (ends of segments with two children) and the parent radius there (M,)."""
        child_count = np.bincount(self.parent[self.parent >= 0], minlength=len(self))
        forks = np.flatnonzero(child_count >= 2)
        return self.p1[forks], self.r1[forks]


def grow_tree(
    rng: np.random.Generator,
    starts: np.ndarray,
    ends: np.ndarray,
    radii: np.ndarray,
    inside: Callable[[np.ndarray], np.ndarray],
    origins: np.ndarray,
    min_radius: float,
    max_generations: int = 14,
    outward_bias: float = 0.25,
) -> Tree:
    """Grow a tree from root segments ``starts`` -> ``ends`` (K, 3) of ``radii`` (K,), body mm.

    ``inside(points (M, 3)) -> bool (M,)`` says where branches may go (the lung); a child
    whose end or midpoint falls outside gets two new branching planes, then half its length,
    then is dropped. Branches are steered away from their root's ``origins`` (K, 3) (the
    hilum). Branch lengths are 5-9 radii, branching angles 15-30 degrees (major child) and
    35-60 degrees (minor).
    """
    p0 = [np.asarray(starts, dtype=np.float64)]
    p1 = [np.asarray(ends, dtype=np.float64)]
    r = [np.asarray(radii, dtype=np.float64)]
    parent = [np.full(len(r[0]), -1, dtype=np.int64)]
    generation = [np.zeros(len(r[0]), dtype=np.int64)]
    origin = np.asarray(origins, dtype=np.float64)
    first_index = 0
    for gen in range(1, max_generations + 1):
        tips, d_parent, r_parent = p1[-1], unit(p1[-1] - p0[-1]), r[-1]
        n = len(tips)
        if n == 0:
            break
        parent_index = first_index + np.arange(n)
        first_index += n
        major = rng.uniform(0.74, 0.86, n)
        child_r = np.concatenate([r_parent * major, r_parent * np.cbrt(1.0 - major**3)])
        theta = np.deg2rad(np.concatenate([rng.uniform(15.0, 30.0, n), -rng.uniform(35.0, 60.0, n)]))
        d = np.concatenate([d_parent, d_parent])
        start = np.concatenate([tips, tips])
        child_origin = np.concatenate([origin, origin])
        child_parent = np.concatenate([parent_index, parent_index])
        axis = unit(np.cross(d_parent, rng.normal(size=(n, 3))))
        axis = np.concatenate([axis, axis])  # both children in one plane, on either side of the parent
        length = child_r * rng.uniform(5.0, 9.0, 2 * n)
        dirs, ok = _steer(rng, d, start, child_origin, axis, theta, length, inside, outward_bias)
        keep = ok & (child_r >= min_radius)
        p0.append(start[keep])
        p1.append(start[keep] + length[keep, None] * dirs[keep])
        r.append(child_r[keep])
        parent.append(child_parent[keep])
        generation.append(np.full(int(keep.sum()), gen, dtype=np.int64))
        origin = child_origin[keep]
    radius = np.concatenate(r)
    return Tree(
        p0=np.concatenate(p0),
        p1=np.concatenate(p1),
        r0=radius,
        r1=radius * 0.92,
        parent=np.concatenate(parent),
        generation=np.concatenate(generation),
    )


def _steer(
    rng: np.random.Generator,
    d: np.ndarray,
    start: np.ndarray,
    child_origin: np.ndarray,
    axis: np.ndarray,
    theta: np.ndarray,
    length: np.ndarray,
    inside: Callable[[np.ndarray], np.ndarray],
    outward_bias: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The children's unit directions (C, 3) and whether each stays inside (C,): parent direction
    ``d`` turned by ``theta`` in the plane normal to ``axis``, biased away from the origin. A
    child leaving the lung gets two new branching planes, then half its ``length`` (changed in
    place), then is dropped."""
    dirs = np.empty_like(d)
    ok = np.zeros(len(d), dtype=bool)
    todo = np.arange(len(d))
    for attempt in range(4):
        if attempt in (1, 2):
            axis[todo] = unit(np.cross(d[todo], rng.normal(size=(len(todo), 3))))
        elif attempt == 3:
            length[todo] *= 0.5
        side = np.cross(axis[todo], d[todo])
        th = theta[todo, None]
        outward = unit(start[todo] - child_origin[todo])
        dirs[todo] = unit(d[todo] * np.cos(th) + side * np.sin(th) + outward_bias * outward)
        end = start[todo] + length[todo, None] * dirs[todo]
        mid = start[todo] + 0.5 * length[todo, None] * dirs[todo]
        ok[todo[inside(end) & inside(mid)]] = True
        todo = np.flatnonzero(~ok)
        if len(todo) == 0:
            break
    return dirs, ok


def companion(tree: Tree, root_starts: np.ndarray, scale: float, min_radius: float, gap: float) -> Tree:
    """A tree running beside ``tree`` (a bronchus beside its artery): same topology, radius
    ``scale`` times the artery's, ends offset sideways so the two tubes touch across ``gap`` mm,
    each segment starting where its parent ends (roots start at ``root_starts`` (K, 3)).
    Segments thinner than ``min_radius`` and their descendants are left out."""
    direction = unit(tree.p1 - tree.p0)
    reference = np.where(np.abs(direction[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    side = unit(np.cross(direction, reference))
    radius = tree.r0 * scale
    end = tree.p1 + side * (tree.r0 + radius + gap)[:, None]
    # radii shrink from parent to child, so a kept segment's ancestors are all kept too
    keep = radius >= min_radius
    start = np.where(tree.parent[:, None] >= 0, end[np.maximum(tree.parent, 0)], 0.0)
    roots = np.flatnonzero(tree.parent < 0)
    start[roots] = root_starts
    index = np.cumsum(keep) - 1
    return Tree(
        p0=start[keep],
        p1=end[keep],
        r0=radius[keep],
        r1=radius[keep] * 0.92,
        parent=np.where(tree.parent[keep] >= 0, index[np.maximum(tree.parent[keep], 0)], -1),
        generation=tree.generation[keep],
    )
