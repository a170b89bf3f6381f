"""MU-MISO precoders (MRT, ZF, RZF, WMMSE), power normalization and the ISAC helper."""

import numpy as np
import pytest

from gr_cfisac.channels import crandn
from gr_cfisac.metrics import per_tap_power, sinr
from gr_cfisac.precoding import (
    isac_beamformer,
    mrt,
    nullspace_beam,
    rzf,
    target_beam,
    wmmse,
    zf,
)
from gr_cfisac.scenario import draw_realizations


@pytest.fixture(scope="module")
def real():
    from gr_cfisac.config import SystemConfig

    return draw_realizations(SystemConfig(), 40, 7)


def _sum_rate(F, W):
    return np.log2(1 + sinr(F, W)).sum(-1)


def _direction(W):
    return W / np.linalg.norm(W, axis=(1, 2), keepdims=True)


def test_zf_nulls_interference_on_estimates(real):
    W = zf(real.F_hat, real.cfg.power_budget)
    Z = np.abs(np.einsum("bnk,bnj->bkj", real.F_hat.conj(), W))
    off = Z[:, ~np.eye(real.cfg.K, dtype=bool)]
    on = np.einsum("bkk->bk", Z)
    assert off.max() < 1e-9 * on.min()


def test_rzf_limits_are_zf_and_mrt(real):
    F, P = real.F_hat, real.cfg.power_budget
    np.testing.assert_allclose(
        _direction(rzf(F, P, noise=1e-12 * P * np.abs(F).max() ** 2)),
        _direction(zf(F, P)),
        atol=1e-6,
    )
    np.testing.assert_allclose(_direction(rzf(F, P, noise=1e12)), _direction(mrt(F, P)), atol=1e-6)


@pytest.mark.parametrize("precoder", [mrt, zf, rzf, wmmse])
def test_total_and_per_tap_power(real, precoder):
    cfg = real.cfg
    P = cfg.power_budget
    W = precoder(real.F_hat, P)
    np.testing.assert_allclose((np.abs(W) ** 2).sum(axis=(1, 2)), P, rtol=1e-9)
    Wt = precoder(real.F_hat, P, per_tap=cfg.NT)
    taps = per_tap_power(Wt, cfg.NT)
    assert np.all(taps <= P / cfg.NT * (1 + 1e-9))
    if precoder is not wmmse:  # linear precoders fill every TAP exactly
        np.testing.assert_allclose(taps, P / cfg.NT, rtol=1e-9)
    else:  # WMMSE may leave a TAP below its share, but not by much on Table-I scenes
        assert taps.sum(-1).min() > 0.9 * P


def test_isac_beamformer_power_and_null_space(real):
    cfg, P = real.cfg, real.cfg.power_budget
    beam = nullspace_beam(target_beam(real.sensing.aT_t, real.sensing.amp_t), real.F_hat)
    W = isac_beamformer(zf(real.F_hat, P), beam, P, 0.3)
    np.testing.assert_allclose((np.abs(W) ** 2).sum(axis=(1, 2)), P, rtol=1e-9)
    np.testing.assert_allclose((np.abs(W[..., 0]) ** 2).sum(-1), 0.3 * P, rtol=1e-9)
    leak = np.abs(np.einsum("bnk,bn->bk", real.F_hat.conj(), W[..., 0]))
    assert leak.max() < 1e-9 * np.abs(real.F_hat).max() * np.sqrt(P * cfg.N)


@pytest.mark.parametrize("per_tap", [None, 8])
def test_wmmse_sum_rate_never_decreases(real, per_tap):
    rng = np.random.default_rng(3)
    init = crandn(rng, real.F_hat.shape)
    W, hist = wmmse(
        real.F_hat,
        real.cfg.power_budget,
        per_tap=per_tap,
        init=init,
        iterations=60,
        tol=0.0,
        return_history=True,
    )
    assert hist.shape == (real.batch, 61)
    steps = np.diff(hist, axis=1)
    assert steps.min() >= -1e-9 * hist.max()
    assert np.all(hist[:, -1] > hist[:, 0])
    np.testing.assert_allclose(hist[:, -1], _sum_rate(real.F_hat, W), rtol=1e-12)


@pytest.mark.parametrize("snr_db", [-20.0, -30.0])
def test_wmmse_beats_zf_and_mrt_at_low_snr(real, snr_db):
    F, P = real.F_hat, real.cfg.power_budget * 10 ** (snr_db / 10)
    init = crandn(np.random.default_rng(5), F.shape)  # not started from either competitor
    r_w = _sum_rate(F, wmmse(F, P, init=init))
    r_zf, r_mrt = _sum_rate(F, zf(F, P)), _sum_rate(F, mrt(F, P))
    assert r_w.mean() > 1.02 * max(r_zf.mean(), r_mrt.mean())
    assert np.mean(r_w >= np.maximum(r_zf, r_mrt) - 1e-9) > 0.9


def test_wmmse_single_user_is_mrt(rng):
    F = crandn(rng, (5, 12, 1))
    W = wmmse(F, 3.0, init=crandn(rng, F.shape))
    cos = np.abs(np.einsum("bn,bn->b", W[..., 0].conj(), F[..., 0]))
    np.testing.assert_allclose(cos, np.linalg.norm(F[..., 0], axis=-1) * np.sqrt(3.0), rtol=1e-6)


def test_wmmse_weights_favour_heavier_user(rng):
    F = crandn(rng, (30, 8, 3))
    w = np.array([10.0, 1.0, 1.0])
    g_equal = sinr(F, wmmse(F, 10.0))
    g_heavy = sinr(F, wmmse(F, 10.0, weights=w))
    assert np.mean(g_heavy[:, 0] > g_equal[:, 0]) > 0.9


def test_wmmse_is_deterministic(real):
    a = wmmse(real.F_hat, real.cfg.power_budget, iterations=20)
    b = wmmse(real.F_hat, real.cfg.power_budget, iterations=20)
    assert np.array_equal(a, b)


def test_precoders_reject_bad_input(real):
    F, P = real.F_hat, real.cfg.power_budget
    with pytest.raises(ValueError, match="F must be"):
        wmmse(F[0], P)
    with pytest.raises(ValueError, match="init"):
        wmmse(F, P, init=F[:, :-1])
    with pytest.raises(ValueError, match="per_tap"):
        wmmse(F, P, per_tap=5)
    with pytest.raises(ValueError, match="power"):
        wmmse(F, -1.0)
    with pytest.raises(ValueError, match="F must be"):
        zf(F[0], P)
    with pytest.raises(ValueError, match="sensing_fraction"):
        isac_beamformer(zf(F, P), F[..., 0], P, 1.5)
    with pytest.raises(ValueError, match=r"zf needs at least as many transmit antennas"):
        zf(F[:, :3], P)  # N = 3 < K = 4: no zero-forcing solution
    with pytest.raises(ValueError, match=r"aT_t must be \(B, NT, MT\)"):
        target_beam(real.sensing.aT_t[0])
    with pytest.raises(ValueError, match=r"amp_t must be \(B=40, NR, NT=8\)"):
        target_beam(real.sensing.aT_t, real.sensing.amp_t[:, :, :4])
    with pytest.raises(ValueError, match=r"beam must be \(B, N\) and F_hat"):
        nullspace_beam(F[:, :-1, 0], F)
