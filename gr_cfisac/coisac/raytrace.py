"""Ray-traced channels for the ``coisac`` scenario (paper 003): Sionna RT on one of its shipped
scenes, the optional ``[raytrace]`` extra (``make setup-raytrace``). numpy core; ``sionna.rt``
is imported only inside :func:`solve_paths`.

Scene and placement. The coisac layout (BSs b1..b3, users' area, ``scenario`` docstring) is
translated into the scene: scene position = paper position - ``offset_m``. For
``simple_street_canyon`` the offset is (262, 440, 0) m, the centre of the users' area
(x 226..298, y 380..500): BSs at (-26, -50, 6), (26, -50, 6), (-26, 50, 6) m stand in the open
ground south and north of the two building rows (scene bounds x -94..92, y -60..61), users fall
anywhere in x -36..36, y -60..60 (in the street canyon y -8.6..9.6, the open ground, or inside a
building, where no path reaches them, below). No rotation: every BS's 4 x 4 UPA lies in the x-z
plane as in the geometric source (Sionna's planar array turned by yaw 90 deg), its centre put at
b_n + ((Lx-1) d/2, 0, (Ly-1) d/2) so that element (i_x, i_z) sits at b_n + (i_x d, 0, i_z d),
where the geometric steering vector puts it (d = lambda/2). Isotropic, vertically polarized
elements at both ends (unit gain, like the geometric source's unit-modulus elements).

Solver (:class:`RaytraceSettings`): max depth 2, 1e5 rays per source, line of sight and
specular reflection on, diffuse reflection, refraction (buildings are opaque at 28 GHz) and
diffraction off, synthetic array (paths traced from the array centre, plane-wave phases per
element), solver seed 1. The target is not in the scene: its echo stays the radar equation
(``channels.RadarReflections``).

Channel. Narrowband at the carrier: h = sum over paths of a_p (Sionna's CIR coefficient, which
carries the propagation phase exp(-j 2 pi f_c tau_p)), for each BS element; |a_p|^2 is the
path's gain (free-space loss lambda^2 / (4 pi d)^2 for the LoS), so F is in the scenario's
units (dimensionless amplitudes, ``channels`` docstring) and its rows in DESIGN's element order
(index i_x + Lx i_z within BS n's block n L..(n+1) L - 1). On a LoS-only link it equals the
geometric LoS channel exp(-j 2 pi d / lambda) a(theta, beta) times lambda / (4 pi d)
(``tests/test_coisac_raytrace.py`` checks it).

Users without any path (from every BS) are redrawn in the users' area, up to ``redraw_tries``
rounds; a realization that still has one is dropped, and both counts are kept with the dataset.
A user reached from only some BSs keeps zero rows for the others (blockage).

Cache: every solve is stored as ``<cache_dir>/<sha256>.npz``, addressed by the scene, the
offset, the solver settings, the carrier, the array size and the exact BS and user positions;
written atomically (temporary file + rename), so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import SPEED_OF_LIGHT
from .geometry import Placement

#: paper position - offset = scene position (m), per scene with a stated placement
SCENE_OFFSETS_M = {"simple_street_canyon": (262.0, 440.0, 0.0)}
#: Sionna's planar array lies in its local y-z plane; yaw 90 deg turns it into the x-z plane
ARRAY_YAW_RAD = math.pi / 2
#: bump when the stored format or the conversion changes (part of every cache key)
CACHE_VERSION = 1
#: where Debian (and most distributions) keep libLLVM
LLVM_GLOBS = ("/usr/lib/libLLVM*.so*", "/usr/lib/*/libLLVM*.so*", "/usr/lib64/libLLVM*.so*")
SETUP_HINT = (
    "ray-traced channels need the optional [raytrace] extra (sionna-rt) and Debian's libllvm19: "
    "run `make setup-raytrace` (or scripts/setup_raytrace.sh)"
)


class RaytraceUnavailable(ImportError):
    """sionna-rt is not installed (``SETUP_HINT`` says how to install it)."""


@dataclass(frozen=True)
class RaytraceSettings:
    """Scene and path-solver settings (module docstring); all are part of the cache key."""

    scene: str = "simple_street_canyon"
    offset_m: tuple[float, float, float] | None = None
    max_depth: int = 2
    samples_per_src: int = 100_000
    seed: int = 1
    refraction: bool = False
    diffuse_reflection: bool = False

    def __post_init__(self) -> None:
        if self.offset_m is None:
            if self.scene not in SCENE_OFFSETS_M:
                raise ValueError(
                    f"RaytraceSettings: scene {self.scene!r} has no stated placement; pass "
                    f"offset_m=(x, y, z) (paper position - offset = scene position) or use one "
                    f"of {sorted(SCENE_OFFSETS_M)}"
                )
            object.__setattr__(self, "offset_m", SCENE_OFFSETS_M[self.scene])
        off = np.asarray(self.offset_m, float)
        if off.shape != (3,) or not np.all(np.isfinite(off)):
            raise ValueError(f"RaytraceSettings: offset_m must be 3 finite metres, got {off}")
        object.__setattr__(self, "offset_m", tuple(off.tolist()))
        for name, lo in (("max_depth", 0), ("samples_per_src", 1), ("seed", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"RaytraceSettings: {name} must be an integer >= {lo}, got {v!r}")
            object.__setattr__(self, name, int(v))


# --- pure conversions (no sionna) -------------------------------------------------------------


def array_center_offset(wavelength_m: float, Lx: int, Ly: int) -> np.ndarray:
    """Vector (3,) m from element (0, 0) (the BS position of the geometric source) to the
    centre of an x-z plane Lx x Ly UPA with half-wavelength spacing."""
    d = wavelength_m / 2.0
    return np.array([(Lx - 1) * d / 2.0, 0.0, (Ly - 1) * d / 2.0])


def rotate_yaw(points: np.ndarray, yaw_rad: float) -> np.ndarray:
    """Rotate (..., 3) points about z by ``yaw_rad`` (Sionna's orientation [yaw, 0, 0])."""
    c, s = math.cos(yaw_rad), math.sin(yaw_rad)
    R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return np.asarray(points, float) @ R.T


def element_order(offsets_m: np.ndarray, spacing_m: float, Lx: int, Ly: int) -> np.ndarray:
    """perm (L,) with perm[i_x + Lx i_z] = the ray tracer's antenna index of element (i_x,
    i_z), from its elements' offsets (L, 3) in scene axes (x-z plane, ``spacing_m`` apart)."""
    off = np.asarray(offsets_m, float)
    if off.shape != (Lx * Ly, 3):
        raise ValueError(f"element_order: offsets must be (L={Lx * Ly}, 3), got {off.shape}")
    if np.ptp(off[:, 1]) > 1e-3 * spacing_m:
        raise ValueError("element_order: the array does not lie in the x-z plane")
    ix = np.rint((off[:, 0] - off[:, 0].min()) / spacing_m).astype(int)
    iz = np.rint((off[:, 2] - off[:, 2].min()) / spacing_m).astype(int)
    index = ix + Lx * iz
    if ix.max() >= Lx or iz.max() >= Ly or np.unique(index).size != index.size:
        raise ValueError(f"element_order: elements do not form an {Lx} x {Ly} grid")
    perm = np.empty(index.size, int)
    perm[index] = np.arange(index.size)
    return perm


def narrowband(a: np.ndarray, valid: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Channel at the carrier, h = sum_p a_p: CIR a (R, 1, N, L, P[, T]) (Sionna's
    [rx, rx_ant, tx, tx_ant, path, time], first time step) and valid (R, N, P) -> (R, N, L)
    complex128, elements in DESIGN's order (``perm`` of :func:`element_order`)."""
    a = np.asarray(a)
    a = a[..., 0] if a.ndim == 6 else a
    if a.ndim != 5 or a.shape[1] != 1:
        raise ValueError(f"narrowband: a must be (R, 1, N, L, P[, T]), got {np.shape(a)}")
    a = a[:, 0].astype(complex)  # (R, N, L, P)
    valid = np.asarray(valid, bool)
    if valid.shape != (a.shape[0], a.shape[1], a.shape[3]):
        raise ValueError(f"narrowband: valid must be (R, N, P) = {a.shape[:2] + a.shape[3:]} "
                         f"to match a, got {valid.shape}")  # fmt: skip
    mask = valid[:, :, None, :]
    return np.where(mask, a, 0.0).sum(-1)[:, :, perm]


def assemble(h: np.ndarray, batch: int, K: int) -> np.ndarray:
    """Per-receiver channels h (B K, N, L) (receiver b K + k) -> F (B, N L, K), BS-major rows."""
    R, N, L = h.shape
    if R != batch * K:
        raise ValueError(f"assemble: {R} receivers for batch={batch} x K={K}")
    return np.transpose(h.reshape(batch, K, N * L), (0, 2, 1))


def path_stats(
    a: np.ndarray, tau: np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per link: path counts (R, N), delays (R, N, P) s (NaN where no path) and path powers
    (R, N, P) (|a_p|^2 averaged over the BS elements, 0 where no path)."""
    a = np.asarray(a)
    a = a[..., 0] if a.ndim == 6 else a
    v = np.asarray(valid, bool)
    power = np.where(v, (np.abs(a[:, 0]) ** 2).mean(axis=2), 0.0)
    tau = np.asarray(tau, float).reshape(v.shape)
    return v.sum(-1), np.where(v, tau, np.nan), power


def pad_paths(parts: list[np.ndarray], fill: float) -> np.ndarray:
    """Concatenate arrays (R_i, ..., P_i) along the first axis, the last (paths) axis padded
    with ``fill`` to the largest P_i (solves return different path counts)."""
    if not parts:
        raise ValueError("pad_paths: nothing to concatenate")
    P = max(p.shape[-1] for p in parts)
    return np.concatenate([widen_paths(p, P, fill) for p in parts], axis=0)


def widen_paths(x: np.ndarray, paths: int, fill: float) -> np.ndarray:
    """x (..., P) padded with ``fill`` on the last axis to ``paths`` >= P entries."""
    x = np.asarray(x)
    if paths < x.shape[-1]:
        raise ValueError(f"widen_paths: paths={paths} < the {x.shape[-1]} present")
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, paths - x.shape[-1])], constant_values=fill)


def cache_key(
    settings: RaytraceSettings, bs: np.ndarray, points: np.ndarray, wavelength_m: float,
    Lx: int, Ly: int,
) -> str:  # fmt: skip
    """sha256 of everything a solve depends on (module docstring)."""
    meta = {"v": CACHE_VERSION, "settings": asdict(settings), "lambda": float(wavelength_m),
            "Lx": int(Lx), "Ly": int(Ly)}  # fmt: skip
    h = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
    h.update(np.ascontiguousarray(bs, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(points, dtype=np.float64).tobytes())
    return h.hexdigest()


def save_npz_atomic(path: Path, **arrays: Any) -> None:
    """np.savez to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- the solver (sionna imported here only) -----------------------------------------------------


def require_sionna() -> Any:
    """The ``sionna.rt`` module, or RaytraceUnavailable naming ``make setup-raytrace``."""
    try:
        import sionna.rt as rt
    except ImportError as exc:
        raise RaytraceUnavailable(f"{SETUP_HINT} ({exc})") from exc
    old = old_llvm_only()
    if old:
        raise RaytraceUnavailable(f"{SETUP_HINT} (only {', '.join(old)} found: Dr.Jit aborts)")
    return rt


def old_llvm_only(patterns: tuple[str, ...] = LLVM_GLOBS) -> list[str]:
    """The system's libLLVM files when all are older than 16 (Dr.Jit's CPU backend then aborts
    the process in its first path solve); [] when a newer one is there, none is found (another
    layout: left to Dr.Jit) or DRJIT_LIBLLVM_PATH names one."""
    if os.environ.get("DRJIT_LIBLLVM_PATH"):
        return []
    names = sorted({os.path.basename(f) for p in patterns for f in glob.glob(p)})
    majors = [int(m.group(1)) for n in names
              if (m := re.search(r"libLLVM-(\d+)", n) or re.search(r"\.so\.(\d+)", n))]  # fmt: skip
    return names if majors and max(majors) < 16 else []


@dataclass(frozen=True)
class Trace:
    """One solve for R receivers: channels h (R, N, L) in DESIGN's element order, path
    counts (R, N), delays (R, N, P) s and path powers (R, N, P) (:func:`path_stats`)."""

    h: np.ndarray
    counts: np.ndarray
    delays: np.ndarray
    powers: np.ndarray


def solve_paths(
    settings: RaytraceSettings, bs: np.ndarray, points: np.ndarray, carrier_hz: float,
    Lx: int, Ly: int,
) -> Trace:  # fmt: skip
    """Ray-trace BSs (N, 3) to single-antenna receivers at ``points`` (R, 3), both in the
    paper's coordinates (m), in ``settings.scene``."""
    rt = require_sionna()
    scene = rt.load_scene(getattr(rt.scene, settings.scene))
    scene.frequency = carrier_hz
    lam = SPEED_OF_LIGHT / carrier_hz
    scene.tx_array = rt.PlanarArray(num_rows=Ly, num_cols=Lx, vertical_spacing=0.5,
                                    horizontal_spacing=0.5, pattern="iso", polarization="V")  # fmt: skip
    scene.rx_array = rt.PlanarArray(num_rows=1, num_cols=1, pattern="iso", polarization="V")
    off = np.asarray(settings.offset_m)
    centre = array_center_offset(lam, Lx, Ly)
    for n, b in enumerate(np.asarray(bs, float)):
        pos = (b - off + centre).tolist()
        scene.add(rt.Transmitter(f"bs{n}", position=pos, orientation=[ARRAY_YAW_RAD, 0.0, 0.0]))
    for r, p in enumerate(np.asarray(points, float)):
        scene.add(rt.Receiver(f"ue{r}", position=(p - off).tolist()))
    local = np.asarray(scene.tx_array.positions(lam), float).T  # Point3f: (3, L) -> (L, 3)
    perm = element_order(rotate_yaw(local, ARRAY_YAW_RAD), lam / 2.0, Lx, Ly)
    paths = rt.PathSolver()(
        scene,
        max_depth=settings.max_depth,
        samples_per_src=settings.samples_per_src,
        synthetic_array=True,
        los=True,
        specular_reflection=True,
        diffuse_reflection=settings.diffuse_reflection,
        refraction=settings.refraction,
        seed=settings.seed,
    )
    a, tau = paths.cir(out_type="numpy", normalize_delays=False)
    valid = np.asarray(paths.valid.numpy(), bool).reshape(len(points), len(bs), -1)
    counts, delays, powers = path_stats(a, tau, valid)
    return Trace(narrowband(a, valid, perm), counts, delays, powers)


@dataclass
class RaytracedChannels:
    """A ``CoisacScenario`` channel source: ``source(placement, rng) -> F`` (B, N L, K) from
    :func:`solve_paths` at the placement's BSs and users (``rng`` unused: the solver's seed
    fixes the rays), every solve cached in ``cache_dir`` (None: no cache)."""

    settings: RaytraceSettings = field(default_factory=RaytraceSettings)
    cache_dir: Path | None = None
    solves: int = 0

    def trace(self, bs: np.ndarray, points: np.ndarray, carrier_hz: float, Lx: int, Ly: int) -> Trace:  # fmt: skip
        """:func:`solve_paths` through the cache."""
        path = None
        if self.cache_dir is not None:
            key = cache_key(self.settings, bs, points, SPEED_OF_LIGHT / carrier_hz, Lx, Ly)
            path = Path(self.cache_dir) / f"{key}.npz"
            if path.exists():
                with np.load(path) as z:
                    return Trace(z["h"], z["counts"], z["delays"], z["powers"])
        t = solve_paths(self.settings, bs, points, carrier_hz, Lx, Ly)
        self.solves += 1
        if path is not None:
            save_npz_atomic(path, h=t.h, counts=t.counts, delays=t.delays, powers=t.powers)
        return t

    def __call__(self, placement: Placement, rng: np.random.Generator | None = None) -> np.ndarray:
        p = placement
        carrier = SPEED_OF_LIGHT / p.wavelength_m
        t = self.trace(p.bs, p.users.reshape(-1, 3), carrier, p.Lx, p.Ly)
        return assemble(t.h, p.batch, p.K)
