"""Linear MU-MISO precoders: MRT, ZF and RZF (the LMMSE beamformer, eq 5 of the transformer
paper 002). Each returns user beams (B, N, K) scaled to ||W||_F^2 = power (or, with
``per_tap``, every TAP at power / NT)."""

from __future__ import annotations

import numpy as np

from .power import scale_power


def check_channels(F: np.ndarray) -> np.ndarray:
    F = np.asarray(F)
    if F.ndim != 3:
        raise ValueError(f"F must be (B, N, K) channel estimates, got shape {F.shape}")
    if not np.iscomplexobj(F):
        F = F.astype(complex)
    return F


def mrt(F: np.ndarray, power: float, noise: float = 1.0, per_tap: int | None = None) -> np.ndarray:
    """Maximum-ratio transmission w_k proportional to f_k. F (B, N, K) -> (B, N, K)."""
    return scale_power(check_channels(F).copy(), power, per_tap)


def zf(F: np.ndarray, power: float, noise: float = 1.0, per_tap: int | None = None) -> np.ndarray:
    """Zero forcing W = F (F^H F)^{-1}: f_j^H w_k = 0 for j != k. F (B, N, K) -> (B, N, K).

    Needs N >= K. With ``per_tap`` each TAP's rows are rescaled separately, which breaks the
    nulling (use :func:`~gr_cfisac.precoding.wmmse` with ``per_tap`` for a per-TAP budget).
    """
    F = check_channels(F)
    if F.shape[1] < F.shape[2]:
        raise ValueError(
            f"zf needs at least as many transmit antennas as users: F is (B, N={F.shape[1]}, "
            f"K={F.shape[2]}); use rzf or mrt, or more TAP antennas"
        )
    gram = np.einsum("bnk,bnj->bkj", F.conj(), F)
    W = F @ np.linalg.inv(gram)
    return scale_power(W, power, per_tap)


def rzf(
    F: np.ndarray,
    power: float,
    noise: float = 1.0,
    per_tap: int | None = None,
    regularization: float | None = None,
) -> np.ndarray:
    """Regularized ZF / LMMSE beamformer W = (F F^H + (K noise / power) I)^{-1} F (paper 002,
    eq 5), computed in the K-dimensional form F (F^H F + lambda I)^{-1}. -> (B, N, K)."""
    F = check_channels(F)
    K = F.shape[-1]
    lam = K * noise / power if regularization is None else regularization
    gram = np.einsum("bnk,bnj->bkj", F.conj(), F)
    W = F @ np.linalg.inv(gram + lam * np.eye(K))
    return scale_power(W, power, per_tap)
