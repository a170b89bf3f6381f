"""The ``ccpa`` baseline of paper 000 (Section VII-A 1): semidefinite relaxation + convex-concave
(SCA) iterations for P1, P2 and P3 (eq 23) under the power budget (23d), then Gaussian
randomization back to rank one. Central: it needs every TAP's estimates.

Objective. What the ``optimizer`` maximizes in each regime (``metrics.objective``):
eta sum_k R_C,k + (1 - eta) sum_j R_S,j with R = kappa log2(1 + gamma), on what the precoder
may know: gamma_C,k of eq 20 on the estimates f_hat and gamma_S,j of the varpi-averaged eq 22
(``metrics.scnr_averaged``, grams Q_t, Q_c). Regime "joint" (P3) uses ``eta``; "sc" (P1) is
eta = 0 (the sensing sum) s.t. every user's R_C,k >= ``threshold`` (23c); "cc" (P2) is eta = 1
(the communication sum) s.t. every RAP's R_S,j >= ``threshold`` (23b). With Q_k = w_k w_k^H
(k = 0 the sensing beam, 1..K the users):

    log(1 + gamma_C,k) = log(sum_j f_k^H Q_j f_k + 1) - log(sum_{j != k} f_k^H Q_j f_k + 1),
    log(1 + gamma_S,j) = log(tr(Q_t,j S) + tr(Q_c,j S) + MR) - log(tr(Q_c,j S) + MR),

S = sum_k Q_k, both affine in the Q_k inside each log. Dropping rank(Q_k) = 1 (SDR) leaves a
difference of concave functions on {Q_k >= 0, sum_k tr Q_k <= rho NT} (23d). A rate floor
R >= th is linear in the Q_k with g = 2^(th / kappa) - 1, so it needs no SCA:

    23c: f_k^H Q_k f_k / g >= sum_{j != k} f_k^H Q_j f_k + 1,
    23b: tr(Q_t,j S) / g >= tr(Q_c,j S) + MR   (written over g: no huge coefficients).

The programs aim at th + FLOOR_MARGIN (1e-4 bps/Hz) so that the solver's slack still meets th
(at th itself where only the margin is out of reach), like the optimizer's tightened targets.

Each SCA iteration replaces every subtracted log by its tangent at the current iterate (a
first-order upper bound, so the surrogate is a concave lower bound that is tight there) and
solves the resulting convex program (log terms: exponential cones) on the floors' set. The
relaxed objective therefore never decreases after the first step; the loop starts from a random
point (the paper's initialization, seeded; the first step lands on the floors' set) and stops
when the relative improvement is below ``tol`` or after ``max_iters`` iterations.

Infeasible floors. The floors' set contains every rank-one point that meets them, so when the
first step's program is infeasible (solver certificate) no W meets the floors: the extras say so
("feasible" 0, "status" the index of that status in STATUSES) and a phase-0 program (maximize the
worst floor margin, ``least_violation``) gives the least violating covariances instead.

Rank one. Every Q_k = U L U^H gives draws w_k = U L^(1/2) z, z ~ CN(0, I) (``draws`` of them,
seeded), plus the principal-eigenvector candidate; each candidate W is scaled onto the power
sphere ||W||_F^2 = rho NT (every rate grows with the scale of W). The best exact objective among
the candidates that meet the floors (within FEAS_TOL bps/Hz, on the same known quantities) is
kept, else the least violating candidate, and "feasible" says which. Reported per realization
(EXTRAS): the relaxed objective at the final iterate (each SCA step's SDP bounds every rank-one
point on that step's surrogate; the SCA point itself is local, so it is not a global bound), the
rank-one objective, "feasible" (1: the returned W meets the floors; always 1 for joint),
"status", the fraction of Q_k that are rank one (second eigenvalue <= ``rank_tol`` x the largest
of all Q_k), the iterations and the seconds.

Scaling and solvers: the program is solved in V = W / sqrt(rho NT), i.e. sum_k tr Q_k <= 1
with channels and grams scaled by rho NT, in SCS (the default: eps_abs = eps_rel = 1e-6,
``problems.SCS_EPS``) or Clarabel (its defaults: gap and feasibility
tolerances 1e-8), each retried in the other when it fails numerically. Measured
here: N = 8, K = 2 takes 0.05 s per SCA step in SCS and ~0.3 s in Clarabel; Table I's N = 32,
K = 4 (five 64 x 64 real PSD cones) ~10 s in SCS and ~70 s, "inaccurate", in Clarabel. cvxpy
is imported when a solver runs; the SCA coefficients are cvxpy parameters, so a realization's
program is compiled once and re-solved each iteration. Realizations run on the project's sweep
runner (``gr_cfisac.sweep.run_points``: in process by default, a Dask cluster with the
``scheduler`` parameter), each cached by content with ``cache_dir``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ... import metrics
from ..problem import pick_best
from ..registry import Family, PrecoderResult, PrecoderSpec, Realization, register
from . import problems
from .covariance_rates import covariances, rank_one_fraction

#: bump when a change alters the solutions (cached sweep records are then ignored)
CACHE_VERSION = 2
#: extras of one realization, in the order ``solve_one`` reports them
EXTRAS = ("relaxed_objective", "rank_one_objective", "feasible", "status", "rank_one_fraction",
          "iterations", "seconds")  # fmt: skip
#: the conic solvers: the chosen one first, the other if it fails numerically
SOLVERS = problems.SOLVERS
#: P3 (eta-weighted), P1 (sensing sum s.t. users' floors), P2 (communication sum s.t. RAPs' floors)
REGIMES = ("joint", "sc", "cc")
#: the "status" extra indexes this: the first SCA step's conic status (the floors' feasibility)
STATUSES = ("optimal", "optimal_inaccurate", "infeasible", "infeasible_inaccurate", "other")
#: bps/Hz by which a returned W may miss a floor and still count as meeting it (solver tolerance)
FEAS_TOL = 1e-5
#: bps/Hz by which the SDPs tighten the floors, so that SCS's ~1e-5 slack still meets the exact
#: ones (the exact floors are used when the tightened ones are infeasible)
FLOOR_MARGIN = 1e-4


def status_code(status: str) -> int:
    """Index of a cvxpy status in STATUSES (anything unexpected: "other")."""
    return STATUSES.index(status) if status in STATUSES else len(STATUSES) - 1


@dataclass(frozen=True)
class Settings:
    """eta of eq 23a; Gaussian-randomization ``draws`` and their ``seed``; the SCA's relative
    improvement ``tol`` and ``max_iters``; ``rank_tol`` (a rank-one Q_k's second eigenvalue
    over the largest of all, ``rank_one_fraction``: SCS leaves ~1e-6 of noise);
    the conic ``solver`` (CLARABEL or SCS); ``regime`` joint (P3) / sc (P1) / cc (P2) and its
    rate floor ``threshold`` (bps/Hz; required for sc/cc, None or 0 for joint), as the
    ``optimize`` family. sc/cc ignore ``eta`` (0 and 1, ``objective_eta``)."""

    eta: float = 0.5
    draws: int = 50
    tol: float = 1e-4
    max_iters: int = 30
    rank_tol: float = 1e-4
    solver: str = "SCS"
    seed: int = 0
    regime: str = "joint"
    threshold: float | None = None

    def __post_init__(self) -> None:
        check_regime(self.regime, self.threshold)
        if self.threshold == 0:
            object.__setattr__(self, "threshold", None)
        if not 0.0 <= float(self.eta) <= 1.0:
            raise ValueError(f"eta (weight of the communication sum, eq 23a) must be in [0, 1], "
                             f"got {self.eta}")  # fmt: skip
        problems.check_sca_settings(self.draws, self.max_iters, self.tol, self.rank_tol,
                                    self.solver)  # fmt: skip

    @property
    def objective_eta(self) -> float:
        """The eta of eq 23a that the regime maximizes: eta (joint), 0 (sc), 1 (cc)."""
        return {"sc": 0.0, "cc": 1.0}.get(self.regime, float(self.eta))


def check_regime(regime: str, threshold: float | None) -> None:
    """The ``optimize`` family's checks of regime and threshold (None or 0: none)."""
    if regime not in REGIMES:
        raise ValueError(f"regime must be one of {REGIMES}, got {regime!r}")
    if threshold is not None and threshold != 0:
        if not (isinstance(threshold, (int, float, np.number)) and float(threshold) > 0):
            raise ValueError(f"threshold must be > 0 bps/Hz (0: none), got {threshold!r}")
        if not math.isfinite(float(threshold)):
            raise ValueError(f"threshold must be a finite rate in bps/Hz, got {threshold}")
    if regime == "joint" and threshold not in (None, 0):
        raise ValueError(
            "threshold is the rate floor of regimes 'sc' (users) and 'cc' (RAPs); the joint "
            "regime weighs the two with eta: set threshold to 0"
        )
    if regime != "joint" and threshold in (None, 0):
        what = "every user's rate (P1)" if regime == "sc" else "every RAP's sensing rate (P2)"
        raise ValueError(f"regime {regime!r} needs threshold, the floor on {what} in bps/Hz")


@dataclass(frozen=True)
class Scene:
    """One realization scaled to unit power: H (N, K) = sqrt(rho NT) f_hat_k, grams Qt, Qc
    (NR, N, N) x rho NT, the RAP noise term MR, the rate factor kappa, and the floors: regime
    (sc: users, cc: RAPs, joint: none) and threshold (bps/Hz)."""

    H: np.ndarray
    Qt: np.ndarray
    Qc: np.ndarray
    MR: float
    kappa: float
    regime: str = "joint"
    threshold: float | None = None

    def inv_gain(self, margin: float = 0.0) -> float:
        """1 / g, g = 2^((th + margin) / kappa) - 1 the linear SINR/SCNR a floor th asks for
        (0 when g overflows: no finite power meets it)."""
        with np.errstate(over="ignore"):
            g = np.expm1((float(self.threshold) + margin) / self.kappa * math.log(2.0))
        return float(1.0 / g)


def floor_violation(scene: Scene, sinr: np.ndarray, scnr: np.ndarray) -> np.ndarray:
    """Worst violation (bps/Hz, >= 0) of the regime's floors (23c for sc, 23b for cc) by linear
    SINR (..., K) and SCNR (..., NR) -> (...); 0 for joint."""
    if scene.regime == "joint":
        return np.zeros(np.shape(sinr)[:-1])
    rates = metrics.rate(sinr if scene.regime == "sc" else scnr, scene.kappa)
    return np.maximum(float(scene.threshold) - rates, 0.0).max(-1)


def rate_terms(scene: Scene, X: np.ndarray) -> tuple[np.ndarray, ...]:
    """Covariances X (..., K+1, N, N) -> totals T (..., K) and interference I (..., K) of eq 20
    (noise 1 included: log(1 + SINR_k) = log T_k - log I_k), target a and clutter c (..., NR) of
    the varpi-averaged eq 22 (log(1 + SCNR_j) = log(a_j + c_j + MR) - log(c_j + MR))."""
    H = scene.H
    K = H.shape[1]
    gains = np.einsum("nk,...jnm,mk->...kj", H.conj(), X, H).real  # f_k^H X_j f_k
    total = gains.sum(-1) + 1.0
    interference = total - gains[..., np.arange(K), np.arange(K) + 1]
    S = X.sum(-3)
    a = np.einsum("rnm,...mn->...r", scene.Qt, S).real
    c = np.einsum("rnm,...mn->...r", scene.Qc, S).real
    return total, interference, a, c


def relaxed_rates(scene: Scene, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear SINR (eq 20) and varpi-averaged SCNR (eq 22) of covariances X (..., K+1, N, N):
    -> ((..., K), (..., NR)). For X_k = w_k w_k^H they are the rates of W (SDR is exact there)."""
    total, interference, a, c = rate_terms(scene, X)
    return total / interference - 1.0, a / (c + scene.MR)


def relaxed_objective(scene: Scene, X: np.ndarray, eta: float) -> np.ndarray:
    """eq 23a (bps/Hz, kappa-rates; ``metrics.objective``) of covariances X (..., K+1, N, N)."""
    sinr, scnr = relaxed_rates(scene, X)
    return metrics.objective(sinr, scnr, eta, scene.kappa)


def randomize(
    scene: Scene, X: np.ndarray, eta: float, draws: int, rng: np.random.Generator
) -> tuple[np.ndarray, float, float]:
    """Gaussian randomization: the principal-eigenvector candidate and ``draws`` draws
    w_k ~ CN(0, X_k), each on the unit power sphere; the best candidate meeting the floors
    (within FEAS_TOL), else the least violating: (V (N, K+1), exact objective, violation)."""
    lam, U = np.linalg.eigh(X)  # (K+1, N), (K+1, N, N)
    root = U * np.sqrt(np.maximum(lam, 0.0))[:, None, :]
    z = rng.standard_normal((draws,) + lam.shape) + 1j * rng.standard_normal((draws,) + lam.shape)
    cols = np.einsum("knm,dkm->dkn", root, z / np.sqrt(2.0))
    principal = root[None, :, :, -1]  # sqrt(lambda_max) u_max per stream
    V = np.moveaxis(np.concatenate([principal, cols]), -1, -2)  # (1 + draws, N, K+1)
    norm = np.sqrt((np.abs(V) ** 2).sum(axis=(-2, -1), keepdims=True))
    V = V / np.maximum(norm, 1e-300)
    H = np.broadcast_to(scene.H, (len(V),) + scene.H.shape)
    sinr = metrics.sinr(H, V)
    scnr = np.einsum("dnk,rnm,dmk->dr", V.conj(), scene.Qt, V).real / (
        np.einsum("dnk,rnm,dmk->dr", V.conj(), scene.Qc, V).real + scene.MR
    )
    obj = metrics.objective(sinr, scnr, eta, scene.kappa)
    viol = floor_violation(scene, sinr, scnr)
    best = int(pick_best(obj[None], np.maximum(viol - FEAS_TOL, 0.0)[None])[0])
    return V[best], float(obj[best]), float(viol[best])


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
        import cvxpy as cp

        self.tangent(X)
        status = _solve(self.problem, self.solver, cp)
        return (self.terms.values() if status in problems.SOLVED else None), status


def least_violation(scene: Scene, solver: str) -> np.ndarray:
    """Phase 0 for infeasible floors: covariances (K+1, N, N) maximizing the worst floor margin
    (``RelaxedTerms.floor_margins``) on the power set; their rank-one extraction is the least
    violating W."""
    import cvxpy as cp

    t = RelaxedTerms(scene)
    worst = cp.Variable()
    cons = t.constraints + [m >= worst for m in t.floor_margins(scene, scene.inv_gain())]
    status = _solve(cp.Problem(cp.Maximize(worst), cons), solver, cp)
    if status not in problems.SOLVED:
        raise RuntimeError(f"ccpa: the phase-0 (least violation) program ended {status!r}")
    return t.values()


def _solve(problem: Any, solver: str, cp: Any) -> str:
    """Solve in ``solver``, retried in the other on a numerical failure; the status."""
    import warnings

    for name in (solver, *(s for s in SOLVERS if s != solver)):
        try:
            with warnings.catch_warnings():  # "may be inaccurate": the status says so
                warnings.simplefilter("ignore", UserWarning)
                if name == "SCS":
                    problem.solve(
                        solver=cp.SCS, eps=problems.SCS_EPS, max_iters=100000, warm_start=True
                    )
                else:
                    problem.solve(solver=getattr(cp, name))
        except cp.error.SolverError:
            continue
        if problem.status in problems.SOLVED:
            break
    return str(problem.status)


def solve_one(
    F_hat: np.ndarray,
    Q_t: np.ndarray,
    Q_c: np.ndarray,
    MR: float,
    kappa: float,
    power: float,
    settings: Settings = Settings(),
    history: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """One realization: F_hat (N, K), varpi-averaged grams Q_t, Q_c (NR, N, N), the power
    budget rho NT -> (W (N, K+1) sensing first with ||W||_F^2 = power, extras of EXTRAS).

    The SCA starts from a random point (paper 000, VII-A; seeded by ``settings.seed``); its
    first step lands on the floors' set, or finds it empty ("feasible" 0, phase 0: module
    docstring). The extras' objectives are those of ``settings.objective_eta``, the floors
    those of ``settings.regime`` on the same known quantities. ``history`` adds "history", one dict per SCA step t (tangent at X_t, maximizer X_t+1):
    "relaxed" f(X_t+1), "surrogate" s_t(X_t+1) <= f(X_t+1), "rank_one" the exact objective of
    the beams randomized from X_t+1 and "rank_one_surrogate" s_t of those beams, which the
    relaxation bounds: s_t(X_t+1) >= s_t(any feasible rank-one point)."""
    start = time.perf_counter()
    F_hat, Q_t, Q_c = (np.asarray(x, complex) for x in (F_hat, Q_t, Q_c))
    if (
        F_hat.ndim != 2
        or Q_t.ndim != 3
        or Q_t.shape != Q_c.shape
        or Q_t.shape[1:] != (F_hat.shape[0],) * 2
    ):
        raise ValueError(f"F_hat must be (N, K) and Q_t, Q_c (NR, N, N); got {F_hat.shape}, "
                         f"{Q_t.shape}, {Q_c.shape}")  # fmt: skip
    if not power > 0:
        raise ValueError(f"power (rho NT of 23d) must be > 0, got {power}")
    s = settings
    eta = s.objective_eta
    scene = Scene(math.sqrt(power) * F_hat, power * Q_t, power * Q_c, float(MR), float(kappa),
                  s.regime, s.threshold)  # fmt: skip
    N, K = F_hat.shape
    rng = np.random.default_rng(s.seed)
    V0 = rng.standard_normal((N, K + 1)) + 1j * rng.standard_normal((N, K + 1))
    X = covariances(V0 / np.linalg.norm(V0))
    # the start counts only if it meets the floors; the first step lands on their set
    meets = floor_violation(scene, *relaxed_rates(scene, X)) <= 0
    value = float(relaxed_objective(scene, X, eta)) if meets else -math.inf
    program = SurrogateProgram(scene, eta, s.solver)
    steps: list[dict[str, float]] = []
    iterations, first_status = 0, ""
    while iterations < s.max_iters:
        iterations += 1
        X_next, status = program.solve(X)  # the tangent stays at X until the next solve
        if iterations == 1 and status in problems.INFEASIBLE and s.regime != "joint":
            program.floor(0.0)  # only the margin may be out of reach: the exact floors
            X_next, status = program.solve(X)
        if iterations == 1:
            first_status = status
            if status in problems.INFEASIBLE:  # no W meets the floors: the least violating
                X = least_violation(scene, s.solver)
                value = float(relaxed_objective(scene, X, eta))
                break
        if X_next is None:
            if iterations == 1:
                raise RuntimeError(f"ccpa: the first SCA step's conic program ended {status!r}")
            break  # a later step failing numerically: keep the last solved iterate
        new = float(relaxed_objective(scene, X_next, eta))
        if history:
            rng_h = np.random.default_rng(s.seed)
            V_r, obj_r, _ = randomize(scene, X_next, eta, s.draws, rng_h)
            steps.append({
                "relaxed": new,
                "surrogate": float(program.value(X_next)),
                "rank_one": obj_r,
                "rank_one_surrogate": float(program.value(covariances(V_r))),
            })  # fmt: skip
        gain, old = new - value, value
        if gain >= 0:  # a step back is solver noise at convergence: keep the better iterate
            X, value = X_next, new
        if math.isfinite(old) and gain <= s.tol * max(abs(old), 1e-12):
            break
    V, rank_one, violation = randomize(scene, X, eta, s.draws, np.random.default_rng(s.seed))
    extras: dict[str, Any] = {
        "relaxed_objective": value,
        "rank_one_objective": rank_one,
        "feasible": float(violation <= FEAS_TOL),
        "status": float(status_code(first_status)),
        "rank_one_fraction": rank_one_fraction(X, s.rank_tol),
        "iterations": float(iterations),
        "seconds": time.perf_counter() - start,
    }
    if history:
        extras["history"] = steps
    return math.sqrt(power) * V, extras


def solve_point(point: dict[str, Any]) -> dict[str, np.ndarray]:
    """One realization as a sweep point (``gr_cfisac.sweep``): its arrays, MR, kappa, power and
    the settings (a dict) -> record {"W", *EXTRAS}."""
    W, extras = solve_one(point["F_hat"], point["Q_t"], point["Q_c"], point["MR"],
                          point["kappa"], point["power"], Settings(**point["settings"]))  # fmt: skip
    return {"W": W, **{k: np.asarray(extras[k]) for k in EXTRAS}}


def solve_batch(
    F_hat: np.ndarray,
    Q_t: np.ndarray,
    Q_c: np.ndarray,
    MR: float,
    kappa: float,
    power: float,
    settings: Settings = Settings(),
    scheduler: Any = "sync",
    cache_dir: str | None = None,
    progress: bool = False,
) -> PrecoderResult:
    """B realizations: F_hat (B, N, K), Q_t, Q_c (B, NR, N, N) -> PrecoderResult(W (B, N, K+1),
    extras (B,) each of EXTRAS). They run on the project's sweep runner (``sweep.run_points``):
    ``scheduler`` "sync" (in process, the default), None/"local" (a local Dask cluster) or
    "tcp://HOST:PORT"; with ``cache_dir`` every realization's result is cached there by content."""
    from ...sweep import run_points

    F_hat = np.asarray(F_hat)
    if F_hat.ndim != 3 or np.ndim(Q_t) != 4 or np.shape(Q_t)[0] != F_hat.shape[0]:
        raise ValueError(f"F_hat must be (B, N, K) and Q_t, Q_c (B, NR, N, N); got "
                         f"{F_hat.shape}, {np.shape(Q_t)}")  # fmt: skip
    common = {"MR": float(MR), "kappa": float(kappa), "power": float(power),
              "settings": dataclasses.asdict(settings)}  # fmt: skip
    points = [{"F_hat": np.asarray(F_hat[b], complex), "Q_t": np.asarray(Q_t[b], complex),
               "Q_c": np.asarray(Q_c[b], complex), **common}
              for b in range(F_hat.shape[0])]  # fmt: skip
    out = run_points(solve_point, points, scheduler=scheduler, cache_dir=cache_dir or None,
                     version=f"ccpa-{CACHE_VERSION}", progress=progress, desc="ccpa")  # fmt: skip
    W = np.stack([r["W"] for r in out])
    return PrecoderResult(W, {k: np.array([float(r[k]) for r in out]) for k in EXTRAS})


def settings_from(params: dict[str, Any]) -> Settings:
    """Settings from a registry spec's parameters (the family's names)."""
    threshold = params.get("threshold")
    return Settings(float(params["eta"]), int(params["draws"]), float(params["tol"]),
                    int(params["max_iters"]), float(params["rank_tol"]), str(params["solver"]),
                    int(params["seed"]), str(params.get("regime", "joint")),
                    threshold if threshold in (None, 0) or isinstance(threshold, str)
                    else float(threshold))  # fmt: skip


def _build(spec: PrecoderSpec, cfg: Any):
    from ...channels import sensing_gram_averaged

    settings = settings_from(dict(spec.params))
    for attr in ("MR", "kappa", "power_budget"):
        if not hasattr(cfg, attr):
            raise ValueError(f"ccpa serves scenario cellfree: it needs a SystemConfig, got "
                             f"{type(cfg).__name__}")  # fmt: skip
    try:
        import cvxpy  # noqa: F401
    except ImportError:
        raise ValueError(
            "ccpa needs cvxpy (Clarabel/SCS): pip install 'gr-cfisac[convex]'"
        ) from None

    p = dict(spec.params)

    def design(r: Realization) -> PrecoderResult:
        Q_t, Q_c = sensing_gram_averaged(r.sensing)
        return solve_batch(r.F_hat, Q_t, Q_c, cfg.MR, cfg.kappa, cfg.power_budget, settings,
                           p["scheduler"] or "sync", p["cache_dir"] or None)  # fmt: skip

    return design


_DEFAULTS = Settings()
FAMILY = register(
    Family(
        "ccpa",
        _build,
        "paper 000's CCPA baseline: SDR + convex-concave (SCA) iterations for P1 sc / P2 cc / "
        "P3 joint (eq 23) in cvxpy, Gaussian randomization to rank one; extras relaxed / "
        "rank-one objective, feasible",
        {
            "eta": _DEFAULTS.eta,
            "draws": _DEFAULTS.draws,
            "tol": _DEFAULTS.tol,
            "max_iters": _DEFAULTS.max_iters,
            "rank_tol": _DEFAULTS.rank_tol,
            "solver": _DEFAULTS.solver,
            "seed": _DEFAULTS.seed,
            "regime": _DEFAULTS.regime,
            "threshold": _DEFAULTS.threshold,
            "scheduler": "sync",
            "cache_dir": "",
        },
        frozenset({"estimates", "sensing_geometry"}),
    )
)
