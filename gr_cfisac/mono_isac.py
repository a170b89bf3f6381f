"""The monostatic ISAC scenario of paper 002, section IV: a BS with N antennas (half-wavelength
ULA) serves K single-antenna users (eq 1 channels) with beams W (N, K) and senses M point
targets with a radar waveform through F (N, N), transmitting x = W c + F s.

Normalized units as the ``mu_miso`` scenario: total power ||W||_F^2 + ||F||_F^2 <= P0 = 1 (29c),
user noise sigma^2 = 1 / SNR (eq 28 prints 1 with the power as the SNR: the same ratios), radar
noise sigma_z^2 = 1 / SNR too unless given. Sensing channel of eq 26:
G_m = beta_m a_r(theta_m) a_t(theta_m)^H, beta_m ~ CN(0, 1), theta_m uniform in
[-60 deg, 60 deg]. Shapes: F_c (B, N, K) user channels f_k (core layout), W (B, N, K),
F (B, N, N) sensing beamformer, G (B, M, N, N). numpy only, complex128.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .mumiso import ZERO

THETA_MAX = math.radians(60.0)


@dataclass(frozen=True)
class MonoIsacConfig:
    """K users, N antennas, M targets, user SNR in dB, the sensing-SNR floor gamma_s in dB
    (29b), radar noise (default: the user noise), power P0 (29c)."""

    K: int = 4
    N: int = 16
    M: int = 2
    snr_db: float = 20.0
    gamma_s_db: float = 30.0
    radar_snr_db: float | None = None
    power: float = 1.0

    def __post_init__(self) -> None:
        for name in ("K", "N", "M"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"MonoIsacConfig: {name} must be a positive integer, got {v!r}")
        for name in ("snr_db", "gamma_s_db", "radar_snr_db", "power"):
            v = getattr(self, name)
            if v is None and name == "radar_snr_db":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"MonoIsacConfig: {name} must be a finite number, got {v!r}")
        if not self.power > 0:
            raise ValueError(f"MonoIsacConfig: power must be positive, got {self.power}")

    @property
    def noise(self) -> float:
        """User noise sigma^2 = P0 / SNR."""
        return self.power * 10.0 ** (-self.snr_db / 10.0)

    @property
    def radar_noise(self) -> float:
        """Radar noise sigma_z^2 (eq 27)."""
        snr = self.snr_db if self.radar_snr_db is None else self.radar_snr_db
        return self.power * 10.0 ** (-snr / 10.0)

    @property
    def gamma_s(self) -> float:
        return 10.0 ** (self.gamma_s_db / 10.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MonoIsacBatch:
    """B blocks: user channels F_c (B, N, K), target angles (B, M) in radians, gains beta
    (B, M) and the per-target sensing channels G (B, M, N, N) of eq 26."""

    F_c: np.ndarray
    theta: np.ndarray
    beta: np.ndarray
    G: np.ndarray

    @property
    def batch(self) -> int:
        return self.F_c.shape[0]


def steering(theta: np.ndarray, N: int) -> np.ndarray:
    """Half-wavelength ULA response a(theta) = exp(j pi n sin theta), n = 0..N-1: (..., N)."""
    n = np.arange(N)
    return np.exp(1j * np.pi * np.sin(np.asarray(theta))[..., None] * n)


def draw(cfg: MonoIsacConfig, batch: int, rng: np.random.Generator | int | None = None):
    """B blocks of eqs 1 and 26 (monostatic: a_r = a_t)."""
    rng = np.random.default_rng(rng)
    shape = (batch, cfg.N, cfg.K)
    F_c = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2.0)
    theta = rng.uniform(-THETA_MAX, THETA_MAX, (batch, cfg.M))
    beta = rng.standard_normal((batch, cfg.M)) + 1j * rng.standard_normal((batch, cfg.M))
    beta /= np.sqrt(2.0)
    a = steering(theta, cfg.N)  # (B, M, N)
    G = beta[..., None, None] * a[..., :, None] * a.conj()[..., None, :]
    return MonoIsacBatch(F_c, theta, beta, G)


def sensing_snr(G: np.ndarray, W: np.ndarray, F: np.ndarray, radar_noise: float) -> np.ndarray:
    """SNR_m^s of eq 27: (||G_m W||_F^2 + ||G_m F||_F^2) / sigma_z^2 -> (B, M)."""
    GW = np.einsum("bmij,bjk->bmik", G, W)
    GF = np.einsum("bmij,bjk->bmik", G, F)
    return ((np.abs(GW) ** 2).sum((-2, -1)) + (np.abs(GF) ** 2).sum((-2, -1))) / radar_noise


def sinr(F_c: np.ndarray, W: np.ndarray, F: np.ndarray, noise: float) -> np.ndarray:
    """SINR_k^c of eq 28 with the sensing signal as interference: (B, K)."""
    gains = np.abs(F_c.conj().swapaxes(-1, -2) @ W) ** 2  # [k, j] = |f_k^H w_j|^2
    signal = np.einsum("bkk->bk", gains)
    radar = (np.abs(F_c.conj().swapaxes(-1, -2) @ F) ** 2).sum(-1)  # ||f_k^H F||^2
    return signal / (gains.sum(-1) - signal + radar + noise)


def sum_rate(F_c: np.ndarray, W: np.ndarray, F: np.ndarray, noise: float) -> np.ndarray:
    """Sum rate of (29a) in bps/Hz (log2, as eq 3): (B,)."""
    return np.log2(1.0 + sinr(F_c, W, F, noise)).sum(-1)


def feasible(
    batch: MonoIsacBatch, W: np.ndarray, F: np.ndarray, cfg: MonoIsacConfig, rtol: float = 1e-6
) -> np.ndarray:
    """(29b) and (29c) hold: every target's SNR >= gamma_s and the power within P0: (B,) bool."""
    snr = sensing_snr(batch.G, W, F, cfg.radar_noise)
    power = (np.abs(W) ** 2).sum((-2, -1)) + (np.abs(F) ** 2).sum((-2, -1))
    return np.all(snr >= cfg.gamma_s * (1 - rtol), -1) & (power <= cfg.power * (1 + rtol))


def barrier_objective(
    batch: MonoIsacBatch, W: np.ndarray, F: np.ndarray, cfg: MonoIsacConfig, weight: float
) -> np.ndarray:
    """Eq 30: sum rate - lambda_s sum_m log(SNR_m^s - gamma_s) (B,); -inf where infeasible.
    (The paper writes minus the barrier as a penalty to maximize; here the barrier
    log(SNR - gamma) is added with weight lambda_s, so the objective rises away from the
    boundary and falls to -inf on it.)"""
    slack = sensing_snr(batch.G, W, F, cfg.radar_noise) - cfg.gamma_s
    with np.errstate(divide="ignore", invalid="ignore"):
        barrier = np.where(slack > 0, np.log(np.maximum(slack, ZERO)), -np.inf).sum(-1)
    return sum_rate(batch.F_c, W, F, cfg.noise) + weight * barrier


def nullspace_projector(F_c: np.ndarray) -> np.ndarray:
    """P = I - F_c (F_c^H F_c)^+ F_c^H: (B, N, N), the projector onto the users' null space
    (f_k^H P = 0 for every user when K < N)."""
    gram = F_c.conj().swapaxes(-1, -2) @ F_c
    return np.eye(F_c.shape[1]) - F_c @ np.linalg.pinv(gram) @ F_c.conj().swapaxes(-1, -2)


def graph_inputs(batch: MonoIsacBatch, cfg: MonoIsacConfig) -> dict[str, np.ndarray]:
    """The SAO-ISAC ONNX graph's float32 inputs for a batch: ``channel`` (B, K, 2N) rows
    [Re f_k^T, Im f_k^T], ``targets`` (B, M, 2N) rows |beta_m| sqrt(N) a(theta_m)^T (eq 26 is
    rank one, so ||G_m X||_F^2 = sum_j |s_m^H x_j|^2), ``noise``, ``radar_noise``, ``gamma``
    (B, 1)."""
    B, N, _ = batch.F_c.shape
    Hc = batch.F_c.transpose(0, 2, 1)
    S = steering(batch.theta, N) * (np.abs(batch.beta) * math.sqrt(N))[..., None]
    col = np.ones((B, 1), np.float32)
    return {
        "channel": np.concatenate([Hc.real, Hc.imag], -1).astype(np.float32),
        "targets": np.concatenate([S.real, S.imag], -1).astype(np.float32),
        "noise": col * cfg.noise,
        "radar_noise": col * cfg.radar_noise,
        "gamma": col * cfg.gamma_s,
    }


def from_graph_outputs(
    beamformer: np.ndarray, sensing: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The graph's rows -> W (B, N, K) and F (B, N, N) complex."""
    n = beamformer.shape[-1] // 2
    W = (beamformer[..., :n] + 1j * beamformer[..., n:]).transpose(0, 2, 1)
    F = (sensing[..., :n] + 1j * sensing[..., n:]).transpose(0, 2, 1)
    return W, F
