"""The convex baselines' solver attempts (precoding.convex.solvers): each attempt runs its own
solver, a ladder says which attempt answered, and a solver that gives up is never read as the
answer an earlier solve of the same compiled program left behind."""

import numpy as np
import pytest

cp = pytest.importorskip("cvxpy")

from gr_cfisac.precoding.convex import ccpa_program, problems, solvers  # noqa: E402


def toy(feasible: bool = True):
    x = cp.Variable(2)
    bound = 0.0 if feasible else 3.0
    cons = [x >= bound, cp.sum(x) <= 2.0]
    return x, cp.Problem(cp.Minimize(cp.sum_squares(x - 1.0)), cons)


def recording(monkeypatch, give_up: tuple = ()):
    """Patch cvxpy's solve: record (solver, options) of every call; raise SolverError for the
    solvers in ``give_up``."""
    real, seen = cp.Problem.solve, []

    def solve(self, *args, **kw):
        seen.append((kw["solver"], kw.get("chordal_decomposition_enable"), kw.get("eps")))
        if kw["solver"] in give_up:
            raise cp.error.SolverError("gave up")
        return real(self, *args, **kw)

    monkeypatch.setattr(cp.Problem, "solve", solve)
    return seen


def test_each_attempt_runs_its_own_solver_with_its_own_options(monkeypatch):
    seen = recording(monkeypatch)
    for attempt in solvers.ATTEMPTS:
        x, problem = toy()
        assert solvers.solve_once(problem, attempt, warm_start=False) == "optimal"
        np.testing.assert_allclose(x.value, [1.0, 1.0], atol=1e-4)
    assert seen == [(cp.CLARABEL, None, None), (cp.CLARABEL, False, None),
                    (cp.SCS, None, solvers.SCS_EPS)]  # fmt: skip
    with pytest.raises(ValueError, match="solver attempt must be one of"):
        solvers.options("MOSEK")


def test_a_ladder_stops_at_the_first_accepted_attempt_and_names_it(monkeypatch):
    seen = recording(monkeypatch, give_up=(cp.CLARABEL,))
    x, problem = toy()
    out = solvers.solve_first(problem, ("CLARABEL", "SCS"), solvers.SOLVED, warm_start=True)
    assert out.status == "optimal" and out.attempt == "SCS"
    assert out.tried == (("CLARABEL", "solver_error"), ("SCS", "optimal"))
    np.testing.assert_allclose(x.value, [1.0, 1.0], atol=1e-4)
    seen.clear()
    out = solvers.solve_first(toy()[1], ("SCS", "CLARABEL"), solvers.SOLVED, warm_start=True)
    assert out.attempt == "SCS" and [s[0] for s in seen] == [cp.SCS]  # no second solve


def test_an_infeasible_verdict_stands_when_the_second_opinion_gives_up(monkeypatch):
    recording(monkeypatch, give_up=(cp.SCS,))
    _, problem = toy(feasible=False)
    out = solvers.solve_first(problem, ("CLARABEL", "SCS"), solvers.SOLVED, warm_start=True)
    assert out.status in solvers.INFEASIBLE and out.attempt == "CLARABEL"
    assert out.tried[1] == ("SCS", "solver_error")


def test_problem_8_does_not_read_a_solver_giving_up_as_the_last_gammas_answer(monkeypatch):
    """The bisection re-solves one compiled SOCP: when every solver gives up at a new gamma,
    the status of the previous (feasible) gamma used to come back as the answer."""
    rng = np.random.default_rng(0)
    F = rng.standard_normal((8, 2)) + 1j * rng.standard_normal((8, 2))
    prob = problems.CommFeasibility(F, np.ones(2), 1.0, 0.5)
    assert prob.feasible(0.1)  # solved, status "optimal" left on the problem
    recording(monkeypatch, give_up=(cp.CLARABEL, cp.SCS))
    with pytest.raises(RuntimeError, match="solver_error"):
        prob.feasible(0.2)


def test_problem_9_reports_the_solver_that_solved_it(monkeypatch):
    recording(monkeypatch, give_up=(cp.CLARABEL,))
    rng = np.random.default_rng(1)
    F = rng.standard_normal((4, 1)) + 1j * rng.standard_normal((4, 1))
    a_t = np.exp(1j * rng.uniform(0, 2 * np.pi, (2, 2)))
    sol = problems.max_ssnr_sdp(F, a_t, np.full(2, 0.1), np.ones(2), 1.0, 0.5, "CLARABEL")
    assert sol.solver == "SCS" and sol.status in solvers.SOLVED
    assert problems.LADDER["SCS"] == ("SCS",)  # Clarabel is not tried after SCS on problem 9
    with pytest.raises(ValueError, match="solver must be one of"):
        problems.max_ssnr_sdp(F, a_t, np.full(2, 0.1), np.ones(2), 1.0, 0.5, "MOSEK")


def test_a_re_solved_ccpa_program_reports_the_solvers_giving_up(monkeypatch):
    """ccpa's SCA re-solves its compiled surrogate each step: a step where both solvers give up
    is "solver_error", not the previous step's "optimal" (which handed back stale values)."""
    x, problem = toy()
    assert ccpa_program._solve(problem, "SCS") == "optimal"
    recording(monkeypatch, give_up=(cp.CLARABEL, cp.SCS))
    assert ccpa_program._solve(problem, "SCS") == "solver_error"
    with pytest.raises(ValueError, match="solver must be one of"):
        ccpa_program._solve(problem, "MOSEK")
