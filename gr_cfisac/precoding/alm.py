"""Augmented Lagrangian outer loop for the rate constraints 23b (P2) and 23c (P1).

Constraints kappa log2(1 + SINR_k) >= vartheta_th (23c) and kappa log2(1 + SCNR_j) >= zeta_th
(23b) enter through an augmented Lagrangian: each outer round maximizes (``ascent.ascend``)
    obj(W) - sum_i [max(0, lambda_i - c g_i(W))^2 - lambda_i^2] / (2 c),   g_i = rate_i - th_i,
then updates lambda_i <- max(0, lambda_i - c g_i) and raises c where the violation did not
shrink. The targets are the thresholds tightened by a small margin (``ProblemSpec.comm_target``), so
the returned W meets the exact ones. Without constraints one round is plain ascent of (23a).
"""

from __future__ import annotations

import numpy as np

from .ascent import ascend
from .problem import ProblemSpec, ProblemWork, exact_objective

_PEN_GROWTH, _PEN_MAX = 5.0, 1e6  # ALM penalty: growth when stalled, cap


def _alm_update(spec: ProblemSpec, work: ProblemWork, active: np.ndarray, Rc, Rs, prev_viol):
    """Multiplier and penalty updates on the tightened targets; True where settled."""
    viol = np.zeros(len(active))
    change = np.zeros(len(active))
    for target, rates, lam in (
        (spec.comm_target, Rc, work.lam_c),
        (spec.sens_target, Rs, work.lam_s),
    ):
        if target is None:
            continue
        g = spec.kappa * rates - target
        new = np.maximum(0.0, lam[active] - work.pen[active, None] * g)
        change = np.maximum(change, np.abs(new - lam[active]).max(-1))
        lam[active] = new
        viol = np.maximum(viol, np.maximum(0.0, -g).max(-1))
    slow = (viol > 1e-6) & (viol > 0.25 * prev_viol[active])
    work.pen[active] = np.where(
        slow, np.minimum(work.pen[active] * _PEN_GROWTH, _PEN_MAX), work.pen[active]
    )
    prev_viol[active] = viol
    return (viol <= 1e-6) & (change <= 1e-4)


def solve_alm(
    spec: ProblemSpec,
    work: ProblemWork,
    V: np.ndarray,
    outer_iters: int,
    max_iters: int,
    tol: float,
):
    """Run every problem of ``work`` from V (M, N, K+1, within the power set; updated in place)
    through the ALM rounds (one round without constraints). Returns the best point seen per
    problem (a start, or the end of an ALM round: feasible with the highest objective, else the
    least violating), its objective (23a) and violation (M,), and the inner iterations (M,)."""
    M = len(V)
    best_V, iters = V.copy(), np.zeros(M, dtype=int)
    best_obj, best_viol = exact_objective(spec, work.F, work.L, V)[:2]
    prev_viol = np.full(M, np.inf)
    active = np.arange(M)
    for _ in range(outer_iters if spec.constrained else 1):
        w = work.take(active)
        V_new, n = ascend(spec, w, V[active], max_iters, tol)
        V[active] = V_new
        iters[active] += n
        obj, viol, Rc, Rs = exact_objective(spec, w.F, w.L, V_new)
        b_obj, b_viol = best_obj[active], best_viol[active]
        better = ((viol <= 0) & ((b_viol > 0) | (obj > b_obj))) | ((b_viol > 0) & (viol < b_viol))
        upd = active[better]
        best_V[upd], best_obj[upd], best_viol[upd] = V_new[better], obj[better], viol[better]
        if not spec.constrained:
            break
        settled = _alm_update(spec, work, active, Rc, Rs, prev_viol)
        active = active[~(settled & (n < max_iters))]
        if not len(active):
            break
    return best_V, best_obj, best_viol, iters
