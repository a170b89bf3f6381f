"""The ``ccpa`` baseline of paper 000 (Section VII-A 1): semidefinite relaxation + convex-concave
(SCA) iterations for P1, P2 and P3 (eq 23) under the power budget (23d), then Gaussian
randomization back to rank one. Central: it needs every TAP's estimates. This module holds the
SCA loop (``solve_one``), the sweep entry (``solve_batch``) and the registry family; its parts
live beside it, one job each:

- ``ccpa_settings``: Settings and the regimes, "joint" (P3, eq 23a with ``eta``), "sc" (P1,
  eta = 0 s.t. users' floors 23c) and "cc" (P2, eta = 1 s.t. RAPs' floors 23b);
- ``ccpa_scene``: one realization scaled to unit power, the rates of eqs 20 / 22 and the
  objective of eq 23a on covariances Q_k = w_k w_k^H (what the precoder may know: f_hat and
  the varpi-averaged grams), the floors' violation;
- ``ccpa_program``: the SDR programs in cvxpy (the floors linear in the Q_k, the SCA surrogate,
  the phase-0 program), their scaling and solvers;
- ``ccpa_randomization``: Gaussian randomization back to rank one.

They stay importable from here for existing callers.

SCA. Each iteration replaces every subtracted log by its tangent at the current iterate and
solves the resulting convex program on the floors' set, so the relaxed objective never
decreases after the first step; the loop starts from a random point (the paper's
initialization, seeded; the first step lands on the floors' set) and stops when the relative
improvement is below ``tol`` or after ``max_iters`` iterations.

Infeasible floors. The floors' set contains every rank-one point that meets them, so when the
first step's program is infeasible (solver certificate) no W meets the floors: the extras say so
("feasible" 0, "status" the index of that status in STATUSES) and a phase-0 program (maximize the
worst floor margin, ``least_violation``) gives the least violating covariances instead.

Reported per realization (EXTRAS): the relaxed objective at the final iterate (each SCA step's
SDP bounds every rank-one point on that step's surrogate; the SCA point itself is local, so it
is not a global bound), the rank-one objective, "feasible" (1: the returned W meets the floors
within FEAS_TOL; always 1 for joint), "status", the fraction of Q_k that are rank one (second
eigenvalue <= ``rank_tol`` x the largest of all Q_k), the iterations and the seconds.
Realizations run on the project's sweep runner (``gr_cfisac.sweep.run_points``: in process by
default, a Dask cluster with the ``scheduler`` parameter), each cached by content with
``cache_dir``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np

from ..registry import Family, PrecoderResult, PrecoderSpec, Realization, register
from . import problems
from .ccpa_program import FLOOR_MARGIN, RelaxedTerms, SurrogateProgram, least_violation
from .ccpa_randomization import FEAS_TOL, randomize
from .ccpa_scene import Scene, floor_violation, rate_terms, relaxed_objective, relaxed_rates
from .ccpa_settings import REGIMES, Settings, check_regime
from .covariance_rates import covariances, rank_one_fraction

__all__ = [
    "CACHE_VERSION",
    "DEFAULTS",
    "EXTRAS",
    "FAMILY",
    "FEAS_TOL",
    "FLOOR_MARGIN",
    "REGIMES",
    "SOLVERS",
    "STATUSES",
    "RelaxedTerms",
    "Scene",
    "Settings",
    "SurrogateProgram",
    "check_regime",
    "floor_violation",
    "least_violation",
    "randomize",
    "rate_terms",
    "relaxed_objective",
    "relaxed_rates",
    "settings_from",
    "solve_batch",
    "solve_one",
    "solve_point",
    "status_code",
]

#: bump when a change alters the solutions (cached sweep records are then ignored)
CACHE_VERSION = 2
#: extras of one realization, in the order ``solve_one`` reports them
EXTRAS = ("relaxed_objective", "rank_one_objective", "feasible", "status", "rank_one_fraction",
          "iterations", "seconds")  # fmt: skip
#: the conic solvers: the chosen one first, the other if it fails numerically
SOLVERS = problems.SOLVERS
#: the "status" extra indexes this: the first SCA step's conic status (the floors' feasibility)
STATUSES = ("optimal", "optimal_inaccurate", "infeasible", "infeasible_inaccurate", "other")


def status_code(status: str) -> int:
    """Index of a cvxpy status in STATUSES (anything unexpected: "other")."""
    return STATUSES.index(status) if status in STATUSES else len(STATUSES) - 1


#: the default settings (also the family's default parameters)
DEFAULTS = Settings()


def solve_one(
    F_hat: np.ndarray,
    Q_t: np.ndarray,
    Q_c: np.ndarray,
    MR: float,
    kappa: float,
    power: float,
    settings: Settings = DEFAULTS,
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
    settings: Settings = DEFAULTS,
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


FAMILY = register(
    Family(
        "ccpa",
        _build,
        "paper 000's CCPA baseline: SDR + convex-concave (SCA) iterations for P1 sc / P2 cc / "
        "P3 joint (eq 23) in cvxpy, Gaussian randomization to rank one; extras relaxed / "
        "rank-one objective, feasible",
        {
            "eta": DEFAULTS.eta,
            "draws": DEFAULTS.draws,
            "tol": DEFAULTS.tol,
            "max_iters": DEFAULTS.max_iters,
            "rank_tol": DEFAULTS.rank_tol,
            "solver": DEFAULTS.solver,
            "seed": DEFAULTS.seed,
            "regime": DEFAULTS.regime,
            "threshold": DEFAULTS.threshold,
            "scheduler": "sync",
            "cache_dir": "",
        },
        frozenset({"estimates", "sensing_geometry"}),
    )
)
