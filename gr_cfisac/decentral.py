"""The ``pos1`` / ``pos2`` scenarios of paper 001 (seed 001, sections 2 and 7): L access points
with M-antenna ULAs that transmit and receive, N single-antenna users and one sensing target,
line of sight only; and the paper's metrics, SINR (eq 2) and SSNR (eq 6), in linear units.

Normalized units of paper 001 (section 7): power budget P_l = 1 W per AP, noise 1 W at every
user and every receiving AP, no pathloss (channels are bare steering vectors), effective sensing
gains alpha_lr ~ CN(0, sigma_s^2) with sigma_s^2 = 0.1 for every AP pair.

Geometry: APs on y = 0 at x = 100 (l + 1/2) / L m (the paper's (25, 0) and (75, 0) for L = 2),
every ULA along the x axis (the road). ``pos1`` (Fig. 6a, the benchmark [28]): users and target
at y = 50 m, x ~ U[0, 100] m. ``pos2`` (Fig. 6b): users at y = 23 m, x ~ U[0, 100] m; the target
on the 20 m road, x ~ U[0, 100] m, y ~ U[0, 20] m. Explicit positions may be given instead.

Steering vector of eq 4: a(phi)_m = exp(j 2 pi lambda m cos phi), m = 0..M-1, phi the angle
between the array axis and the direction to the agent, lambda the antenna spacing in
wavelengths (0.5: our assumption, the paper gives no value).

Shapes follow the core (DESIGN.md). Notation: the paper's N is the user count, the core's K;
L = NT, M = MT. ``F`` (B, L M, N): F[..., n] = h_n, AP-major rows (AP l owns rows l M..(l+1) M-1),
h_ln = a(theta_ln), user n receives h_n^H sum_q w_q x_q + noise (eq 1). ``W`` (B, L M, N+1):
W[..., 0] is the sensing beam (the paper's last index N+1), W[..., n] user n's. The CSI is
perfect (the paper's assumption): F_hat = F. numpy only; complex128 inside.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .channels import SensingGeometry, crandn

LAYOUTS = ("pos1", "pos2")
#: the agents' area (m): x in [0, WIDTH]
WIDTH = 100.0
#: pos1: every agent's y (m); pos2: the users' y and the road's width (m)
POS1_Y, POS2_USER_Y, ROAD = 50.0, 23.0, 20.0
#: distances below this (m) count as zero (an agent on an AP)
NEAR = 1e-9


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"PosConfig: {name} must be a positive integer, got {value!r}")
    return int(value)


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"PosConfig: {name} must be a number, got {value!r}")
    if not math.isfinite(float(value)) or float(value) <= 0:
        raise ValueError(f"PosConfig: {name} must be finite and positive, got {value}")
    return float(value)


@dataclass(frozen=True)
class PosConfig:
    """The pos1/pos2 scenario: ``layout``, L APs of M antennas, N users (the paper's
    notation), spacing lambda of eq 4, per-AP power P_l, noise sigma^2 (users and receivers)
    and the sensing gain sigma_s^2 of eq 3. ``ap_positions`` (L, 2) m: None for the default
    line on y = 0."""

    layout: str = "pos1"
    L: int = 2
    M: int = 16
    N: int = 5
    spacing: float = 0.5
    power: float = 1.0
    noise: float = 1.0
    sensing_gain: float = 0.1
    ap_positions: tuple[tuple[float, float], ...] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"PosConfig: layout must be one of {LAYOUTS}, got {self.layout!r}")
        for name in ("L", "M", "N"):
            object.__setattr__(self, name, _positive_int(name, getattr(self, name)))
        for name in ("spacing", "power", "noise", "sensing_gain"):
            object.__setattr__(self, name, _positive(name, getattr(self, name)))
        if self.ap_positions is not None:
            aps = np.asarray(self.ap_positions, dtype=float)
            if aps.shape != (self.L, 2) or not np.all(np.isfinite(aps)):
                raise ValueError(
                    f"PosConfig: ap_positions must be L={self.L} finite (x, y) pairs in m, "
                    f"got shape {aps.shape}"
                )
            object.__setattr__(self, "ap_positions", tuple(map(tuple, aps.tolist())))

    # the core's names (DESIGN.md): NT APs of MT antennas, K users
    @property
    def NT(self) -> int:
        return self.L

    @property
    def MT(self) -> int:
        return self.M

    @property
    def K(self) -> int:
        return self.N

    @property
    def antennas(self) -> int:
        """L M: rows of F and W."""
        return self.L * self.M

    def aps(self) -> np.ndarray:
        """AP positions (L, 2) m."""
        if self.ap_positions is not None:
            return np.asarray(self.ap_positions, dtype=float)
        x = WIDTH * (np.arange(self.L) + 0.5) / self.L
        return np.stack([x, np.zeros(self.L)], axis=-1)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["ap_positions"] is not None:
            d["ap_positions"] = [list(p) for p in d["ap_positions"]]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PosConfig:
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"PosConfig: unknown field(s) {unknown}")
        data = dict(data)
        if data.get("ap_positions") is not None:
            data["ap_positions"] = tuple(tuple(p) for p in data["ap_positions"])
        return cls(**data)


@dataclass(frozen=True)
class PosBatch:
    """B realizations: positions (m) of the users (B, N, 2) and target (B, 2), the APs (L, 2);
    channels F (B, L M, N); the target steering vectors a_t (B, L, M) (a(theta_l) of eq 3);
    the network-known sensing geometry (``sensing``: amp_t = sigma_s, aT_t = aR_t = a_t, no
    clutter). F_hat = F (perfect CSI)."""

    cfg: PosConfig
    aps: np.ndarray
    users: np.ndarray
    target: np.ndarray
    F: np.ndarray
    a_t: np.ndarray
    sensing: SensingGeometry

    @property
    def F_hat(self) -> np.ndarray:
        return self.F

    @property
    def batch(self) -> int:
        return self.F.shape[0]

    def csi(self) -> np.ndarray:
        """Every AP's own CSI H_l = [h_l1 .. h_lN, a(theta_l)] (eq 14): (B, L, M, N+1)."""
        return ap_csi(self.F, self.a_t)


def steering(cos_phi: np.ndarray, M: int, spacing: float = 0.5) -> np.ndarray:
    """Eq 4: a(phi) (..., M) for direction cosines cos(phi) (...) along the array axis."""
    m = np.arange(M)
    return np.exp(2j * np.pi * spacing * np.asarray(cos_phi, dtype=float)[..., None] * m)


def direction_cosines(aps: np.ndarray, points: np.ndarray) -> np.ndarray:
    """cos(phi) between each AP's array axis (x) and the direction to each point:
    aps (L, 2), points (B, P, 2) -> (B, L, P). A point on an AP counts as broadside (0)."""
    d = np.asarray(points, float)[:, None, :, :] - np.asarray(aps, float)[None, :, None, :]
    dist = np.hypot(d[..., 0], d[..., 1])
    return np.where(dist > NEAR, d[..., 0] / np.maximum(dist, NEAR), 0.0)


def draw_positions(
    cfg: PosConfig, batch: int, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Users (B, N, 2) and target (B, 2) positions (m) of ``cfg.layout`` (module docstring)."""
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"draw_positions: batch must be a positive integer, got {batch!r}")
    rng = np.random.default_rng(rng)
    ux = rng.uniform(0.0, WIDTH, (batch, cfg.N))
    tx = rng.uniform(0.0, WIDTH, batch)
    if cfg.layout == "pos1":
        uy, ty = np.full_like(ux, POS1_Y), np.full_like(tx, POS1_Y)
    else:
        uy, ty = np.full_like(ux, POS2_USER_Y), rng.uniform(0.0, ROAD, batch)
    return np.stack([ux, uy], -1), np.stack([tx, ty], -1)


def realize(cfg: PosConfig, users: np.ndarray, target: np.ndarray) -> PosBatch:
    """The channels and sensing geometry of given positions: users (B, N, 2), target (B, 2) m
    (one realization: (N, 2) and (2,))."""
    users = np.asarray(users, dtype=float)
    target = np.asarray(target, dtype=float)
    if users.ndim == 2:
        users = users[None]
    if target.ndim == 1:
        target = target[None]
    B = users.shape[0]
    if users.shape != (B, cfg.N, 2) or not np.all(np.isfinite(users)):
        raise ValueError(
            f"users must be (B, N={cfg.N}, 2) finite positions in m, got {users.shape}"
        )
    if target.shape != (B, 2) or not np.all(np.isfinite(target)):
        raise ValueError(f"target must be (B={B}, 2) finite positions in m, got {target.shape}")
    aps = cfg.aps()
    L, M = cfg.L, cfg.M
    h = steering(direction_cosines(aps, users), M, cfg.spacing)  # (B, L, N, M)
    F = np.transpose(h, (0, 1, 3, 2)).reshape(B, L * M, cfg.N)
    a_t = steering(direction_cosines(aps, target[:, None, :])[..., 0], M, cfg.spacing)
    cos_t = direction_cosines(aps, target[:, None, :])[..., 0]  # (B, L): at AP r as receiver
    sensing = SensingGeometry(
        amp_t=np.full((B, L, L), math.sqrt(cfg.sensing_gain)),
        amp_c=np.zeros((B, L, 0, L)),
        aT_t=a_t,
        aT_c=np.zeros((B, 0, L, M), complex),
        aR_t=a_t.copy(),
        aR_c=np.zeros((B, L, 0, M), complex),
        psi_t=np.arccos(np.clip(cos_t, -1.0, 1.0)),
        theta_t=np.zeros((B, L)),
        psi_c=np.zeros((B, L, 0)),
        theta_c=np.zeros((B, L, 0)),
    )
    return PosBatch(cfg, aps, users, target, F, a_t, sensing)


def draw(cfg: PosConfig, batch: int, rng: np.random.Generator | int | None = None) -> PosBatch:
    """B random realizations of ``cfg.layout`` (same seed, same output)."""
    users, target = draw_positions(cfg, batch, rng)
    return realize(cfg, users, target)


def ap_csi(F: np.ndarray, a_t: np.ndarray) -> np.ndarray:
    """H_l = [h_l1 .. h_lN, a(theta_l)] of eq 14 for every AP: F (B, L M, N), a_t (B, L, M)
    -> (B, L, M, N+1)."""
    F, a_t = np.asarray(F), np.asarray(a_t)
    if a_t.ndim != 3 or F.ndim != 3 or F.shape[1] != a_t.shape[1] * a_t.shape[2]:
        raise ValueError(
            f"F must be (B, L M, N) and a_t (B, L, M) with matching L M; got {F.shape}, {a_t.shape}"
        )
    B, L, M = a_t.shape
    return np.concatenate([F.reshape(B, L, M, -1), a_t[..., None]], axis=-1)


# --------------------------------------------------------------------------- metrics (paper 001)


def sinr(F: np.ndarray, W: np.ndarray, noise: float = 1.0) -> np.ndarray:
    """SINR of eq 2 (paper 001), linear: F (B, L M, N), W (B, L M, N+1) sensing beam first
    -> (B, N). SINR_n = |h_n^H w_n|^2 / (sum_{q != n} |h_n^H w_q|^2 + sigma_n^2), the sensing
    beam among the interferers."""
    F, W = np.asarray(F), np.asarray(W)
    if F.ndim != 3 or W.shape != F.shape[:2] + (F.shape[2] + 1,):
        raise ValueError(
            f"F must be (B, L M, N) and W (B, L M, N+1) (sensing beam first); got {F.shape}, "
            f"{W.shape}"
        )
    if not noise > 0:
        raise ValueError(f"noise must be positive (sigma_n^2, W), got {noise}")
    gains = np.abs(np.einsum("bmn,bmq->bnq", F.conj(), W)) ** 2  # (B, N, N+1)
    N = F.shape[-1]
    signal = gains[:, np.arange(N), np.arange(N) + 1]
    return signal / (gains.sum(-1) - signal + noise)


def ssnr(
    a_t: np.ndarray, W: np.ndarray, gain: float | np.ndarray = 0.1, noise: float = 1.0
) -> np.ndarray:
    """SSNR of eq 6 (paper 001), linear; every beam counts for sensing. a_t (B, L, M) the APs'
    steering vectors toward the target, W (B, L M, Q) with any Q beams, gain sigma_s^2: a scalar
    (every AP receives, R = L) or (B, R, L) per receiver r and transmitter l, noise sigma_a^2
    per receiver -> (B,). SSNR = sum_r sum_l sigma_s,lr^2 ||a_l^H W_l||^2 / (R sigma_a^2)."""
    a_t, W = np.asarray(a_t), np.asarray(W)
    if a_t.ndim != 3 or W.ndim != 3 or W.shape[1] != a_t.shape[1] * a_t.shape[2]:
        raise ValueError(f"a_t must be (B, L, M) and W (B, L M, Q); got {a_t.shape}, {W.shape}")
    if not noise > 0:
        raise ValueError(f"noise must be positive (sigma_a^2, W), got {noise}")
    B, L, M = a_t.shape
    g = np.asarray(gain, dtype=float)
    if g.ndim == 0:
        g = np.broadcast_to(g, (1, L, L))
    if g.ndim != 3 or g.shape[2] != L or g.shape[0] not in (1, B):
        raise ValueError(f"gain must be a scalar or (B={B}, R, L={L}), got shape {g.shape}")
    toward = np.einsum("blm,blmq->blq", a_t.conj(), W.reshape(-1, L, M, W.shape[-1]))
    beam_gain = (np.abs(toward) ** 2).sum(-1)  # (B, L): ||a_l^H W_l||^2
    per_pair = g * beam_gain[:, None, :]  # [b, r, l]
    return per_pair.sum(axis=(-1, -2)) / (g.shape[1] * noise)


def ssnr_of(sg: SensingGeometry, W: np.ndarray, noise: float = 1.0) -> np.ndarray:
    """Eq 6 from a sensing geometry: a_t = sg.aT_t, sigma_s,lr^2 = sg.amp_t[r, l]^2 -> (B,)."""
    return ssnr(sg.aT_t, W, np.asarray(sg.amp_t) ** 2, noise)


def per_ap_power(W: np.ndarray, L: int) -> np.ndarray:
    """sum_q ||w_lq||^2 of eq 7b: W (B, L M, Q) -> (B, L)."""
    W = np.asarray(W)
    return (np.abs(W.reshape(W.shape[0], L, -1, W.shape[-1])) ** 2).sum(axis=(-1, -2))


def monte_carlo(
    batch: PosBatch, W: np.ndarray, symbols: int, rng: np.random.Generator | int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Eqs 1 and 3 simulated: (SINR (B, N), SSNR (B,)) measured from ``symbols`` draws of
    unit-power symbols x_q, noise and (for sensing) fresh alpha_lr ~ CN(0, sigma_s^2) per draw.
    SINR: the desired part is the correlation of y_n with x_n, the rest is interference plus
    noise; SSNR: total echo energy over total noise energy at the receiving APs (eq 6's ratio)."""
    rng = np.random.default_rng(rng)
    cfg, W = batch.cfg, np.asarray(W)
    B, LM, Q = W.shape
    L, M = cfg.L, cfg.M
    x = crandn(rng, (B, Q, symbols))
    tx = W @ x  # (B, L M, S): every AP's x_l of eq 5
    y = np.einsum("bmn,bms->bns", batch.F.conj(), tx)
    y = y + math.sqrt(cfg.noise) * crandn(rng, y.shape)
    n_idx = np.arange(cfg.N)
    corr = np.einsum("bns,bns->bn", y, x[:, n_idx + 1].conj()) / symbols
    total = np.mean(np.abs(y) ** 2, -1)
    signal = np.abs(corr) ** 2
    sinr_mc = signal / (total - signal)
    alpha = math.sqrt(cfg.sensing_gain) * crandn(rng, (B, L, L, symbols))  # [b, r, l, s]
    toward = np.einsum("blm,blms->bls", batch.a_t.conj(), tx.reshape(B, L, M, symbols))
    echo = np.einsum("brls,bls->brs", alpha, toward)[:, :, None, :] * batch.a_t[..., None]
    noise = math.sqrt(cfg.noise) * crandn(rng, echo.shape)
    ssnr_mc = (np.abs(echo) ** 2).sum(axis=(1, 2, 3)) / (np.abs(noise) ** 2).sum(axis=(1, 2, 3))
    return sinr_mc, ssnr_mc


# --------------------------------------------------------------------- per-AP model inputs/outputs


def csi_rows(F_l: np.ndarray, a_l: np.ndarray) -> np.ndarray:
    """A per-AP model's input (eq 14 as rows): AP l's channels F_l (B, M, N) and its target
    steering vector a_l (B, M) -> float32 (B, N+1, 2M), row n = [Re(h_ln^T), Im(h_ln^T)], the
    target's row last."""
    F_l, a_l = np.asarray(F_l), np.asarray(a_l)
    if F_l.ndim != 3 or a_l.shape != (F_l.shape[0], F_l.shape[1]):
        raise ValueError(
            f"F_l must be (B, M, N) and a_l (B, M) of one AP; got {F_l.shape}, {a_l.shape}"
        )
    H = np.concatenate([F_l, a_l[..., None]], axis=-1).transpose(0, 2, 1)  # (B, N+1, M)
    return np.concatenate([H.real, H.imag], axis=-1).astype(np.float32)


def rows_to_beams(rows: np.ndarray) -> np.ndarray:
    """A per-AP model's output rows (B, N+1, 2M), row 0 the sensing beam -> W_l (B, M, N+1)."""
    rows = np.asarray(rows)
    M = rows.shape[-1] // 2
    return (rows[..., :M] + 1j * rows[..., M:]).transpose(0, 2, 1)
