"""A procedural chest CT in Hounsfield units with consistent, recurrent anatomy.

:func:`make_phantom` builds one patient: body outline with skin, fat and muscle; two lungs
with parenchyma texture, branching arteries and veins and the bronchi beside them;
trachea; heart, aorta and great vessels; spine with vertebrae repeating along z; ribs,
sternum, clavicles and scapulae; the liver dome, stomach and spleen below the diaphragm;
then a point-spread blur and correlated noise. Patients belong to one of a few latent
types (habitus, breathing state, heart size and position) with per-patient jitter, and
lie slightly shifted and rotated on the table with a varying field of view along z.
Lung nodules (solid / sub-solid, some juxta-pleural or juxta-vascular) and vessel
bifurcations of similar size and density (their look-alikes) are labelled for a
nodule-candidate classification task; an organ label map (:data:`LABELS`) serves
segmentation. This is the built-in cohort that self-discovery (paper Sec. 2, Fig. 1a:
"consistent and recurring anatomical patterns") pre-trains on when no data is given.

Arrays are (X, Y, Z) in ITK's LPS orientation: x toward patient left, y toward
posterior, z toward superior.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from semgen.phantoms.geometry import Frame, Grid, catmull_rom, render_tubes, smoothstep, unit
from semgen.phantoms.trees import Tree, companion, grow_tree

LABELS: dict[int, str] = {
    0: "background",
    1: "lung",
    2: "heart",
    3: "liver",
    4: "bone",
    5: "aorta",
    6: "airway",
    7: "body",
}
"""Organ label values (fixed): 7 "body" is every other tissue inside the skin."""


@dataclass(frozen=True)
class Preset:
    """Volume size and resolution: ``shape`` (X, Y, Z) voxels at ``spacing`` (mm); vessels
    thinner than ``min_vessel_radius`` (mm) are not grown."""

    name: str
    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    min_vessel_radius: float


PRESETS: dict[str, Preset] = {
    "tiny": Preset("tiny", (64, 64, 32), (5.8, 5.8, 10.0), 1.3),
    "small": Preset("small", (128, 128, 64), (2.9, 2.9, 5.0), 0.65),
    "standard": Preset("standard", (256, 256, 128), (1.45, 1.45, 2.5), 0.45),
}
"""All presets cover the same 371 x 371 x 320 mm field of view."""


@dataclass(frozen=True)
class PatientType:
    """Mean anatomy of one latent patient type (mm, degrees, HU); patients jitter around it."""

    name: str
    half_width: float
    half_depth_front: float
    half_depth_back: float
    fat: float
    muscle: float
    dome: float
    lung_height: float
    heart_scale: float
    heart_shift: float
    heart_angle: float
    lung_hu: float
    noise_hu: float
    aortic_calcification: float


PATIENT_TYPES: tuple[PatientType, ...] = (
    PatientType("average", 158, 98, 110, 13, 13, 0, 215, 1.0, 24, 40, -865, 13, 0.1),
    PatientType("broad", 172, 118, 128, 30, 12, 22, 190, 1.12, 22, 58, -830, 20, 0.3),
    PatientType("slim-inspired", 136, 84, 94, 5, 10, -32, 245, 0.86, 12, 24, -890, 10, 0.0),
    PatientType("expiration-cardiomegaly", 162, 108, 114, 17, 11, 32, 180, 1.3, 40, 48, -815, 16, 0.9),
)
"""Latent patient types: habitus, breathing state (diaphragm height, lung height, lung
density), heart size, position and axis angle, and image noise."""


@dataclass(frozen=True)
class Candidate:
    """A nodule candidate: ``center`` voxel index (x, y, z), ``radius_mm``, and its ``kind``
    (e.g. ``"solid parenchymal"``, ``"subsolid juxta-pleural"``, ``"bifurcation"``)."""

    center: tuple[int, int, int]
    radius_mm: float
    kind: str = ""


@dataclass
class Phantom:
    """One synthetic patient.

    ``image``: float32 HU, (X, Y, Z), LPS; ``labels``: uint8 organ map (:data:`LABELS`);
    ``nodule_mask``: uint8 0/1; ``spacing`` and ``origin`` (mm, LPS, of voxel (0, 0, 0));
    ``nodules`` and ``lookalikes``: :class:`Candidate` lists; ``params``: the patient's
    sampled anatomy (JSON-friendly scalars) for manifests and checks.
    """

    image: np.ndarray
    labels: np.ndarray
    nodule_mask: np.ndarray
    spacing: tuple[float, float, float]
    patient_type: int
    nodules: list[Candidate]
    lookalikes: list[Candidate]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    params: dict[str, float | str] = field(default_factory=dict)


def make_phantom(seed: int, preset: str = "small", patient_type: int | None = None) -> Phantom:
    """Build one synthetic chest CT, deterministically from ``seed``.

    ``preset`` is a key of :data:`PRESETS`; ``patient_type`` an index into
    :data:`PATIENT_TYPES` (drawn from the seed when None). Pure: no files, no global state.
    Raises ``ValueError`` for an unknown preset or type.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown phantom preset {preset!r}; choose one of {', '.join(PRESETS)}")
    rng = np.random.default_rng(seed)
    if patient_type is None:
        patient_type = int(rng.integers(len(PATIENT_TYPES)))
    if not 0 <= patient_type < len(PATIENT_TYPES):
        raise ValueError(f"patient_type must be in 0..{len(PATIENT_TYPES) - 1}, got {patient_type}")
    return _Builder(rng, PRESETS[preset], patient_type).build()


def _jitter(rng: np.random.Generator, t: PatientType) -> dict[str, float]:
    """Per-patient anatomy: the type's means plus small Gaussian jitter (well below the gaps between types)."""
    n = rng.normal
    return {
        "half_width": t.half_width + n(0, 4),
        "half_depth_front": t.half_depth_front + n(0, 3),
        "half_depth_back": t.half_depth_back + n(0, 3),
        "fat": max(2.0, t.fat + n(0, 2.5)),
        "muscle": t.muscle + n(0, 1.5),
        "dome": t.dome + n(0, 6),
        "lung_height": t.lung_height + n(0, 8),
        "heart_scale": t.heart_scale + n(0, 0.04),
        "heart_shift": t.heart_shift + n(0, 4),
        "heart_angle": t.heart_angle + n(0, 4),
        "lung_hu": t.lung_hu + n(0, 8),
        "noise_hu": max(6.0, t.noise_hu + n(0, 1.5)),
        "spine_period": 26.0 * (t.half_width / 158.0) ** 0.3 + n(0, 0.6),
        "spine_phase": rng.uniform(0, 26.0),
        "fov_start": -58.0 + n(0, 10),
        "shift_x": n(0, 6),
        "roll_deg": float(np.clip(n(0, 2.5), -5.0, 5.0)),
        "pitch_deg": float(np.clip(n(0, 1.2), -2.5, 2.5)),
        "yaw_deg": float(np.clip(n(0, 1.2), -2.5, 2.5)),
    }


class _Builder:
    """Builds one patient: geometry first (masks and tube fractions), then the painting."""

    def __init__(self, rng: np.random.Generator, preset: Preset, patient_type: int) -> None:
        self.rng = rng
        self.preset = preset
        self.patient_type = patient_type
        self.type = PATIENT_TYPES[patient_type]
        self.p = _jitter(rng, self.type)
        self.grid = Grid(preset.shape, preset.spacing)
        self.w = float(min(preset.spacing))
        p = self.p
        fov = np.asarray(preset.shape) * np.asarray(preset.spacing)
        table_y = fov[1] / 2 - 12.0
        translation = np.array(
            [p["shift_x"], table_y - 2.0 - p["half_depth_back"], self.grid.offset[2] - p["fov_start"]]
        )
        self.frame = Frame.from_angles(p["roll_deg"], p["pitch_deg"], p["yaw_deg"], translation)
        self.table_y = table_y

    # ----------------------------------------------------------------- helpers
    def tubes(self, p0, p1, r0, r1=None) -> np.ndarray:
        """Fraction map of tubes given in body-frame mm."""
        to = self.frame.to_scanner
        return render_tubes(self.grid, to(np.atleast_2d(p0)), to(np.atleast_2d(p1)), r0, r1)

    def curve(self, points, radii, samples: int = 6) -> tuple[np.ndarray, ...]:
        """Segments (p0, p1, r0, r1) along a smooth curve through body-frame ``points`` with ``radii``."""
        pts = catmull_rom(np.asarray(points, dtype=np.float64), samples)
        r = np.interp(np.linspace(0, len(radii) - 1, len(pts)), np.arange(len(radii)), radii)
        return pts[:-1], pts[1:], r[:-1], r[1:]

    def texture(self, sigma_mm: float) -> np.ndarray:
        """Gaussian-filtered white noise with unit standard deviation (float32, grid shape)."""
        noise = self.rng.standard_normal(self.grid.shape, dtype=np.float32)
        field_ = ndimage.gaussian_filter(noise, sigma=[sigma_mm / s for s in self.grid.spacing], mode="wrap")
        return field_ / max(float(field_.std()), 1e-6)

    def lookup(self, volume: np.ndarray, points_body: np.ndarray) -> np.ndarray:
        """Values of ``volume`` at the voxels nearest to body-frame points (M, 3); outside the grid -> 0."""
        idx = np.rint(self.grid.to_index(self.frame.to_scanner(points_body))).astype(np.int64)
        ok = np.all((idx >= 0) & (idx < np.asarray(self.grid.shape)), axis=1)
        values = np.zeros(len(idx), dtype=volume.dtype)
        values[ok] = volume[tuple(idx[ok].T)]
        return values

    # ----------------------------------------------------------------- build
    def build(self) -> Phantom:
        self.layout()
        self.shapes()
        self.vessels()
        nodules, lookalikes = self.candidates()
        self.paint()
        self.paint_nodules(nodules)
        image = self.finish()
        volume_ml = float(np.prod(self.grid.spacing)) / 1000.0
        origin = self.grid.offset
        params: dict[str, float | str] = {"type_name": self.type.name}
        params.update({k: round(float(v), 3) for k, v in self.p.items()})
        params["lung_volume_ml"] = round(float((self.labels == 1).sum()) * volume_ml, 1)
        params["heart_volume_ml"] = round(float((self.labels == 2).sum()) * volume_ml, 1)
        params["vessel_segments"] = int(len(self.arteries) + len(self.veins))
        return Phantom(
            image=image,
            labels=self.labels,
            nodule_mask=self.nodule_mask,
            spacing=self.grid.spacing,
            patient_type=self.patient_type,
            nodules=[c for c, _ in nodules],
            lookalikes=lookalikes,
            origin=(float(origin[0]), float(origin[1]), float(origin[2])),
            params=params,
        )

    def layout(self) -> None:
        """Key landmarks in the body frame (mm)."""
        p = self.p
        self.x, self.y, self.z = self.frame.body_coordinates(self.grid)
        self.theta = np.arctan2(self.y, self.x)
        self.h_right = p["dome"]
        self.h_left = p["dome"] - 14.0
        self.apex = p["dome"] + p["lung_height"]
        self.carina = p["dome"] + 0.56 * p["lung_height"]
        self.arch = self.carina + 26.0
        wall_back = self.wall_thickness(np.pi / 2)
        wall_side = self.wall_thickness(0.0)
        wall_front = self.wall_thickness(-np.pi / 2)
        self.cav_back = p["half_depth_back"] - wall_back
        self.cav_front = p["half_depth_front"] - wall_front
        self.cav_side = p["half_width"] - wall_side
        s = p["half_width"] / 158.0
        self.spine_scale = s
        self.vb_r = np.array([21.0, 17.0]) * s
        self.vb_y = p["half_depth_back"] - 0.8 * p["fat"] - 60.0 * s
        self.canal_y = self.vb_y + self.vb_r[1] + 9.0 * s
        self.trachea_y = self.vb_y - self.vb_r[1] - 21.0
        self.esophagus = np.array([7.0, self.vb_y - self.vb_r[1] - 7.0])
        hs = p["heart_scale"]
        self.heart_axes = np.array([58.0, 40.0, 45.0]) * hs
        self.heart_c = np.array(
            [p["heart_shift"], -0.3 * self.cav_front, self.h_right - 10.0 + 0.85 * self.heart_axes[2]]
        )
        a, tilt = np.deg2rad(p["heart_angle"]), np.deg2rad(25.0)
        rz = np.array([[np.cos(a), np.sin(a), 0], [-np.sin(a), np.cos(a), 0], [0, 0, 1]])
        ry = np.array([[np.cos(tilt), 0, np.sin(tilt)], [0, 1, 0], [-np.sin(tilt), 0, np.cos(tilt)]])
        self.heart_rot = rz @ ry  # columns: heart axes in the body frame (long axis to left-anterior-inferior)
        self.hilum = {
            -1: np.array([-(20.0 + 0.22 * self.cav_side), self.trachea_y + 6.0, self.carina - 22.0]),
            1: np.array([20.0 + 0.22 * self.cav_side, self.trachea_y + 12.0, self.carina - 12.0]),
        }
        self.sternum_y = -self.cav_front - 9.0
        self.top = self.z.max()

    def wall_thickness(self, theta: np.ndarray | float) -> np.ndarray:
        """Skin + fat + muscle (+ paraspinal muscles) + rib layer thickness (mm) in direction ``theta``
        (the body-frame angle atan2(y, x))."""
        p = self.p
        th = np.asarray(theta, dtype=np.float32)
        back = 22.0 * np.exp(-(((th - np.pi / 2) / 0.5) ** 2))
        return self.fat_depth(th) + p["muscle"] * (0.5 + 0.5 * np.abs(np.sin(th))) + back + 7.0

    def fat_depth(self, theta: np.ndarray | float) -> np.ndarray:
        """Skin + subcutaneous fat thickness (mm) in direction ``theta``: thicker at the flanks."""
        return 2.0 + self.p["fat"] * (1.0 + 0.2 * np.cos(2 * np.asarray(theta, dtype=np.float32)))

    def heart_rho(self) -> np.ndarray:
        """Normalised ellipsoidal radius of the heart (1 on its surface)."""
        d = [self.x - self.heart_c[0], self.y - self.heart_c[1], self.z - self.heart_c[2]]
        r = self.heart_rot
        q = [r[0, i] * d[0] + r[1, i] * d[1] + r[2, i] * d[2] for i in range(3)]
        return np.sqrt(sum((q[i] / self.heart_axes[i]) ** 2 for i in range(3)))

    def shapes(self) -> None:
        """Masks of the body layers, cavity, diaphragm, organs, spine and the mediastinal tubes."""
        p, x, y, z = self.p, self.x, self.y, self.z
        half_depth = np.where(y < 0, p["half_depth_front"], p["half_depth_back"]).astype(np.float32)
        a2, b2 = p["half_width"] ** 2, half_depth**2
        g = np.sqrt(x * x / a2 + y * y / b2)
        grad = np.sqrt(x * x / a2**2 + y * y / b2**2) / np.maximum(g, 1e-6)
        self.depth = (1.0 - g) / np.maximum(grad, 1e-6)  # approx. distance inside the skin (mm)
        taper = 55.0 * smoothstep(z, self.apex - 95.0, self.apex + 15.0)
        self.wall = self.wall_thickness(self.theta)
        self.cavity = self.depth > self.wall + taper
        dome_r = self.h_right - ((x + 0.38 * self.cav_side) ** 2 + (y + 8.0) ** 2) / 240.0
        dome_l = self.h_left - ((x - 0.4 * self.cav_side) ** 2 + (y + 4.0) ** 2) / 240.0
        recess = 28.0 * smoothstep(y, 0.0, self.cav_back)
        self.diaphragm = np.maximum(dome_r, dome_l) - recess
        apex_surface = np.maximum(
            self.apex - ((x + 0.45 * self.cav_side) ** 2 + (y - 5.0) ** 2) / 150.0,
            self.apex + 5.0 - ((x - 0.45 * self.cav_side) ** 2 + (y - 5.0) ** 2) / 150.0,
        )
        self.rho_heart = self.heart_rho()
        self.spine_rho = np.sqrt((x / self.vb_r[0]) ** 2 + ((y - self.vb_y) / self.vb_r[1]) ** 2)
        self.mediastinal_tubes()
        self.skeleton()
        exclude = (
            self.bone_margin
            | (self.rho_heart < 1.0 + 9.0 / self.heart_axes.mean())
            | (self.spine_rho < 1.0 + 7.0 / self.vb_r[1])
            | (self.aorta_margin > 0.3)
            | (self.tube_margin > 0.3)
            | (np.abs(x - 3.0) < 9.0)
        )
        self.lung = self.cavity & (z > self.diaphragm + 3.0) & (z < apex_surface) & ~exclude
        self.lung = ndimage.binary_opening(self.lung, iterations=1)
        self.lung_dist = np.zeros(self.grid.shape, dtype=np.float32)
        found = ndimage.find_objects(self.lung.astype(np.uint8))
        if found:  # distances within the lung's bounding box (one voxel wider): same result, less work
            box = tuple(slice(max(b.start - 1, 0), b.stop + 1) for b in found[0])
            self.lung_dist[box] = ndimage.distance_transform_edt(self.lung[box], sampling=self.grid.spacing)
        self.abdomen = (self.depth > self.wall) & (z < self.diaphragm - 4.0)
        self.diaphragm_muscle = (self.depth > self.wall) & (z >= self.diaphragm - 4.0) & (z < self.diaphragm + 3.0)

    def mediastinal_tubes(self) -> None:
        """The aorta, great veins, trachea and main bronchi, oesophagus, pulmonary trunk."""
        hc, ha, hr = self.heart_c, self.heart_axes, self.heart_rot
        ty, top = self.trachea_y, self.top + 20.0
        k = self.p["heart_scale"] ** 0.5
        root = hc + hr @ np.array([-0.55 * ha[0], -0.1 * ha[1], 0.55 * ha[2]])
        aorta_pts = [
            root,
            [-16.0, ty - 30.0, self.carina - 28.0],
            [-7.0, ty - 22.0, self.arch - 2.0],
            [9.0, ty - 6.0, self.arch + 2.0],
            [19.0, self.vb_y - self.vb_r[1] - 6.0, self.arch - 16.0],
            [18.0, self.vb_y - self.vb_r[1] - 4.0, self.carina - 70.0],
            [8.0, self.vb_y - self.vb_r[1] - 4.0, self.h_right - 120.0],
        ]
        aorta_r = np.array([15.0, 15.0, 13.5, 12.5, 11.5, 11.0, 10.5]) * k
        self.aorta_seg = self.curve(aorta_pts, aorta_r)
        self.aorta = self.tubes(*self.aorta_seg)
        a0, a1, r0, r1 = self.aorta_seg
        self.aorta_margin = self.tubes(a0, a1, r0 + 4.0, r1 + 4.0)
        arch_left, arch_mid = np.asarray(aorta_pts[3]), np.asarray(aorta_pts[2])
        la = hc + hr @ np.array([-0.1 * ha[0], 0.85 * ha[1], 0.35 * ha[2]])
        ra = hc + hr @ np.array([-0.8 * ha[0], 0.1 * ha[1], 0.2 * ha[2]])
        rvot = hc + hr @ np.array([0.0, -0.75 * ha[1], 0.6 * ha[2]])
        pa_fork = np.array([6.0, ty - 14.0, self.carina - 12.0])
        self.pa_roots = [
            (rvot, pa_fork, 13.0 * k),
            (pa_fork, self.hilum[-1], 10.0 * k),
            (pa_fork, self.hilum[1], 10.0 * k),
        ]
        self.vein_origin = la
        great = [  # (p0, p1, radius): SVC, IVC, brachiocephalic, left carotid, left subclavian
            ([-28.0, ty - 26.0, top], ra + np.array([0.0, -5.0, 0.0]), 10.0),
            (ra, [-16.0, self.vb_y - self.vb_r[1] - 14.0, self.h_right - 130.0], 11.0),
            (arch_mid, [-22.0, ty - 22.0, top], 6.5),
            (arch_mid + [6.0, 4.0, 0.0], [7.0, ty - 18.0, top], 4.5),
            (arch_left, [26.0, ty - 6.0, top], 5.0),
        ]
        g0, g1, gr = (np.array([g[i] for g in great], dtype=np.float64) for i in range(3))
        self.great_veins = self.tubes(g0, g1, gr)
        bronchi = [
            ([-2.0, ty, top], [-2.0, ty, self.carina], 8.5),
            ([-2.0, ty, self.carina], self.hilum[-1] + [0.0, 5.0, 4.0], 7.0),
            ([-2.0, ty, self.carina], self.hilum[1] + [0.0, 6.0, 2.0], 6.0),
        ]
        self.bronchi = [(np.asarray(a, float), np.asarray(b, float), r) for a, b, r in bronchi]
        b0, b1, br = (np.array([b[i] for b in self.bronchi], dtype=np.float64) for i in range(3))
        eso = ([*self.esophagus, top], [*self.esophagus, self.h_left - 40.0], 7.0)
        self.oesophagus = self.tubes(eso[0], eso[1], eso[2])
        t0 = np.vstack([g0, b0, [eso[0]]])
        t1 = np.vstack([g1, b1, [eso[1]]])
        tr = np.concatenate([gr, br + 2.0, [eso[2]]]) + 4.0
        self.tube_margin = self.tubes(t0, t1, tr)

    def inside_lung(self, points: np.ndarray) -> np.ndarray:
        return self.lookup(self.lung_dist, points) > 1.0

    def vessels(self) -> None:
        """Pulmonary arteries (from the hila) and veins (to the left atrium), the bronchi beside the arteries."""
        x, y, z = self.x, self.y, self.z
        rmin = self.preset.min_vessel_radius
        art_roots, vein_roots, bronchus_roots = [], [], []
        for side in (-1, 1):
            lung = self.lung & ((x > 0) if side > 0 else (x < 0))
            pts = np.stack([x[lung], y[lung], z[lung]], axis=1)
            h = self.hilum[side]
            vein_h = h + np.array([0.0, 10.0, -32.0])
            upper, lower = pts[:, 2] > h[2] + 25.0, pts[:, 2] < h[2] - 25.0
            regions = [
                upper,
                ~upper & ~lower & (pts[:, 1] < h[1]),
                ~upper & ~lower & (pts[:, 1] >= h[1]),
                lower & (pts[:, 1] < h[1] + 15.0),
                lower & (pts[:, 1] >= h[1] + 15.0),
            ]
            for region in regions:
                if region.sum() < 10:
                    continue
                target = pts[region].mean(axis=0)
                art_roots.append((h, h + 0.45 * (target - h), 5.0))
                vein_roots.append((vein_h, vein_h + 0.4 * (target - vein_h), 4.6))
                bronchus_roots.append(self.bronchi[1 if side < 0 else 2][1])
        inside = self.inside_lung
        self.arteries = _forest(self.rng, art_roots, inside, rmin)
        self.veins = _forest(self.rng, vein_roots, inside, rmin)
        self.airways = companion(
            self.arteries, np.asarray(bronchus_roots), scale=0.8, min_radius=max(0.9, 0.45 * self.w), gap=0.6
        )
        to = self.frame.to_scanner
        fraction = np.zeros(self.grid.shape, dtype=np.float32)
        for tree in (self.arteries, self.veins):
            render_tubes(self.grid, to(tree.p0), to(tree.p1), tree.r0, tree.r1, out=fraction)
            forks, r_fork = tree.junctions()
            render_tubes(self.grid, to(forks), to(forks), 1.3 * r_fork, out=fraction)
        pa0, pa1, par = (np.array([v[i] for v in self.pa_roots], dtype=np.float64) for i in range(3))
        render_tubes(self.grid, to(pa0), to(pa1), par, out=fraction)
        vo = np.array([self.hilum[s] + [0.0, 10.0, -32.0] for s in (-1, 1)])
        atrium = to(np.repeat([self.vein_origin], 2, axis=0))
        render_tubes(self.grid, atrium, to(vo), np.full(2, 7.0), out=fraction)
        self.vessel = fraction
        aw = self.airways
        wall0, wall1 = np.maximum(0.6, 0.2 * aw.r0), np.maximum(0.6, 0.2 * aw.r1)
        self.airway_wall = self.tubes(aw.p0, aw.p1, aw.r0 + wall0, aw.r1 + wall1)
        self.airway_lumen = self.tubes(aw.p0, aw.p1, aw.r0, aw.r1)
        b0, b1, br = (np.array([b[i] for b in self.bronchi], dtype=np.float64) for i in range(3))
        self.airway_wall = np.maximum(self.airway_wall, self.tubes(b0, b1, br + 2.0))
        self.airway_lumen = np.maximum(self.airway_lumen, self.tubes(b0, b1, br))

    def candidates(self) -> tuple[list[tuple[Candidate, dict]], list[Candidate]]:
        """Place nodules (1-4) and pick vessel bifurcations of similar size as look-alikes (4-8)."""
        r_lo = max(1.5, 0.5 * self.w)
        taken: list[tuple[np.ndarray, float]] = []  # (centre mm, radius) of every candidate placed so far
        nodules = self._nodules(r_lo, taken)
        return nodules, self._lookalikes(r_lo, taken)

    def _nodules(self, r_lo: float, taken: list[tuple[np.ndarray, float]]) -> list[tuple[Candidate, dict]]:
        """1-4 nodules, each at a free site in the lung (parenchymal, juxta-pleural or juxta-vascular)."""
        rng = self.rng
        segs = [(t.p0, t.p1, t.r0) for t in (self.arteries, self.veins)]
        seg = tuple(np.concatenate([s[k] for s in segs]) for k in range(3))  # (p0, p1, radius) of every segment
        nodules: list[tuple[Candidate, dict]] = []
        n_nodules = int(rng.integers(1, 5))
        attempts = 0
        while len(nodules) < n_nodules and attempts < 60:
            attempts += 1
            radius = float(rng.uniform(r_lo, 7.0))
            where = rng.choice(["parenchymal", "juxta-pleural", "juxta-vascular"], p=[0.6, 0.2, 0.2])
            voxel = self._nodule_site(where, radius, seg)
            if voxel is None:
                continue
            c_mm = self.grid.voxel_to_mm(voxel)
            if not _free(taken, c_mm, radius):
                continue
            taken.append((c_mm, radius))
            solid = rng.uniform() < 0.7
            kind = f"{'solid' if solid else 'subsolid'} {where}"
            centre = (int(voxel[0]), int(voxel[1]), int(voxel[2]))
            nodules.append((Candidate(centre, round(radius, 2), kind), self._nodule_shape(solid)))
        return nodules

    def _nodule_site(self, where: str, radius: float, seg: tuple[np.ndarray, ...]) -> np.ndarray | None:
        """A voxel for a nodule of ``radius`` mm at a site of kind ``where`` (None: none found this try)."""
        rng, grid, w = self.rng, self.grid, self.w
        lung_voxels, vessel, airway = self.lung_dist.reshape(-1), self.vessel.reshape(-1), self.airway_wall.reshape(-1)
        if where == "juxta-vascular":
            seg_p0, seg_p1, seg_r = seg
            pick = np.flatnonzero((seg_r > 1.0) & (seg_r < 3.0))
            if len(pick) == 0:
                return None
            i = rng.choice(pick)
            mid = 0.5 * (seg_p0[i] + seg_p1[i])
            d = unit(seg_p1[i] - seg_p0[i])
            side = unit(np.cross(d, rng.normal(size=3)))
            c_body = mid + side * (radius + 0.6 * seg_r[i])
            voxel = grid.nearest_voxel(self.frame.to_scanner(c_body))
            flat = np.ravel_multi_index(tuple(voxel), grid.shape)
            if lung_voxels[flat] < max(radius, w) + 2.0 or airway[flat] > 0.1:
                return None
            return voxel
        clear = (vessel < 0.15) & (airway < 0.1)
        if where == "parenchymal":
            ok = clear & (lung_voxels > radius + 5.0)
        else:
            ok = clear & (lung_voxels >= w - 1e-3) & (lung_voxels <= max(radius, w) + 0.5 * w)
        pool = np.flatnonzero(ok)
        if len(pool) == 0:
            return None
        flat = int(rng.choice(pool))
        return np.array(np.unravel_index(flat, grid.shape))

    def _nodule_shape(self, solid: bool) -> dict:
        """A nodule's density (HU), optional solid core, lobulation waves and their phases."""
        rng = self.rng
        return {
            "hu": float(rng.normal(25.0, 18.0) if solid else rng.normal(-470.0, 70.0)),
            "core": float(rng.uniform(0.3, 0.55)) if (not solid and rng.uniform() < 0.5) else 0.0,
            "lobulation": float(rng.uniform(0.0, 0.18)),
            "waves": unit(rng.normal(size=(4, 3))),
            "phases": rng.uniform(0, 2 * np.pi, 4),
            "freq": rng.integers(2, 5, 4),
        }

    def _lookalikes(self, r_lo: float, taken: list[tuple[np.ndarray, float]]) -> list[Candidate]:
        """4-8 vessel bifurcations of nodule size, centred on their brightest vessel voxel."""
        rng, grid = self.rng, self.grid
        lung_voxels, vessel, airway = self.lung_dist.reshape(-1), self.vessel.reshape(-1), self.airway_wall.reshape(-1)
        n_look = int(rng.integers(4, 9))
        looks: list[Candidate] = []
        forks = [t.junctions() for t in (self.arteries, self.veins)]
        points = np.concatenate([f[0] for f in forks])
        radii = np.concatenate([f[1] for f in forks])
        order = rng.permutation(len(points))
        near = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
        shape = np.asarray(grid.shape)
        for i in order:
            if len(looks) >= n_look:
                break
            r = 1.3 * radii[i]
            if not (r_lo <= r <= 6.5):
                continue
            # centre on the brightest vessel voxel next to the junction, as a detector would
            around = np.clip(grid.nearest_voxel(self.frame.to_scanner(points[i])) + near, 0, shape - 1)
            flat_around = np.ravel_multi_index(tuple(around.T), grid.shape)
            flat = int(flat_around[np.argmax(vessel[flat_around])])
            if vessel[flat] < 0.5 or lung_voxels[flat] < r + 3.0 or airway[flat] > 0.1:
                continue
            voxel = np.array(np.unravel_index(flat, grid.shape))
            c_mm = grid.voxel_to_mm(voxel)
            if not _free(taken, c_mm, r):
                continue
            taken.append((c_mm, r))
            centre = (int(voxel[0]), int(voxel[1]), int(voxel[2]))
            looks.append(Candidate(centre, round(float(r), 2), "bifurcation"))
        return looks

    def paint(self) -> None:
        """Hounsfield units and organ labels, painted from the outside in."""
        soft = self.texture(3.0)
        fine = self.texture(1.2)
        img = np.full(self.grid.shape, -1000.0, dtype=np.float32)
        labels = np.zeros(self.grid.shape, dtype=np.uint8)
        self._paint_body(img, labels, soft, fine)
        self._paint_abdomen(img, labels, soft, fine)
        self._paint_chest(img, labels, soft, fine)
        self.img, self.labels = img, labels
        self.paint_bones(fine)

    def _paint_body(self, img: np.ndarray, labels: np.ndarray, soft: np.ndarray, fine: np.ndarray) -> None:
        """The table, fat and muscle of the body wall, the chest cavity and the abdomen's fat."""
        z = self.z
        sx, sy, _ = self.grid.axes()
        table = (sy[None, :, None] > self.table_y - 0.0006 * sx[:, None, None] ** 2) & (
            sy[None, :, None] < self.table_y + 9.0 - 0.0006 * sx[:, None, None] ** 2
        )
        img[np.broadcast_to(table, img.shape)] = -250.0
        body = self.depth > 0
        labels[body] = 7
        fat_depth = self.fat_depth(self.theta)
        fat_or_muscle = np.where(self.depth < fat_depth, -100.0 + 12.0 * soft, 48.0 + 8.0 * fine)
        tissue = np.where(self.depth < 2.0, 20.0, fat_or_muscle)
        img[body] = tissue[body]
        # intercostal / chest-wall soft tissue, mediastinal fat, abdomen
        wall_band = body & (self.depth > self.wall - 8.0)
        img[wall_band] = 42.0 + 6.0 * fine[wall_band]
        cav = self.cavity & (z >= self.diaphragm)
        img[cav] = -85.0 + 10.0 * soft[cav]
        ab = self.abdomen
        mix = smoothstep(soft, -0.3, 0.7)
        img[ab] = (-90.0 * (1 - mix) + 32.0 * mix + 6.0 * fine)[ab]
        img[self.diaphragm_muscle] = 45.0 + 5.0 * fine[self.diaphragm_muscle]

    def _paint_abdomen(self, img: np.ndarray, labels: np.ndarray, soft: np.ndarray, fine: np.ndarray) -> None:
        """Liver, stomach (with a gas bubble, drawn at random) and spleen below the diaphragm."""
        x, y, z = self.x, self.y, self.z
        rng = self.rng
        ab = self.abdomen
        edge = 12.0 - 0.45 * y - 0.3 * (self.h_right - z)
        liver = ab & (x < edge) & (self.spine_rho > 1.3) & (self.aorta < 0.1)
        img[liver] = 58.0 + 5.0 * soft[liver] + 3.0 * fine[liver]
        labels[liver] = 3
        st = ((x - 0.45 * self.cav_side) / 50.0) ** 2 + ((y + 0.2 * self.cav_front) / 42.0) ** 2 + (
            (z - self.h_left + 40.0) / 55.0
        ) ** 2
        stomach = ab & ~liver & (st < 1.0)
        img[stomach] = np.where(st < 0.75, 15.0, 38.0)[stomach]
        if rng.uniform() < 0.6:
            gas = stomach & (st < 0.8) & (z > self.h_left - 40.0 + 0.5 * 55.0)
            img[gas] = -990.0
        spleen = ab & (
            ((x - 0.7 * self.cav_side) / 24.0) ** 2
            + ((y - 0.5 * self.cav_back) / 42.0) ** 2
            + ((z - self.h_left + 45.0) / 48.0) ** 2
            < 1.0
        )
        img[spleen] = 47.0 + 4.0 * fine[spleen]

    def _paint_chest(self, img: np.ndarray, labels: np.ndarray, soft: np.ndarray, fine: np.ndarray) -> None:
        """Lungs, vessels and airways, heart with epicardial fat, great vessels, oesophagus and aorta."""
        p, y = self.p, self.y
        rng = self.rng
        # lungs: parenchyma with gravity-dependent density, then vessels and airways
        lung = self.lung
        dependent = 45.0 * smoothstep(y, -20.0, self.cav_back)
        img[lung] = (p["lung_hu"] + 22.0 * soft + 10.0 * fine + dependent)[lung]
        labels[lung] = 1
        if self.type.name == "expiration-cardiomegaly":
            self.bullae(img)
        v = self.vessel
        img += v * (40.0 - img)
        img += self.airway_wall * (25.0 - img)
        img += self.airway_lumen * (-1000.0 - img)
        labels[self.airway_wall >= 0.5] = 6
        # heart with epicardial fat, great vessels, aorta
        rho = self.rho_heart
        fat_shell = rho < 1.0 + 5.0 / self.heart_axes.mean()
        img[fat_shell] = -90.0 + 8.0 * soft[fat_shell]
        labels[fat_shell] = 7
        heart = rho < 1.0
        img[heart] = np.where(rho < 0.72, 36.0, 50.0)[heart] + 4.0 * fine[heart]
        labels[heart] = 2
        img += self.great_veins * (40.0 - img)
        labels[self.great_veins >= 0.5] = 7
        img += self.oesophagus * (38.0 - img)
        labels[self.oesophagus >= 0.5] = 7
        img += self.aorta * (44.0 - img)
        labels[self.aorta >= 0.5] = 5
        if rng.uniform() < self.type.aortic_calcification:
            self.calcify(img, labels)

    def bullae(self, img: np.ndarray) -> None:
        """Emphysematous low-attenuation spots in the upper lungs (the older, expiration type)."""
        x, y, z = self.x[self.lung], self.y[self.lung], self.z[self.lung]
        upper = np.flatnonzero(z > self.carina)
        if len(upper) == 0:
            return
        pick = self.rng.choice(upper, size=min(len(upper), int(self.rng.integers(3, 9))), replace=False)
        centres = np.stack([x[pick], y[pick], z[pick]], axis=1)
        radii = self.rng.uniform(4.0, 10.0, len(pick))
        f = self.tubes(centres, centres, radii) * self.lung
        img += f * (-975.0 - img)

    def calcify(self, img: np.ndarray, labels: np.ndarray) -> None:
        """Calcified plaques on the aortic wall."""
        a0, a1, r0, _ = self.aorta_seg
        pick = self.rng.choice(len(a0), size=min(len(a0), int(self.rng.integers(2, 7))), replace=False)
        normal = unit(np.cross(a1[pick] - a0[pick], self.rng.normal(size=(len(pick), 3))))
        centres = a0[pick] + normal * r0[pick, None] * 0.9
        f = self.tubes(centres, centres, self.rng.uniform(1.5, 3.0, len(pick)))
        img += f * (600.0 - img)
        labels[f >= 0.5] = 5

    def skeleton(self) -> None:
        """Bone geometry: vertebrae repeating along z (bodies, discs, arches, spinous and transverse
        processes), ribs sloping down anteriorly with costal cartilage, sternum, clavicles, scapulae."""
        p, x, y, z = self.p, self.x, self.y, self.z
        s = self.spine_scale
        period, phase = p["spine_period"], p["spine_phase"]
        u = np.mod(z - phase, period)
        disc_h = 5.5
        in_body_level = (u > disc_h / 2) & (u < period - disc_h / 2)
        vb = self.spine_rho < 1.0
        self.disc = vb & ~in_body_level
        self.vbody = vb & in_body_level
        self.vbody_edge = (self.spine_rho > 0.82) | (u < disc_h / 2 + 1.5) | (u > period - disc_h / 2 - 1.5)
        canal_r = np.sqrt(x**2 + (y - self.canal_y) ** 2)
        arch_level = (u > 0.2 * period) & (u < 0.85 * period)
        arch = arch_level & (canal_r > 8.0 * s) & (canal_r < 14.0 * s) & (y > self.vb_y)
        spinous = (
            arch_level
            & (np.abs(x) < 4.5 * s)
            & (y > self.canal_y + 10.0 * s)
            & (y < self.canal_y + 32.0 * s)
            & (u - 0.2 * period > 0.25 * (y - self.canal_y - 10.0 * s))
        )
        transverse = (
            (u > 0.35 * period)
            & (u < 0.75 * period)
            & (np.abs(y - self.canal_y + 2.0) < 5.0 * s)
            & (np.abs(x) > 10.0 * s)
            & (np.abs(x) < 38.0 * s)
        )
        self.posterior = arch | spinous | transverse
        self.canal = canal_r <= 8.0 * s
        # scapulae: plates in the posterior muscle layer of the upper chest
        th = np.degrees(self.theta)
        fat_depth = self.fat_depth(self.theta)
        self.scapula = (
            (self.depth > fat_depth + 6.0)
            & (self.depth < fat_depth + 11.0)
            & (((th > 30) & (th < 72)) | ((th > 108) & (th < 150)))
            & (z > self.carina - 70.0)
            & (z < self.apex + 10.0)
        )
        st_top, st_bottom = self.arch + 40.0, self.heart_c[2] - 0.55 * self.heart_axes[2]
        half_w = np.where(z > self.arch + 5.0, 24.0, 14.0)
        self.sternum = (np.abs(x) < half_w) & (np.abs(y - self.sternum_y) < 6.0) & (z > st_bottom) & (z < st_top)
        self.sternum_edge = np.abs(y - self.sternum_y) > 4.0
        self.ribs(st_bottom, st_top)
        self.bone_margin = (
            self.posterior
            | self.scapula
            | self.sternum
            | (self.rib_outer > 0)
            | (self.cartilage > 0)
            | (self.clavicle > 0)
        )

    def ribs(self, st_bottom: float, st_top: float) -> None:
        """Rib pairs following the chest wall from the spine, sloping down anteriorly, costal
        cartilage to the sternum, and the clavicles (partial-volume fractions)."""
        p = self.p
        period, phase = p["spine_period"], p["spine_phase"]
        lowest = np.floor((self.z.min() - 150.0 - phase) / period)
        ks = np.arange(lowest, np.ceil((self.top + 60 - phase) / period) + 1)
        levels = phase + (ks + 0.5) * period
        levels = levels[(levels > self.h_right - 70.0) & (levels < self.apex + 10.0)]
        r0, r1, c0, c1 = [], [], [], []
        phi0 = np.deg2rad(22.0)
        for zl in levels:
            frac_up = (zl - self.h_right) / max(self.apex - self.h_right, 1.0)
            phi1 = np.deg2rad(np.interp(frac_up, [-0.3, 0.15, 0.8, 1.0], [105.0, 150.0, 155.0, 125.0]))
            drop = np.interp(frac_up, [-0.3, 0.3, 1.0], [45.0, 70.0, 40.0])
            phi = np.linspace(phi0, phi1, 12)
            zz = zl - drop * ((phi - phi0) / (phi1 - phi0)) ** 1.6
            for side in (-1.0, 1.0):
                pts = self.chest_wall_points(phi, zz, side)
                r0.append(pts[:-1])
                r1.append(pts[1:])
                end_z = zz[-1]
                if phi1 > np.deg2rad(140.0) and st_bottom < end_z - 10.0 < st_top:
                    c0.append(pts[-1])
                    c1.append([side * 18.0, self.sternum_y, end_z - 10.0])
        a, b = np.vstack(r0), np.vstack(r1)
        self.rib_outer = self.tubes(a, b, np.full(len(a), 5.0 * self.spine_scale))
        self.rib_inner = self.tubes(a, b, np.full(len(a), 2.6 * self.spine_scale))
        self.cartilage = self.tubes(np.reshape(c0, (-1, 3)), np.reshape(c1, (-1, 3)), np.full(len(c0), 4.0))
        cl0 = [[sd * 22.0, self.sternum_y - 2.0, st_top - 4.0] for sd in (-1, 1)]
        cl1 = [[sd * 145.0 * self.spine_scale, self.sternum_y + 45.0, st_top + 28.0] for sd in (-1, 1)]
        self.clavicle = self.tubes(np.asarray(cl0), np.asarray(cl1), np.full(2, 7.5))

    def paint_bones(self, fine: np.ndarray) -> None:
        """Cortical shells and marrow of the skeleton; discs, spinal canal and cartilage as soft tissue."""
        img, labels = self.img, self.labels
        img[self.disc] = 88.0 + 5.0 * fine[self.disc]
        labels[self.disc] = 7
        vbody = self.vbody
        img[vbody] = np.where(self.vbody_edge, 620.0, 230.0 + 30.0 * fine)[vbody]
        img[self.posterior] = 480.0 + 40.0 * fine[self.posterior]
        img[self.canal] = 28.0 + 4.0 * fine[self.canal]
        labels[self.canal] = 7
        img[self.scapula] = 450.0 + 30.0 * fine[self.scapula]
        img[self.sternum] = np.where(self.sternum_edge, 520.0, 210.0 + 30.0 * fine)[self.sternum]
        labels[vbody | self.posterior | self.scapula | self.sternum] = 4
        img += self.cartilage * (130.0 - img)
        labels[(self.cartilage >= 0.5) & (labels != 4)] = 7
        img += self.rib_outer * (700.0 - img)
        img += self.rib_inner * (240.0 - img)
        img += self.clavicle * (520.0 - img)
        labels[(self.rib_outer >= 0.5) | (self.clavicle >= 0.5)] = 4

    def chest_wall_points(self, phi: np.ndarray, z: np.ndarray, side: float) -> np.ndarray:
        """Points inside the chest wall, 6 mm outside the pleural cavity, at angle ``phi`` from the
        posterior midline (0 = posterior, pi = anterior) and heights ``z``, on the left (+1) or right (-1)."""
        p = self.p
        b = np.where(np.cos(phi) > 0, p["half_depth_back"], p["half_depth_front"])
        a = p["half_width"]
        skin = np.stack([side * a * np.sin(phi), b * np.cos(phi)], axis=1)
        normal = unit(np.stack([side * np.sin(phi) / a, np.cos(phi) / b, np.zeros_like(phi)], axis=1))[:, :2]
        theta = np.arctan2(skin[:, 1], skin[:, 0])
        taper = 55.0 * smoothstep(z, self.apex - 95.0, self.apex + 15.0)
        depth = self.wall_thickness(theta) + taper - 6.0
        xy = skin - normal * depth[:, None]
        return np.column_stack([xy, z])

    def paint_nodules(self, nodules: list[tuple[Candidate, dict]]) -> None:
        """Lobulated spheres: solid ones replace the parenchyma, sub-solid (ground-glass) ones
        raise it, optionally around a solid core; vessels stay visible through them."""
        grid, img, w = self.grid, self.img, self.w
        mask = np.zeros(grid.shape, dtype=np.uint8)
        spacing = np.asarray(grid.spacing)
        for cand, shape in nodules:
            r = cand.radius_mm
            c = np.asarray(cand.center)
            half = np.ceil((r * 1.25 + w) / spacing).astype(int)
            lo = np.maximum(c - half, 0)
            hi = np.minimum(c + half + 1, grid.shape)
            box = tuple(slice(a, b) for a, b in zip(lo, hi))
            rel = [(np.arange(lo[a], hi[a]) - c[a]) * spacing[a] for a in range(3)]
            d = np.sqrt(rel[0][:, None, None] ** 2 + rel[1][None, :, None] ** 2 + rel[2][None, None, :] ** 2)
            u = np.stack(np.broadcast_arrays(*np.ix_(*rel)), axis=-1) / np.maximum(d, 1e-6)[..., None]
            wobble = sum(
                np.cos(shape["freq"][j] * (u @ shape["waves"][j]) + shape["phases"][j]) for j in range(4)
            ) / 4.0
            r_eff = r * (1.0 + shape["lobulation"] * wobble)
            amp = min(1.0, 2.0 * r / w)
            f = (np.clip((r_eff - d) / w + 0.5, 0.0, 1.0) * amp).astype(np.float32)
            region = img[box]
            region[...] = np.maximum(region, region + f * (shape["hu"] - region))
            if shape["core"] > 0:
                rc = r * shape["core"]
                core = np.clip((rc * (1.0 + shape["lobulation"] * wobble) - d) / w + 0.5, 0, 1)
                fc = (core * min(1.0, 2 * rc / w)).astype(np.float32)
                region[...] = np.maximum(region, region + fc * (20.0 - region))
            mask[box] |= (d <= r_eff).astype(np.uint8)
        self.nodule_mask = mask

    def finish(self) -> np.ndarray:
        """Scanner point-spread blur (1.2 mm sigma) and correlated noise; HU clipped to the int16 CT range."""
        spacing = self.grid.spacing
        img = ndimage.gaussian_filter(self.img, sigma=[1.2 / s for s in spacing])
        noise = ndimage.gaussian_filter(self.rng.standard_normal(self.grid.shape, dtype=np.float32), sigma=0.6)
        noise *= self.p["noise_hu"] / max(float(noise.std()), 1e-6)
        img += noise
        return np.clip(img, -1024.0, 3071.0).astype(np.float32)


def _forest(
    rng: np.random.Generator,
    roots: list[tuple[np.ndarray, np.ndarray, float]],
    inside,
    min_radius: float,
) -> Tree:
    """One tree grown from root segments (start, end, radius), branches steered away from their root's start."""
    starts = np.array([r[0] for r in roots], dtype=np.float64)
    ends = np.array([r[1] for r in roots], dtype=np.float64)
    radii = np.array([r[2] for r in roots], dtype=np.float64)
    return grow_tree(rng, starts, ends, radii, inside, origins=starts, min_radius=min_radius)


def _free(taken: list[tuple[np.ndarray, float]], c_mm: np.ndarray, r: float) -> bool:
    """A candidate of radius ``r`` at ``c_mm`` keeps 6 mm clear of every candidate in ``taken``."""
    return all(np.linalg.norm(c_mm - t) > r + tr + 6.0 for t, tr in taken)
