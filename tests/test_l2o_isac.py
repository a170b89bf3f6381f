"""Paper 002 section IV (monostatic ISAC): the scenario of eqs 26-28, the constraints of (29),
the log-barrier objective (30), and the two baselines (LMMSE + null-space sensing with the
least sensing power; the convex-concave SDR of (29))."""

import sys

import numpy as np
import pytest

from gr_cfisac import mono_isac as mi
from gr_cfisac import mumiso
from gr_cfisac.precoding import mono_isac as baselines


@pytest.mark.parametrize(("field", "value"), [("K", 0), ("M", 1.5), ("snr_db", float("inf")),
                                              ("power", 0.0), ("gamma_s_db", "30")])  # fmt: skip
def test_config_refuses_bad_fields_by_name(field, value):
    with pytest.raises(ValueError, match=field):
        mi.MonoIsacConfig(**{field: value})


def test_sensing_channel_eq26_and_snr_eq27():
    cfg = mi.MonoIsacConfig(K=3, N=8, M=2)
    b = mi.draw(cfg, 5, 0)
    assert b.G.shape == (5, 2, 8, 8)
    assert np.all(np.linalg.matrix_rank(b.G.reshape(-1, 8, 8)) == 1)
    a = mi.steering(b.theta, 8)
    np.testing.assert_allclose(b.G[1, 0], b.beta[1, 0] * np.outer(a[1, 0], a[1, 0].conj()))
    rng = np.random.default_rng(1)
    W = rng.standard_normal((5, 8, 3)) + 1j * rng.standard_normal((5, 8, 3))
    F = rng.standard_normal((5, 8, 8)) + 1j * rng.standard_normal((5, 8, 8))
    g = b.G[2, 1]
    want = (np.linalg.norm(g @ W[2]) ** 2 + np.linalg.norm(g @ F[2]) ** 2) / 0.5
    assert mi.sensing_snr(b.G, W, F, 0.5)[2, 1] == pytest.approx(want)


def test_sinr_eq28_counts_the_sensing_signal_and_reduces_to_eq3():
    cfg = mi.MonoIsacConfig(K=3, N=8, M=1)
    b = mi.draw(cfg, 4, 2)
    W = mumiso.lmmse(b.F_c, cfg.noise)
    zero = np.zeros((4, 8, 8))
    np.testing.assert_allclose(mi.sum_rate(b.F_c, W, zero, cfg.noise),
                               mumiso.sum_rate(b.F_c, W, cfg.noise))  # fmt: skip
    F = np.broadcast_to(np.eye(8) * 0.1, (4, 8, 8))
    assert np.all(mi.sum_rate(b.F_c, W, F, cfg.noise) < mumiso.sum_rate(b.F_c, W, cfg.noise))
    P = mi.nullspace_projector(b.F_c)
    assert np.abs(b.F_c.conj().swapaxes(-1, -2) @ P).max() < 1e-10  # users see nothing of P


def test_lmmse_nullspace_uses_the_least_sensing_power_that_meets_every_target():
    cfg = mi.MonoIsacConfig(K=4, N=16, M=2, snr_db=20, gamma_s_db=30)
    b = mi.draw(cfg, 40, 3)
    W, F, Ps = baselines.lmmse_nullspace(b, cfg)
    power = (np.abs(W) ** 2).sum((1, 2)) + (np.abs(F) ** 2).sum((1, 2))
    np.testing.assert_allclose(power, cfg.power)
    ok = mi.feasible(b, W, F, cfg)
    snr = mi.sensing_snr(b.G, W, F, cfg.radar_noise)
    binding = ok & (Ps > 0)
    assert binding.any() and (~ok).any()  # a scene where the floor binds, and one it cannot meet
    np.testing.assert_allclose(snr[binding].min(-1), cfg.gamma_s, rtol=1e-9)  # least power
    # the sensing signal lies in the users' null space: their SINR is eq 3's at power P0 - Ps
    np.testing.assert_allclose(mi.sum_rate(b.F_c, W, F, cfg.noise),
                               mumiso.sum_rate(b.F_c, W, cfg.noise), rtol=1e-9)  # fmt: skip
    obj = mi.barrier_objective(b, W, F, cfg, 0.1)
    assert np.all(np.isneginf(obj[~ok])) and np.all(np.isfinite(obj[ok & (Ps == 0)]))


def test_ccp_sdr_finds_feasible_beamformers_where_the_baseline_cannot():
    pytest.importorskip("cvxpy")
    cfg = mi.MonoIsacConfig(K=2, N=6, M=1, snr_db=15, gamma_s_db=25)
    b = mi.draw(cfg, 8, 5)
    W0, F0, _ = baselines.lmmse_nullspace(b, cfg)
    pick = np.flatnonzero(~mi.feasible(b, W0, F0, cfg))[:1]
    assert pick.size
    sub = mi.MonoIsacBatch(b.F_c[pick], b.theta[pick], b.beta[pick], b.G[pick])
    W, F, info = baselines.ccp_sdr(sub, cfg, iterations=6)
    assert mi.feasible(sub, W, F, cfg, rtol=1e-4).all()
    rate = mi.sum_rate(sub.F_c, W, F, cfg.noise)
    assert np.all(rate > 0) and np.all(rate <= info["relaxed_sum_rate"] + 1e-3)


def test_bench_isac_part_reports_rates_and_feasibility(tmp_path, monkeypatch):
    from gr_cfisac.bench import l2o as bench
    from gr_cfisac.bench import l2o_plots

    monkeypatch.setitem(bench.ISAC_GAMMAS_DB, True, (20.0,))
    monkeypatch.setitem(bench.ISAC_DRAWS, True, 2)
    monkeypatch.setitem(sys.modules, "cvxpy", None)  # the baseline without the SDR: fast
    res = bench.isac(True)
    row = res["rows"][0]
    assert "LMMSE + null space" in row and "SDR (CCP)" not in row
    assert 0 <= row["LMMSE + null space"]["feasible"] <= 1
    l2o_plots.plot_isac(res, tmp_path / "isac.png")
    assert (tmp_path / "isac.png").stat().st_size > 5_000
