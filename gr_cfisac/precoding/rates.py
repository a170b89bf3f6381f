"""Rates of eqs 20 and 22 and their analytic Wirtinger gradients, as the ISAC optimizer sees them.

log2(1 + SINR_k) on the channel estimates (eq 20, noise 1) and log2(1 + SCNR_j) of the
varpi-averaged eq 22 (noise term MR), from W (B, N, K+1), sensing beam first. Gradients are
2 d/dW*, so a small change D moves a rate sum by Re tr(grad^H D). The sensing grams are factored
as Q = L L^H once, so every evaluation is a small matrix product.
"""

from __future__ import annotations

import numpy as np

_LN2 = np.log(2.0)
TINY = 1e-300


def herm(X: np.ndarray) -> np.ndarray:
    return X.conj().swapaxes(-1, -2)


def gram_factor(Q: np.ndarray, rtol: float = 1e-12) -> np.ndarray:
    """Q (B, NR, N, N) Hermitian PSD -> L (B, NR, N, r) with Q = L L^H (r = max numerical rank)."""
    lam, U = np.linalg.eigh(Q)
    top = lam.max(axis=-1, keepdims=True)
    rank = int(max(1, (lam > rtol * np.maximum(top, TINY)).sum(-1).max()))
    return U[..., -rank:] * np.sqrt(np.maximum(lam[..., None, -rank:], 0.0))


def stack_factors(L_t: np.ndarray, L_c: np.ndarray) -> np.ndarray:
    """(B, NR, N, rt), (B, NR, N, rc) -> (B, N, NR rt + NR rc): target columns, then clutter."""
    B, NR, N, _ = L_t.shape
    flat = [np.moveaxis(L, 1, 2).reshape(B, N, -1) for L in (L_t, L_c)]
    return np.concatenate(flat, axis=-1)


def comm_terms(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z[k, j] = f_k^H w_j (M, K, K+1) -> rates log2(1 + SINR_k), totals T_k, interference I_k."""
    K = Z.shape[-2]
    power = np.abs(Z) ** 2
    T = power.sum(-1) + 1.0
    I = T - power[:, np.arange(K), np.arange(K) + 1]
    return (np.log(T) - np.log(I)) / _LN2, T, I


def sensing_terms(Y: np.ndarray, NR: int, rt: int, MR: float):
    """Y = L^H W (M, NR (rt + rc), K+1) -> rates log2(1 + SCNR_j), a_j (target), c_j (clutter)."""
    e = (np.abs(Y) ** 2).sum(-1)
    M = e.shape[0]
    a = e[:, : NR * rt].reshape(M, NR, rt).sum(-1)
    c = e[:, NR * rt :].reshape(M, NR, -1).sum(-1)
    return (np.log(a + c + MR) - np.log(c + MR)) / _LN2, a, c


def comm_gradient(F, Z, T, I, wc):
    """2 d/dW* of sum_k wc_k log2(1 + SINR_k) = (2 / ln 2) F (C o Z): (M, N, K+1)."""
    K = Z.shape[-2]
    coef = np.repeat((wc / T)[:, :, None], K + 1, axis=-1)
    coef[:, np.arange(K)[:, None], _others(K)] -= (wc / I)[:, :, None]
    return (2.0 / _LN2) * (F @ (coef * Z))


def _others(K: int) -> np.ndarray:
    """For user k, the columns j != k+1 of W (sensing beam and other users): (K, K)."""
    return np.array([[j for j in range(K + 1) if j != k + 1] for k in range(K)])


def sensing_gradient(L, Y, a, c, ws, rt, MR):
    """2 d/dW* of sum_j ws_j log2(1 + SCNR_j) = (2 / ln 2) L (coef o Y): (M, N, K+1)."""
    total = a + c + MR
    rc = Y.shape[1] // a.shape[1] - rt
    coef_t = np.repeat(ws / total, rt, axis=1)
    coef_c = np.repeat(ws * (1.0 / total - 1.0 / (c + MR)), rc, axis=1)
    coef = np.concatenate([coef_t, coef_c], axis=1)
    return (2.0 / _LN2) * (L @ (coef[:, :, None] * Y))


def comm_rates_and_gradient(
    F: np.ndarray, W: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """log2(1 + SINR_k) of eq 20 (B, K) and the gradient of sum_k weights_k log2(1 + SINR_k).

    F (B, N, K), W (B, N, K+1). The gradient is 2 d/dW* (B, N, K+1), so that a small change D
    moves the weighted sum by Re tr(grad^H D).
    """
    F, W = np.asarray(F), np.asarray(W)
    if F.ndim != 3 or W.ndim != 3 or W.shape != (F.shape[0], F.shape[1], F.shape[2] + 1):
        raise ValueError(
            f"F must be (B, N, K) and W (B, N, K+1) with the sensing beam first; got {F.shape} "
            f"and {W.shape}"
        )
    Z = herm(F) @ W
    rates, T, I = comm_terms(Z)
    wc = np.ones_like(rates) if weights is None else np.broadcast_to(weights, rates.shape)
    return rates, comm_gradient(F, Z, T, I, wc)


def sensing_rates_and_gradient(
    Q_t: np.ndarray, Q_c: np.ndarray, W: np.ndarray, MR: int, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """log2(1 + SCNR_j) of the varpi-averaged eq 22 (B, NR) and 2 d/dW* of the weighted sum.

    Q_t, Q_c (B, NR, N, N), W (B, N, K+1) -> ((B, NR), (B, N, K+1)).
    """
    W = np.asarray(W)
    if W.ndim != 3:
        raise ValueError(f"W must be (B, N, K+1), got shape {W.shape}")
    B, N, _ = W.shape
    for name, Q in (("Q_t", Q_t), ("Q_c", Q_c)):
        if np.ndim(Q) != 4 or np.shape(Q)[0] != B or np.shape(Q)[2:] != (N, N):
            raise ValueError(f"{name} must be (B, NR, N, N) with B={B}, N={N}; got {np.shape(Q)}")
    L_t, L_c = gram_factor(np.asarray(Q_t)), gram_factor(np.asarray(Q_c))
    L = stack_factors(L_t, L_c)
    Y = herm(L) @ W
    NR, rt = L_t.shape[1], L_t.shape[-1]
    rates, a, c = sensing_terms(Y, NR, rt, MR)
    ws = np.ones_like(rates) if weights is None else np.broadcast_to(weights, rates.shape)
    return rates, sensing_gradient(L, Y, a, c, ws, rt, MR)
