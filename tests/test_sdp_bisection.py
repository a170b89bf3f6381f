"""The sdp_bisection baseline of paper 001 (problems 8 and 9, cvxpy): gamma_high is the largest
feasible min-SINR within the stated precision, the extracted beams meet every constraint, the
relaxed optimum bounds their SSNR, results are cached on disk, and the registry family serves
pos1/pos2 with its extras. Tiny sizes (L = 2, M = 2, N <= 2, one realization)."""

import numpy as np
import pytest

pytest.importorskip("cvxpy")

from gr_cfisac import decentral  # noqa: E402
from gr_cfisac.decentral import PosConfig  # noqa: E402
from gr_cfisac.precoding.convex import problems, sdp_bisection  # noqa: E402
from gr_cfisac.precoding.registry import PrecoderSpec, Realization, make_precoder  # noqa: E402

CFG = PosConfig("pos1", L=2, M=2, N=2)
# one realization with positions chosen so the SINR constraint binds (a rank-one SDP optimum)
USERS, TARGET = [[10.0, 50.0], [62.0, 50.0]], [40.0, 50.0]


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    b = decentral.realize(CFG, USERS, TARGET)
    cache = tmp_path_factory.mktemp("sdp")
    res = sdp_bisection.solve_batch(b.F, b.a_t, 0.1, 1.0, 1.0, cache_dir=cache)
    return b, res, cache


def test_a_single_user_bisection_reaches_the_closed_form_max_sinr():
    """N = 1: no interference, so problem 8's max SINR is (sum_l sqrt(rho P_l) ||h_l||)^2."""
    cfg = PosConfig("pos1", L=2, M=2, N=1)
    b = decentral.draw(cfg, 1, 4)
    best = 0.5 * (np.linalg.norm(b.F[0, :2]) + np.linalg.norm(b.F[0, 2:])) ** 2
    gamma, solves = problems.bisect_gamma(b.F[0], np.ones(2), 1.0, rho=0.5, tol=1e-3)
    assert best * (1 - 2e-3) <= gamma <= best
    assert solves <= 12


def test_gamma_high_is_feasible_and_a_little_more_is_not(solved):
    b, res, _ = solved
    gamma = res.extras["gamma_high"][0]
    prob = problems.CommFeasibility(b.F[0], np.ones(2), 1.0, 0.5)
    assert prob.feasible(gamma)
    assert not prob.feasible(gamma * (1 + 3e-3))  # bisection precision 1e-3 relative


def test_extracted_beams_meet_problem_9s_constraints_and_reach_the_sdp_optimum(solved):
    b, res, _ = solved
    W, ex = res.W, res.extras
    assert W.shape == (1, 4, 3)
    assert np.all(decentral.per_ap_power(W, 2) <= 1.0 + 1e-5)
    sinr = decentral.sinr(b.F, W)
    assert sinr.min() >= ex["gamma_high"][0] * (1 - 1e-4)
    np.testing.assert_allclose(ex["min_sinr"], sinr.min(axis=1), rtol=1e-9)
    s = decentral.ssnr(b.a_t, W)
    np.testing.assert_allclose(ex["ssnr"], s, rtol=1e-9)
    assert ex["rank_one"][0] == 1.0  # this geometry's SDP optimum is rank one ...
    np.testing.assert_allclose(s, ex["ssnr_sdp"], rtol=1e-4)  # ... so nothing is lost
    assert s[0] < 0.1 * 2 * 2  # below the sensing-only maximum 0.1 L M: the SINR floor binds


def test_the_relaxation_bounds_the_extracted_ssnr_when_it_is_not_rank_one():
    """A loose SINR floor (gamma = 0.2): the SDP's optimum is not unique and can be of higher
    rank; the extracted beams stay feasible and the relaxed optimum bounds their SSNR."""
    b = decentral.realize(CFG, [[0.0, 50.0], [100.0, 50.0]], [50.0, 50.0])
    sol = problems.max_ssnr_sdp(b.F[0], b.a_t[0], np.full(2, 0.1), np.ones(2), 1.0, 0.2)
    W = problems.extract_beams(b.F[0], sol.R)
    assert decentral.ssnr(b.a_t, W[None])[0] <= sol.ssnr * (1 + 1e-5)
    assert decentral.sinr(b.F, W[None]).min() >= 0.2 * (1 - 1e-4)
    assert np.all(decentral.per_ap_power(W[None], 2) <= 1 + 1e-5)


def test_results_are_cached_on_disk_and_read_back_without_solving(solved, monkeypatch):
    b, res, cache = solved
    assert len(list(cache.glob("*.npz"))) == 1

    def no_solving(*args, **kwargs):
        raise AssertionError("solved again despite the cache")

    monkeypatch.setattr(sdp_bisection, "solve_one", no_solving)
    again = sdp_bisection.solve_batch(b.F, b.a_t, 0.1, 1.0, 1.0, cache_dir=cache)
    np.testing.assert_array_equal(again.W, res.W)
    assert again.extras["gamma_high"] == res.extras["gamma_high"]


def test_registry_family_serves_pos1_with_gamma_high_and_the_sdp_optimum(solved, tmp_path):
    b, res, cache = solved
    pre = make_precoder(PrecoderSpec("sdp_bisection", "pos1", {"cache_dir": str(cache)}), CFG)
    assert pre.family.placement == "central"
    out = pre(Realization(b.F_hat, b.sensing))
    np.testing.assert_array_equal(out.W, res.W)
    assert {"gamma_high", "ssnr_sdp"} <= set(out.extras)
    with pytest.raises(ValueError, match="serves scenario"):
        make_precoder(PrecoderSpec("sdp_bisection", "cellfree"), CFG)
    with pytest.raises(ValueError, match="rho .* must be in"):
        make_precoder(PrecoderSpec("sdp_bisection", "pos1", {"rho": 1.5}), CFG)
    with pytest.raises(ValueError, match="sdp_solver must be one of"):
        make_precoder(PrecoderSpec("sdp_bisection", "pos2", {"sdp_solver": "MOSEK"}), CFG)
