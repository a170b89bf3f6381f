"""The ``mu_miso`` scenario (paper 002, section II): a single-cell MU-MISO downlink with up to Km
single-antenna users and Nm BS antennas, of which K users and N antennas are active per block.

Normalized units of paper 002: i.i.d. Rayleigh channels CN(0, 1) (eq 1), perfect CSI at the BS,
total power ||W||_F^2 <= P = 1 and SNR = 1 / sigma^2 (every user the same noise sigma^2).

Shapes follow the core (DESIGN.md): the channel ``F`` is (B, Nm, Km), ``F[..., k]`` user k's
channel f_k (the paper's h_k) and user k receives f_k^H sum_j w_j x_j + n_k (eq 2); beams ``W``
are (B, Nm, Km), ``W[..., k]`` = w_k. Inactive users and antennas are masked: their rows and
columns of F are zero (eq 12 of paper 002), and so are those of every beamformer here. numpy
only; complex128 inside.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: total transmit power of paper 002 (||W||_F^2 <= P)
POWER = 1.0
#: below this a user or antenna's channel counts as absent (masked channels are exactly zero)
ZERO = 1e-12


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"MuMisoConfig: {name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class MuMisoConfig:
    """The MU-MISO scenario: K active users of at most Km, N active antennas of at most Nm,
    SNR in dB (noise sigma^2 = 10^(-snr_db / 10) at P = 1)."""

    K: int = 16
    N: int = 16
    Km: int = 16
    Nm: int = 16
    snr_db: float = 20.0

    def __post_init__(self) -> None:
        for name in ("K", "N", "Km", "Nm"):
            object.__setattr__(self, name, _positive_int(name, getattr(self, name)))
        if self.K > self.Km:
            raise ValueError(
                f"MuMisoConfig: K={self.K} active users exceed Km={self.Km}; raise Km or lower K"
            )
        if self.N > self.Nm:
            raise ValueError(
                f"MuMisoConfig: N={self.N} active antennas exceed Nm={self.Nm}; raise Nm or lower N"
            )
        snr = self.snr_db
        if isinstance(snr, bool) or not isinstance(snr, (int, float, np.floating, np.integer)):
            raise ValueError(f"MuMisoConfig: snr_db must be a number in dB, got {snr!r}")
        if not math.isfinite(float(snr)) or not -50.0 <= float(snr) <= 80.0:
            raise ValueError(f"MuMisoConfig: snr_db must be finite, within -50..80 dB; got {snr}")
        object.__setattr__(self, "snr_db", float(snr))

    @property
    def noise(self) -> float:
        """sigma^2 = P / SNR (linear)."""
        return POWER * 10.0 ** (-self.snr_db / 10.0)

    @property
    def power(self) -> float:
        return POWER

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MuMisoConfig:
        unknown = sorted(set(data) - {"K", "N", "Km", "Nm", "snr_db"})
        if unknown:
            raise ValueError(f"MuMisoConfig: unknown field(s) {unknown}")
        return cls(**data)


@dataclass(frozen=True)
class MuMisoBatch:
    """B blocks: the masked channel F (B, Nm, Km) and the active masks users (B, Km), antennas
    (B, Nm) (bool); F is zero outside the active users and antennas (eq 12)."""

    F: np.ndarray
    users: np.ndarray
    antennas: np.ndarray

    @property
    def batch(self) -> int:
        return self.F.shape[0]

    def active_channels(self) -> np.ndarray:
        """The active part (B, N, K) when every block has the same active counts (users and
        antennas in index order)."""
        K = self.users.sum(-1)
        N = self.antennas.sum(-1)
        if np.ptp(K) or np.ptp(N):
            raise ValueError("active_channels: blocks have different active counts (K, N)")
        b = np.arange(self.batch)[:, None, None]
        rows = np.sort(np.argsort(~self.antennas, axis=-1, kind="stable")[:, : N[0]], -1)
        cols = np.sort(np.argsort(~self.users, axis=-1, kind="stable")[:, : K[0]], -1)
        return self.F[b, rows[:, :, None], cols[:, None, :]]


def random_masks(
    batch: int, active: int, total: int, rng: np.random.Generator, contiguous: bool = False
) -> np.ndarray:
    """(batch, total) bool masks with ``active`` True entries each: random positions (the
    random masking of paper 002, section III-C2), or the first ``active`` with ``contiguous``."""
    if not 0 <= active <= total:
        raise ValueError(f"random_masks: active={active} must be within 0..{total}")
    if contiguous:
        return np.broadcast_to(np.arange(total) < active, (batch, total)).copy()
    order = np.argsort(rng.random((batch, total)), axis=-1)
    return order < active


def draw(
    cfg: MuMisoConfig, batch: int, rng: np.random.Generator | int | None = None,
    contiguous: bool = False,
) -> MuMisoBatch:  # fmt: skip
    """Draw B blocks of eq 1: F (B, Nm, Km) i.i.d. CN(0, 1), masked to cfg.K random users and
    cfg.N random antennas (``contiguous``: the first K users and N antennas)."""
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"draw: batch must be a positive integer, got {batch!r}")
    rng = np.random.default_rng(rng)
    shape = (batch, cfg.Nm, cfg.Km)
    F = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)
    users = random_masks(batch, cfg.K, cfg.Km, rng, contiguous)
    antennas = random_masks(batch, cfg.N, cfg.Nm, rng, contiguous)
    return MuMisoBatch(apply_masks(F, users, antennas), users, antennas)


def check_masks(F: np.ndarray, users: np.ndarray, antennas: np.ndarray) -> None:
    """ValueError naming the mask unless users (B, K) and antennas (B, N) fit F (B, N, K)."""
    F = np.asarray(F)
    if F.ndim != 3:
        raise ValueError(f"F must be (B, N, K), got shape {F.shape}")
    B, N, K = F.shape
    for name, mask, size in (("users", users, K), ("antennas", antennas, N)):
        mask = np.asarray(mask)
        if mask.shape != (B, size):
            raise ValueError(
                f"{name} mask must be (B={B}, {size}) for F {F.shape}, got {mask.shape}"
            )
        if mask.dtype != bool and not np.all((mask == 0) | (mask == 1)):
            raise ValueError(f"{name} mask must hold only 0/1 (or bool) values")


def apply_masks(X: np.ndarray, users: np.ndarray, antennas: np.ndarray) -> np.ndarray:
    """X (B, N, K) with inactive users' columns and inactive antennas' rows zeroed (eq 12)."""
    check_masks(X, users, antennas)
    return X * (np.asarray(antennas, bool)[:, :, None] & np.asarray(users, bool)[:, None, :])


def sum_rate(F: np.ndarray, W: np.ndarray, noise: float) -> np.ndarray:
    """Sum rate of eq 3 in bps/Hz: F, W (B, N, K) -> (B,); user k's SINR
    |f_k^H w_k|^2 / (sigma^2 + sum_{i != k} |f_k^H w_i|^2). Users with a zero channel add 0."""
    return user_rates(F, W, noise).sum(-1)


def user_rates(F: np.ndarray, W: np.ndarray, noise: float) -> np.ndarray:
    """log2(1 + SINR_k) of eq 3: F, W (B, N, K) -> (B, K)."""
    F, W = np.asarray(F), np.asarray(W)
    if F.shape != W.shape or F.ndim != 3:
        raise ValueError(f"F and W must both be (B, N, K); got {F.shape} and {W.shape}")
    if not noise > 0:
        raise ValueError(f"noise must be positive (sigma^2 = 1 / SNR), got {noise}")
    gains = np.abs(F.conj().swapaxes(-1, -2) @ W) ** 2  # [k, j] = |f_k^H w_j|^2
    signal = np.einsum("bkk->bk", gains)
    return np.log2(1.0 + signal / (gains.sum(-1) - signal + noise))


def lmmse(F: np.ndarray, noise: float, power: float = POWER) -> np.ndarray:
    """LMMSE beamformer of eq 5 (paper 002) on a masked channel F (B, N, K) -> W (B, N, K):
    w_k = sqrt(P / K) (sigma^2 I + (P / K) sum_i f_i f_i^H)^{-1} f_k / ||...||, K the active
    users of each block (nonzero columns). Eq 5 prints I_N, i.e. sigma^2 = 1; the noise is
    written out here so the regularizer follows the SNR. Inactive users get w_k = 0, inactive
    antennas (zero rows) transmit nothing. Computed in the K-dimensional form
    F (sigma^2 I + (P / K) F^H F)^{-1} (push-through identity)."""
    F = np.asarray(F, dtype=complex)
    if F.ndim != 3:
        raise ValueError(f"F must be (B, N, K), got shape {F.shape}")
    if not noise > 0:
        raise ValueError(f"noise must be positive (sigma^2 = 1 / SNR), got {noise}")
    active = np.linalg.norm(F, axis=1) > ZERO  # (B, K)
    k = np.maximum(active.sum(-1), 1)[:, None, None]
    gram = F.conj().swapaxes(-1, -2) @ F
    eye = np.eye(F.shape[-1])
    W = F @ np.linalg.inv(noise * eye + (power / k) * gram)
    norm = np.linalg.norm(W, axis=1, keepdims=True)
    scale = np.where(active[:, None, :], np.sqrt(power / k) / np.maximum(norm, ZERO), 0.0)
    return W * scale


def waterfilling_bound(F: np.ndarray, noise: float, power: float = POWER) -> np.ndarray:
    """An upper bound on the sum rate of eq 3 (B,): the capacity of the cooperative channel
    max_{tr S <= P} log2 det(I + F^H S F / sigma^2) (users that could decode jointly), by water
    filling over the eigenvalues of F F^H. No linear precoder exceeds it."""
    lam = np.clip(
        np.linalg.eigvalsh(np.asarray(F) @ np.asarray(F).conj().swapaxes(-1, -2)), 0, None
    )
    g = lam / noise  # (B, N)
    out = np.zeros(g.shape[0])
    for b, gains in enumerate(g):
        gains = np.sort(gains[gains > 1e-12])[::-1]
        for m in range(len(gains), 0, -1):
            level = (power + (1.0 / gains[:m]).sum()) / m
            if level > 1.0 / gains[m - 1]:
                out[b] = np.log2(level * gains[:m]).sum()
                break
    return out


def sum_rate_gradient(F: np.ndarray, W: np.ndarray, noise: float) -> np.ndarray:
    """Closed-form gradient of eq 3 for the ascent steps of eq 8: 2 dR/dW* (B, N, K), so a
    small change D moves the sum rate by Re tr(G^H D). With z_kj = f_k^H w_j, T_k the total
    received power plus sigma^2 and I_k = T_k - |z_kk|^2:
    g_j = (2 / ln 2) sum_k (1 / T_k - [k != j] / I_k) z_kj f_k."""
    F, W = np.asarray(F), np.asarray(W)
    if F.shape != W.shape or F.ndim != 3:
        raise ValueError(f"F and W must both be (B, N, K); got {F.shape} and {W.shape}")
    Z = F.conj().swapaxes(-1, -2) @ W
    P = np.abs(Z) ** 2
    T = P.sum(-1) + noise
    I = T - np.einsum("bkk->bk", P)
    K = W.shape[-1]
    coef = (1.0 / T)[:, :, None] - (1.0 - np.eye(K)) * (1.0 / I)[:, :, None]
    return (2.0 / np.log(2.0)) * (F @ (coef * Z))
