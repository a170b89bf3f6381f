"""Cramer-Rao bounds for judging MUSIC: the stochastic CRB of the directions at a RAP and the
position-error bound (PEB) of the multistatic fusion.

Stochastic (unconditional) CRB (Stoica & Nehorai 1990; Stoica, Larsson & Gershman 2001) for
tau snapshots y(t) = A s(t) + n(t), s ~ CN(0, P), n ~ CN(0, sigma^2 I), with the source
covariance P and sigma^2 unknown nuisance parameters:

    FIM_ij = (2 tau / sigma^2) Re{ [D^H Pi_A^perp D]_ij  [P A^H R^{-1} A P]_{s(j), s(i)} },

R = A P A^H + sigma^2 I, D the derivatives of the steering vectors with respect to every
parameter, s(i) the source that parameter i belongs to. Each source has two parameters,
ordered per source: (psi_1, theta_1, psi_2, theta_2, ...) for :func:`stochastic_crb`, or
(u_1, v_1, ...) for :func:`stochastic_crb_uv`. Radians; noise is unit power in this package.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import direction_cosines, element_indices, steering_derivatives, steering_uv
from .channels import SensingGeometry


def _fim(A: np.ndarray, D: np.ndarray, P: np.ndarray, snapshots: int, noise: float) -> np.ndarray:
    """Stochastic FIM. A (..., M, n), D (..., M, 2n) ordered per source, P (..., n, n)."""
    M, n = A.shape[-2:]
    AH = np.swapaxes(A, -1, -2).conj()
    R = A @ P @ AH + noise * np.eye(M)
    gram = AH @ A
    # Pi^perp = I - A (A^H A)^+ A^H (pinv: coinciding sources leave A rank deficient)
    proj = np.eye(M) - A @ np.linalg.pinv(gram, hermitian=True) @ AH
    DH = np.swapaxes(D, -1, -2).conj()
    term = DH @ proj @ D  # (..., 2n, 2n)
    U = P @ AH @ np.linalg.solve(R, A) @ P  # (..., n, n)
    U2 = np.repeat(np.repeat(np.swapaxes(U, -1, -2), 2, axis=-2), 2, axis=-1)
    return (2.0 * snapshots / noise) * (term * U2).real


def _invert(fim: np.ndarray) -> np.ndarray:
    """Inverse of symmetric PSD information matrices (..., p, p), by eigendecomposition;
    inf on the diagonal (NaN elsewhere) where one is singular (eigenvalue ratio below 1e-12)."""
    fim = np.asarray(fim, dtype=float)
    eye = np.eye(fim.shape[-1])
    finite = np.all(np.isfinite(fim), axis=(-2, -1))
    lam, vec = np.linalg.eigh(
        np.where(finite[..., None, None], 0.5 * (fim + np.swapaxes(fim, -1, -2)), eye)
    )
    ok = finite & (lam[..., 0] > 1e-12 * np.abs(lam[..., -1]))
    inv = (vec / np.where(ok[..., None], lam, 1.0)[..., None, :]) @ np.swapaxes(vec, -1, -2)
    bad = np.where(eye.astype(bool), np.inf, np.nan)
    return np.where(ok[..., None, None], inv, bad)


def _check(psi: np.ndarray, P: np.ndarray, snapshots: int, noise: float) -> None:
    n = np.shape(psi)[-1]
    if np.shape(P)[-2:] != (n, n):
        raise ValueError(f"P must be (..., n, n) with n={n} sources, got shape {np.shape(P)}")
    if snapshots < 1:
        raise ValueError(f"snapshots must be >= 1, got {snapshots}")
    if noise <= 0:
        raise ValueError(f"noise must be > 0, got {noise}")


def fim_angles(
    psi: np.ndarray,
    theta: np.ndarray,
    P: np.ndarray,
    rows: int,
    cols: int,
    snapshots: int,
    noise: float = 1.0,
) -> np.ndarray:
    """Stochastic FIM of (psi_1, theta_1, ..., psi_n, theta_n). psi, theta (..., n) radians,
    P (..., n, n) source covariance -> (..., 2n, 2n)."""
    _check(psi, P, snapshots, noise)
    a, d_psi, d_theta = steering_derivatives(psi, theta, rows, cols)  # (..., n, M)
    A = np.swapaxes(a, -1, -2)
    D = np.stack([d_psi, d_theta], axis=-2).reshape(a.shape[:-2] + (-1, a.shape[-1]))
    return _fim(A, np.swapaxes(D, -1, -2), np.asarray(P), snapshots, noise)


def stochastic_crb(
    psi: np.ndarray,
    theta: np.ndarray,
    P: np.ndarray,
    rows: int,
    cols: int,
    snapshots: int,
    noise: float = 1.0,
) -> np.ndarray:
    """Stochastic CRB of (psi_1, theta_1, ..., psi_n, theta_n), radians^2 -> (..., 2n, 2n).

    psi, theta (..., n) the sources' directions at a rows x cols URPA, P (..., n, n) their
    covariance (linear, relative to unit noise), ``snapshots`` = tau. Infinite where the
    directions are not identifiable (e.g. three sources on a 2 x 2 array can be).
    """
    return _invert(fim_angles(psi, theta, P, rows, cols, snapshots, noise))


def fim_uv(
    u: np.ndarray,
    v: np.ndarray,
    P: np.ndarray,
    rows: int,
    cols: int,
    snapshots: int,
    noise: float = 1.0,
) -> np.ndarray:
    """Stochastic FIM of the direction cosines (u_1, v_1, ..., u_n, v_n) -> (..., 2n, 2n)."""
    _check(u, P, snapshots, noise)
    r, c = element_indices(rows, cols)
    a = steering_uv(u, v, rows, cols)  # (..., n, M)
    D = np.stack([-1j * np.pi * r * a, 1j * np.pi * c * a], axis=-2)
    D = D.reshape(a.shape[:-2] + (-1, a.shape[-1]))
    return _fim(np.swapaxes(a, -1, -2), np.swapaxes(D, -1, -2), np.asarray(P), snapshots, noise)


def stochastic_crb_uv(
    u: np.ndarray,
    v: np.ndarray,
    P: np.ndarray,
    rows: int,
    cols: int,
    snapshots: int,
    noise: float = 1.0,
) -> np.ndarray:
    """Stochastic CRB of the direction cosines (u_1, v_1, ..., u_n, v_n) -> (..., 2n, 2n)."""
    return _invert(fim_uv(u, v, P, rows, cols, snapshots, noise))


# ----------------------------------------------------------------------------- the CF-ISAC scene


@dataclass(frozen=True)
class TargetBounds:
    """Bounds on the target's direction at every RAP, clutter directions as nuisance.

    crb_angles (B, NR, 2, 2): CRB of (psi, theta) of the target, radians^2;
    info_uv (B, NR, 2, 2): the equivalent information on its (u, v) (the inverse of the
    target's 2 x 2 block of the CRB), what :func:`position_error_bound` and the fusion take.
    """

    crb_angles: np.ndarray
    info_uv: np.ndarray

    @property
    def angle_rmse_bound(self) -> np.ndarray:
        """sqrt(CRB_psi + CRB_theta) (B, NR): the bound matching eq 43's error, radians."""
        return np.sqrt(self.crb_angles[..., 0, 0] + self.crb_angles[..., 1, 1])


def target_bounds(
    sg: SensingGeometry,
    P: np.ndarray,
    rows: int,
    cols: int,
    snapshots: int,
    noise: float = 1.0,
) -> TargetBounds:
    """Per-RAP bounds for the target among NC clutter sources.

    sg: the sensing geometry (batch B or 1); P (B, NR, 1+NC, 1+NC): the scatterers' signal
    covariance at every RAP, target first (echo.source_covariance / EchoBlock.source_covariance).
    """
    psi = np.concatenate([sg.psi_t[..., None], sg.psi_c], axis=-1)  # (B, NR, 1+NC)
    theta = np.concatenate([sg.theta_t[..., None], sg.theta_c], axis=-1)
    B = max(psi.shape[0], P.shape[0])
    psi = np.broadcast_to(psi, (B,) + psi.shape[1:])
    theta = np.broadcast_to(theta, (B,) + theta.shape[1:])
    crb = stochastic_crb(psi, theta, P, rows, cols, snapshots, noise)
    u, v = direction_cosines(psi, theta)
    crb_uv = stochastic_crb_uv(u, v, P, rows, cols, snapshots, noise)
    return TargetBounds(crb_angles=crb[..., :2, :2], info_uv=_invert(crb_uv[..., :2, :2]))


def uv_jacobian(rap_pos: np.ndarray, rap_frame: np.ndarray, point: np.ndarray) -> np.ndarray:
    """d(u, v)/d(position) of a point seen from every RAP: rap_pos (NR, 3), rap_frame
    (NR, 3, 3), point (..., 3) -> (..., NR, 2, 3). du/dp = (e1 - u d) / r, dv/dp likewise."""
    delta = np.asarray(point, dtype=float)[..., None, :] - rap_pos
    r = np.linalg.norm(delta, axis=-1)[..., None]
    d = delta / r
    e12 = rap_frame[:, :2, :]  # (NR, 2, 3)
    uv = np.einsum("...jx,jkx->...jk", d, e12)  # (..., NR, 2)
    return (e12 - uv[..., None] * d[..., None, :]) / r[..., None]


def position_error_bound(
    rap_pos: np.ndarray,
    rap_frame: np.ndarray,
    target_pos: np.ndarray,
    info_uv: np.ndarray,
    known_height: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Position-error bound of the fused estimate from per-RAP (u, v) information.

    J_p = sum_j D_j^T I_j D_j with D_j = d(u_j, v_j)/dp (:func:`uv_jacobian`), I_j
    (B, NR, 2, 2) (TargetBounds.info_uv; RAPs with non-finite information are left out).
    -> (PEB (B,) metres = sqrt(tr J_p^{-1}), the bound J_p^{-1} (B, 3, 3) or (B, 2, 2) with
    known_height, where only x and y are estimated).
    """
    D = uv_jacobian(rap_pos, rap_frame, target_pos)  # (B, NR, 2, 3)
    info = np.asarray(info_uv, dtype=float)
    finite = np.all(np.isfinite(info), axis=(-2, -1))
    info = np.where(finite[..., None, None], info, 0.0)
    J = np.einsum("bjkx,bjkl,bjly->bxy", D, info, D)
    if known_height:
        J = J[..., :2, :2]
    bound = _invert(J)
    return np.sqrt(np.trace(bound, axis1=-2, axis2=-1)), bound
