"""Imperfect inputs of the coisac precoders (paper 003, Section IV-C, Figs. 9-10): a channel
estimate at a given CSI SNR and the steering vectors toward a mis-located target. The metrics
keep the true channels and echo model; only what a precoder sees is perturbed. numpy only."""

from __future__ import annotations

import math

import numpy as np

from .geometry import paper_angles, steering
from .scenario import CoisacBatch


def noisy_csi(F: np.ndarray, N: int, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """F_hat = F + E (B, N L, K): E ~ CN(0, ||h_kn||^2 / (L SNR)) i.i.d. per entry of each
    BS-user link h_kn (SNR = 10^(snr_db / 10) relative to that link's mean entry power);
    snr_db = inf returns a copy of F."""
    if math.isinf(snr_db) and snr_db > 0:
        return np.array(F, copy=True)
    if not math.isfinite(snr_db):
        raise ValueError(f"snr_db must be finite or +inf (perfect CSI), got {snr_db}")
    F = np.asarray(F)
    B, NL, K = F.shape
    if NL % N:
        raise ValueError(f"F has {NL} rows, not a multiple of N={N} BSs")
    h = F.reshape(B, N, NL // N, K)
    var = np.mean(np.abs(h) ** 2, axis=2, keepdims=True) / 10.0 ** (snr_db / 10.0)
    E = np.sqrt(var / 2) * (rng.standard_normal(h.shape) + 1j * rng.standard_normal(h.shape))
    return (h + E).reshape(F.shape)


def perturbed_steering(batch: CoisacBatch, dt_m: float, rng: np.random.Generator) -> np.ndarray:
    """Steering vectors a_t (B, N, L) of every BS toward t + dt_m u per block (eqs 5-8 at the
    mis-located target), u uniform on the unit sphere; dt_m = 0 returns the true a_t."""
    if not (math.isfinite(dt_m) and dt_m >= 0):
        raise ValueError(f"dt_m (target position error, m) must be >= 0, got {dt_m}")
    if dt_m == 0:
        return np.array(batch.sensing.aT_t, copy=True)
    u = rng.standard_normal((batch.batch, 3))
    t = batch.target + dt_m * u / np.linalg.norm(u, axis=-1, keepdims=True)
    theta, beta = paper_angles(batch.bs, t)
    return steering(theta, beta, batch.cfg.Lx, batch.cfg.Ly)
