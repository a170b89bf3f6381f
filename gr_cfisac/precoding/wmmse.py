"""WMMSE precoder for the weighted sum rate of MU-MISO (Shi, Razaviyayn, Luo, He, IEEE TSP 2011).

Block-coordinate descent on the weighted MSE problem, equivalent to maximizing
sum_k alpha_k log2(1 + SINR_k). With y_k = f_k^H sum_j w_j s_j + n_k and noise power sigma^2:

    u_k  = f_k^H w_k / (sum_j |f_k^H w_j|^2 + sigma^2)          (MMSE receiver)
    e_k  = 1 / (1 + SINR_k),  omega_k = 1 / e_k                  (MSE weight)
    W    = (A + mu I)^{-1} F diag(alpha omega u),  A = F diag(alpha omega |u|^2) F^H

with mu >= 0 the Lagrange multiplier of ||W||_F^2 <= P found by bisection. W always lies in
span(F), so the multiplier is solved in the K-dimensional form: with G = F^H F,
M = D^1/2 G D^1/2 = U Lambda U^H (D = diag(alpha omega |u|^2)) and E = U^H diag(c / sqrt(d)),
||W(mu)||_F^2 = sum_n lambda_n ||E_n||^2 / (lambda_n + mu)^2, decreasing in mu. Every iteration
does not decrease the weighted sum rate (the WMMSE objective decreases in each block, and the
final scaling to full power only raises every SINR), so the method converges to a stationary
point of the weighted sum rate (a local optimum, not necessarily global).

With ``per_tap=NT`` each TAP's block must meet ||W_i||_F^2 <= P / NT; the W-step is then the
convex QCQP min tr(W^H A W) - 2 Re tr(C^H W) over the product of balls, solved by projected
gradient with step 1 / lambda_max(A) warm-started at the previous W (each step decreases it, so
the sum rate stays non-decreasing). TAPs may end below their share where the rate gains nothing.
"""

from __future__ import annotations

import numpy as np

from .linear import check_channels, rzf
from .power import scale_power

_TINY = 1e-300


def _herm(X: np.ndarray) -> np.ndarray:
    return X.conj().swapaxes(-1, -2)


def _sum_rate(F: np.ndarray, W: np.ndarray, noise: float, weights: np.ndarray) -> np.ndarray:
    """Weighted sum rate sum_k alpha_k log2(1 + SINR_k): F, W (B, N, K) -> (B,)."""
    gains = np.abs(_herm(F) @ W) ** 2
    signal = np.einsum("bkk->bk", gains)
    sinr = signal / (gains.sum(-1) - signal + noise)
    return (weights * np.log2(1.0 + sinr)).sum(-1)


def _receivers(F: np.ndarray, W: np.ndarray, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """MMSE receivers u (B, K) and MSE weights omega = 1 / e (B, K)."""
    Z = _herm(F) @ W  # Z[k, j] = f_k^H w_j
    total = (np.abs(Z) ** 2).sum(-1) + noise
    direct = np.einsum("bkk->bk", Z)
    u = direct / total
    mse = 1.0 - (np.abs(direct) ** 2) / total  # = 1 / (1 + SINR) at the MMSE receiver
    return u, 1.0 / np.maximum(mse, 1e-15)


def _power_of_mu(lam: np.ndarray, e2: np.ndarray, mu: np.ndarray) -> np.ndarray:
    """||W(mu)||_F^2 = sum_n lambda_n e2_n / (lambda_n + mu)^2: (B, K), (B, K), (B,) -> (B,)."""
    return (lam * e2 / (lam + mu[:, None]) ** 2).sum(-1)


def _multiplier(lam: np.ndarray, e2: np.ndarray, power: float, steps: int = 100) -> np.ndarray:
    """Smallest mu >= 0 with ||W(mu)||^2 <= power, by bisection (vectorized over B).

    mu = 0 where the unconstrained minimizer already meets the budget; otherwise the root of
    p(mu) = power in [0, sqrt(sum lambda e2 / power)] (p(mu) <= sum lambda e2 / mu^2 there).
    """
    zero = np.zeros(lam.shape[0])
    needs = _power_of_mu(lam, e2, zero) > power
    lo = zero.copy()
    hi = np.sqrt((lam * e2).sum(-1) / power) + 1e-300
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        over = _power_of_mu(lam, e2, mid) > power
        lo = np.where(over, mid, lo)
        hi = np.where(over, hi, mid)
        if np.all((hi - lo) <= 1e-13 * hi):
            break
    return np.where(needs, hi, 0.0)


def _step_total(F, G, u, omega, weights, power):
    """W-step under ||W||_F^2 <= power: closed form with the bisected multiplier."""
    d = np.maximum(weights * omega * np.abs(u) ** 2, _TINY)
    s = np.sqrt(d)
    c_over_s = np.sqrt(weights * omega) * np.exp(1j * np.angle(u))
    M = s[:, :, None] * G * s[:, None, :]
    lam, U = np.linalg.eigh(M)
    lam = np.maximum(lam, 1e-14 * lam[:, -1:] + _TINY)  # near-collinear users: mu > 0 follows
    E = _herm(U) * c_over_s[:, None, :]  # U^H diag(c / s)
    mu = _multiplier(lam, (np.abs(E) ** 2).sum(-1), power)
    X = s[:, :, None] * (U @ (E / (lam + mu[:, None])[:, :, None]))
    return F @ X


def _step_per_tap(F, W, u, omega, weights, power, n_taps, inner):
    """W-step under ||W_i||_F^2 <= power / n_taps: projected gradient warm-started at W."""
    d = weights * omega * np.abs(u) ** 2
    C = F * (weights * omega * u)[:, None, :]
    G = _herm(F) @ F
    s = np.sqrt(d)
    L = np.linalg.eigvalsh(s[:, :, None] * G * s[:, None, :])[:, -1]
    step = 1.0 / np.maximum(L, _TINY)
    for _ in range(inner):
        grad = F @ (d[:, :, None] * (_herm(F) @ W)) - C
        W = _project_taps(W - step[:, None, None] * grad, power, n_taps)
    return W


def _project_taps(W: np.ndarray, power: float, n_taps: int) -> np.ndarray:
    """Projection onto every ||W_i||_F^2 <= power / n_taps."""
    B, N, K = W.shape
    blocks = W.reshape(B, n_taps, N // n_taps, K)
    norm2 = (np.abs(blocks) ** 2).sum(axis=(2, 3), keepdims=True)
    scale = np.minimum(1.0, np.sqrt(power / n_taps / np.maximum(norm2, _TINY)))
    return (blocks * scale).reshape(B, N, K)


def wmmse(
    F: np.ndarray,
    power: float,
    noise: float = 1.0,
    per_tap: int | None = None,
    iterations: int = 500,
    tol: float = 1e-6,
    weights: np.ndarray | None = None,
    init: np.ndarray | None = None,
    return_history: bool = False,
    inner_iterations: int = 30,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """WMMSE weighted-sum-rate precoder. F (B, N, K) channel estimates -> W (B, N, K).

    ||W||_F^2 = power (or, with ``per_tap=NT``, every TAP at most power / NT). ``weights``
    alpha (K,) or (B, K) (default 1); ``init`` (B, N, K) starting beams (default RZF, so the
    result is never worse than RZF). Stops when every realization's relative sum-rate gain in
    an iteration is below ``tol``. ``return_history`` also returns the weighted sum rate in
    bps/Hz before the first and after every iteration, (B, iterations_run + 1).
    """
    F = check_channels(F)
    B, N, K = F.shape
    if power <= 0:
        raise ValueError(f"power must be positive, got {power}")
    if noise <= 0:
        raise ValueError(f"noise must be positive, got {noise}")
    if per_tap is not None and (per_tap < 1 or N % per_tap):
        raise ValueError(f"per_tap={per_tap} must be a positive divisor of N={N} (the TAP count)")
    alpha = (
        np.ones((B, K)) if weights is None else np.broadcast_to(np.asarray(weights, float), (B, K))
    )
    if np.any(alpha < 0):
        raise ValueError("weights must be non-negative")
    if init is None:
        W = rzf(F, power, noise, per_tap)
    else:
        W = np.asarray(init)
        if W.shape != F.shape:
            raise ValueError(f"init must have the shape of F {F.shape}, got {W.shape}")
        W = scale_power(W.astype(complex), power, per_tap)
    G = _herm(F) @ F
    history = [_sum_rate(F, W, noise, alpha)]
    for _ in range(iterations):
        u, omega = _receivers(F, W, noise)
        if per_tap is None:
            W = scale_power(_step_total(F, G, u, omega, alpha, power), power)
        else:
            W = _step_per_tap(F, W, u, omega, alpha, power, per_tap, inner_iterations)
        history.append(_sum_rate(F, W, noise, alpha))
        gain = history[-1] - history[-2]
        if np.all(gain <= tol * np.maximum(np.abs(history[-2]), 1e-12)):
            break
    if return_history:
        return W, np.stack(history, axis=1)
    return W
