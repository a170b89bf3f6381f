"""The coisac scenario of paper 003: geometry and angle mapping (eqs 5, 6, 8, 29-31), the
geometric channels and radar reflections, explicit positions, pluggable sources, link budget,
rates with per-BS power (eqs 3, 4, 32b, 50) and the refusals."""

import subprocess
import sys

import numpy as np
import pytest

from gr_cfisac import arrays
from gr_cfisac.coisac import (
    BS_POSITIONS,
    TARGET,
    CoisacConfig,
    CoisacScenario,
    draw,
    normalize_per_bs,
    per_bs_power,
    sum_rate,
    user_rates,
)
from gr_cfisac.coisac.channels import umi_los_pathloss_db
from gr_cfisac.coisac.geometry import angle_jacobian, design_angles, paper_angles, steering


def eq8(theta, beta, Lx, Lz):
    """Eq 8 as printed (times sqrt(L), d = lambda / 2): element (i_x, i_z) at i_x + Lx i_z."""
    out = np.empty(Lx * Lz, complex)
    for iz in range(Lz):
        for ix in range(Lx):
            phase = np.pi * (ix * np.cos(beta) * np.cos(theta) + iz * np.sin(theta))
            out[ix + Lx * iz] = np.exp(1j * phase)
    return out


def test_paper_angles_follow_eqs_5_and_6():
    bs = np.array(BS_POSITIONS)
    theta, beta = paper_angles(bs, np.array(TARGET))
    d = np.array(TARGET) - bs
    dist = np.linalg.norm(d, axis=-1)
    np.testing.assert_allclose(theta, np.arcsin(d[:, 2] / dist))
    eq6 = np.arctan(d[:, 1] / d[:, 0]) + np.pi * (d[:, 0] < 0)
    np.testing.assert_allclose(np.exp(1j * beta), np.exp(1j * eq6))  # same angle mod 2 pi


def test_steering_is_eq_8_and_design_angles_give_the_same_vector():
    rng = np.random.default_rng(0)
    theta = rng.uniform(-1.4, 1.4, 20)
    beta = rng.uniform(-np.pi, np.pi, 20)
    a = steering(theta, beta, 4, 3)
    for i in range(20):
        np.testing.assert_allclose(a[i], eq8(theta[i], beta[i], 4, 3), atol=1e-12)
    psi_d, theta_d = design_angles(theta, beta)
    assert np.all((theta_d >= 0) & (theta_d <= np.pi / 2 + 1e-12))
    np.testing.assert_allclose(arrays.steering(psi_d, theta_d, 4, 3), a, atol=1e-12)


def test_jacobian_is_the_derivative_of_the_angles():
    bs = np.array(BS_POSITIONS)
    t = np.array(TARGET) + np.array([3.0, -7.0, 2.0])
    Q = angle_jacobian(bs, t)
    h = 1e-5
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        (tp, bp), (tm, bm) = paper_angles(bs, t + e), paper_angles(bs, t - e)
        num = np.concatenate([tp - tm, np.angle(np.exp(1j * (bp - bm)))]) / (2 * h)
        np.testing.assert_allclose(Q[:, i], num, rtol=1e-6, atol=1e-9)


def test_draw_shapes_positions_and_determinism():
    cfg = CoisacConfig()
    b = draw(cfg, 64, 5)
    N, L, K = 3, 16, 5
    assert (cfg.N, cfg.L, cfg.K) == (N, L, K)
    assert b.F.shape == (64, N * L, K) and b.F_hat is b.F
    assert b.alpha.shape == (64, N, N)
    np.testing.assert_array_equal(b.bs, np.array(BS_POSITIONS))
    np.testing.assert_array_equal(b.target, np.tile(TARGET, (64, 1)))
    (x0, x1), (y0, y1) = cfg.user_area
    u = b.users
    assert np.all((u[..., 0] >= x0) & (u[..., 0] <= x1) & (u[..., 1] >= y0) & (u[..., 1] <= y1))
    assert np.all(u[..., 2] == cfg.user_height_m)
    gap = np.linalg.norm(u[..., None, :2] - b.bs[:, :2], axis=-1)
    assert gap.min() >= cfg.min_user_distance_m
    again = draw(cfg, 64, 5)
    np.testing.assert_array_equal(again.F, b.F)
    np.testing.assert_array_equal(again.alpha, b.alpha)
    assert not np.allclose(draw(cfg, 64, 6).F, b.F)
    sg = b.sensing
    assert sg.amp_t.shape == (64, N, N) and sg.aT_t.shape == (64, N, L) and sg.NC == 0
    np.testing.assert_allclose(sg.amp_t, np.abs(b.alpha))
    np.testing.assert_allclose(arrays.steering(sg.psi_t, sg.theta_t, 4, 4), sg.aT_t, atol=1e-12)


def test_target_spread_moves_the_target_horizontally():
    b = draw(CoisacConfig(target_spread_m=5.0), 200, 1)
    off = b.target - np.array(TARGET)
    assert np.all(np.abs(off[:, :2]) <= 5.0) and np.all(off[:, 2] == 0)
    assert off[:, :2].std() > 2.0


def test_los_only_channel_carries_the_umi_pathloss_and_scatter_keeps_the_power():
    users = np.array([[[250.0, 420.0, 1.5], [280.0, 470.0, 1.5], [230.0, 440.0, 1.5]]])
    cfg = CoisacConfig(K=3, scattered_paths=0)
    b = CoisacScenario(cfg).realize(users, rng=0)
    dist = np.linalg.norm(users[0][:, None, :] - b.bs, axis=-1)  # (K, N)
    gain = np.abs(b.F[0].reshape(3, 16, 3)) ** 2  # (N, L, K)
    expect = 10 ** (-umi_los_pathloss_db(dist, 28e9) / 10)  # per (unit-gain) element
    np.testing.assert_allclose(gain.sum(1) / 16, expect.T, rtol=1e-12)
    assert umi_los_pathloss_db(100.0, 28e9) == pytest.approx(32.4 + 42.0 + 20 * np.log10(28))
    scattered = CoisacScenario(CoisacConfig(K=3)).realize(np.repeat(users, 400, 0), rng=1)
    power = (np.abs(scattered.F.reshape(400, 3, 16, 3)) ** 2).mean(axis=(0, 2))  # (N, K)
    np.testing.assert_allclose(power, expect.T, rtol=0.1)
    assert not np.allclose(scattered.F[0], scattered.F[1])  # same places, new scattering


def test_radar_reflections_follow_the_radar_equation_and_reciprocity():
    cfg = CoisacConfig()
    b = draw(cfg, 4, 2)
    d = np.linalg.norm(np.array(TARGET) - b.bs, axis=-1)
    lam = cfg.wavelength_m
    amp = np.sqrt(lam**2 * cfg.rcs_m2 / (4 * np.pi) ** 3) / np.outer(d, d)
    np.testing.assert_allclose(np.abs(b.alpha), np.broadcast_to(amp, (4, 3, 3)), rtol=1e-12)
    np.testing.assert_allclose(b.alpha, np.swapaxes(b.alpha, 1, 2))


def test_link_budget_gives_unit_noise_units():
    cfg = CoisacConfig()
    assert 10 * np.log10(cfg.noise_power_w * 1e3) == pytest.approx(-84.975, abs=1e-3)
    assert cfg.power == pytest.approx(0.1 / cfg.noise_power_w)
    assert CoisacConfig(power_dbm=30.0).power == pytest.approx(10 * cfg.power)


def test_explicit_positions_and_a_pluggable_channel_source():
    seen = {}

    def source(placement, rng):
        seen["placement"] = placement
        return np.ones((placement.batch, placement.N * placement.L, placement.K), complex)

    cfg = CoisacConfig(K=2)
    users = np.array([[250.0, 420.0, 1.5], [280.0, 470.0, 1.5]])
    target = np.array([260.0, 450.0, 15.0])
    b = CoisacScenario(cfg, channel_source=source).realize(users, target, rng=3)
    assert np.all(b.F == 1) and b.F.shape == (1, 48, 2)
    np.testing.assert_array_equal(seen["placement"].users[0], users)
    np.testing.assert_array_equal(b.target[0], target)
    r = b.realization()
    assert r.F_hat is b.F_hat and r.sensing is b.sensing

    def bad(placement, rng):
        return np.ones((1, 5, 2))

    with pytest.raises(ValueError, match="channel_source"):
        CoisacScenario(cfg, channel_source=bad).realize(users)
    with pytest.raises(ValueError, match="users"):
        CoisacScenario(cfg).realize(users[:1])
    with pytest.raises(ValueError, match="target"):
        CoisacScenario(cfg).realize(users, np.array([236.0, 390.0, 30.0]))  # above BS 1


def test_rates_and_per_bs_power():
    cfg = CoisacConfig()
    b = draw(cfg, 8, 4)
    rng = np.random.default_rng(5)
    W = rng.standard_normal((8, 48, 6)) + 1j * rng.standard_normal((8, 48, 6))
    W = W * np.sqrt(cfg.power / 6)
    F = b.F
    gains = np.abs(np.einsum("bnk,bnj->bkj", F.conj(), W)) ** 2
    for k in range(5):
        sinr = gains[:, k, k + 1] / (gains[:, k].sum(-1) - gains[:, k, k + 1] + 1.0)  # eq 3
        np.testing.assert_allclose(user_rates(F, W)[:, k], np.log2(1 + sinr))
    np.testing.assert_allclose(sum_rate(F, W), user_rates(F, W).sum(-1))
    power = per_bs_power(W, 3)
    np.testing.assert_allclose(power[0, 1], (np.abs(W[0, 16:32]) ** 2).sum())
    budget = np.array([1.0, 2.0, 3.0]) * power.mean()
    Wn = normalize_per_bs(W, budget, 3)
    after = per_bs_power(Wn, 3)
    assert np.all(after <= budget * (1 + 1e-12))
    under = power <= budget
    np.testing.assert_allclose(after[under], power[under])  # eq 50 leaves those alone
    np.testing.assert_allclose(after[~under], np.broadcast_to(budget, power.shape)[~under])
    with pytest.raises(ValueError, match="W must be"):
        sum_rate(F, W[..., :5])
    with pytest.raises(ValueError, match="power"):
        normalize_per_bs(W, -1.0, 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"K": 0}, "K must be"),
        ({"bs_positions": ((0.0, 0.0),)}, "bs_positions"),
        ({"user_area": ((10.0, 0.0), (0.0, 1.0))}, "user_area"),
        ({"power_dbm": float("nan")}, "power_dbm"),
        ({"scattered_paths": -1}, "scattered_paths"),
        ({"snapshots": 0}, "snapshots"),
    ],
)
def test_config_refuses_bad_values_by_name(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CoisacConfig(**kwargs)


def test_config_round_trip_and_unknown_fields():
    cfg = CoisacConfig(K=3, power_dbm=25.0, target=(250.0, 450.0, 20.0))
    assert CoisacConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        CoisacConfig.from_dict({"K": 3, "antennas": 4})
    crowded = CoisacConfig(user_area=((236.0, 237.0), (390.0, 391.0)))  # all within 10 m of b1
    with pytest.raises(ValueError, match="min_user_distance_m"):
        draw(crowded, 1, 0)


def test_the_package_is_numpy_only():
    code = (
        "import sys, gr_cfisac.coisac\n"
        "print([m for m in sys.modules if m.split('.')[0] in ('gnuradio', 'torch', 'pmt')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
