"""The conic programs of paper 000's ``ccpa`` baseline, in cvxpy. Dropping rank(Q_k) = 1 (SDR)
leaves the rates of ``ccpa_scene`` a difference of concave functions on
{Q_k >= 0, sum_k tr Q_k <= rho NT} (23d). A rate floor R >= th is linear in the Q_k with
g = 2^(th / kappa) - 1, so it needs no SCA:

    23c: f_k^H Q_k f_k / g >= sum_{j != k} f_k^H Q_j f_k + 1,
    23b: tr(Q_t,j S) / g >= tr(Q_c,j S) + MR   (written over g: no huge coefficients).

The programs aim at th + FLOOR_MARGIN (1e-4 bps/Hz) so that the solver's slack still meets th
(at th itself where only the margin is out of reach), like the optimizer's tightened targets.
The SCA surrogate (``SurrogateProgram``) replaces every subtracted log by its tangent at the
current iterate (a first-order upper bound, so the surrogate is a concave lower bound that is
tight there; log terms: exponential cones); ``least_violation`` is the phase-0 program for
infeasible floors (maximize the worst floor margin).

Scaling and solvers: the programs are solved in V = W / sqrt(rho NT), i.e. sum_k tr Q_k <= 1
with channels and grams scaled by rho NT, in SCS (the default: eps_abs = eps_rel = 1e-6,
``solvers.SCS_EPS``) or Clarabel (its defaults: gap and feasibility tolerances 1e-8), each
retried in the other when it does not solve the program (``solvers``). Measured here: N = 8,
K = 2 takes 0.05 s per SCA step in SCS and ~0.3 s in Clarabel; Table I's N = 32, K = 4 (five
64 x 64 real PSD cones) ~10 s in SCS and ~70 s, "inaccurate", in Clarabel. cvxpy is imported
when a solver runs; the SCA coefficients are cvxpy parameters, so a realization's program is
compiled once and re-solved each iteration."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import problems
from .ccpa_scene import Scene, rate_terms
from .solvers import SOLVED, fallback, solve_first

#: bps/Hz by which the SDPs tighten the floors, so that SCS's ~1e-5 slack still meets the exact
#: ones (the exact floors are used when the tightened ones are infeasible)
FLOOR_MARGIN = 1e-4


class RelaxedTerms:
    """The cvxpy covariances X_0..X_K (Hermitian PSD, sum of traces <= 1: 23d scaled) of one
    realization and the affine pieces of eqs 20 / 22 in them: per user k the signal
    f_k^H X_k f_k and interference sum_{j != k} f_k^H X_j f_k + 1, per RAP j the target and
    clutter terms tr(Q_t,j S), tr(Q_c,j S) with S = sum_k X_k."""

    def __init__(self, scene: Scene) -> None:
        import cvxpy as cp

        H, K = scene.H, scene.H.shape[1]
        N = H.shape[0]
        self.X = [cp.Variable((N, N), hermitian=True) for _ in range(K + 1)]
        self.constraints = [x >> 0 for x in self.X]
        self.constraints.append(sum(cp.real(cp.trace(x)) for x in self.X) <= 1)
        g = [[cp.real(H[:, k].conj() @ x @ H[:, k]) for x in self.X] for k in range(K)]
        self.signal = [g[k][k + 1] for k in range(K)]
        self.interference = [sum(g[k][j] for j in range(K + 1) if j != k + 1) + 1.0
                             for k in range(K)]  # fmt: skip
        S = sum(self.X)
        self.target = [cp.real(cp.sum(cp.multiply(q.conj(), S))) for q in scene.Qt]
        self.clutter = [cp.real(cp.sum(cp.multiply(q.conj(), S))) for q in scene.Qc]

    def floor_margins(self, scene: Scene, inv_g: Any) -> list[Any]:
        """The regime's floors as margins m >= 0 (23c: signal / g - interference, 23b:
        target / g - clutter - MR), affine in X for a number or parameter ``inv_g`` = 1 / g;
        none for joint."""
        if scene.regime == "sc":
            return [s * inv_g - i for s, i in zip(self.signal, self.interference)]
        if scene.regime == "cc":
            return [a * inv_g - c - scene.MR for a, c in zip(self.target, self.clutter)]
        return []

    def values(self) -> np.ndarray:
        """The solved covariances (K+1, N, N), Hermitian-symmetrized."""
        Xn = np.stack([np.asarray(x.value) for x in self.X])
        return 0.5 * (Xn + Xn.conj().swapaxes(-1, -2))


class SurrogateProgram:
    """The SCA surrogate of one realization on the floors' set, as a cvxpy problem compiled
    once: the tangent coefficients 1 / I_k and 1 / (c_j + MR) are parameters set by
    ``solve(X)``, the floors' 1 / g one set by ``floor(margin)`` (tightened by FLOOR_MARGIN
    to begin with)."""

    def __init__(self, scene: Scene, eta: float, solver: str) -> None:
        import cvxpy as cp

        K, NR = scene.H.shape[1], scene.Qt.shape[0]
        self.scene, self.eta, self.solver = scene, eta, solver
        self.terms = t = RelaxedTerms(scene)
        self.X = t.X
        self.inv_g = cp.Parameter(nonneg=True, value=0.0)
        if scene.regime != "joint":
            self.floor(FLOOR_MARGIN)
        cons = t.constraints + [m >= 0 for m in t.floor_margins(scene, self.inv_g)]
        self.inv_i = cp.Parameter(K, nonneg=True)
        self.inv_c = cp.Parameter(NR, nonneg=True)
        terms = []
        if eta > 0:
            for k in range(K):
                total = t.interference[k] + t.signal[k]
                terms.append(eta * (cp.log(total) - self.inv_i[k] * t.interference[k]))
        if eta < 1:
            for j in range(NR):
                a, c = t.target[j], t.clutter[j]
                terms.append((1 - eta) * (cp.log(a + c + scene.MR) - self.inv_c[j] * c))
        self.problem = cp.Problem(cp.Maximize(sum(terms)), cons)

    def floor(self, margin: float) -> None:
        """Aim the floors at threshold + margin (bps/Hz)."""
        self.inv_g.value = self.scene.inv_gain(margin)

    def tangent(self, X: np.ndarray) -> None:
        """Set the tangent point: the subtracted logs are linearized at covariances X."""
        _, interference, _, clutter = rate_terms(self.scene, X)
        self.i0, self.c0 = interference, clutter + self.scene.MR
        self.inv_i.value, self.inv_c.value = 1.0 / self.i0, 1.0 / self.c0

    def value(self, X: np.ndarray) -> np.ndarray:
        """The surrogate (bps/Hz, kappa-rates) at covariances X (..., K+1, N, N): a lower bound on
        ``relaxed_objective``, equal to it at the tangent point."""
        total, interference, a, c = rate_terms(self.scene, X)
        comm = np.log(total) - np.log(self.i0) - (interference - self.i0) / self.i0
        cm = c + self.scene.MR
        sens = np.log(a + cm) - np.log(self.c0) - (cm - self.c0) / self.c0
        nats = self.eta * comm.sum(-1) + (1 - self.eta) * sens.sum(-1)
        return self.scene.kappa * nats / math.log(2.0)

    def solve(self, X: np.ndarray) -> tuple[np.ndarray | None, str]:
        """The maximizer of the surrogate tangent at X (K+1, N, N), the next iterate (None
        unless solved), and the conic status ("infeasible": no point meets the floors)."""
        self.tangent(X)
        status = _solve(self.problem, self.solver)
        return (self.terms.values() if status in problems.SOLVED else None), status


def least_violation(scene: Scene, solver: str) -> np.ndarray:
    """Phase 0 for infeasible floors: covariances (K+1, N, N) maximizing the worst floor margin
    (``RelaxedTerms.floor_margins``) on the power set; their rank-one extraction is the least
    violating W."""
    import cvxpy as cp

    t = RelaxedTerms(scene)
    worst = cp.Variable()
    cons = t.constraints + [m >= worst for m in t.floor_margins(scene, scene.inv_gain())]
    status = _solve(cp.Problem(cp.Maximize(worst), cons), solver)
    if status not in problems.SOLVED:
        raise RuntimeError(f"ccpa: the phase-0 (least violation) program ended {status!r}")
    return t.values()


def _solve(problem: Any, solver: str) -> str:
    """Solve in ``solver``, then in the other one (``solvers.fallback``) unless the first
    solved it (an "infeasible" verdict gets the other solver's second opinion); SCS warm-starts
    from the last SCA step. The status of the attempt that answered."""
    return solve_first(problem, fallback(solver), SOLVED, warm_start=True).status
