"""Rates and rank of the relaxed covariances Q_k = p_k p_k^H of ``sca_speb`` (k = 0 the
sensing beam, 1..K the users): eq 3's log(1 + SINR_k) = log T_k - log I_k with the sensing
beam interfering and unit noise, and how close the Q_k are to rank one. numpy only."""

from __future__ import annotations

import numpy as np


def rate_terms(F: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Covariances X (..., K+1, NL, NL) -> totals T and interference-plus-noise I (..., K) of
    eq 3 (log(1 + SINR_k) = log T_k - log I_k)."""
    K = F.shape[1]
    gains = np.einsum("nk,...jnm,mk->...kj", F.conj(), X, F).real
    total = gains.sum(-1) + 1.0
    return total, total - gains[..., np.arange(K), np.arange(K) + 1]


def relaxed_sum_rate(F: np.ndarray, X: np.ndarray) -> np.ndarray:
    """sum_k log2(1 + SINR_k) of covariances X (..., K+1, NL, NL); W's sum rate when rank one."""
    total, interference = rate_terms(F, X)
    return np.log2(total / interference).sum(-1)


def covariances(W: np.ndarray) -> np.ndarray:
    """Beams W (..., NL, K+1) -> rank-one covariances (..., K+1, NL, NL)."""
    cols = np.moveaxis(W, -1, -2)
    return cols[..., :, None] * cols[..., None, :].conj()


def rank_one_fraction(X: np.ndarray, rank_tol: float) -> float:
    """Fraction of the Q_k (..., N, N) whose second eigenvalue is <= rank_tol x the largest
    eigenvalue of any of them (so a Q_k that is zero up to solver noise counts as rank one)."""
    lam = np.linalg.eigvalsh(X)
    return float((lam[:, -2] <= rank_tol * max(float(lam[:, -1].max()), 1e-300)).mean())
