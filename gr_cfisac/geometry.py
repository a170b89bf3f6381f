"""Placement of access points, users, target and clutter; angles and distances.

Every AP carries a frame: rows (e1, e2, n) of a 3x3 matrix, with n the array normal pointing
into the served half-space. By default the arrays are mounted at ``ap_height_m`` facing down
(n = -z, e1 = +x, e2 = +y), so azimuth psi is the map bearing from +x toward +y and elevation
theta the angle from nadir. A point p seen from an AP at q has direction d = (p - q)/|p - q|,
direction cosines u = d.e1, v = d.e2 and cos(theta) = d.n (DESIGN.md, angles).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .arrays import angles_from_uv
from .config import SystemConfig

DOWNWARD_FRAME = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]])

#: The paper's localization scene (Section VII-E), angles (psi, theta) in degrees seen from RAP1.
PAPER_SCENE_DEG = {"target": (-45.0, 45.0), "clutter": [(45.0, 30.0), (0.0, -45.0)]}


@dataclass(frozen=True)
class Geometry:
    """Positions in metres. tap_pos (NT, 3), rap_pos (NR, 3), user_pos (B, K, 3),
    target_pos (B, 3), clutter_pos (B, NC, 3); frames (N_AP, 3, 3) with rows e1, e2, n."""

    tap_pos: np.ndarray
    rap_pos: np.ndarray
    user_pos: np.ndarray
    target_pos: np.ndarray
    clutter_pos: np.ndarray
    tap_frame: np.ndarray
    rap_frame: np.ndarray

    @property
    def batch(self) -> int:
        return self.user_pos.shape[0]

    def take(self, index: np.ndarray | slice) -> Geometry:
        """The same network with a subset of the batch."""
        return Geometry(
            self.tap_pos,
            self.rap_pos,
            self.user_pos[index],
            self.target_pos[index],
            self.clutter_pos[index],
            self.tap_frame,
            self.rap_frame,
        )

    @classmethod
    def concatenate(cls, parts: list[Geometry]) -> Geometry:
        """One batch from several of the same network (the inverse of take)."""
        first = parts[0]
        return cls(
            first.tap_pos,
            first.rap_pos,
            np.concatenate([g.user_pos for g in parts]),
            np.concatenate([g.target_pos for g in parts]),
            np.concatenate([g.clutter_pos for g in parts]),
            first.tap_frame,
            first.rap_frame,
        )


def grid_points(n: int, area_m: float, height_m: float, shift: float = 0.5) -> np.ndarray:
    """n points on a near-square grid over [0, area]^2 at a height; shift in cells (0.5 = centres)."""
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    idx = np.arange(n)
    x = (idx % cols + shift) * area_m / cols
    y = (idx // cols + shift) * area_m / rows
    return np.stack([x, y, np.full(n, height_m)], axis=-1)


def ap_positions(cfg: SystemConfig) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic TAP and RAP positions: TAPs on cell centres, RAPs on a grid offset from them."""
    taps = grid_points(cfg.NT, cfg.area_m, cfg.ap_height_m, shift=0.5)
    raps = grid_points(cfg.NR, cfg.area_m, cfg.ap_height_m, shift=0.25)
    return taps, raps


def tap_poses(cfg: SystemConfig) -> tuple[np.ndarray, np.ndarray]:
    """TAP positions (NT, 3) of :func:`ap_positions` and their frames (NT, 3, 3), facing down."""
    taps, _ = ap_positions(cfg)
    return taps, _facing_down(cfg.NT)


def rap_poses(cfg: SystemConfig) -> tuple[np.ndarray, np.ndarray]:
    """RAP positions (NR, 3) of :func:`ap_positions` and their frames (NR, 3, 3), facing down:
    the pose pair the MUSIC angles are measured in (module docstring)."""
    _, raps = ap_positions(cfg)
    return raps, _facing_down(cfg.NR)


def _facing_down(n: int) -> np.ndarray:
    """n writable copies of DOWNWARD_FRAME (n, 3, 3)."""
    return np.broadcast_to(DOWNWARD_FRAME, (n, 3, 3)).copy()


def local_angles(
    ap_pos: np.ndarray, ap_frame: np.ndarray, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Azimuth psi, elevation theta (canonical range) and distance of points seen from APs.

    ap_pos (A, 3), ap_frame (A, 3, 3), points (..., 3) -> each (..., A).
    Points behind an array (d.n < 0) are mirrored into the front half-space, as an array in
    its plane cannot tell them apart; the scenario keeps everything in front.
    """
    delta = np.asarray(points, dtype=float)[..., None, :] - ap_pos
    dist = np.linalg.norm(delta, axis=-1)
    unit = delta / np.maximum(dist, 1e-12)[..., None]
    u = np.einsum("...ax,ax->...a", unit, ap_frame[:, 0, :])
    v = np.einsum("...ax,ax->...a", unit, ap_frame[:, 1, :])
    psi, theta = angles_from_uv(u, v)
    return psi, theta, dist


def point_from_angles(
    ap_pos: np.ndarray, ap_frame: np.ndarray, psi: float, theta: float, height_m: float
) -> np.ndarray:
    """The point at a given height seen from one AP (ap_pos (3,), ap_frame (3, 3)) at (psi, theta).

    theta outside [0, pi/2] or psi outside (-pi, pi] is first mapped through (u, v).
    """
    u = math.sin(theta) * math.cos(psi)
    v = math.sin(theta) * math.sin(psi)
    w = math.sqrt(max(0.0, 1.0 - u * u - v * v))
    direction = u * ap_frame[0] + v * ap_frame[1] + w * ap_frame[2]
    if abs(direction[2]) < 1e-9:
        raise ValueError("point_from_angles: direction is parallel to the ground plane")
    t = (height_m - ap_pos[2]) / direction[2]
    if t <= 0:
        raise ValueError("point_from_angles: the height is not in front of the array")
    return ap_pos + t * direction


def _uniform_points(
    cfg: SystemConfig,
    rng: np.random.Generator,
    shape: tuple[int, ...],
    height_m: float,
    avoid: np.ndarray,
) -> np.ndarray:
    """Uniform points in the area at a height, redrawn until min_distance_m from every AP."""
    pts = np.empty(shape + (3,))
    pts[..., 2] = height_m
    todo = np.ones(shape, dtype=bool)
    for _ in range(100):
        n = int(todo.sum())
        if n == 0:
            return pts
        pts[todo, :2] = rng.uniform(0.0, cfg.area_m, size=(n, 2))
        d = np.linalg.norm(pts[..., None, :] - avoid, axis=-1).min(axis=-1)
        todo = d < cfg.min_distance_m
    raise ValueError("SystemConfig.min_distance_m is too large for the area; lower it")


def paper_scene(cfg: SystemConfig) -> tuple[np.ndarray, np.ndarray]:
    """The named localization scene of Section VII-E: target (3,), clutter (NC, 3).

    Target at psi = -45 deg, theta = 45 deg from RAP1, clutter at (45, 30) and (0, -45) deg
    (the second maps to psi = 180 deg, theta = 45 deg); all at target_height_m.
    Needs NC == 2.
    """
    if cfg.NC != 2:
        raise ValueError(
            f"paper_scene needs SystemConfig.NC == 2 (got {cfg.NC}); use a random scene"
        )
    raps, frames = rap_poses(cfg)
    psi, th = np.radians(PAPER_SCENE_DEG["target"])
    target = point_from_angles(raps[0], frames[0], psi, th, cfg.target_height_m)
    clutter = np.stack(
        [
            point_from_angles(raps[0], frames[0], *np.radians(pc), cfg.target_height_m)
            for pc in PAPER_SCENE_DEG["clutter"]
        ]
    )
    return target, clutter


def drop(
    cfg: SystemConfig,
    rng: np.random.Generator | int | None,
    batch: int,
    scene: str = "paper",
) -> Geometry:
    """A batch of network geometries: users uniform in the area; the sensing scene either the
    fixed ``"paper"`` scene (target and clutter of Section VII-E) or ``"random"`` (uniform)."""
    rng = np.random.default_rng(rng)
    if batch < 1:
        raise ValueError(f"drop: batch must be >= 1, got {batch}")
    taps, tap_frames = tap_poses(cfg)
    raps, rap_frames = rap_poses(cfg)
    aps = np.concatenate([taps, raps])
    users = _uniform_points(cfg, rng, (batch, cfg.K), cfg.user_height_m, aps)
    if scene == "paper":
        target, clutter = paper_scene(cfg)
        target = np.broadcast_to(target, (batch, 3)).copy()
        clutter = np.broadcast_to(clutter, (batch, cfg.NC, 3)).copy()
    elif scene == "random":
        target = _uniform_points(cfg, rng, (batch,), cfg.target_height_m, aps)
        clutter = _uniform_points(cfg, rng, (batch, cfg.NC), cfg.target_height_m, aps)
    else:
        raise ValueError(f"drop: scene must be 'paper' or 'random', got {scene!r}")
    return Geometry(
        taps,
        raps,
        users,
        target,
        clutter,
        tap_frames,
        rap_frames,
    )
