"""The conic programs of paper 003's ``sca_speb`` (problem 32) in cvxpy, the min-SPEB phase and
the checks of every solver answer.

Relaxation. Q_k = p_k p_k^H (k = 0 the sensing beam p^s, 1..K the users), R = sum_k Q_k.
The full FIM of the echo model (eq 52) is affine in R (``speb_fim``) and the exact EFIM of
``coisac.speb`` (``form="exact"``) is its Schur complement, so SPEB(R) <= gamma is the LMIs

    [[J_tt(R) - Jp, J_ta(R)], [J_at(R), J_aa(R)]] >= 0,   [[U, I], [I, Jp]] >= 0,   tr U <= gamma

(``speb_fim.fim_blocks_affine`` gives the coefficient matrices). Rates (eq 3, the sensing beam
interferes, unit noise; ``covariance_rates``):
log(1 + SINR_k) = log(sum_j h_k^H Q_j h_k + 1) - log(sum_{j != k} h_k^H Q_j h_k + 1); the SCA
surrogate (``Program``) replaces the subtracted log by its tangent at the current iterate (a
concave lower bound tight there, the tangent's 1 / I_k a cvxpy parameter), so the relaxed sum
rate never decreases.

Subspace (exact reduction, ``subspace``). Q_k enters the program only through the rates'
h_k^H Q h_k, the FIM's Re tr(L_p^H L_q Q), whose maps L_p (``speb_fim.fim_maps``) read BS n's
block of a stream only through a_n^H, da_theta_n^H and da_beta_n^H, and per-BS traces. So with
B block-diagonal spanning, per BS n, {a_n, da_theta_n, da_beta_n, the users' channels at BS n}
(``subspace_basis``, d <= N min(L, 3 + K) columns) an optimum exists in Q_k = B Y_k B^H, and
the program is solved in the d x d matrices Y_k: at the bench's 3 BSs x 4 x 4 and K = 5,
24 x 24 instead of 48 x 48. Measured there in Clarabel (one realization): min SPEB 1.72249 m^2
in 15 s against the full program's 1.72251 m^2 in 769 s; one SCA step from it, relaxed sum
rate 24.5894 against 24.5881 bps/Hz, 16 s against 784 s (~50 x; a test checks that the two
programs agree, ``subspace=False``).

Failed steps. A step's status may say solved while its iterate is garbage (seen: a relaxed sum
rate of -26.5 bps/Hz, impossible for PSD Q_k, each rate term being >= 0). So a step fails
(``step_fault``) when its status is not solved, its X is non-finite or not PSD (an eigenvalue
below -PSD_TOL max(max_n P_n, largest eigenvalue)), its relaxed sum rate is non-finite or below
-RATE_TOL max(1, |rate|), or the rate drops by more than DROP_TOL max(1, |previous|) (the
surrogate is tight at the previous iterate, so only solver noise, measured ~1e-4 relative in
SCS, can lower it; a smaller drop stops the SCA at the better iterate). ``sca_speb.solve_one``
takes a failed step to the next attempt of ATTEMPTS (Clarabel, Clarabel without chordal
decomposition, SCS; SCS first when it is the solver) and reports the realization failed when
every attempt fails.

Min SPEB (phase 0, ``min_speb_point``). Minimize tr U under per-BS power: the relaxed minimum
SPEB and its covariance R, checked like a step (status, PSD, a min SPEB > 0), retried in the
next attempts, RuntimeError when all fail. R is seldom rank one (one beam makes G of rank one
and loses the transmit-angle information), so the "min-SPEB beam" p* is the single beam of
least exact SPEB among the per-BS target beam, R's principal beam and draws from CN(0, R)
(``speb_extraction``).

Units and solvers. The program is solved in X_k = Q_k / max_n P_n, its LMI rows scaled (the
Schur complement does not depend on the nuisance's scale). Solvers: Clarabel (``sca_speb``'s
default; its defaults, gap and feasibility 1e-8) or SCS (eps_abs = eps_rel = 1e-6,
``solvers.SCS_EPS``); each attempt runs one solver (``solve_program``), the checks above decide
whether the next runs. In the subspace Clarabel is the faster and the surer: at the bench's size
one step took 15 s against SCS's 250 s, whose answer ("optimal_inaccurate") had a NaN relaxed
rate. On 2 of the bench's 24 realizations (20 dBm #4, 25 dBm #6) Clarabel's first step stopped
with "InsufficientProgress" and SCS's answer was not PSD (eigenvalue -1.3e9 against a floor of
-4.7e7) or had a NaN rate; Clarabel without chordal decomposition solved both (relaxed sum rate
23.0 and 30.3 bps/Hz, ~24 s). cvxpy is imported when a solver runs; numpy elsewhere;
complex128."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import problems, solvers
from .covariance_rates import rate_terms, relaxed_sum_rate
from .speb_extraction import candidates, per_bs_scale
from .speb_fim import fim_blocks_affine, full_fim
from .speb_scene import Scene, target_beam
from .subspace import block_basis, block_power_columns

SOLVERS = problems.SOLVERS
#: a covariance eigenvalue below -PSD_TOL x max(max_n P_n, its largest) is not PSD (SCS's
#: iterates reach ~-2e-5 x P0 here)
PSD_TOL = 1e-3
#: a relaxed sum rate below -RATE_TOL x max(1, |rate|) bps/Hz is impossible (every term >= 0)
RATE_TOL = 1e-4
#: a step losing more than DROP_TOL x max(1, |previous|) bps/Hz of relaxed sum rate failed
DROP_TOL = 1e-2


#: the solver attempts of one program, in order, for each ``solver`` of SOLVERS: a step (or the
#: min-SPEB program) whose answer fails its check goes to the next. CLARABEL_DENSE is Clarabel
#: without chordal decomposition of the PSD cones: where the default stopped with
#: "InsufficientProgress" (2 of the bench's 24 realizations, first step) it solved the step.
ATTEMPTS = {"CLARABEL": ("CLARABEL", "CLARABEL_DENSE", "SCS"),
            "SCS": ("SCS", "CLARABEL", "CLARABEL_DENSE")}  # fmt: skip


def attempts(solver: str) -> tuple[str, ...]:
    """The attempts (ATTEMPTS) of a program solved in ``solver``."""
    if solver not in ATTEMPTS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    return ATTEMPTS[solver]


def solve_program(problem: Any, attempt: str) -> str:
    """Solve in one attempt of ATTEMPTS (``solvers.solve_once``: its own solver only, the caller
    checks the answer and moves on); the status, "solver_error" when the solver gives up. A
    fresh solver every time (no warm start: the attempts' settings differ)."""
    return solvers.solve_once(problem, attempt, warm_start=False)


def subspace_basis(scene: Scene) -> np.ndarray:
    """B (N L, d) of ``subspace.block_basis``: per BS n span{a_n, da_theta_n, da_beta_n, the
    users' channels at BS n} (module docstring, "Subspace"); d <= N min(L, 3 + K)."""
    L = scene.L
    return block_basis([np.column_stack([scene.a[n], scene.da_theta[n], scene.da_beta[n],
                                         scene.F[n * L : (n + 1) * L]])
                        for n in range(scene.N)])  # fmt: skip


class Program:
    """The cvxpy program of one scene in X_k = Q_k / P0 (P0 = max_n P_n), X_k = B Y_k B^H with
    B = ``subspace_basis`` (``subspace`` False: B = I, the full N L x N L program). ``gamma``:
    the SPEB LMIs with tr U <= gamma (None: none); ``min_speb``: minimize tr U instead (phase
    0); otherwise the SCA surrogate sum_k log T_k - I_k / I_k0 with the tangent as a
    parameter."""

    def __init__(
        self,
        scene: Scene,
        gamma: float | None,
        solver: str,
        min_speb: bool = False,
        subspace: bool = True,
    ):
        import cvxpy as cp

        F, N, L = scene.F, scene.N, scene.L
        K, NL = F.shape[1], N * L
        self.scene, self.solver, self.P0 = scene, solver, float(scene.power.max())
        B = subspace_basis(scene) if subspace else np.eye(NL, dtype=complex)
        d = B.shape[1]
        self.B = B
        self.Y = [cp.Variable((d, d), hermitian=True) for _ in range(K + 1)]
        S = sum(self.Y)
        cons = [y >> 0 for y in self.Y]
        for n, cols in enumerate(block_power_columns(B, L)):  # tr(E_n B Y B^H)
            diag = cp.hstack([S[c, c] for c in cols])
            cons.append(cp.real(cp.sum(diag)) <= float(scene.power[n]) / self.P0)
        self.U = None
        if gamma is not None:
            C = fim_blocks_affine(scene) * self.P0
            m = C.shape[0]
            # scale rows: position by sqrt(gamma) (Jt = gamma Jp), nuisance to unit diagonal at
            # the uniform full-power covariance (the Schur complement ignores nuisance scale)
            ref = full_fim(C, np.diag(np.repeat(scene.power / self.P0 / L, L)).astype(complex))
            dm = np.ones(m)
            dm[:3] = math.sqrt(gamma)
            dm[3:] = 1.0 / np.sqrt(np.maximum(np.diag(ref)[3:], 1e-300 + 1e-12 * ref.max()))
            Cs = np.einsum("pqij,ia,jb->pqab", C * dm[:, None, None, None] * dm[None, :, None,
                           None], B.conj(), B)  # B^H C_pq B  # fmt: skip
            flat = Cs.transpose(0, 1, 3, 2).reshape(m * m, d * d)
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
        H = math.sqrt(self.P0) * (B.conj().T @ F)  # B^H h_k (h_k lies in B's span)
        self.inv_i = cp.Parameter(K, nonneg=True)
        terms = []
        for k in range(K):
            g = [cp.real(H[:, k].conj() @ y @ H[:, k]) for y in self.Y]
            interference = sum(g[j] for j in range(K + 1) if j != k + 1) + 1.0
            terms.append(cp.log(interference + g[k + 1]) - self.inv_i[k] * interference)
        self.problem = cp.Problem(cp.Maximize(sum(terms)), cons)

    def run(
        self, X0: np.ndarray | None = None, solver: str | None = None
    ) -> tuple[str, np.ndarray]:
        """Solve (SCA: tangent at covariances X0 (K+1, NL, NL), unscaled) in the attempt
        ``solver`` of ATTEMPTS (None: the program's solver) -> (status, X)."""
        if X0 is not None:
            _, interference = rate_terms(self.scene.F, X0)
            self.inv_i.value = 1.0 / interference
        status = solve_program(self.problem, solver or self.solver)
        if status not in problems.SOLVED:
            return status, np.zeros(0)
        Y = np.stack([np.asarray(y.value) for y in self.Y])
        X = self.B @ Y @ self.B.conj().T * self.P0
        return status, 0.5 * (X + X.conj().swapaxes(-1, -2))


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


def min_speb_point(
    scene: Scene, solver: str, draws: int = 50, seed: int = 0
) -> tuple[float, np.ndarray, np.ndarray]:
    """Phase 0: (relaxed min SPEB under per-BS power, its covariance R (NL, NL), the single
    beam (NL,) of least SPEB among the target beam, R's principal beam and ``draws`` draws
    from CN(0, R), each scaled per BS: a rank-one R is rare, one beam gives G rank one)."""
    ref = float(scene.speb(target_beam(scene)[:, None]))  # scales tr U to about 1
    prog = Program(scene, ref, solver, min_speb=True)
    faults = []
    for name in attempts(solver):  # a failed or garbage "solved" answer: the next attempt
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
