"""The ``sca_speb`` baseline of paper 003 (problem 32, in the spirit of its SRW/SCA baseline):
maximize the sum rate (eq 32a) s.t. per-BS power (eq 32b) and SPEB <= gamma (eq 32c) by
semidefinite relaxation + convex-concave (SCA) iterations in cvxpy, then Gaussian
randomization back to one beam per stream. Central: it needs every BS's CSI and the target.

Relaxation. Q_k = p_k p_k^H (k = 0 the sensing beam p^s, 1..K the users), R = sum_k Q_k.
The full FIM of the echo model (eq 52) is affine in R (``speb_fim``) and the exact EFIM of
``coisac.speb`` (``form="exact"``) is its Schur complement, so SPEB(R) <= gamma is the LMIs

    [[J_tt(R) - Jp, J_ta(R)], [J_at(R), J_aa(R)]] >= 0,   [[U, I], [I, Jp]] >= 0,   tr U <= gamma

(``speb_fim.fim_blocks_affine`` gives the coefficient matrices; the test checks SPEB(w w^H)
against ``coisac.speb``). Rates (eq 3, the sensing beam interferes, unit noise;
``covariance_rates``):
log(1 + SINR_k) = log(sum_j h_k^H Q_j h_k + 1) - log(sum_{j != k} h_k^H Q_j h_k + 1); each SCA
step replaces the subtracted log by its tangent at the current iterate (a concave lower bound
tight there), so the relaxed sum rate never decreases. Stop: relative improvement < ``tol`` or
``max_iters`` steps.

Failed steps. A step's status may say solved while its iterate is garbage (seen: a relaxed sum
rate of -26.5 bps/Hz, impossible for PSD Q_k, each rate term being >= 0). So a step fails
(``step_fault``) when its status is not solved, its X is non-finite or not PSD (an eigenvalue
below -PSD_TOL max(max_n P_n, largest eigenvalue)), its relaxed sum rate is non-finite or below
-RATE_TOL max(1, |rate|), or the rate drops by more than DROP_TOL max(1, |previous|) (the
surrogate is tight at the previous iterate, so only solver noise, measured ~1e-4 relative in
SCS, can lower it; a smaller drop stops the SCA at the better iterate). A failed step is retried
once in the other solver of SOLVERS; if that fails too the realization is reported failed:
``solved`` = 0 and ``feasible`` = 0 (never counted), ``relaxed_sum_rate`` NaN, W extracted from
the last valid iterate (the start if the first step failed) with its true sum rate and SPEB,
and a RuntimeWarning naming the fault. The min-SPEB program (phase 0) is checked the same way
and raises RuntimeError when both solvers fail, as on a failed status.

Start and feasibility. Phase 0 minimizes tr U (the relaxed minimum SPEB under per-BS power,
``min_speb``). gamma below it is infeasible for any beams: reported (``feasible`` = 0,
``speb_met`` = 0, ``solved`` = 1, W = the min-SPEB beam below), never silently violated.
Otherwise the SCA starts at that point (all power on the sensing stream), which meets the SPEB
constraint. The min-SPEB covariance is seldom rank one (one beam makes G of rank one and loses
the transmit-angle information), so the "min-SPEB beam" p* is the single beam of least exact
SPEB among the per-BS target beam, that covariance's principal beam and draws from CN(0, R).

Rank one. Per stream w_k ~ CN(0, Q_k) (``draws``, seeded) plus the principal eigenvectors; each
candidate's BS rows are scaled to that BS's budget; the best sum rate among candidates whose
SPEB (exact form) is <= gamma is kept. If none meets it, the best candidate is blended toward
the min-SPEB beam, p^s = sqrt(1-t) p^s + sqrt(t) p*, users times sqrt(1-t), on a grid of t,
and the smallest t that meets gamma is kept (``speb_met`` = 0 only if even t = 1 fails).
Extras per realization: EXTRAS.

What it knows. ``solve_batch`` and ``mean_speb_at_power`` take a ``CoisacBatch`` (true
channels, alpha and target: the bench's baseline). The registry family sees a Realization: the
estimates, the target triangulated from the sensing angles and |alpha| with zero phases (the
SPEB depends on alpha's phases, which no precoder knows), so its SPEB constraint holds on that
model (``speb_scene.network_scenes``). Family parameters: ``gamma`` m^2 (None / 0: none), ``power`` per-BS
dBm (None: the config's), tol, max_iters, draws, seed, solver, scheduler, cache_dir.

Units (``coisac`` scenario): unit noise, per-BS budgets P_n / (k T B NF), tau echo snapshots.
The program is solved in X_k = Q_k / max_n P_n, its LMI rows scaled (the Schur complement does
not depend on the nuisance's scale). Solvers: SCS (default, eps_abs = eps_rel = 1e-6,
``problems.SCS_EPS``) or Clarabel (its defaults, gap and feasibility 1e-8), the other retried on
a numerical failure. cvxpy is imported when a solver runs. numpy elsewhere; complex128.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...coisac import rates as crates
from ..registry import Family, PrecoderResult, PrecoderSpec, Realization, register
from . import problems
from .covariance_rates import covariances, rank_one_fraction, rate_terms, relaxed_sum_rate
from .speb_fim import fim_blocks_affine, fim_maps, full_fim, position_fim_of, speb_of_covariance
from .speb_scene import Scene, network_scenes, scenes_of, target_beam, triangulate

# Scene, the FIM in R and the covariance rates live in speb_scene, speb_fim and
# covariance_rates; they stay importable from here for existing callers
__all__ = [
    "BLEND",
    "CACHE_VERSION",
    "DROP_TOL",
    "EXTRAS",
    "FAMILY",
    "FEAS_SLACK",
    "PSD_TOL",
    "RATE_TOL",
    "SOLVERS",
    "Program",
    "Scene",
    "Settings",
    "candidates",
    "covariances",
    "extract",
    "fim_blocks_affine",
    "fim_maps",
    "full_fim",
    "mean_speb_at_power",
    "min_speb_point",
    "network_scenes",
    "other_solver",
    "per_bs_scale",
    "position_fim_of",
    "psd_fault",
    "rank_one_fraction",
    "rate_terms",
    "relaxed_sum_rate",
    "scenes_of",
    "settings_from",
    "solve_batch",
    "solve_one",
    "solve_point",
    "solve_program",
    "solve_scenes",
    "speb_of_covariance",
    "step_fault",
    "target_beam",
    "triangulate",
]


#: bump when a change alters the solutions (cached sweep records are then ignored)
CACHE_VERSION = 2
#: per-realization extras, in this order
EXTRAS = (
    "relaxed_sum_rate",
    "sum_rate",
    "speb",
    "speb_met",
    "feasible",
    "min_speb",
    "rank_one_fraction",
    "iterations",
    "seconds",
    "solved",
)
SOLVERS = problems.SOLVERS
#: blend grid of the fallback toward the min-SPEB beam
BLEND = np.linspace(0.0, 1.0, 21)[1:]
#: gamma may undercut the relaxed min SPEB by this (solver tolerance) before it is infeasible
FEAS_SLACK = 1e-3
#: a covariance eigenvalue below -PSD_TOL x max(max_n P_n, its largest) is not PSD (SCS's
#: iterates reach ~-2e-5 x P0 here)
PSD_TOL = 1e-3
#: a relaxed sum rate below -RATE_TOL x max(1, |rate|) bps/Hz is impossible (every term >= 0)
RATE_TOL = 1e-4
#: a step losing more than DROP_TOL x max(1, |previous|) bps/Hz of relaxed sum rate failed
DROP_TOL = 1e-2


@dataclass(frozen=True)
class Settings:
    """gamma (SPEB threshold of eq 32c, m^2; inf: no sensing constraint); SCA ``tol`` (relative
    improvement) and ``max_iters``; Gaussian-randomization ``draws`` and ``seed``;
    ``rank_tol`` (a rank-one Q_k's second eigenvalue over the largest of all); ``solver``."""

    gamma: float = math.inf
    tol: float = 1e-4
    max_iters: int = 30
    draws: int = 50
    seed: int = 0
    rank_tol: float = 1e-4
    solver: str = "SCS"

    def __post_init__(self) -> None:
        g = float(self.gamma)
        if math.isnan(g) or g <= 0:
            raise ValueError(f"gamma (SPEB threshold in m^2, eq 32c) must be > 0 (inf: none), "
                             f"got {self.gamma}")  # fmt: skip
        problems.check_sca_settings(self.draws, self.max_iters, self.tol, self.rank_tol,
                                    self.solver)  # fmt: skip


# ----------------------------------------------------------------------------- the programs


def solve_program(problem: Any, solver: str) -> str:
    """Solve in ``solver``, retried in the other on a numerical failure; the status."""
    import cvxpy as cp

    for name in (solver, *(s for s in SOLVERS if s != solver)):
        try:
            with warnings.catch_warnings():  # "may be inaccurate": the status says so
                warnings.simplefilter("ignore", UserWarning)
                if name == "SCS":
                    problem.solve(solver=cp.SCS, eps=problems.SCS_EPS, max_iters=100000)
                else:
                    problem.solve(solver=getattr(cp, name))
        except cp.error.SolverError:
            continue
        if problem.status in problems.SOLVED + problems.INFEASIBLE:
            break
    return str(problem.status)


class Program:
    """The cvxpy program of one scene in X_k = Q_k / P0 (P0 = max_n P_n). ``gamma``: the SPEB
    LMIs with tr U <= gamma (None: none); ``min_speb``: minimize tr U instead (phase 0);
    otherwise the SCA surrogate sum_k log T_k - I_k / I_k0 with the tangent as a parameter."""

    def __init__(self, scene: Scene, gamma: float | None, solver: str, min_speb: bool = False):
        import cvxpy as cp

        F, N, L = scene.F, scene.N, scene.L
        K, NL = F.shape[1], N * L
        self.scene, self.solver, self.P0 = scene, solver, float(scene.power.max())
        self.X = [cp.Variable((NL, NL), hermitian=True) for _ in range(K + 1)]
        S = sum(self.X)
        cons = [x >> 0 for x in self.X]
        for n in range(N):
            block = S[n * L : (n + 1) * L, n * L : (n + 1) * L]
            cons.append(cp.real(cp.trace(block)) <= float(scene.power[n]) / self.P0)
        self.U = None
        if gamma is not None:
            C = fim_blocks_affine(scene) * self.P0
            m = C.shape[0]
            # scale rows: position by sqrt(gamma) (Jt = gamma Jp), nuisance to unit diagonal at
            # the uniform full-power covariance (the Schur complement ignores nuisance scale)
            ref = full_fim(C, np.diag(np.repeat(scene.power / self.P0 / L, L)).astype(complex))
            d = np.ones(m)
            d[:3] = math.sqrt(gamma)
            d[3:] = 1.0 / np.sqrt(np.maximum(np.diag(ref)[3:], 1e-300 + 1e-12 * ref.max()))
            Cs = C * d[:, None, None, None] * d[None, :, None, None]
            flat = Cs.transpose(0, 1, 3, 2).reshape(m * m, NL * NL)
            J = cp.reshape(cp.real(flat @ cp.vec(S, order="C")), (m, m), order="C")
            Jt = cp.Variable((3, 3), symmetric=True)
            self.U = cp.Variable((3, 3), symmetric=True)
            pad = cp.bmat(
                [[Jt, np.zeros((3, m - 3))], [np.zeros((m - 3, 3)), np.zeros((m - 3,) * 2)]]
            )
            M = J - pad
            cons += [0.5 * (M + M.T) >> 0, cp.bmat([[self.U, np.eye(3)], [np.eye(3), Jt]]) >> 0]
            if not min_speb:
                cons.append(cp.trace(self.U) <= 1.0)
        if min_speb:
            self.problem = cp.Problem(cp.Minimize(cp.trace(self.U)), cons)
            return
        H = math.sqrt(self.P0) * F
        self.inv_i = cp.Parameter(K, nonneg=True)
        terms = []
        for k in range(K):
            g = [cp.real(H[:, k].conj() @ x @ H[:, k]) for x in self.X]
            interference = sum(g[j] for j in range(K + 1) if j != k + 1) + 1.0
            terms.append(cp.log(interference + g[k + 1]) - self.inv_i[k] * interference)
        self.problem = cp.Problem(cp.Maximize(sum(terms)), cons)

    def run(
        self, X0: np.ndarray | None = None, solver: str | None = None
    ) -> tuple[str, np.ndarray]:
        """Solve (SCA: tangent at covariances X0 (K+1, NL, NL), unscaled) in ``solver`` (None:
        the program's) -> (status, X)."""
        if X0 is not None:
            _, interference = rate_terms(self.scene.F, X0)
            self.inv_i.value = 1.0 / interference
        status = solve_program(self.problem, solver or self.solver)
        if status not in problems.SOLVED:
            return status, np.zeros(0)
        X = np.stack([np.asarray(x.value) for x in self.X]) * self.P0
        return status, 0.5 * (X + X.conj().swapaxes(-1, -2))


def other_solver(solver: str) -> str:
    """The solver of SOLVERS that is not ``solver`` (a failed step's retry)."""
    return next(name for name in SOLVERS if name != solver)


def psd_fault(X: np.ndarray, scale: float) -> str | None:
    """Why covariances X (..., n, n) are not (numerically) PSD and finite, or None: an
    eigenvalue below -PSD_TOL max(``scale``, the largest one) (module docstring)."""
    if X.size == 0 or not np.all(np.isfinite(X)):
        return "non-finite covariances"
    lam = np.linalg.eigvalsh(X)
    floor = -PSD_TOL * max(float(scale), float(lam.max()))
    if lam.min() < floor:
        return f"covariances not PSD (eigenvalue {lam.min():.3g} < {floor:.3g})"
    return None


def step_fault(
    scene: Scene, status: str, X: np.ndarray, previous: float
) -> tuple[str | None, float]:
    """Check one SCA step (module docstring, "Failed steps"): (why it failed or None, its
    relaxed sum rate) for the status and iterate X (K+1, NL, NL) of ``Program.run`` and the
    relaxed sum rate ``previous`` of the iterate it started from."""
    if status not in problems.SOLVED:
        return f"status {status!r}", math.nan
    fault = psd_fault(X, float(scene.power.max()))
    if fault is not None:
        return fault, math.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = float(relaxed_sum_rate(scene.F, X))
    if not math.isfinite(rate) or rate < -RATE_TOL * max(1.0, abs(rate)):
        return f"relaxed sum rate {rate:.6g} bps/Hz (< 0)", rate
    if rate - previous < -DROP_TOL * max(1.0, abs(previous)):
        return f"relaxed sum rate fell from {previous:.6g} to {rate:.6g} bps/Hz", rate
    return None, rate


# ----------------------------------------------------------------------------- rank one


def per_bs_scale(scene: Scene, W: np.ndarray) -> np.ndarray:
    """Candidates W (D, NL, K+1) with every BS's rows scaled to its budget (silent BSs stay)."""
    used = crates.per_bs_power(W, scene.N)  # (D, N)
    s = np.where(used > 0, np.sqrt(scene.power / np.maximum(used, 1e-300)), 0.0)
    D, NL, S = W.shape
    return (W.reshape(D, scene.N, -1, S) * s[:, :, None, None]).reshape(D, NL, S)


def candidates(X: np.ndarray, draws: int, rng: np.random.Generator) -> np.ndarray:
    """The principal-eigenvector beams and ``draws`` draws w_k ~ CN(0, Q_k): (1+draws, NL, K+1)."""
    lam, U = np.linalg.eigh(X)
    root = U * np.sqrt(np.maximum(lam, 0.0))[:, None, :]
    z = rng.standard_normal((draws,) + lam.shape) + 1j * rng.standard_normal((draws,) + lam.shape)
    cols = np.einsum("knm,dkm->dkn", root, z / math.sqrt(2.0))
    return np.moveaxis(np.concatenate([root[None, :, :, -1], cols]), -1, -2)


def extract(
    scene: Scene, X: np.ndarray, gamma: float, w_min: np.ndarray, draws: int, seed: int
) -> tuple[np.ndarray, float, float, bool]:
    """Rank-one W (NL, K+1) from covariances X (module docstring) -> (W, sum rate, SPEB, met)."""
    W = per_bs_scale(scene, candidates(X, draws, np.random.default_rng(seed)))
    F = np.broadcast_to(scene.F, (len(W),) + scene.F.shape)
    rate = crates.sum_rate(F, W)
    sp = scene.speb(W)
    ok = sp <= gamma
    if ok.any():
        best = int(np.argmax(np.where(ok, rate, -np.inf)))
        return W[best], float(rate[best]), float(sp[best]), True
    Wb = W[int(np.argmax(rate))]
    blends = np.stack([Wb * math.sqrt(1 - t) for t in BLEND])
    blends[:, :, 0] += np.sqrt(BLEND)[:, None] * w_min[None]
    blends = crates.normalize_per_bs(blends, scene.power, scene.N)
    sp = scene.speb(blends)
    ok = sp <= gamma
    i = int(np.argmax(ok)) if ok.any() else int(np.argmin(sp))
    rate_i = float(crates.sum_rate(F[:1], blends[i : i + 1])[0])
    return blends[i], rate_i, float(sp[i]), bool(ok.any())


# ----------------------------------------------------------------------------- one realization


def min_speb_point(
    scene: Scene, solver: str, draws: int = 50, seed: int = 0
) -> tuple[float, np.ndarray, np.ndarray]:
    """Phase 0: (relaxed min SPEB under per-BS power, its covariance R (NL, NL), the single
    beam (NL,) of least SPEB among the target beam, R's principal beam and ``draws`` draws
    from CN(0, R), each scaled per BS: a rank-one R is rare, one beam gives G rank one)."""
    ref = float(scene.speb(target_beam(scene)[:, None]))  # scales tr U to about 1
    prog = Program(scene, ref, solver, min_speb=True)
    faults = []
    for name in (solver, other_solver(solver)):  # a garbage "solved" answer: the other solver
        status, X = prog.run(solver=name)
        fault = f"status {status!r}" if status not in problems.SOLVED else None
        if fault is None:
            fault = psd_fault(X, float(scene.power.max()))
        if fault is None:
            min_speb = ref * float(np.trace(prog.U.value))
            if not (math.isfinite(min_speb) and min_speb > 0):
                fault = f"min SPEB {min_speb:.6g} m^2 (not > 0)"
        if fault is None:
            break
        faults.append(f"{name}: {fault}")
    else:
        raise RuntimeError(f"sca_speb: the min-SPEB program failed ({'; '.join(faults)})")
    R = X.sum(0)
    cands = candidates(R[None], draws, np.random.default_rng(seed))  # (1 + draws, NL, 1)
    cands = per_bs_scale(scene, np.concatenate([target_beam(scene)[None, :, None], cands]))
    w = cands[int(np.argmin(scene.speb(cands))), :, 0]
    return min_speb, R, w


def solve_one(
    scene: Scene, settings: Settings = Settings(), history: bool = False
) -> tuple[np.ndarray, dict[str, Any]]:
    """One realization -> (W (NL, K+1) sensing first, extras of EXTRAS; ``history`` adds the
    relaxed sum rate after each SCA step, NaN for a failed one). A step that fails in both
    solvers (``step_fault``) ends the SCA with ``solved`` = ``feasible`` = 0."""
    start = time.perf_counter()
    s, F = settings, scene.F
    K, NL = F.shape[1], F.shape[0]
    gamma = float(s.gamma)
    constrained = math.isfinite(gamma)
    X = np.zeros((K + 1, NL, NL), complex)
    w_min = np.zeros(NL, complex)
    min_speb = math.nan
    if constrained:
        min_speb, R0, w_min = min_speb_point(scene, s.solver, s.draws, s.seed)
        X[0] = R0
        if gamma < min_speb * (1 - FEAS_SLACK):
            W = np.zeros((NL, K + 1), complex)
            W[:, 0] = w_min
            sp = float(scene.speb(W))
            extras = dict(zip(EXTRAS, (math.nan, float(crates.sum_rate(F[None], W[None])[0]),
                                       sp, 0.0, 0.0, min_speb, math.nan, 0.0,
                                       time.perf_counter() - start, 1.0)))  # fmt: skip
            return W, extras | ({"history": []} if history else {})
    else:
        X[0] = np.diag(np.repeat(scene.power / scene.L, scene.L)).astype(complex)
    prog = Program(scene, gamma if constrained else None, s.solver)
    value = float(relaxed_sum_rate(F, X))
    steps: list[float] = []
    iterations = 0
    solved = True
    while iterations < s.max_iters:
        iterations += 1
        faults = []
        for name in (s.solver, other_solver(s.solver)):
            status, X_next = prog.run(X, solver=name)
            fault, new = step_fault(scene, status, X_next, value)
            if fault is None:
                break
            faults.append(f"{name}: {fault}")
        else:
            solved = False
            steps.append(math.nan)
            warnings.warn(f"sca_speb: SCA step {iterations} failed in both solvers "
                          f"({'; '.join(faults)}); the realization is reported failed",
                          RuntimeWarning, stacklevel=2)  # fmt: skip
            break
        steps.append(new)
        gain, old = new - value, value
        if gain >= 0:  # a step back is solver noise at convergence: keep the better iterate
            X, value = X_next, new
        if gain <= s.tol * max(abs(old), 1e-12):
            break
    W, rate, sp, met = extract(scene, X, gamma, w_min, s.draws, s.seed)
    extras = dict(zip(EXTRAS, (value if solved else math.nan, rate, sp, float(met),
                               float(solved), min_speb, rank_one_fraction(X, s.rank_tol),
                               float(iterations), time.perf_counter() - start,
                               float(solved))))  # fmt: skip
    if history:
        extras["history"] = steps
    return W, extras


def solve_point(point: dict[str, Any]) -> dict[str, np.ndarray]:
    """One realization as a sweep point (``gr_cfisac.sweep``) -> record {"W", *EXTRAS}."""
    scene = Scene(**{f.name: point[f.name] for f in dataclasses.fields(Scene)})
    W, extras = solve_one(scene, Settings(**point["settings"]))
    return {"W": W, **{k: np.asarray(extras[k]) for k in EXTRAS}}


def solve_scenes(
    scenes: list[Scene],
    settings: Settings = Settings(),
    scheduler: Any = "sync",
    cache_dir: str | None = None,
    progress: bool = False,
) -> PrecoderResult:
    """Scenes on the sweep runner (``sweep.run_points``: "sync" in process, None/"local" a
    local Dask cluster, "tcp://HOST:PORT"; ``cache_dir`` caches each by content)
    -> PrecoderResult(W (B, NL, K+1), extras (B,) each of EXTRAS)."""
    from ...sweep import run_points

    common = {"settings": dataclasses.asdict(settings)}
    points = [{**dataclasses.asdict(sc), **common} for sc in scenes]
    out = run_points(solve_point, points, scheduler=scheduler, cache_dir=cache_dir or None,
                     version=f"sca_speb-{CACHE_VERSION}", progress=progress, desc="sca_speb")  # fmt: skip
    W = np.stack([r["W"] for r in out])
    return PrecoderResult(W, {k: np.array([float(r[k]) for r in out]) for k in EXTRAS})


def solve_batch(
    batch: Any,
    power: float | np.ndarray | None = None,
    settings: Settings = Settings(),
    scheduler: Any = "sync",
    cache_dir: str | None = None,
) -> PrecoderResult:
    """A ``coisac.CoisacBatch`` (true channels, alpha and target) at per-BS ``power``
    (normalized; None: the config's) -> PrecoderResult as ``solve_scenes``."""
    return solve_scenes(scenes_of(batch, power), settings, scheduler, cache_dir)


def mean_speb_at_power(
    batch: Any,
    power: float | np.ndarray,
    gamma: float,
    settings: Settings = Settings(),
    scheduler: Any = "sync",
    cache_dir: str | None = None,
) -> float:
    """The SCA's mean SPEB (m^2) over the feasible realizations of ``batch`` at per-BS
    ``power`` (normalized), the SCA run with the strict constraint SPEB <= ``gamma`` (m^2).

    Issue 14 sets the learned models' gamma at each power to this value, as paper 003 does.
    Which gamma the SCA gets is the caller's choice: the mean is <= gamma where the
    constraint binds, and gamma = inf gives the SPEB of the unconstrained sum-rate optimum,
    the loosest gamma at which the constraint can still bind (use it, times a factor < 1, for
    a strict constraint at every power). NaN when no realization is feasible."""
    s = dataclasses.replace(settings, gamma=float(gamma))
    res = solve_batch(batch, power, s, scheduler, cache_dir)
    ok = res.extras["feasible"] > 0
    return float(np.mean(res.extras["speb"][ok])) if ok.any() else math.nan


# ----------------------------------------------------------------------------- registry family


def settings_from(params: dict[str, Any]) -> Settings:
    """Settings from the family's parameters (gamma 0 / None: no SPEB constraint)."""
    g = params["gamma"]
    return Settings(math.inf if g in (None, 0) else float(g), float(params["tol"]),
                    int(params["max_iters"]), int(params["draws"]), int(params["seed"]),
                    solver=str(params["solver"]))  # fmt: skip


def _build(spec: PrecoderSpec, cfg: Any):
    from ...coisac.scenario import CoisacConfig, power_from_dbm

    p = dict(spec.params)
    settings = settings_from(p)
    if not isinstance(cfg, CoisacConfig):
        raise ValueError(f"sca_speb serves scenario coisac: it needs a CoisacConfig, got "
                         f"{type(cfg).__name__}")  # fmt: skip
    dbm = cfg.power_dbm if p["power"] in (None, "") else float(p["power"])
    power = power_from_dbm(cfg, dbm)
    try:
        import cvxpy  # noqa: F401
    except ImportError:
        raise ValueError("sca_speb needs cvxpy (Clarabel/SCS): pip install 'gr-cfisac[convex]'") from None  # fmt: skip

    def design(r: Realization) -> PrecoderResult:
        return solve_scenes(network_scenes(cfg, r, power), settings, p["scheduler"] or "sync",
                            p["cache_dir"] or None)  # fmt: skip

    return design


_DEFAULTS = Settings()
FAMILY = register(
    Family(
        "sca_speb",
        _build,
        "paper 003's SCA baseline of problem 32: max sum rate s.t. per-BS power and SPEB <= "
        "gamma (SDR + convex-concave iterations, SPEB as LMIs, cvxpy), Gaussian randomization",
        {
            "gamma": None,
            "power": None,
            "tol": _DEFAULTS.tol,
            "max_iters": _DEFAULTS.max_iters,
            "draws": _DEFAULTS.draws,
            "seed": _DEFAULTS.seed,
            "solver": _DEFAULTS.solver,
            "scheduler": "sync",
            "cache_dir": "",
        },
        frozenset({"estimates", "sensing_geometry"}),
        scenarios=("coisac",),
    )
)
