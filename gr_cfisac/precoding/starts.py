"""Initial points of the ISAC optimizer: several starts per realization (B, S, N, K+1).

ZF plus the null-space target beam at the best sensing power split of a grid (feasible wherever
such a split is), ZF / RZF / WMMSE / MRT user beams with target or generalized-eigen sensing
beams at a few splits per regime, then random ones. Built from what the network knows: the
estimates F_hat and the varpi-averaged sensing grams (eq 16 with E|varpi|^2 = 1).
"""

from __future__ import annotations

import numpy as np

from .isac import isac_beamformer, nullspace_beam
from .linear import mrt, rzf, zf
from .problem import exact_objective, pick_best, project_power
from .rates import TINY, herm
from .wmmse import wmmse

#: sensing power splits of the structured starts, per regime (P1 wants more sensing power)
START_SPLITS = {"joint": (0.1, 0.3, 0.6), "sc": (0.4, 0.7, 0.9), "cc": (0.2, 0.5, 0.8)}
_GRID = np.linspace(0.0, 0.96, 25)  # sensing power splits tried for the ZF + null-space start


def _sensing_beams(Qs_t: np.ndarray, Qs_c: np.ndarray, NT: int, MR: int):
    """Two unit sensing directions (B, N) from the grams alone: per-TAP principal eigenvectors
    of sum_j Q_t,j weighted by the square root of their eigenvalue (the target beam), and the
    generalized eigenvector of (sum_j Q_t,j, sum_j Q_c,j + NR MR I) (target over clutter)."""
    A, C = Qs_t.sum(1), Qs_c.sum(1)
    B, N, _ = A.shape
    MT = N // NT
    diag = np.arange(NT)
    blocks = A.reshape(B, NT, MT, NT, MT)[:, diag, :, diag, :]  # (NT, B, MT, MT)
    lam, U = np.linalg.eigh(blocks)
    tgt = np.sqrt(np.maximum(lam[..., -1:], 0.0)) * U[..., -1]
    tgt = tgt.transpose(1, 0, 2).reshape(B, N)
    NR = Qs_t.shape[1]
    Li = np.linalg.inv(np.linalg.cholesky(C + NR * MR * np.eye(N)))
    _, Y = np.linalg.eigh(Li @ A @ herm(Li))
    gev = (herm(Li) @ Y[..., -1:])[..., 0]
    return _unit(tgt), _unit(gev)


def _unit(x: np.ndarray) -> np.ndarray:
    """Unit-norm rows (B, N); an all-zero row (no target echo at all) becomes uniform."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    flat = np.full_like(x, 1.0 / np.sqrt(x.shape[-1]))
    return np.where(norm > 0, x / np.maximum(norm, TINY), flat)


def initial_points(spec, F_hat, Fs, L, Qs_t, Qs_c, cfg, regime, n_starts, rng):
    """Initial V (B, S, N, K+1), unit total power. Start 0 is ZF plus the null-space target
    beam at the best split of a grid (feasible whenever any grid split is), then other
    user/sensing beam pairs at the regime's splits, then random ones."""
    B, N, K = F_hat.shape
    P = cfg.power_budget
    tgt, gev = _sensing_beams(Qs_t, Qs_c, cfg.NT, cfg.MR)
    tgt_null, gev_null = nullspace_beam(tgt, F_hat), nullspace_beam(gev, F_hat)
    e1, e2, e3 = START_SPLITS[regime]
    Uz = zf(F_hat, P)
    grid = [isac_beamformer(Uz, tgt_null, 1.0, e) for e in _GRID]
    scores = [exact_objective(spec, Fs, L, project_power(V, spec.blocks))[:2] for V in grid]
    pick = pick_best(*(np.stack(x, axis=1) for x in zip(*scores)))
    recipes = [
        lambda: np.stack(grid, axis=1)[np.arange(B), pick],
        lambda: isac_beamformer(wmmse(F_hat, P, iterations=40), gev_null, 1.0, e1),
        lambda: isac_beamformer(mrt(F_hat, P), tgt, 1.0, e2),
        lambda: isac_beamformer(Uz, tgt_null, 1.0, e1),
        lambda: isac_beamformer(Uz, tgt_null, 1.0, e3),
        lambda: isac_beamformer(rzf(F_hat, P), gev_null, 1.0, e2),
    ]
    out = []
    for i in range(n_starts):
        if i < len(recipes):
            out.append(recipes[i]())
        else:
            X = rng.standard_normal((B, N, K + 1)) + 1j * rng.standard_normal((B, N, K + 1))
            out.append(X / np.linalg.norm(X, axis=(1, 2), keepdims=True))
    return np.stack(out, axis=1)
