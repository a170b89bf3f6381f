"""The ``ccpa`` baseline of paper 000 (Section VII-A 1): semidefinite relaxation + convex-concave
(SCA) iterations for the joint objective P3 (eq 23a) under the power budget (23d), then
Gaussian randomization back to rank one. Central: it needs every TAP's estimates.

Objective. The one ``optimizer`` maximizes (``metrics.objective``): eta sum_k R_C,k +
(1 - eta) sum_j R_S,j with R = kappa log2(1 + gamma), on what the precoder may know: gamma_C,k of
eq 20 on the estimates f_hat and gamma_S,j of the varpi-averaged eq 22 (``metrics.scnr_averaged``,
grams Q_t, Q_c). With Q_k = w_k w_k^H (k = 0 the sensing beam, 1..K the users):

    log(1 + gamma_C,k) = log(sum_j f_k^H Q_j f_k + 1) - log(sum_{j != k} f_k^H Q_j f_k + 1),
    log(1 + gamma_S,j) = log(tr(Q_t,j S) + tr(Q_c,j S) + MR) - log(tr(Q_c,j S) + MR),

S = sum_k Q_k, both affine in the Q_k inside each log. Dropping rank(Q_k) = 1 (SDR) leaves a
difference of concave functions on {Q_k >= 0, sum_k tr Q_k <= rho NT} (23d). Each SCA iteration
replaces every subtracted log by its tangent at the current iterate (a first-order upper bound,
so the surrogate is a concave lower bound that is tight there) and solves the resulting convex
program (log terms: exponential cones). The relaxed objective therefore never decreases; the
loop starts from a random feasible point (the paper's initialization, seeded) and stops when
the relative improvement is below ``tol`` or after ``max_iters`` iterations.

Rank one. Every Q_k = U L U^H gives draws w_k = U L^(1/2) z, z ~ CN(0, I) (``draws`` of them,
seeded), plus the principal-eigenvector candidate; each candidate W is scaled onto the power
sphere ||W||_F^2 = rho NT (every rate grows with the scale of W) and the best exact objective
is kept. Reported per realization: the relaxed objective at the final iterate (each SCA step's
SDP bounds every rank-one point on that step's surrogate; the SCA point itself is local, so it
is not a global bound), the rank-one objective, the fraction
of Q_k that are rank one (second eigenvalue <= ``rank_tol`` x the largest of all Q_k),
the iterations and the seconds.

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
from ..registry import Family, PrecoderResult, PrecoderSpec, Realization, register
from . import problems

#: bump when a change alters the solutions (cached sweep records are then ignored)
CACHE_VERSION = 1
#: extras of one realization, in the order ``solve_one`` reports them
EXTRAS = ("relaxed_objective", "rank_one_objective", "rank_one_fraction", "iterations", "seconds")
#: the conic solvers: the chosen one first, the other if it fails numerically
SOLVERS = problems.SOLVERS


@dataclass(frozen=True)
class Settings:
    """eta of eq 23a; Gaussian-randomization ``draws`` and their ``seed``; the SCA's relative
    improvement ``tol`` and ``max_iters``; ``rank_tol`` (a rank-one Q_k's second eigenvalue
    over the largest of all, ``rank_one_fraction``: SCS leaves ~1e-6 of noise);
    the conic ``solver`` (CLARABEL or SCS)."""

    eta: float = 0.5
    draws: int = 50
    tol: float = 1e-4
    max_iters: int = 30
    rank_tol: float = 1e-4
    solver: str = "SCS"
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.eta) <= 1.0:
            raise ValueError(f"eta (weight of the communication sum, eq 23a) must be in [0, 1], "
                             f"got {self.eta}")  # fmt: skip
        for name in ("draws", "max_iters"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if not (math.isfinite(float(self.tol)) and float(self.tol) > 0):
            raise ValueError(f"tol (relative SCA improvement to stop at) must be > 0, "
                             f"got {self.tol}")  # fmt: skip
        if not 0.0 < float(self.rank_tol) < 1.0:
            raise ValueError(f"rank_tol (second eigenvalue of a rank-one Q_k, relative) must be in "
                             f"(0, 1), got {self.rank_tol}")  # fmt: skip
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")


@dataclass(frozen=True)
class Scene:
    """One realization scaled to unit power: H (N, K) = sqrt(rho NT) f_hat_k, grams Qt, Qc
    (NR, N, N) x rho NT, the RAP noise term MR and the rate factor kappa."""

    H: np.ndarray
    Qt: np.ndarray
    Qc: np.ndarray
    MR: float
    kappa: float


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


def covariances(V: np.ndarray) -> np.ndarray:
    """Beams V (..., N, K+1) -> rank-one covariances (..., K+1, N, N)."""
    cols = np.moveaxis(V, -1, -2)
    return cols[..., :, None] * cols[..., None, :].conj()


def rank_one_fraction(X: np.ndarray, rank_tol: float) -> float:
    """Fraction of the Q_k (K+1, N, N) whose second eigenvalue is <= rank_tol x the largest
    eigenvalue of any of them (so a Q_k that is zero up to solver noise counts as rank one)."""
    lam = np.linalg.eigvalsh(X)
    scale = max(float(lam[:, -1].max()), 1e-300)
    return float((lam[:, -2] <= rank_tol * scale).mean())


def randomize(
    scene: Scene, X: np.ndarray, eta: float, draws: int, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Gaussian randomization: the principal-eigenvector candidate and ``draws`` draws
    w_k ~ CN(0, X_k), each on the unit power sphere; the best (V (N, K+1), exact objective)."""
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
    best = int(np.argmax(obj))
    return V[best], float(obj[best])


class SurrogateProgram:
    """The SCA surrogate of one realization as a cvxpy problem compiled once: the tangent
    coefficients 1 / I_k and 1 / (c_j + MR) are parameters set by ``solve(X)``."""

    def __init__(self, scene: Scene, eta: float, solver: str) -> None:
        import cvxpy as cp

        H, K, NR = scene.H, scene.H.shape[1], scene.Qt.shape[0]
        N = H.shape[0]
        self.scene, self.eta, self.solver = scene, eta, solver
        self.X = [cp.Variable((N, N), hermitian=True) for _ in range(K + 1)]
        cons = [x >> 0 for x in self.X] + [sum(cp.real(cp.trace(x)) for x in self.X) <= 1]
        self.inv_i = cp.Parameter(K, nonneg=True)
        self.inv_c = cp.Parameter(NR, nonneg=True)
        terms = []
        if eta > 0:
            g = [[cp.real(H[:, k].conj() @ x @ H[:, k]) for x in self.X] for k in range(K)]
            for k in range(K):
                interference = sum(g[k][j] for j in range(K + 1) if j != k + 1) + 1.0
                total = interference + g[k][k + 1]
                terms.append(eta * (cp.log(total) - self.inv_i[k] * interference))
        if eta < 1:
            S = sum(self.X)
            for j in range(NR):
                a = cp.real(cp.sum(cp.multiply(scene.Qt[j].conj(), S)))
                c = cp.real(cp.sum(cp.multiply(scene.Qc[j].conj(), S)))
                terms.append((1 - eta) * (cp.log(a + c + scene.MR) - self.inv_c[j] * c))
        self.problem = cp.Problem(cp.Maximize(sum(terms)), cons)

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

    def solve(self, X: np.ndarray) -> np.ndarray:
        """The maximizer of the surrogate tangent at X (K+1, N, N): the next iterate."""
        import cvxpy as cp

        self.tangent(X)
        status = _solve(self.problem, self.solver, cp)
        if status not in problems.SOLVED:
            raise RuntimeError(f"ccpa: the SCA step's conic program ended {status!r}")
        Xn = np.stack([np.asarray(x.value) for x in self.X])
        return 0.5 * (Xn + Xn.conj().swapaxes(-1, -2))


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

    The SCA starts from a random feasible point (paper 000, VII-A; seeded by ``settings.seed``).
    ``history`` adds "history", one dict per SCA step t (tangent at X_t, maximizer X_t+1):
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
    scene = Scene(math.sqrt(power) * F_hat, power * Q_t, power * Q_c, float(MR), float(kappa))
    N, K = F_hat.shape
    rng = np.random.default_rng(s.seed)
    V0 = rng.standard_normal((N, K + 1)) + 1j * rng.standard_normal((N, K + 1))
    X = covariances(V0 / np.linalg.norm(V0))
    value = float(relaxed_objective(scene, X, s.eta))
    program = SurrogateProgram(scene, float(s.eta), s.solver)
    steps: list[dict[str, float]] = []
    iterations = 0
    while iterations < s.max_iters:
        iterations += 1
        X_next = program.solve(X)  # the tangent stays at X until the next solve
        new = float(relaxed_objective(scene, X_next, s.eta))
        if history:
            V_r, obj_r = randomize(scene, X_next, s.eta, s.draws, np.random.default_rng(s.seed))
            steps.append({
                "relaxed": new,
                "surrogate": float(program.value(X_next)),
                "rank_one": obj_r,
                "rank_one_surrogate": float(program.value(covariances(V_r))),
            })  # fmt: skip
        gain, old = new - value, value
        if gain >= 0:  # a step back is solver noise at convergence: keep the better iterate
            X, value = X_next, new
        if gain <= s.tol * max(abs(old), 1e-12):
            break
    V, rank_one = randomize(scene, X, s.eta, s.draws, np.random.default_rng(s.seed))
    extras: dict[str, Any] = {
        "relaxed_objective": value,
        "rank_one_objective": rank_one,
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
    return Settings(float(params["eta"]), int(params["draws"]), float(params["tol"]),
                    int(params["max_iters"]), float(params["rank_tol"]), str(params["solver"]),
                    int(params["seed"]))  # fmt: skip


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
        "paper 000's CCPA baseline: SDR + convex-concave (SCA) iterations for eq 23a (P3) in "
        "cvxpy, Gaussian randomization to rank one; extras relaxed / rank-one objective",
        {
            "eta": _DEFAULTS.eta,
            "draws": _DEFAULTS.draws,
            "tol": _DEFAULTS.tol,
            "max_iters": _DEFAULTS.max_iters,
            "rank_tol": _DEFAULTS.rank_tol,
            "solver": _DEFAULTS.solver,
            "seed": _DEFAULTS.seed,
            "scheduler": "sync",
            "cache_dir": "",
        },
        frozenset({"estimates", "sensing_geometry"}),
    )
)
