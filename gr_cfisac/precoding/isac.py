"""ISAC beamformers from user beams plus a sensing beam with a power split.

W = [w_0, w_1 ... w_K] (B, N, K+1), sensing beam first (DESIGN.md). The sensing beam either
points at the target (per-TAP steering a_T,i, matched to the a_T,i^H of eq 16, weighted by each TAP's large-scale reflection
amplitude toward the target) or is that beam projected onto the null space of the users'
channel estimates, so that it adds no interference at the users (f_k^H w_0 = 0).
"""

from __future__ import annotations

import numpy as np


def target_beam(aT_t: np.ndarray, amp_t: np.ndarray | None = None) -> np.ndarray:
    """Sensing beam toward the target: block i is w_i a_T,i with w_i = sqrt(sum_j |alpha_bar_ij|^2).

    aT_t (B, NT, MT) TAP steering toward the target; amp_t (B, NR, NT) large-scale reflection
    amplitudes (None: equal weights). -> (B, N) unit-norm.
    """
    aT_t = np.asarray(aT_t)
    if aT_t.ndim != 3:
        raise ValueError(f"aT_t must be (B, NT, MT) TAP steering vectors, got shape {aT_t.shape}")
    B, NT, MT = aT_t.shape
    amp_shape = np.shape(amp_t)
    if amp_t is not None and (
        len(amp_shape) != 3 or amp_shape[0] not in (1, B) or amp_shape[2] != NT
    ):
        raise ValueError(f"amp_t must be (B={B}, NR, NT={NT}), got shape {amp_shape}")
    weight = np.ones((B, NT)) if amp_t is None else np.sqrt((np.asarray(amp_t) ** 2).sum(axis=1))
    beam = (weight[..., None] * aT_t).reshape(B, NT * MT)
    return beam / np.linalg.norm(beam, axis=-1, keepdims=True)


def nullspace_beam(beam: np.ndarray, F_hat: np.ndarray) -> np.ndarray:
    """Project a beam (B, N) onto the null space of F_hat^H (B, N, K); unit-norm result.

    Falls back to the unprojected beam where the projection vanishes (beam within span(F)).
    """
    beam, F_hat = np.asarray(beam), np.asarray(F_hat)
    if F_hat.ndim != 3 or beam.shape != F_hat.shape[:2]:
        raise ValueError(
            f"beam must be (B, N) and F_hat (B, N, K) with the same B and N; got {beam.shape} "
            f"and {F_hat.shape}"
        )
    gram = np.einsum("bnk,bnj->bkj", F_hat.conj(), F_hat)
    coeff = np.linalg.solve(gram, np.einsum("bnk,bn->bk", F_hat.conj(), beam)[..., None])
    proj = beam - (F_hat @ coeff)[..., 0]
    norm = np.linalg.norm(proj, axis=-1, keepdims=True)
    ok = norm > 1e-9 * np.linalg.norm(beam, axis=-1, keepdims=True)
    safe = np.where(ok, proj / np.maximum(norm, 1e-300), beam)
    return safe / np.linalg.norm(safe, axis=-1, keepdims=True)


def isac_beamformer(
    user_beams: np.ndarray, sensing_beam: np.ndarray, power: float, sensing_fraction: float
) -> np.ndarray:
    """W (B, N, K+1) = [sqrt(eps P) s/||s||, sqrt((1 - eps) P) U/||U||_F], eps = sensing_fraction.

    ||W||_F^2 = power exactly; eps = 0 gives the communication-only precoder with a zero w_0.
    """
    if not 0.0 <= sensing_fraction <= 1.0:
        raise ValueError(f"sensing_fraction must be in [0, 1], got {sensing_fraction}")
    if user_beams.ndim != 3 or sensing_beam.shape != user_beams.shape[:2]:
        raise ValueError(
            f"user_beams must be (B, N, K) and sensing_beam (B, N); got {user_beams.shape} "
            f"and {sensing_beam.shape}"
        )
    s = sensing_beam / np.linalg.norm(sensing_beam, axis=-1, keepdims=True)
    u_norm = np.sqrt((np.abs(user_beams) ** 2).sum(axis=(1, 2), keepdims=True))
    U = user_beams / np.maximum(u_norm, 1e-300)
    w0 = np.sqrt(sensing_fraction * power) * s
    return np.concatenate([w0[..., None], np.sqrt((1 - sensing_fraction) * power) * U], axis=-1)
