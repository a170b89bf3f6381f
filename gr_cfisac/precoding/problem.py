"""The problem the ISAC optimizer solves: P1/P2/P3 (eq 23) on scaled data, and its merit.

Internally W = sqrt(rho NT) V with ||V||_F <= 1 (23d), or every TAP block ||V_b||^2 <= 1 / NT
(per-TAP balls); the estimates F and the stacked gram factors L are scaled by sqrt(rho NT).
One problem is one realization x one start, M of them leading every array. The merit is the
objective (23a) minus the augmented-Lagrangian terms of the rate constraints 23b/23c; its
gradient comes from the rate kernels in ``rates``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .rates import TINY, comm_gradient, comm_terms, herm, sensing_gradient, sensing_terms

_MARGIN = 1e-3  # bps/Hz by which the constraints are tightened inside the optimizer
_PEN0 = 20.0  # initial augmented-Lagrangian penalty c


@dataclass(frozen=True)
class ProblemSpec:
    """Constants shared by every problem of a run."""

    K: int
    NR: int
    rt: int
    MR: float
    kappa: float
    eta: float
    comm_thr: float | None  # vartheta_th of 23c plus the user's margin (None: no constraint)
    sens_thr: float | None  # zeta_th of 23b plus the user's margin
    blocks: int  # power blocks: 1 (total power) or NT (per-TAP balls)

    @property
    def comm_target(self) -> float | None:
        """The tightened threshold the ALM aims at, so the result meets the exact one."""
        return None if self.comm_thr is None else self.comm_thr + _MARGIN

    @property
    def sens_target(self) -> float | None:
        return None if self.sens_thr is None else self.sens_thr + _MARGIN

    @property
    def constrained(self) -> bool:
        """Whether any rate constraint (23b or 23c) is active, i.e. the ALM has work to do."""
        return self.comm_thr is not None or self.sens_thr is not None


@dataclass
class ProblemWork:
    """Per-problem arrays (one problem = one realization x one start), M leading."""

    F: np.ndarray  # (M, N, K) scaled estimates
    L: np.ndarray  # (M, N, R) scaled gram factors
    FHb: np.ndarray  # (M, nb, K, N/nb) per-block F^H
    LHb: np.ndarray  # (M, nb, R, N/nb) per-block L^H
    lam_c: np.ndarray  # (M, K) multipliers of 23c
    lam_s: np.ndarray  # (M, NR) multipliers of 23b
    pen: np.ndarray  # (M,) penalty parameter c

    @classmethod
    def build(cls, F, L, nb, K, NR):
        M, N, _ = F.shape
        FHb = np.ascontiguousarray(herm(F.reshape(M, nb, N // nb, -1)))
        LHb = np.ascontiguousarray(herm(L.reshape(M, nb, N // nb, -1)))
        return cls(F, L, FHb, LHb, np.zeros((M, K)), np.zeros((M, NR)), np.full(M, _PEN0))

    def mult(self, idx=slice(None)) -> tuple:
        return self.lam_c[idx], self.lam_s[idx], self.pen[idx]

    def take(self, idx: np.ndarray) -> ProblemWork:
        return ProblemWork(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))


def block_products(w: ProblemWork, X: np.ndarray, nb: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-block products F_b^H X_b (M, nb, K, K+1) and L_b^H X_b (M, nb, R, K+1)."""
    M, N, C = X.shape
    Xb = X.reshape(M, nb, N // nb, C)
    return w.FHb @ Xb, w.LHb @ Xb


def _merit(spec: ProblemSpec, mult: tuple, Rc: np.ndarray, Rs: np.ndarray):
    """Objective (23a), augmented-Lagrangian merit and the per-rate gradient weights.
    mult = (lam_c (M, K), lam_s (M, NR), pen (M,))."""
    lam_c, lam_s, pen = mult
    obj = spec.eta * Rc.sum(-1) + (1 - spec.eta) * Rs.sum(-1)
    phi = obj.copy()
    wc = np.full_like(Rc, spec.eta)
    ws = np.full_like(Rs, 1 - spec.eta)
    for target, rates, lam, weights in (
        (spec.comm_target, Rc, lam_c, wc),
        (spec.sens_target, Rs, lam_s, ws),
    ):
        if target is None:
            continue
        g = spec.kappa * rates - target
        m = np.maximum(0.0, lam - pen[:, None] * g)
        phi -= ((m**2 - lam**2) / (2 * pen[:, None])).sum(-1)
        weights += spec.kappa * m
    return phi, obj, wc, ws


def evaluate_merit(spec: ProblemSpec, mult: tuple, Zb: np.ndarray, Yb: np.ndarray):
    """Merit from the per-block products (``block_products``), and the cache ``merit_gradient`` needs."""
    Z, Y = Zb.sum(1), Yb.sum(1)
    Rc, T, I = comm_terms(Z)
    Rs, a, c = sensing_terms(Y, spec.NR, spec.rt, spec.MR)
    phi, obj, wc, ws = _merit(spec, mult, Rc, Rs)
    return phi, (Z, Y, T, I, a, c, wc, ws)


def merit_gradient(spec: ProblemSpec, w: ProblemWork, cache) -> np.ndarray:
    """2 d/dV* of the merit (M, N, K+1) from ``evaluate_merit``'s cache."""
    Z, Y, T, I, a, c, wc, ws = cache
    return comm_gradient(w.F, Z, T, I, wc) + sensing_gradient(w.L, Y, a, c, ws, spec.rt, spec.MR)


def exact_objective(spec: ProblemSpec, F: np.ndarray, L: np.ndarray, V: np.ndarray):
    """Objective (23a), worst violation of 23b/23c in bps/Hz, log2(1 + SINR) and
    log2(1 + SCNR) from scratch. F (M, N, K), L (M, N, R), V (M, N, K+1) scaled."""
    Rc = comm_terms(herm(F) @ V)[0]
    Rs = sensing_terms(herm(L) @ V, spec.NR, spec.rt, spec.MR)[0]
    obj = spec.eta * Rc.sum(-1) + (1 - spec.eta) * Rs.sum(-1)
    viol = np.zeros(len(V))
    for thr, rates in ((spec.comm_thr, Rc), (spec.sens_thr, Rs)):
        if thr is not None:
            viol = np.maximum(viol, (thr - spec.kappa * rates).max(-1))
    return obj, np.maximum(viol, 0.0), Rc, Rs


def pick_best(obj: np.ndarray, viol: np.ndarray) -> np.ndarray:
    """Index along axis 1 of the best candidate: feasible with the highest objective, else
    the least violating. obj, viol (B, S) -> (B,)."""
    score = np.where(viol <= 0, obj, -np.inf)
    return np.where(np.isfinite(score).any(1), score.argmax(1), viol.argmin(1))


def project_power(V: np.ndarray, nb: int) -> np.ndarray:
    """Projection onto the balls ||V_b||^2 <= 1 / nb."""
    M, N, C = V.shape
    Vb = V.reshape(M, nb, N // nb, C)
    norm2 = (np.abs(Vb) ** 2).sum(axis=(2, 3), keepdims=True)
    return (Vb * np.minimum(1.0, np.sqrt(1.0 / nb / np.maximum(norm2, TINY)))).reshape(V.shape)
