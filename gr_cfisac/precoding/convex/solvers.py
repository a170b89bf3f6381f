"""How the convex baselines run cvxpy: one table of solver settings, one attempt = one solver,
and ladders of attempts whose order the caller names and whose answer says which attempt gave
it (no solver is ever tried behind the caller's back).

Attempts: ``CLARABEL`` (interior point, its defaults: gap and feasibility tolerances 1e-8),
``CLARABEL_DENSE`` (Clarabel without chordal decomposition of the PSD cones) and ``SCS``
(first-order, eps_abs = eps_rel = SCS_EPS, at most 100,000 iterations). An attempt whose solver
gives up (cvxpy's SolverError) ends in the status ``SOLVER_ERROR`` -- never in the status an
earlier solve of the same compiled problem left behind, which a re-solved parametrized program
(problem 8's bisection, an SCA's surrogate) would otherwise report as its answer. cvxpy is
imported when a program is solved.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

#: statuses that mean "solved" (inaccurate ones included: callers check what they use)
SOLVED = ("optimal", "optimal_inaccurate")
INFEASIBLE = ("infeasible", "infeasible_inaccurate")
#: the solvers a baseline's settings may name
SOLVERS = ("CLARABEL", "SCS")
#: SCS's eps_abs = eps_rel
SCS_EPS = 1e-6
SCS_MAX_ITERS = 100_000
#: the status of an attempt whose solver gave up
SOLVER_ERROR = "solver_error"
ATTEMPTS = ("CLARABEL", "CLARABEL_DENSE", "SCS")


def options(attempt: str) -> dict[str, Any]:
    """cvxpy's ``Problem.solve`` keywords of one attempt (ATTEMPTS)."""
    import cvxpy as cp

    table = {
        "CLARABEL": {"solver": cp.CLARABEL},
        "CLARABEL_DENSE": {"solver": cp.CLARABEL, "chordal_decomposition_enable": False},
        "SCS": {"solver": cp.SCS, "eps": SCS_EPS, "max_iters": SCS_MAX_ITERS},
    }
    if attempt not in table:
        raise ValueError(f"solver attempt must be one of {ATTEMPTS}, got {attempt!r}")
    return table[attempt]


def solve_once(problem: Any, attempt: str, warm_start: bool) -> str:
    """Solve ``problem`` in one attempt, its own solver only; the status, SOLVER_ERROR when the
    solver gives up. ``warm_start`` as cvxpy's (SCS starts from the last solution of this
    compiled problem; Clarabel ignores it)."""
    import cvxpy as cp

    kwargs = options(attempt)
    try:
        with warnings.catch_warnings():  # "may be inaccurate": the status says so
            warnings.simplefilter("ignore", UserWarning)
            problem.solve(warm_start=warm_start, **kwargs)
    except cp.error.SolverError:
        return SOLVER_ERROR
    return str(problem.status)


@dataclass(frozen=True)
class Outcome:
    """What a ladder of attempts ended in: the status of the attempt that answered (the first
    whose status was accepted; else the last one whose solver did not give up, else the last
    one), that attempt, and every (attempt, status) tried in order."""

    status: str
    attempt: str
    tried: tuple[tuple[str, str], ...]


def solve_first(
    problem: Any, attempts: tuple[str, ...], accept: tuple[str, ...], warm_start: bool
) -> Outcome:
    """Run ``attempts`` in order until one ends in a status of ``accept``."""
    if not attempts:
        raise ValueError("attempts must name at least one solver attempt")
    tried: list[tuple[str, str]] = []
    for attempt in attempts:
        status = solve_once(problem, attempt, warm_start)
        tried.append((attempt, status))
        if status in accept:
            return Outcome(status, attempt, tuple(tried))
    answered = [t for t in tried if t[1] != SOLVER_ERROR] or tried
    return Outcome(answered[-1][1], answered[-1][0], tuple(tried))


def fallback(solver: str) -> tuple[str, ...]:
    """``solver`` (SOLVERS) then the other one: the two-solver ladder of the ccpa programs and
    the SAO-ISAC baseline (problems 8 and 9 have their own, ``problems.LADDER``)."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    return (solver, *(s for s in SOLVERS if s != solver))
