"""Eq 42's denominator f(u, v) = a^H P a, P = E_n E_n^H, as a 2D trigonometric polynomial in
the direction cosines u, v of eqs 4a-4b, with its gradient and Hessian: what the peak search
evaluates on its grids and what the Newton refinement steps on.

The polynomial runs over the element-position differences ("lags") (dr, dc) =
(r_m - r_n, c_m - c_n): conj(a_m) a_n = exp(j pi (dr u - dc v)), so
f = p_0 + 2 Re sum_l p_l exp(j pi (dr_l u - dc_l v)) over half of the lags (dr > 0, or dr = 0
and dc > 0), p_l the sum of P over lag l's entries: (2 rows - 1)(2 cols - 1) / 2 coefficients
per block instead of an M x M projector.
"""

from __future__ import annotations

import functools

import numpy as np

from ..arrays import element_indices


@functools.lru_cache(maxsize=16)
def half_plane_lags(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half-plane lags dr, dc (L,) and the (M*M, L) 0/1 matrix summing P's entries per lag."""
    r, c = element_indices(rows, cols)
    dr = (r[:, None] - r[None, :]).ravel()
    dc = (c[:, None] - c[None, :]).ravel()
    lr, lc = np.meshgrid(np.arange(rows), np.arange(-(cols - 1), cols), indexing="ij")
    lr, lc = lr.ravel(), lc.ravel()
    keep = (lr > 0) | ((lr == 0) & (lc > 0))
    lr, lc = lr[keep], lc[keep]
    S = ((dr[:, None] == lr[None, :]) & (dc[:, None] == lc[None, :])).astype(float)
    return lr.astype(float), lc.astype(float), S


def lag_coefficients(P: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """p_0 (B,) = tr P and p (B, L) lag sums of projectors P (B, M, M)."""
    _, _, S = half_plane_lags(rows, cols)
    M = P.shape[-1]
    return np.trace(P, axis1=-2, axis2=-1).real, P.reshape(-1, M * M) @ S


def lag_basis(u: np.ndarray, v: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Real basis [cos, -sin](j pi (dr u - dc v)) (G, 2L) so that f = p_0 + 2 basis @ [Re p, Im p]."""
    lr, lc, _ = half_plane_lags(rows, cols)
    phase = np.pi * (np.outer(u, lr) - np.outer(v, lc))
    return np.concatenate([np.cos(phase), -np.sin(phase)], axis=-1)


def lag_polynomial(
    p0: np.ndarray, p: np.ndarray, u: np.ndarray, v: np.ndarray, lr: np.ndarray, lc: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """q_l = p_l exp(j pi (dr_l u - dc_l v)) (N, L) and f = p_0 + 2 Re sum q (N,). p (N, L).

    The exponential factors: exp(j pi dr u) exp(-j pi dc v), one small table per axis.
    """
    r = np.arange(lr.max() + 1)
    c = np.arange(lc.min(), lc.max() + 1)
    e_r = np.exp(1j * np.pi * u[:, None] * r)
    e_c = np.exp(-1j * np.pi * v[:, None] * c)
    q = p * e_r[:, lr.astype(int)] * e_c[:, (lc - lc.min()).astype(int)]
    return q, p0 + 2 * q.real.sum(-1)


def lag_derivatives(
    p0: np.ndarray, p: np.ndarray, u: np.ndarray, v: np.ndarray, lr: np.ndarray, lc: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f (N,), its (u, v) gradient (N, 2) and Hessian (N, 2, 2) for per-start coefficients."""
    q, f = lag_polynomial(p0, p, u, v, lr, lc)
    # d/du multiplies q_l by j pi dr_l, d/dv by -j pi dc_l
    weights = np.pi * np.stack([lr, -lc], axis=-1)  # (L, 2)
    grad = -2 * q.imag @ weights
    outer = (weights[:, :, None] * weights[:, None, :]).reshape(-1, 4)  # (L, 4): w_i w_j
    hess = (-2 * q.real @ outer).reshape(-1, 2, 2)
    return f, grad, hess
