"""The ``coisac`` scenario (paper 003, sections II and IV-A): N BSs with Lx x Ly UPAs serve K
single-antenna users and all receive the echo of one target (direct localization).

Geometry (section IV-A): BSs at b1 = [236, 390, 6], b2 = [288, 390, 6], b3 = [236, 490, 6] m,
4 x 4 UPAs in the x-z plane (section II-B), K = 5 users, target at t = [244, 456, 22] m, 28 GHz.
The paper leaves the rest open; our choices:

- Users: uniform in the BSs' bounding box widened by 10 m, x in [226, 298] m, y in [380, 500] m,
  at 1.5 m height, at least 10 m (horizontally) from every BS (the UMi model's validity range).
- Target: the paper's fixed point, or uniform within +-``target_spread_m`` per horizontal axis.
- Channels: ``channels.geometric_channels`` (LoS + 2 scattered paths, K = 9 dB, 3GPP UMi LoS
  pathloss) and radar-equation reflections with RCS 1 m^2 (``channels`` docstring). Both are
  pluggable sources: ``CoisacScenario(cfg, channel_source=..., reflection_source=...)``.
- Link budget: bandwidth 100 MHz, noise figure 9 dB at every receiver (users and BSs),
  290 K: noise k T B NF = -85.0 dBm. Per-BS transmit power P_n = ``power_dbm`` (default 20 dBm,
  the paper's Figs. 9-10; ``POWER_SWEEP_DBM`` is our Fig. 7-8 axis).
- Units (DESIGN.md, 003): channels and reflection coefficients are dimensionless amplitudes,
  noise is unit power and the per-BS budget is P_n / (k T B NF) (``CoisacConfig.power``), the
  one place physical units become normalized ones.
- Snapshots: the SPEB is for tau = ``snapshots`` = 1000 echo samples per block (10 us at
  100 MHz; SPEB ~ 1/tau).
- Angles: eq 5's elevation (from the horizontal) and eq 6's azimuth are mapped at this boundary
  to DESIGN's canonical angles of each x-z plane UPA (``geometry`` docstring); the realization's
  ``sensing`` holds the canonical ones, the SPEB works in the paper's.

Shapes follow the core (DESIGN.md): F (B, N L, K) BS-major rows (the paper's h_k stacked as in
eq 2), W (B, N L, K+1) with W[..., 0] the sensing beam p^s and W[..., k] user k's p^c_k.
CSI is perfect by default (F_hat = F). numpy only; complex128 inside.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..channels import SensingGeometry
from ..config import BOLTZMANN, SPEED_OF_LIGHT
from . import channels as ch
from . import speb as bound
from .geometry import Placement, angle_jacobian, design_angles, paper_angles, steering
from .speb import EchoModel, echo_model

#: section IV-A: the three BSs (m)
BS_POSITIONS = ((236.0, 390.0, 6.0), (288.0, 390.0, 6.0), (236.0, 490.0, 6.0))
#: section IV-A: the target (m)
TARGET = (244.0, 456.0, 22.0)
#: users' area ((x_min, x_max), (y_min, y_max)) in m: the BSs' bounding box widened by 10 m
USER_AREA = ((226.0, 298.0), (380.0, 500.0))
#: per-BS transmit powers (dBm) of our rate/SPEB-versus-power sweeps (the paper's Figs. 7-8)
POWER_SWEEP_DBM = (10.0, 15.0, 20.0, 25.0, 30.0)
#: tries per block to place users away from the BSs before giving up
PLACEMENT_TRIES = 1000

_INTS = ("K", "Lx", "Ly", "snapshots")
_FLOATS = {
    "target_spread_m": (0.0, 1e4),
    "user_height_m": (0.0, 1e3),
    "min_user_distance_m": (0.0, 1e3),
    "carrier_hz": (1e8, 1e12),
    "bandwidth_hz": (1.0, 1e11),
    "noise_figure_db": (0.0, 50.0),
    "noise_temperature_k": (1.0, 1e4),
    "power_dbm": (-50.0, 80.0),
    "rcs_m2": (1e-8, 1e6),
    "rician_k_db": (-50.0, 50.0),
    "scatter_radius_m": (0.0, 1e3),
}


def _points(name: str, value: Any, rows: int | None) -> tuple[tuple[float, ...], ...]:
    arr = np.asarray(value, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 3 or (rows is not None and arr.shape[0] != rows):
        want = f"({rows}, 3)" if rows is not None else "(N, 3)"
        raise ValueError(f"CoisacConfig: {name} must be {want} positions in m, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"CoisacConfig: {name} must be finite")
    return tuple(tuple(p) for p in arr.tolist())


@dataclass(frozen=True)
class CoisacConfig:
    """The coisac scenario's dimensions and physical parameters (module docstring)."""

    K: int = 5
    Lx: int = 4
    Ly: int = 4
    bs_positions: tuple[tuple[float, float, float], ...] = BS_POSITIONS
    target: tuple[float, float, float] = TARGET
    target_spread_m: float = 0.0
    user_area: tuple[tuple[float, float], tuple[float, float]] = USER_AREA
    user_height_m: float = 1.5
    min_user_distance_m: float = 10.0
    carrier_hz: float = 28e9
    bandwidth_hz: float = 100e6
    noise_figure_db: float = 9.0
    noise_temperature_k: float = 290.0
    power_dbm: float = 20.0
    rcs_m2: float = 1.0
    snapshots: int = 1000
    scattered_paths: int = 2
    rician_k_db: float = 9.0
    scatter_radius_m: float = 10.0

    def __post_init__(self) -> None:
        for name in _INTS:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"CoisacConfig: {name} must be a positive integer, got {v!r}")
            object.__setattr__(self, name, int(v))
        paths = self.scattered_paths
        if isinstance(paths, bool) or not isinstance(paths, (int, np.integer)) or paths < 0:
            raise ValueError(
                f"CoisacConfig: scattered_paths must be a non-negative integer, got {paths!r}"
            )
        object.__setattr__(self, "scattered_paths", int(paths))
        for name, (lo, hi) in _FLOATS.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise ValueError(f"CoisacConfig: {name} must be a number, got {v!r}")
            if not (math.isfinite(float(v)) and lo <= float(v) <= hi):
                raise ValueError(f"CoisacConfig: {name} must be within {lo}..{hi}, got {v}")
            object.__setattr__(self, name, float(v))
        object.__setattr__(self, "bs_positions", _points("bs_positions", self.bs_positions, None))
        object.__setattr__(self, "target", _points("target", [self.target], 1)[0])
        area = np.asarray(self.user_area, dtype=float)
        if area.shape != (2, 2) or not np.all(np.isfinite(area)) or np.any(area[:, 1] < area[:, 0]):
            raise ValueError(
                "CoisacConfig: user_area must be ((x_min, x_max), (y_min, y_max)) in m with "
                f"min <= max, got {self.user_area!r}"
            )
        object.__setattr__(self, "user_area", tuple(tuple(r) for r in area.tolist()))

    @property
    def N(self) -> int:
        return len(self.bs_positions)

    @property
    def L(self) -> int:
        return self.Lx * self.Ly

    @property
    def antennas(self) -> int:
        """N L: rows of F and W."""
        return self.N * self.L

    @property
    def wavelength_m(self) -> float:
        return SPEED_OF_LIGHT / self.carrier_hz

    @property
    def noise_power_w(self) -> float:
        """k T B NF in watts (every receiver)."""
        return (
            BOLTZMANN
            * self.noise_temperature_k
            * self.bandwidth_hz
            * 10.0 ** (self.noise_figure_db / 10.0)
        )

    @property
    def power(self) -> float:
        """Per-BS budget P_n of eq 32b in normalized units: P_n / (k T B NF)."""
        return power_from_dbm(self, self.power_dbm)

    def bs(self) -> np.ndarray:
        """BS positions (N, 3) m."""
        return np.asarray(self.bs_positions, dtype=float)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bs_positions"] = [list(p) for p in self.bs_positions]
        d["target"] = list(self.target)
        d["user_area"] = [list(r) for r in self.user_area]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CoisacConfig:
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"CoisacConfig: unknown field(s) {unknown}")
        return cls(**data)


def power_from_dbm(cfg: CoisacConfig, power_dbm: float) -> float:
    """A per-BS transmit power in dBm as the normalized budget P / (k T B NF)."""
    return 10.0 ** ((float(power_dbm) - 30.0) / 10.0) / cfg.noise_power_w


@dataclass(frozen=True)
class CoisacBatch:
    """B blocks of the coisac scenario: ``placement`` (BSs, users, target in m), channels F
    (B, N L, K) and the network's estimate F_hat (perfect CSI: F), reflection coefficients
    ``alpha`` (B, N, N) ([b, n, m] = alpha_{m,n}, receiver first) and ``sensing``, the
    SensingGeometry the precoders take (amp_t = |alpha|, aT_t = aR_t the steering vectors
    toward the target, DESIGN's canonical angles psi_t, theta_t; no clutter)."""

    cfg: CoisacConfig
    placement: Placement
    F: np.ndarray
    F_hat: np.ndarray
    alpha: np.ndarray
    sensing: SensingGeometry

    @property
    def batch(self) -> int:
        return self.F.shape[0]

    @property
    def bs(self) -> np.ndarray:
        return self.placement.bs

    @property
    def users(self) -> np.ndarray:
        return self.placement.users

    @property
    def target(self) -> np.ndarray:
        return self.placement.target

    @property
    def echo(self) -> EchoModel:
        """The SPEB's echo model of these blocks (``speb.echo_model``)."""
        return echo_model(self.bs, self.target, self.alpha, self.cfg.Lx, self.cfg.Ly)

    def speb(self, W: np.ndarray, snapshots: int | None = None, form: str = "exact") -> np.ndarray:
        """SPEB (B,) in m^2 of beams W (B, N L, K+1) for ``snapshots`` (default cfg.snapshots)
        samples at unit noise (``speb.speb``)."""
        tau = self.cfg.snapshots if snapshots is None else snapshots
        return bound.speb(self.echo, W, tau, 1.0, form)

    def realization(self) -> Any:
        """The registry's ``Realization(F_hat, sensing)`` of these blocks."""
        from ..precoding.registry import Realization

        return Realization(self.F_hat, self.sensing)


def sensing_geometry(cfg: CoisacConfig, placement: Placement, alpha: np.ndarray) -> SensingGeometry:
    """The network-known sensing geometry of the target (no clutter): (B, N, N) amplitudes,
    (B, N, L) steering vectors, DESIGN's canonical angles (B, N)."""
    B, N, L = placement.batch, cfg.N, cfg.L
    theta, beta = paper_angles(placement.bs, placement.target)
    a = steering(theta, beta, cfg.Lx, cfg.Ly)
    psi_d, theta_d = design_angles(theta, beta)
    return SensingGeometry(
        amp_t=np.abs(alpha),
        amp_c=np.zeros((B, N, 0, N)),
        aT_t=a,
        aT_c=np.zeros((B, 0, N, L), complex),
        aR_t=a.copy(),
        aR_c=np.zeros((B, N, 0, L), complex),
        psi_t=psi_d,
        theta_t=theta_d,
        psi_c=np.zeros((B, N, 0)),
        theta_c=np.zeros((B, N, 0)),
    )


def draw_users(cfg: CoisacConfig, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Users (B, K, 3) uniform in ``cfg.user_area`` at ``user_height_m``, each at least
    ``min_user_distance_m`` horizontally from every BS (redrawn until so)."""
    (x0, x1), (y0, y1) = cfg.user_area
    bs_xy = cfg.bs()[:, :2]
    users = np.empty((batch, cfg.K, 3))
    users[..., 2] = cfg.user_height_m
    todo = np.ones((batch, cfg.K), bool)
    for _ in range(PLACEMENT_TRIES):
        n = int(todo.sum())
        if n == 0:
            return users
        users[todo, 0] = rng.uniform(x0, x1, n)
        users[todo, 1] = rng.uniform(y0, y1, n)
        gap = np.linalg.norm(users[..., None, :2] - bs_xy, axis=-1).min(-1)
        todo = gap < cfg.min_user_distance_m
    raise ValueError(
        f"CoisacConfig: no user position in user_area {cfg.user_area} lies "
        f"min_user_distance_m={cfg.min_user_distance_m} m from every BS; widen the area or "
        "lower the distance"
    )


def draw_target(cfg: CoisacConfig, batch: int, rng: np.random.Generator) -> np.ndarray:
    """Target (B, 3): the configured point, moved uniformly within +-target_spread_m in x, y."""
    t = np.broadcast_to(np.asarray(cfg.target, float), (batch, 3)).copy()
    if cfg.target_spread_m > 0:
        t[:, :2] += rng.uniform(-cfg.target_spread_m, cfg.target_spread_m, (batch, 2))
    return t


class CoisacScenario:
    """The scenario with its channel sources: ``draw(B, rng)`` random blocks, ``realize(users,
    target, rng)`` blocks at given positions. The sources default to the geometric channels and
    radar-equation reflections of ``cfg``; any ``source(placement, rng)`` may replace them."""

    def __init__(
        self,
        cfg: CoisacConfig | None = None,
        channel_source: ch.ChannelSource | None = None,
        reflection_source: ch.ReflectionSource | None = None,
    ) -> None:
        self.cfg = cfg if cfg is not None else CoisacConfig()
        c = self.cfg
        self.channel_source = channel_source or ch.GeometricChannels(
            c.carrier_hz, c.scattered_paths, c.rician_k_db, c.scatter_radius_m
        )
        self.reflection_source = reflection_source or ch.RadarReflections(c.rcs_m2)

    def draw(self, batch: int, rng: np.random.Generator | int | None = None) -> CoisacBatch:
        """B random blocks (same seed, same output)."""
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ValueError(f"draw: batch must be a positive integer, got {batch!r}")
        rng = np.random.default_rng(rng)
        users = draw_users(self.cfg, int(batch), rng)
        return self.realize(users, draw_target(self.cfg, int(batch), rng), rng)

    def realize(
        self,
        users: np.ndarray,
        target: np.ndarray | None = None,
        rng: np.random.Generator | int | None = None,
    ) -> CoisacBatch:
        """Blocks at given positions: users (B, K, 3) m (or (K, 3) for one), target (B, 3)
        (or (3,); None: the configured target). The BSs are ``cfg.bs_positions``."""
        cfg, rng = self.cfg, np.random.default_rng(rng)
        users = np.asarray(users, dtype=float)
        users = users[None] if users.ndim == 2 else users
        if users.ndim != 3 or users.shape[1:] != (cfg.K, 3) or not np.all(np.isfinite(users)):
            raise ValueError(f"users must be (B, K={cfg.K}, 3) finite positions in m, got "
                             f"{users.shape}")  # fmt: skip
        B = users.shape[0]
        t = np.asarray(cfg.target if target is None else target, dtype=float)
        t = np.broadcast_to(t, (B, 3)).copy() if t.ndim == 1 else t
        if t.shape != (B, 3) or not np.all(np.isfinite(t)):
            raise ValueError(f"target must be (B={B}, 3) or (3,) finite positions in m, got "
                             f"{np.shape(target)}")  # fmt: skip
        placement = Placement(cfg.bs(), users, t, cfg.wavelength_m, cfg.Lx, cfg.Ly)
        angle_jacobian(placement.bs, t)  # ValueError if eq 31 is undefined at the target
        F = np.asarray(self.channel_source(placement, rng), dtype=complex)
        if F.shape != (B, cfg.antennas, cfg.K):
            raise ValueError(
                f"channel_source returned F of shape {F.shape}, expected (B={B}, N L="
                f"{cfg.antennas}, K={cfg.K})"
            )
        alpha = np.asarray(self.reflection_source(placement, rng), dtype=complex)
        if alpha.shape != (B, cfg.N, cfg.N):
            raise ValueError(
                f"reflection_source returned alpha of shape {alpha.shape}, expected "
                f"(B={B}, N={cfg.N}, N={cfg.N})"
            )
        return CoisacBatch(cfg, placement, F, F, alpha, sensing_geometry(cfg, placement, alpha))


def draw(
    cfg: CoisacConfig, batch: int, rng: np.random.Generator | int | None = None
) -> CoisacBatch:
    """B random blocks of ``cfg`` with the default channel sources."""
    return CoisacScenario(cfg).draw(batch, rng)
