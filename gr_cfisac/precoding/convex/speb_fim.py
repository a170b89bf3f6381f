"""The full Fisher information of paper 003's echo model as an affine map of the total
transmit covariance R = sum_k Q_k, for the SPEB constraint (eq 32c) of ``sca_speb``.

Every stream reaches the target through the same linear maps, so the full FIM of the echo
model (eq 52: position t and the N^2 complex alpha_{m,n} as deterministic nuisance, real and
imaginary parts) is affine in R: J(R)_pq = (2 tau / sigma^2) Re tr(L_p^H L_q R), with L_p the
derivative of the stacked echo (eq 7) of one stream w.r.t. parameter p (``fim_maps``; the
position columns are Q^T of eqs 29-31 applied to the angle columns). The exact EFIM of
``coisac.speb`` (``form="exact"``) is its Schur complement (``position_fim_of``, eq 28).
numpy only; complex128."""

from __future__ import annotations

import numpy as np

from ...coisac.speb import trace_inverse
from .speb_scene import Scene


def position_maps(scene: Scene) -> np.ndarray:
    """L_x, L_y, L_z (3, N L, N L): d(stacked echo of one stream w)/d position = L_p w (Q^T of
    eqs 29-31 on the angle derivatives of ``speb.angle_derivatives``)."""
    a, N, L = scene.a, scene.N, scene.L
    eye = np.eye(N)
    sel_a = (eye[:, :, None] * a.conj()[None]).reshape(N, N * L)
    rows_c = np.einsum("nm,mx->nx", scene.alpha, sel_a)  # c_n = rows_c[n] w
    ang = []
    for da in (scene.da_theta, scene.da_beta):
        sel_da = (eye[:, :, None] * da.conj()[None]).reshape(N, N * L)
        Li = np.zeros((N, N, L, N * L), complex)  # [i, n, l, x]
        Li[np.arange(N), np.arange(N)] = da[:, :, None] * rows_c[:, None, :]
        Li += np.einsum("ni,nl,ix->inlx", scene.alpha, a, sel_da)
        ang.append(Li)
    Lw = np.concatenate(ang).reshape(2 * N, N * L, N * L)
    return np.einsum("ic,ioj->coj", scene.Q, Lw)


def fim_maps(scene: Scene) -> np.ndarray:
    """L_p (m, N L, N L), m = 3 + 2 N^2: ``position_maps`` (x, y, z), then Re alpha_{m,n},
    then Im alpha_{m,n} ([n, m] order, receiver first)."""
    a, N, L = scene.a, scene.N, scene.L
    sel_a = (np.eye(N)[:, :, None] * a.conj()[None]).reshape(N, N * L)
    La = np.zeros((N, N, N, L, N * L), complex)  # [n, m, n', l, x]
    La[np.arange(N), :, np.arange(N)] = np.einsum("nl,mx->nmlx", a, sel_a)
    La = La.reshape(N * N, N * L, N * L)
    return np.concatenate([position_maps(scene), La, 1j * La])


def fim_blocks_affine(scene: Scene) -> np.ndarray:
    """C (m, m, N L, N L) with the full real FIM J(R)_pq = Re tr(C_pq R) (2 tau / sigma^2
    included), R = sum_k Q_k Hermitian: position block [:3, :3], nuisance [3:, 3:]."""
    Lm = fim_maps(scene)
    return (2.0 * scene.snapshots / scene.noise) * np.einsum("pxi,qxj->pqij", Lm.conj(), Lm)


def full_fim(C: np.ndarray, R: np.ndarray) -> np.ndarray:
    """J(R) (..., m, m) from ``fim_blocks_affine``'s C and covariances R (..., NL, NL)."""
    return np.einsum("pqij,...ji->...pq", C, R).real


def position_fim_of(C: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Eq 28 from R: the Schur complement of J(R)'s nuisance block (pseudo-inverse), (..., 3, 3)."""
    J = full_fim(C, R)
    Jaa = J[..., 3:, 3:]
    return (
        J[..., :3, :3]
        - J[..., :3, 3:] @ np.linalg.pinv(Jaa, rcond=1e-10, hermitian=True) @ J[..., 3:, :3]
    )


def speb_of_covariance(C: np.ndarray, R: np.ndarray) -> np.ndarray:
    """SPEB (m^2) tr(J_pos(R)^-1) of total covariances R (..., NL, NL)."""
    return trace_inverse(position_fim_of(C, R))
