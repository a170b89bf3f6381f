"""Uplink pilots and channel estimation at each TAP (eqs 6-11).

Pilots are orthogonal with unit norm, phi_k phi_k'^H = delta_kk' (Section II-B), so after
projection (eq 7) the pilot SNR is rho_p tau_p whatever K is: with orthogonal pilots the
estimation error does not depend on K (Fig. 6's K trend comes from sharing pilot energy,
which this model does not do).

Shapes: per-TAP vectors are (B, NT, K, MT); covariances (B, NT, K, MT, MT); complex128.
"""

from __future__ import annotations

import numpy as np

from .channels import CommChannels, crandn, split_tap_major, stack_tap_major


def orthogonal_pilots(K: int, tau_p: int) -> np.ndarray:
    """Orthonormal pilot rows phi_k (K, tau_p): scaled DFT rows, phi_k phi_k'^H = delta_kk'."""
    if tau_p < K:
        raise ValueError(f"orthogonal_pilots: tau_p={tau_p} < K={K}; need tau_p >= K")
    n = np.arange(tau_p)
    return np.exp(-2j * np.pi * np.outer(np.arange(K), n) / tau_p) / np.sqrt(tau_p)


def received_pilots(
    H: np.ndarray, pilots: np.ndarray, rho_p: float, rng: np.random.Generator | int | None
) -> np.ndarray:
    """Y_i of eq 6: sqrt(rho_p tau_p) sum_k h_ik phi_k + N_i.

    H (B, NT, K, MT), pilots (K, tau_p) -> Y (B, NT, MT, tau_p) with unit-power noise.
    """
    rng = np.random.default_rng(rng)
    tau_p = pilots.shape[1]
    Y = np.sqrt(rho_p * tau_p) * np.einsum("bikm,kt->bimt", H, pilots)
    return Y + crandn(rng, Y.shape)


def project_pilots(Y: np.ndarray, pilots: np.ndarray) -> np.ndarray:
    """y~_ik = Y_i phi_k^H of eq 7: (B, NT, MT, tau_p) -> (B, NT, K, MT)."""
    return np.einsum("bimt,kt->bikm", Y, pilots.conj())


def mmse_estimate(
    y_tilde: np.ndarray, mean: np.ndarray, cov: np.ndarray, rho_p: float, tau_p: int
) -> np.ndarray:
    """MMSE estimate of eq 8 with the covariances of eq 9.

    h_hat = c + sqrt(rho_p tau_p) C_h (rho_p tau_p C_h + I)^{-1} (y~ - sqrt(rho_p tau_p) c).
    y_tilde, mean: (..., MT); cov: (..., MT, MT) -> (..., MT).
    """
    g = rho_p * tau_p
    eye = np.eye(cov.shape[-1])
    innov = y_tilde - np.sqrt(g) * mean
    # C (gC + I)^{-1} x = solve((gC + I)^H, C^H)^H x; C is Hermitian and commutes with gC + I
    z = np.linalg.solve(g * cov + eye, innov[..., None])[..., 0]
    return mean + np.sqrt(g) * np.einsum("...mn,...n->...m", cov, z)


def mmse_error_covariance(cov: np.ndarray, rho_p: float, tau_p: int) -> np.ndarray:
    """C_eps = C_h - C_hhat of eqs 10-11, with C_hhat = rho_p tau_p C_h (rho_p tau_p C_h + I)^-1 C_h."""
    g = rho_p * tau_p
    eye = np.eye(cov.shape[-1])
    c_hat = g * cov @ np.linalg.solve(g * cov + eye, cov)
    return cov - c_hat


def ls_estimate(y_tilde: np.ndarray, rho_p: float, tau_p: int) -> np.ndarray:
    """Least-squares estimate y~ / sqrt(rho_p tau_p) (no statistics needed), for comparison."""
    return y_tilde / np.sqrt(rho_p * tau_p)


def estimate_channels(
    ch: CommChannels,
    rho_p: float,
    tau_p: int,
    rng: np.random.Generator | int | None,
    method: str = "mmse",
) -> np.ndarray:
    """Pilot transmission and estimation at every TAP; returns F_hat (B, N, K) TAP-major."""
    if not (np.isfinite(rho_p) and rho_p > 0):
        raise ValueError(f"estimate_channels: rho_p must be a positive pilot SNR, got {rho_p}")
    rng = np.random.default_rng(rng)
    NT = ch.cov.shape[1]
    K = ch.F.shape[-1]
    pilots = orthogonal_pilots(K, tau_p)
    H = split_tap_major(ch.F, NT)
    y_tilde = project_pilots(received_pilots(H, pilots, rho_p, rng), pilots)
    if method == "mmse":
        h_hat = mmse_estimate(y_tilde, split_tap_major(ch.mean, NT), ch.cov, rho_p, tau_p)
    elif method == "ls":
        h_hat = ls_estimate(y_tilde, rho_p, tau_p)
    else:
        raise ValueError(f"estimate_channels: method must be 'mmse' or 'ls', got {method!r}")
    return stack_tap_major(h_hat)
