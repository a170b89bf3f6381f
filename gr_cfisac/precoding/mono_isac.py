"""Baselines of paper 002's monostatic ISAC problem (29) (scenario :mod:`gr_cfisac.mono_isac`).

- :func:`lmmse_nullspace`: LMMSE user beams (eq 5) and a sensing beamformer toward the targets
  projected onto the users' null space (section IV-B's initialization), with the smallest
  sensing power that meets every target's SNR floor (29b) (the SNRs are affine in the split:
  closed form), the rest to the users.
- :func:`ccp_sdr`: the semidefinite relaxation of (29) (Q_k = w_k w_k^H, R = F F^H, rank
  dropped; power and sensing constraints are linear in them) solved for the sum rate by the
  convex-concave procedure: log2(T_k) - log2(I_k) with T_k, I_k affine in (Q, R); each
  iteration linearizes the concave -(- log I_k) term at the previous point, so the surrogate is
  concave, a lower bound of the relaxed sum rate, and the iterates improve it monotonically.
  Stops at a relative gain below ``tol`` (1e-4) or ``iterations``. Each step is one conic
  problem (PSD + exponential cones) for Clarabel at its default tolerances (1e-8), SCS
  (``convex.solvers``: eps 1e-6) where Clarabel does not answer. Recovery:
  w_k the principal eigenvector of Q_k, everything else of Q_k moves into the sensing
  covariance (the total covariance, so power and sensing SNRs, stay exactly as solved), F its
  Hermitian square root; the reported rates are those of the recovered (W, F).
cvxpy is imported when :func:`ccp_sdr` runs (extra ``[convex]``).
"""

from __future__ import annotations

import numpy as np

from .. import mono_isac, mumiso
from ..mono_isac import MonoIsacBatch, MonoIsacConfig
from .convex.solvers import INFEASIBLE, SOLVED, fallback, solve_first


def _sensing_directions(batch: MonoIsacBatch) -> np.ndarray:
    """P_perp A A^H P_perp^H with A the targets' steering vectors, unit Frobenius norm."""
    N = batch.F_c.shape[1]
    A = mono_isac.steering(batch.theta, N).swapaxes(-1, -2)  # (B, N, M)
    P = mono_isac.nullspace_projector(batch.F_c)
    D = P @ A
    F = D @ D.conj().swapaxes(-1, -2)
    return F / np.maximum(np.linalg.norm(F, axis=(1, 2), keepdims=True), mumiso.ZERO)


def lmmse_nullspace(
    batch: MonoIsacBatch, cfg: MonoIsacConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(W (B, N, K), F (B, N, N), P_s (B,)): the baseline of the module docstring."""
    Wd = mumiso.lmmse(batch.F_c, cfg.noise, 1.0)
    Fd = _sensing_directions(batch)
    u = (np.abs(np.einsum("bmij,bjk->bmik", batch.G, Wd)) ** 2).sum((-2, -1))  # (B, M)
    v = (np.abs(np.einsum("bmij,bjk->bmik", batch.G, Fd)) ** 2).sum((-2, -1))
    need = cfg.gamma_s * cfg.radar_noise  # SNR_m = ((P0 - Ps) u + Ps v) / sigma_z^2 >= gamma
    P0 = cfg.power
    with np.errstate(divide="ignore", invalid="ignore"):
        per_target = np.where(P0 * u >= need, 0.0, np.where(v > u, (need - P0 * u) / (v - u), P0))
    Ps = np.clip(per_target.max(-1), 0.0, P0)
    W = Wd * np.sqrt(P0 - Ps)[:, None, None]
    F = Fd * np.sqrt(Ps)[:, None, None]
    return W, F, Ps


def _hermitian_sqrt(R: np.ndarray) -> np.ndarray:
    lam, U = np.linalg.eigh(R)
    return (U * np.sqrt(np.clip(lam, 0.0, None))) @ U.conj().T


def ccp_sdr(
    batch: MonoIsacBatch, cfg: MonoIsacConfig, iterations: int = 15, tol: float = 1e-4
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(W (B, N, K), F (B, N, N), info): the relaxation of the module docstring, per block.
    info: ``relaxed_sum_rate`` (the SDR's surrogate at the end, an upper bound on the
    recovered rate when the relaxation is tight), ``iterations`` and solver ``status``."""
    import cvxpy as cp

    W0, F0, _ = lmmse_nullspace(batch, cfg)
    B, N, K = batch.F_c.shape
    W_out = np.zeros((B, N, K), complex)
    F_out = np.zeros((B, N, N), complex)
    info = {"relaxed_sum_rate": np.full(B, np.nan), "iterations": np.zeros(B, int),
            "status": np.empty(B, object)}  # fmt: skip
    ln2 = np.log(2.0)
    for b in range(B):
        h = batch.F_c[b]  # (N, K)
        Hk = [np.outer(h[:, k], h[:, k].conj()) for k in range(K)]
        GG = [g.conj().T @ g for g in batch.G[b]]
        # variables in units of the user noise (covariances / sigma^2): well scaled cones
        Q = [cp.Variable((N, N), hermitian=True) for _ in range(K)]
        R = cp.Variable((N, N), hermitian=True)
        S = sum(Q) + R
        cons = [q >> 0 for q in Q] + [R >> 0, cp.real(cp.trace(S)) <= cfg.power / cfg.noise]
        floor = cfg.gamma_s * cfg.radar_noise / cfg.noise
        scale = [max(np.abs(M).max(), mumiso.ZERO) for M in GG]
        cons += [cp.real(cp.trace((M / c) @ S)) >= floor / c for M, c in zip(GG, scale)]
        T = [cp.real(cp.trace(Hk[k] @ S)) + 1.0 for k in range(K)]
        I = [T[k] - cp.real(cp.trace(Hk[k] @ Q[k])) for k in range(K)]
        # start: the baseline's covariances
        Qv = [np.outer(W0[b][:, k], W0[b][:, k].conj()) / cfg.noise for k in range(K)]
        Rv = F0[b] @ F0[b].conj().T / cfg.noise
        prev = -np.inf
        for it in range(iterations):
            Sv = sum(Qv) + Rv
            I0 = [np.real(np.trace(Hk[k] @ (Sv - Qv[k]))) + 1.0 for k in range(K)]
            surrogate = sum(cp.log(T[k]) - I[k] / I0[k] for k in range(K))
            problem = cp.Problem(cp.Maximize(surrogate), cons)
            # Clarabel gives up on a few ill-scaled blocks: SCS to 1e-6 then
            status = solve_first(problem, fallback("CLARABEL"), SOLVED + INFEASIBLE,
                                 warm_start=True).status  # fmt: skip
            info["status"][b] = status
            if Q[0].value is None or status not in SOLVED:
                break
            Qv = [q.value for q in Q]
            Rv = R.value
            Sv = sum(Qv) + Rv
            value = (
                sum(
                    np.log(np.real(np.trace(Hk[k] @ Sv)) + 1.0)
                    - np.log(np.real(np.trace(Hk[k] @ (Sv - Qv[k]))) + 1.0)
                    for k in range(K)
                )
                / ln2
            )
            info["iterations"][b] = it + 1
            info["relaxed_sum_rate"][b] = value
            if value - prev <= tol * abs(value):
                break
            prev = value
        Qv = [q * cfg.noise for q in Qv]
        Sv = sum(Qv) + Rv * cfg.noise
        for k in range(K):
            lam, U = np.linalg.eigh(Qv[k])
            W_out[b][:, k] = U[:, -1] * np.sqrt(max(lam[-1], 0.0))
        rest = Sv - W_out[b] @ W_out[b].conj().T
        F_out[b] = _hermitian_sqrt((rest + rest.conj().T) / 2)
    return W_out, F_out, info
