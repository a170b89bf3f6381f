"""Problems 8 and 9 of paper 001 (its reference [28]) for one realization, in cvxpy.

Problem 8 (communication feasibility at a min-SINR gamma, communication power rho P_l per AP,
the sensing beam in the users' null space so it adds no interference) is solved exactly as a
second-order cone program: with h_n^H w_n real (a phase rotation), SINR_n >= gamma is
sqrt(1 + 1/gamma) Re(h_n^H w_n) >= ||[h_n^H W, sigma]|| (Bengtsson & Ottersten). Problem 9 (max
SSNR s.t. every SINR >= gamma_high, per-AP power P_l) is relaxed to an SDP in complex Hermitian
PSD matrices R_q = w_q w_q^H (q = users, sensing), then beams are extracted (``extract_beams``).

Solvers (``solvers``, the attempts in LADDER): problem 8's SOCPs in Clarabel (its default
tolerances: gap and feasibility 1e-8), SCS where Clarabel gives up; problem 9's SDP in SCS
(eps_abs = eps_rel = 1e-6): Clarabel's interior point method took over 300 s on the paper's
size (L M = 32, N = 5) where SCS takes ~15 s here. A solver that gives up is never mistaken for
an answer (the bisection re-solves one compiled SOCP: the last gamma's status must not count).
Shapes: F (L M, N) channels h_n, a_t (L, M) the APs' target steering vectors,
weight (L,) the SSNR weight of AP l's beam gain (eq 6: sum_r sigma_s,lr^2 / (L sigma_a^2)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .solvers import INFEASIBLE, SCS_EPS, SOLVED, SOLVER_ERROR, SOLVERS, Outcome, solve_first

__all__ = ["INFEASIBLE", "SCS_EPS", "SOLVED", "SOLVER_ERROR", "SOLVERS"]

#: the attempts (``solvers``) of a problem 8 / 9 solve per named solver: Clarabel, then SCS
#: where it gives up; SCS alone (Clarabel took over 300 s on problem 9 at the paper's size)
LADDER = {"CLARABEL": ("CLARABEL", "SCS"), "SCS": ("SCS",)}


def _solve(problem, solver: str) -> Outcome:
    """Solve in ``solver``'s LADDER until an attempt ends solved or infeasible (cvxpy's warm
    start, its default)."""
    if solver not in LADDER:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    return solve_first(problem, LADDER[solver], SOLVED + INFEASIBLE, warm_start=True)


class CommFeasibility:
    """Problem 8 as an SOCP compiled once per realization; ``feasible(gamma)`` re-solves with
    only the SINR parameter changed. power (L,) is P_l; comm beams get rho P_l."""

    def __init__(
        self, F: np.ndarray, power: np.ndarray, noise: float, rho: float, solver: str = "CLARABEL"
    ) -> None:
        import cvxpy as cp

        F = np.asarray(F, dtype=complex)
        LM, N = F.shape
        L = len(power)
        M = LM // L
        self.W = cp.Variable((LM, N), complex=True)
        self.c = cp.Parameter(nonneg=True, value=1.0)
        self.solver = solver
        cons = []
        for n in range(N):
            g = F[:, n].conj() @ self.W  # (N,) h_n^H w_q
            cons += [
                cp.imag(g[n]) == 0,
                self.c * cp.real(g[n]) >= cp.norm(cp.hstack([g, np.sqrt(noise)]), 2),
            ]
        for l in range(L):
            cons.append(cp.sum_squares(self.W[l * M : (l + 1) * M]) <= rho * float(power[l]))
        self.problem = cp.Problem(cp.Minimize(0), cons)

    def feasible(self, gamma: float) -> bool:
        self.c.value = math.sqrt(1.0 + 1.0 / gamma)
        outcome = _solve(self.problem, self.solver)
        if outcome.status not in SOLVED + INFEASIBLE:
            raise RuntimeError(f"problem 8 at gamma={gamma:g}: no solver answered "
                               f"{outcome.tried}")  # fmt: skip
        return outcome.status in SOLVED


def check_sca_settings(
    draws: object, max_iters: object, tol: object, rank_tol: object, solver: object
) -> None:
    """The settings every SDR + SCA baseline shares (ccpa, sca_speb): ValueError naming the one
    that is out of range."""
    for name, value in (("draws", draws), ("max_iters", max_iters)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not (math.isfinite(float(tol)) and float(tol) > 0):
        raise ValueError(f"tol (relative SCA improvement to stop at) must be > 0, got {tol}")
    if not 0.0 < float(rank_tol) < 1.0:
        raise ValueError(f"rank_tol (second eigenvalue of a rank-one Q_k, relative) must be in "
                         f"(0, 1), got {rank_tol}")  # fmt: skip
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")


def sinr_upper_bound(F: np.ndarray, power: np.ndarray, noise: float, rho: float) -> float:
    """No min-SINR above this: the weakest user served alone with every AP's communication
    power, (sum_l sqrt(rho P_l) ||h_ln||)^2 / sigma^2."""
    L = len(power)
    norms = np.linalg.norm(np.asarray(F).reshape(L, -1, np.shape(F)[-1]), axis=1)  # (L, N)
    return float(((np.sqrt(rho * np.asarray(power))[:, None] * norms).sum(0) ** 2).min() / noise)


def bisect_gamma(
    F: np.ndarray,
    power: np.ndarray,
    noise: float,
    rho: float = 0.5,
    tol: float = 1e-3,
    solver: str = "CLARABEL",
) -> tuple[float, int]:
    """gamma_high of problem 8 by bisection: the largest feasible gamma found, within relative
    precision ``tol`` (stops when hi - lo <= tol hi; lo is always a solved-feasible gamma).
    -> (gamma_high, number of SOCP solves)."""
    prob = CommFeasibility(F, power, noise, rho, solver)
    lo, hi = 0.0, sinr_upper_bound(F, power, noise, rho)
    solves = 0
    while hi - lo > tol * hi:
        mid = 0.5 * (lo + hi)
        solves += 1
        if prob.feasible(mid):
            lo = mid
        else:
            hi = mid
    return lo, solves


@dataclass(frozen=True)
class SdpSolution:
    """Problem 9's relaxed optimum: R (N+1, L M, L M) Hermitian, R[0] the sensing covariance,
    R[n] user n's; ``ssnr`` the optimal (relaxed) SSNR; ``status`` and ``solver`` those of the
    attempt that solved it."""

    R: np.ndarray
    ssnr: float
    status: str
    solver: str


def max_ssnr_sdp(
    F: np.ndarray,
    a_t: np.ndarray,
    weight: np.ndarray,
    power: np.ndarray,
    noise: float,
    gamma: float,
    solver: str = "SCS",
) -> SdpSolution:
    """The SDP relaxation of problem 9: maximize sum_l weight_l a_l^H (sum_q R_q)_ll a_l s.t.
    tr(H_n R_n) >= gamma (sum_{q != n} tr(H_n R_q) + sigma^2), sum_q tr(R_q)_ll <= P_l,
    R_q Hermitian PSD (q = 0 sensing, 1..N users)."""
    import cvxpy as cp

    F, a_t = np.asarray(F, dtype=complex), np.asarray(a_t, dtype=complex)
    LM, N = F.shape
    L, M = a_t.shape
    R = [cp.Variable((LM, LM), hermitian=True) for _ in range(N + 1)]
    total = sum(R)
    cons = [r >> 0 for r in R]
    for n in range(N):
        H = np.outer(F[:, n], F[:, n].conj())
        recv = [cp.real(cp.trace(H @ r)) for r in R]  # h_n^H R_q h_n
        cons.append(recv[n + 1] >= gamma * (sum(recv) - recv[n + 1] + noise))
    gain = 0
    for l in range(L):
        block = total[l * M : (l + 1) * M, l * M : (l + 1) * M]
        cons.append(cp.real(cp.trace(block)) <= float(power[l]))
        A = np.outer(a_t[l], a_t[l].conj())
        gain = gain + float(weight[l]) * cp.real(cp.trace(A @ block))
    problem = cp.Problem(cp.Maximize(gain), cons)
    outcome = _solve(problem, solver)
    if outcome.status not in SOLVED:
        raise RuntimeError(f"problem 9 (SDP) at gamma_high={gamma:g}: no solver solved it "
                           f"{outcome.tried}")  # fmt: skip
    Rv = np.stack([np.asarray(r.value) for r in R])
    Rv = 0.5 * (Rv + Rv.conj().transpose(0, 2, 1))
    return SdpSolution(Rv, float(problem.value), outcome.status, outcome.attempt)


def rank_one(R: np.ndarray, rel: float = 1e-4, scale: float | None = None) -> np.ndarray:
    """Whether each Hermitian R (..., n, n) is numerically rank at most one: its second
    eigenvalue is at most ``rel`` times its largest, or times ``scale`` when that is larger
    (e.g. the total power, so a remainder of solver noise counts as rank zero)."""
    ev = np.linalg.eigvalsh(R)
    top = np.maximum(ev[..., -1], 0.0 if scale is None else float(scale))
    return ev[..., -2] <= rel * np.maximum(top, 1e-300)


def extract_beams(F: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Beams W (L M, N+1), sensing first, from the SDP's R (N+1, L M, L M).

    User beams w_n = R_n h_n / sqrt(h_n^H R_n h_n) (Liu et al., IEEE TSP 2020, Theorem 1):
    w_n w_n^H has R_n's useful power h_n^H R_n h_n and no more interference at any user than
    R_n, and the rest of the total covariance, R_s = sum_q R_q - sum_n w_n w_n^H, is PSD. The
    sensing beam is R_s's principal component sqrt(lambda_1) v_1: exact when R_s is rank one;
    otherwise the dropped components only lower powers and interference (every constraint still
    holds) and cost SSNR, which the caller measures."""
    F, R = np.asarray(F, dtype=complex), np.asarray(R, dtype=complex)
    LM, N = F.shape
    W = np.zeros((LM, N + 1), dtype=complex)
    for n in range(N):
        h = F[:, n]
        Rh = R[n + 1] @ h
        W[:, n + 1] = Rh / math.sqrt(max(float(np.real(h.conj() @ Rh)), 1e-300))
    rest = R.sum(0) - W[:, 1:] @ W[:, 1:].conj().T
    ev, V = np.linalg.eigh(0.5 * (rest + rest.conj().T))
    W[:, 0] = math.sqrt(max(float(ev[-1]), 0.0)) * V[:, -1]
    return W


def sensing_remainder(F: np.ndarray, R: np.ndarray, W: np.ndarray) -> np.ndarray:
    """R_s = sum_q R_q - sum_n w_n w_n^H of :func:`extract_beams` (L M, L M)."""
    users = np.asarray(W)[:, 1:]
    return np.asarray(R).sum(0) - users @ users.conj().T
