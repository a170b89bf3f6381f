"""The pos1/pos2 scenarios of paper 001: Fig. 6 geometries, eq 4 steering, eqs 2 and 6 against
a Monte-Carlo simulation of eqs 1 and 3, explicit positions, clear errors."""

import numpy as np
import pytest

from gr_cfisac import decentral, metrics
from gr_cfisac.decentral import PosConfig


def random_W(rng, B, LM, Q, L):
    W = rng.standard_normal((B, LM, Q)) + 1j * rng.standard_normal((B, LM, Q))
    W = W.reshape(B, L, -1, Q)
    return (W / np.linalg.norm(W, axis=(2, 3), keepdims=True)).reshape(B, LM, Q)


def test_pos1_puts_every_agent_on_y50_and_pos2_users_beside_the_road():
    c1 = PosConfig("pos1", L=2, M=4, N=5)
    b1 = decentral.draw(c1, 200, 3)
    np.testing.assert_array_equal(c1.aps(), [[25.0, 0.0], [75.0, 0.0]])
    assert np.all(b1.users[..., 1] == 50.0) and np.all(b1.target[:, 1] == 50.0)
    assert 0 <= b1.users[..., 0].min() and b1.users[..., 0].max() <= 100
    b2 = decentral.draw(PosConfig("pos2", L=2, M=4, N=5), 200, 3)
    assert np.all(b2.users[..., 1] == 23.0)
    assert 0 <= b2.target[:, 1].min() and b2.target[:, 1].max() <= 20
    assert b2.target[:, 1].std() > 3  # spread over the road, not a fixed lane
    again = decentral.draw(PosConfig("pos2", L=2, M=4, N=5), 200, 3)
    np.testing.assert_array_equal(again.F, b2.F)


def test_explicit_positions_give_the_steering_vectors_of_eq_4():
    cfg = PosConfig("pos1", L=2, M=4, N=2, ap_positions=((0.0, 0.0), (10.0, 0.0)))
    # user 0 broadside of AP 0 (cos 0), user 1 on AP 0's axis (cos 1); target broadside of AP 1
    b = decentral.realize(cfg, [[0.0, 30.0], [40.0, 0.0]], [10.0, 5.0])
    m = np.arange(4)
    np.testing.assert_allclose(b.F[0, :4, 0], np.ones(4))
    np.testing.assert_allclose(b.F[0, :4, 1], np.exp(1j * np.pi * m))
    np.testing.assert_allclose(b.a_t[0, 1], np.ones(4))
    cos = 10 / np.hypot(10, 5)  # the target seen from AP 0
    np.testing.assert_allclose(b.a_t[0, 0], np.exp(1j * np.pi * cos * m))
    H = b.csi()
    assert H.shape == (1, 2, 4, 3)
    np.testing.assert_array_equal(H[0, 1, :, :2], b.F[0, 4:])
    np.testing.assert_array_equal(H[0, 1, :, 2], b.a_t[0, 1])


def test_sinr_of_eq_2_is_the_core_sinr_at_unit_noise_and_scales_with_noise():
    rng = np.random.default_rng(0)
    cfg = PosConfig("pos2", L=2, M=4, N=3)
    b = decentral.draw(cfg, 8, rng)
    W = random_W(rng, 8, 8, 4, 2)
    np.testing.assert_allclose(decentral.sinr(b.F, W), metrics.sinr(b.F, W), rtol=1e-12)
    g = decentral.sinr(b.F, W, noise=4.0)
    assert np.all(g < decentral.sinr(b.F, W))


def test_sinr_and_ssnr_match_a_monte_carlo_simulation_of_eqs_1_and_3():
    rng = np.random.default_rng(1)
    cfg = PosConfig("pos1", L=2, M=4, N=3)
    b = decentral.draw(cfg, 4, rng)
    W = 2.0 * random_W(rng, 4, 8, 4, 2)  # 4 W per AP: SINRs and SSNR of order 1
    g_mc, s_mc = decentral.monte_carlo(b, W, 40000, rng)
    np.testing.assert_allclose(g_mc, decentral.sinr(b.F, W, cfg.noise), rtol=0.06, atol=0.01)
    s = decentral.ssnr(b.a_t, W, cfg.sensing_gain, cfg.noise)
    np.testing.assert_allclose(s_mc, s, rtol=0.05)
    np.testing.assert_allclose(decentral.ssnr_of(b.sensing, W), s, rtol=1e-12)


def test_ssnr_is_largest_with_every_ap_beaming_all_its_power_at_the_target():
    cfg = PosConfig("pos1", L=2, M=8, N=2)
    b = decentral.draw(cfg, 5, 2)
    best = np.zeros((5, 16, 3), complex)
    best[:, :, 0] = b.a_t.reshape(5, 16) / np.sqrt(cfg.M)  # 1 W per AP
    s = decentral.ssnr(b.a_t, best)
    # sum_r sum_l 0.1 * |a_l^H a_l|^2 / M / L = 0.1 * L * M
    np.testing.assert_allclose(s, 0.1 * 2 * 8)
    np.testing.assert_allclose(decentral.per_ap_power(best, 2), 1.0)
    rng = np.random.default_rng(3)
    assert np.all(decentral.ssnr(b.a_t, random_W(rng, 5, 16, 3, 2)) < s)


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="layout must be one of"):
        PosConfig("pos3")
    with pytest.raises(ValueError, match="ap_positions must be L=2"):
        PosConfig(ap_positions=((0.0, 0.0),))
    with pytest.raises(ValueError, match="M must be a positive integer"):
        PosConfig(M=0)
    with pytest.raises(ValueError, match="users must be"):
        decentral.realize(PosConfig(N=2), np.zeros((1, 3, 2)), np.zeros(2))
    with pytest.raises(ValueError, match=r"W \(B, L M, N\+1\)"):
        decentral.sinr(np.zeros((1, 4, 2)), np.zeros((1, 4, 2)))
    assert PosConfig.from_dict(PosConfig(ap_positions=((1, 0), (2, 0))).to_dict()).L == 2
