"""The mumiso scenario of paper 002 (eqs 1, 3, 5): configuration, masked draws, sum rate, LMMSE,
the closed-form gradient, and our WMMSE as its reference optimizer (overloaded K > N too)."""

import numpy as np
import pytest

from gr_cfisac import mumiso
from gr_cfisac.mumiso import MuMisoConfig
from gr_cfisac.precoding import mrt, rzf, wmmse


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"K": 17}, "K=17"),
        ({"N": 20}, "N=20"),
        ({"K": 0}, "K must"),
        ({"Km": 2.5}, "Km must"),
        ({"N": True}, "N must"),
        ({"snr_db": float("nan")}, "snr_db"),
        ({"snr_db": "20"}, "snr_db"),
    ],
)
def test_config_refuses_bad_fields_by_name(fields, named):
    with pytest.raises(ValueError, match=named):
        MuMisoConfig(**fields)


def test_config_noise_is_one_over_snr_and_round_trips():
    cfg = MuMisoConfig(K=3, N=5, Km=8, Nm=6, snr_db=20)
    assert cfg.noise == pytest.approx(0.01)
    assert MuMisoConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        MuMisoConfig.from_dict({**cfg.to_dict(), "M": 1})


def test_draw_masks_k_users_and_n_antennas_and_is_reproducible():
    cfg = MuMisoConfig(K=5, N=7, Km=9, Nm=10)
    b = mumiso.draw(cfg, 400, 3)
    assert b.F.shape == (400, 10, 9)
    assert (b.users.sum(-1) == 5).all() and (b.antennas.sum(-1) == 7).all()
    outside = ~(b.antennas[:, :, None] & b.users[:, None, :])
    assert np.all(b.F[outside] == 0)
    assert np.mean(np.abs(b.F[~outside]) ** 2) == pytest.approx(1.0, rel=0.03)  # CN(0, 1)
    assert len({tuple(u) for u in b.users}) > 50  # random positions, not the first K
    np.testing.assert_array_equal(mumiso.draw(cfg, 400, 3).F, b.F)
    assert b.active_channels().shape == (400, 7, 5)


def test_masks_that_do_not_fit_the_channel_are_named():
    F = np.ones((2, 4, 3))
    with pytest.raises(ValueError, match="users mask"):
        mumiso.apply_masks(F, np.ones((2, 4), bool), np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="antennas mask"):
        mumiso.apply_masks(F, np.ones((2, 3), bool), np.full((2, 4), 2))


def test_sum_rate_single_user_mrt_is_the_snr_gain():
    rng = np.random.default_rng(0)
    f = rng.standard_normal((4, 6, 1)) + 1j * rng.standard_normal((4, 6, 1))
    W = mrt(f, 1.0)
    want = np.log2(1 + np.linalg.norm(f, axis=(1, 2)) ** 2 / 0.1)
    np.testing.assert_allclose(mumiso.sum_rate(f, W, 0.1), want)
    np.testing.assert_allclose(mumiso.waterfilling_bound(f, 0.1), want)  # tight for one user


def test_lmmse_eq5_equal_power_per_active_user_rzf_directions_zero_when_masked():
    cfg = MuMisoConfig(K=4, N=6, Km=7, Nm=8, snr_db=10)
    b = mumiso.draw(cfg, 50, 1)
    W = mumiso.lmmse(b.F, cfg.noise)
    power = np.linalg.norm(W, axis=1) ** 2
    np.testing.assert_allclose(power[b.users], 1 / 4)
    assert np.all(W[~(b.antennas[:, :, None] & b.users[:, None, :])] == 0)
    F = b.active_channels()
    Wa = mumiso.lmmse(F, cfg.noise)
    R = rzf(F, 1.0, cfg.noise)  # (F F^H + K sigma^2 / P I)^-1 F: the same directions
    unit = R / np.linalg.norm(R, axis=1, keepdims=True)
    np.testing.assert_allclose(Wa / np.linalg.norm(Wa, axis=1, keepdims=True), unit, atol=1e-12)


def test_closed_form_gradient_matches_finite_differences():
    rng = np.random.default_rng(2)
    F = rng.standard_normal((3, 5, 6)) + 1j * rng.standard_normal((3, 5, 6))
    W = rng.standard_normal((3, 5, 6)) + 1j * rng.standard_normal((3, 5, 6))
    G = mumiso.sum_rate_gradient(F, W, 0.3)
    D = rng.standard_normal(W.shape) + 1j * rng.standard_normal(W.shape)
    h = 1e-6
    fd = (mumiso.sum_rate(F, W + h * D, 0.3) - mumiso.sum_rate(F, W - h * D, 0.3)) / (2 * h)
    np.testing.assert_allclose(fd, np.real(np.sum(G.conj() * D, axis=(1, 2))), rtol=1e-6)


@pytest.mark.parametrize(("K", "N"), [(16, 11), (8, 4), (6, 11)])
def test_wmmse_converges_on_overloaded_and_underloaded_mumiso(K, N):
    """Monotone sum rate, a stationary point of eq 4 (gradient parallel to W on the power
    sphere), above LMMSE and below the cooperative water-filling capacity."""
    cfg = MuMisoConfig(K=K, N=N, Km=16, Nm=16, snr_db=20)
    F = mumiso.draw(cfg, 8, 4, contiguous=True).active_channels()
    W, hist = wmmse(F, 1.0, cfg.noise, iterations=4000, tol=1e-11, return_history=True)
    assert np.diff(hist, axis=1).min() > -1e-9 * hist.max()
    assert hist.shape[1] < 4001  # stopped on the tolerance, not the iteration cap
    G = mumiso.sum_rate_gradient(F, W, cfg.noise)
    lam = np.real(np.sum(G.conj() * W, axis=(1, 2)))[:, None, None]
    residual = np.linalg.norm(G - lam * W, axis=(1, 2)) / np.linalg.norm(G, axis=(1, 2))
    assert residual.max() < 2e-3
    rate = mumiso.sum_rate(F, W, cfg.noise)
    np.testing.assert_allclose(rate, hist[:, -1])
    assert np.all(rate >= mumiso.sum_rate(F, mumiso.lmmse(F, cfg.noise), cfg.noise) - 1e-9)
    assert np.all(rate <= mumiso.waterfilling_bound(F, cfg.noise) + 1e-9)


def test_scenario_family_and_bench_import_neither_torch_nor_gnuradio():
    import subprocess
    import sys

    code = (
        "import sys, gr_cfisac.mumiso, gr_cfisac.precoding.l2o, gr_cfisac.bench.l2o\n"
        "print([m for m in sys.modules if m.split('.')[0] in ('torch', 'gnuradio', 'pmt')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
