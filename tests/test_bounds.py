import numpy as np
import pytest

from gr_cfisac import bounds, echo, precoding
from gr_cfisac.arrays import direction_cosines
from gr_cfisac.config import SystemConfig
from gr_cfisac.scenario import draw_realizations


def test_single_source_closed_form():
    # one source, power p, unit noise, tau snapshots on a rows x cols URPA: the stochastic CRB
    # of u is 1 / (2 tau pi^2 M var(r) p^2 M / (1 + p M)), and likewise v with the columns
    rows, cols, tau, p = 4, 3, 100, 0.5
    u, v = np.array([0.3]), np.array([-0.2])
    crb = bounds.stochastic_crb_uv(u, v, np.array([[p]]), rows, cols, tau)
    M = rows * cols
    r, c = np.arange(M) % rows, np.arange(M) // rows
    gain = p**2 * M / (1 + p * M)
    assert crb[0, 0] == pytest.approx(1 / (2 * tau * np.pi**2 * M * np.var(r) * gain))
    assert crb[1, 1] == pytest.approx(1 / (2 * tau * np.pi**2 * M * np.var(c) * gain))
    assert crb[0, 1] == pytest.approx(0.0, abs=1e-12 * crb[0, 0])


def test_angle_and_uv_bounds_agree_through_the_jacobian():
    rng = np.random.default_rng(0)
    psi = np.array([-0.8, 1.2, 2.5])
    theta = np.array([0.7, 0.4, 1.0])
    G = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    P = G @ G.conj().T  # correlated sources
    crb_a = bounds.stochastic_crb(psi, theta, P, 4, 4, 192)
    u, v = direction_cosines(psi, theta)
    crb_uv = bounds.stochastic_crb_uv(u, v, P, 4, 4, 192)
    J = np.zeros((6, 6))  # d(u, v)/d(psi, theta), block diagonal per source
    for m in range(3):
        st, ct, sp, cp = np.sin(theta[m]), np.cos(theta[m]), np.sin(psi[m]), np.cos(psi[m])
        J[2 * m : 2 * m + 2, 2 * m : 2 * m + 2] = [[-st * sp, ct * cp], [st * cp, ct * sp]]
    assert np.allclose(J @ crb_a @ J.T, crb_uv, rtol=1e-6, atol=1e-12)


def test_bound_scales_with_snapshots_and_power():
    psi, theta = np.array([0.5]), np.array([0.6])
    base = bounds.stochastic_crb(psi, theta, np.array([[1.0]]), 4, 4, 100)
    assert np.allclose(bounds.stochastic_crb(psi, theta, np.array([[1.0]]), 4, 4, 400), base / 4)
    louder = bounds.stochastic_crb(psi, theta, np.array([[10.0]]), 4, 4, 100)
    assert np.all(np.diag(louder) < np.diag(base) / 5)


def test_unidentifiable_directions_give_infinite_bounds():
    # theta = 0: azimuth is undefined
    crb = bounds.stochastic_crb(np.array([0.3]), np.array([0.0]), np.array([[1.0]]), 4, 4, 50)
    assert np.isinf(crb[0, 0])


def test_uv_jacobian_matches_finite_differences():
    rap_pos = np.array([[0.0, 0.0, 10.0], [30.0, 5.0, 10.0]])
    frame = np.broadcast_to(np.array([[1.0, 0, 0], [0, 1.0, 0], [0, 0, -1.0]]), (2, 3, 3))
    p = np.array([12.0, -7.0, 1.5])

    def uv(point):
        d = point - rap_pos
        d = d / np.linalg.norm(d, axis=-1, keepdims=True)
        return np.einsum("jx,jkx->jk", d, frame[:, :2])

    D = bounds.uv_jacobian(rap_pos, frame, p)
    eps = 1e-6
    for x in range(3):
        dp = np.zeros(3)
        dp[x] = eps
        assert np.allclose(D[..., x], (uv(p + dp) - uv(p - dp)) / (2 * eps), atol=1e-8)


def test_position_error_bound_of_the_paper_scene():
    cfg = SystemConfig(MR_shape=(4, 4))
    real = draw_realizations(cfg, 4, 2)
    users = precoding.zf(real.F_hat, cfg.power_budget)
    beam = precoding.target_beam(real.sensing.aT_t, real.sensing.amp_t)
    W = precoding.isac_beamformer(users, beam, cfg.power_budget, 0.5)
    e = echo.synthesize(real.sensing, W, cfg.tau, 1)
    tb = bounds.target_bounds(real.sensing, e.source_covariance(), 4, 4, cfg.tau)
    assert tb.crb_angles.shape == (4, cfg.NR, 2, 2) and tb.info_uv.shape == (4, cfg.NR, 2, 2)
    assert np.all(np.isfinite(tb.angle_rmse_bound))
    peb, cov = bounds.position_error_bound(
        real.geom.rap_pos, real.geom.rap_frame, real.geom.target_pos, tb.info_uv
    )
    assert peb.shape == (4,) and cov.shape == (4, 3, 3) and np.all(peb > 0)
    peb2, _ = bounds.position_error_bound(
        real.geom.rap_pos, real.geom.rap_frame, real.geom.target_pos, tb.info_uv, known_height=True
    )
    assert np.all(peb2 <= peb)
    # more snapshots, tighter bound; one RAP fewer, looser bound
    tb4 = bounds.target_bounds(real.sensing, e.source_covariance(), 4, 4, 4 * cfg.tau)
    peb4, _ = bounds.position_error_bound(
        real.geom.rap_pos, real.geom.rap_frame, real.geom.target_pos, tb4.info_uv
    )
    assert np.allclose(peb4, peb / 2)
    fewer = tb.info_uv.copy()
    fewer[:, 0] = np.inf
    peb3, _ = bounds.position_error_bound(
        real.geom.rap_pos, real.geom.rap_frame, real.geom.target_pos, fewer
    )
    assert np.all(peb3 > peb)


def test_bad_input():
    with pytest.raises(ValueError, match=r"P must be \(\.\.\., n, n\) with n=2"):
        bounds.stochastic_crb(np.zeros(2), np.ones(2), np.eye(3), 4, 4, 10)
    with pytest.raises(ValueError, match="snapshots"):
        bounds.stochastic_crb(np.zeros(1), np.ones(1), np.eye(1), 4, 4, 0)
