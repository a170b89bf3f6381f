"""Mobility of the sensing scene: users and target moving block to block (closed form in the
block index cb, so block cb is reproducible whatever the order or size of the draws)."""

from __future__ import annotations

import numpy as np

from .config import SystemConfig
from .geometry import Geometry, drop


def bounce(x: np.ndarray, length: float) -> np.ndarray:
    """Position on [0, length] of a point moving freely along x and reflecting off both ends."""
    return length - np.abs(np.mod(x, 2.0 * length) - length)


class Mobility:
    """Initial scene from ``seed`` and the closed-form positions of users and target at block cb.

    Users and (when target_speed_mps > 0) the target move with constant speed in a direction
    drawn from the seed; clutter stays put. block_interval_s is the time between blocks.
    """

    def __init__(
        self,
        cfg: SystemConfig,
        seed: int,
        scene: str,
        user_speed_mps: float,
        target_speed_mps: float,
        block_interval_s: float,
    ) -> None:
        rng = np.random.default_rng([int(seed), 0])
        g = drop(cfg, rng, 1, scene)
        self.cfg = cfg
        self.base = g
        heading = rng.uniform(0, 2 * np.pi, size=cfg.K + 1)
        direction = np.stack([np.cos(heading), np.sin(heading), np.zeros_like(heading)], -1)
        self.user_velocity = user_speed_mps * block_interval_s * direction[: cfg.K]  # m/block
        self.target_velocity = target_speed_mps * block_interval_s * direction[cfg.K]

    def geometry(self, cb: np.ndarray) -> Geometry:
        """Geometry with batch len(cb) at the given block indices."""
        t = np.asarray(cb, dtype=float)[:, None]
        g, area = self.base, self.cfg.area_m
        users = g.user_pos + t[..., None] * self.user_velocity  # (n, K, 3)
        target = g.target_pos + t * self.target_velocity  # (n, 3)
        users[..., :2] = bounce(users[..., :2], area)
        if np.any(self.target_velocity):
            target[..., :2] = bounce(target[..., :2], area)
        n = len(t)
        return Geometry(
            g.tap_pos,
            g.rap_pos,
            users,
            target,
            np.broadcast_to(g.clutter_pos, (n,) + g.clutter_pos.shape[1:]).copy(),
            g.tap_frame,
            g.rap_frame,
        )
