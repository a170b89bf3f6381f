"""Communication side of the ``coisac`` scenario (paper 003): SINR and rates of eqs 3-4, the
per-BS power of eq 32b and the per-BS normalization of eq 50.

Normalized units (scenario docstring): unit noise at every user (sigma^2 = 1 in eq 3) and
per-BS budgets P_n / (k T B NF). Shapes: F (B, N L, K) BS-major rows, W (B, N L, K+1) with
W[..., 0] the sensing beam p^s (an interferer in eq 3) and W[..., k] user k's p^c_k.
numpy only.
"""

from __future__ import annotations

import numpy as np

from ..metrics import sinr as core_sinr


def check_pair(F: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F (B, N L, K) and W (B, N L, K+1), or ValueError naming the one that does not fit."""
    F, W = np.asarray(F), np.asarray(W)
    if F.ndim != 3:
        raise ValueError(f"F must be (B, N L, K) channels, got shape {F.shape}")
    if W.shape != F.shape[:2] + (F.shape[2] + 1,):
        raise ValueError(
            f"W must be (B, N L, K+1) = {F.shape[:2] + (F.shape[2] + 1,)} for F {F.shape} "
            f"(sensing beam first), got shape {W.shape}"
        )
    return F, W


def sinr(F: np.ndarray, W: np.ndarray) -> np.ndarray:
    """SINR_k of eq 3, linear, unit noise: (B, K); the sensing beam interferes."""
    return core_sinr(*check_pair(F, W))


def user_rates(F: np.ndarray, W: np.ndarray) -> np.ndarray:
    """R_k = log2(1 + SINR_k) of eq 4 in bps/Hz: (B, K)."""
    return np.log2(1.0 + sinr(F, W))


def sum_rate(F: np.ndarray, W: np.ndarray) -> np.ndarray:
    """The objective of eq 32a, sum_k R_k in bps/Hz: (B,)."""
    return user_rates(F, W).sum(-1)


def per_bs_power(W: np.ndarray, N: int) -> np.ndarray:
    """||p_n^s||^2 + sum_k ||p_{n,k}^c||^2 of eq 32b: W (B, N L, K+1) -> (B, N)."""
    W = np.asarray(W)
    if W.ndim != 3 or W.shape[1] % N:
        raise ValueError(f"W must be (B, N L, K+1) with N={N} whole BSs, got shape {W.shape}")
    return (np.abs(W.reshape(W.shape[0], N, -1, W.shape[-1])) ** 2).sum(axis=(-1, -2))


def normalize_per_bs(W: np.ndarray, power: float | np.ndarray, N: int) -> np.ndarray:
    """Eq 50: BS n's rows times sqrt(P_n) / max(sqrt(P_n), sqrt(P^_n)), so every BS meets
    eq 32b (a BS under budget is left alone). power: a scalar or (N,) normalized budgets."""
    W = np.asarray(W)
    P = np.broadcast_to(np.asarray(power, dtype=float), (N,))
    if not np.all(np.isfinite(P) & (P > 0)):
        raise ValueError(f"power must be positive per-BS budgets (scalar or ({N},)), got {power}")
    used = per_bs_power(W, N)  # (B, N)
    scale = np.sqrt(P) / np.maximum(np.sqrt(P), np.sqrt(used))
    B, NL, S = W.shape
    return (W.reshape(B, N, -1, S) * scale[:, :, None, None]).reshape(B, NL, S)
