import numpy as np
import pytest

from gr_cfisac import echo, precoding
from gr_cfisac.arrays import steering
from gr_cfisac.channels import sensing_geometry, sensing_gram_averaged, sensing_matrices
from gr_cfisac.geometry import drop
from gr_cfisac.metrics import scnr_averaged
from gr_cfisac.scenario import draw_realizations


def isac_W(real, cfg, fraction=0.5):
    users = precoding.zf(real.F_hat, cfg.power_budget)
    beam = precoding.target_beam(real.sensing.aT_t, real.sensing.amp_t)
    return precoding.isac_beamformer(users, beam, cfg.power_budget, fraction)


def test_shapes_seed_and_ground_truth(cfg):
    real = draw_realizations(cfg, 3, 0)
    W = isac_W(real, cfg)
    a = echo.synthesize(real.sensing, W, cfg.tau, 42)
    b = echo.synthesize(real.sensing, W, cfg.tau, 42)
    assert a.y.shape == (3, cfg.NR, cfg.MR, cfg.tau) and a.y.dtype == np.complex128
    assert a.x.shape == (3, cfg.K + 1, cfg.tau)
    assert a.varpi_t.shape == (3, cfg.NR, cfg.NT) and a.varpi_c.shape == (3, cfg.NR, 2, cfg.NT)
    assert np.array_equal(a.y, b.y)
    assert not np.array_equal(a.y, echo.synthesize(real.sensing, W, cfg.tau, 43).y)
    assert np.array_equal(a.psi_t, real.sensing.psi_t) and a.theta_c.shape == (3, cfg.NR, 2)


def test_matches_the_sensing_matrices_of_eq_18(cfg):
    real = draw_realizations(cfg, 2, 1)
    W = isac_W(real, cfg)
    e = echo.synthesize(real.sensing, W, cfg.tau, 5, components=True)
    G_t, G_c = sensing_matrices(real.sensing, e.varpi_t, e.varpi_c)
    S = W @ e.x  # what the TAPs transmit
    clean = echo.apply_sensing_channel(G_t, G_c, S, None, noise_power=0.0)
    scale = np.abs(clean).max()
    assert np.allclose(e.target + e.clutter, clean, atol=1e-12 * scale)
    assert np.allclose(np.einsum("bjrn,bnt->bjrt", G_t, S), e.target, atol=1e-12 * scale)
    assert np.allclose(e.y, e.target + e.clutter + e.noise)
    # the target echo arrives from the target's direction: rank one along a_R,jt
    aR = steering(e.psi_t, e.theta_t, *cfg.MR_shape)
    resid = (
        e.target
        - aR[..., None] * (np.einsum("bjr,bjrt->bjt", aR.conj(), e.target) / cfg.MR)[:, :, None]
    )
    assert np.abs(resid).max() < 1e-12 * scale
    # G_c may come summed over clutter, and noise is unit power
    summed = echo.apply_sensing_channel(G_t, G_c.sum(axis=2), S, None, noise_power=0.0)
    assert np.allclose(summed, clean)
    noisy = echo.apply_sensing_channel(G_t, None, np.zeros_like(S), 3)
    assert np.mean(np.abs(noisy) ** 2) == pytest.approx(1.0, rel=0.05)


def test_symbols_have_unit_power(rng):
    x = echo.transmit_symbols(rng, 50, 4, 192)
    assert x.shape == (50, 5, 192)
    assert np.mean(np.abs(x) ** 2, axis=(0, 2)) == pytest.approx(np.ones(5), rel=0.02)
    assert np.allclose(np.abs(x[:, 1:]) ** 2, 1.0)  # QPSK users
    q = echo.transmit_symbols(rng, 2, 4, 8, sensing="qpsk")
    assert np.allclose(np.abs(q) ** 2, 1.0)


def test_static_scene_broadcasts_over_blocks(cfg):
    geom = drop(cfg, 0, 1, "paper")
    real = draw_realizations(cfg, 1, 0)
    W = isac_W(real, cfg)
    e = echo.synthesize_scene(cfg, geom, W, 7, blocks=6)
    assert e.y.shape[0] == 6 and e.target_pos.shape == (6, 3) and e.clutter_pos.shape == (6, 2, 3)
    # varpi is drawn per block, so blocks differ
    assert not np.allclose(e.varpi_t[0], e.varpi_t[1])


def test_bad_input_gets_a_clear_message(cfg):
    real = draw_realizations(cfg, 2, 0)
    W = isac_W(real, cfg)
    with pytest.raises(ValueError, match=r"W must be \(B, N=32, K\+1\)"):
        echo.synthesize(real.sensing, W[:, :10], cfg.tau, 0)
    with pytest.raises(ValueError, match=r"must be 1 .*number of blocks"):
        echo.synthesize(real.sensing, np.concatenate([W, W, W]), cfg.tau, 0)
    with pytest.raises(ValueError, match=r"S must be \(B, N=32, tau\)"):
        echo.apply_sensing_channel(real.G_t, real.G_c, np.zeros((2, 5, 3)), 0)
    with pytest.raises(ValueError, match="sensing must be"):
        echo.transmit_symbols(0, 1, 4, 8, sensing="ofdm")
    with pytest.raises(ValueError, match=r"extent_m must be \(dx, dy\)"):
        echo.extended_clutter(np.zeros(3), (4.0,), 3, 10.0)


def test_extended_clutter_region():
    pts, rcs = echo.extended_clutter(np.array([10.0, 20.0, 1.5]), (4.0, 2.0), 5, 30.0)
    assert pts.shape == (25, 3) and rcs.shape == (25,)
    assert rcs.sum() == pytest.approx(30.0)
    assert np.allclose(pts.mean(axis=0), [10.0, 20.0, 1.5])
    assert np.ptp(pts[:, 0]) == pytest.approx(4.0 * 4 / 5) and np.all(pts[:, 2] == 1.5)


def test_varpi_averaged_scnr_matches_synthesized_powers_with_extended_clutter(cfg):
    # point clutter plus a 5 x 5 extended region (27 clutter points), one fixed scene,
    # varpi, symbols and noise drawn per block: the ratio of average target power to average
    # clutter-plus-noise power of the snapshots is the varpi-averaged SCNR of metrics.py
    geom = drop(cfg, 3, 1, "paper")
    region, rcs_region = echo.extended_clutter(np.array([30.0, 35.0, 1.5]), (6.0, 6.0), 5, 40.0)
    clutter = np.concatenate([geom.clutter_pos[0], region])
    rcs = np.concatenate([np.full(2, cfg.rcs_clutter_m2), rcs_region])
    geom = echo.with_clutter(geom, clutter)
    sg = sensing_geometry(cfg, geom, clutter_rcs_m2=rcs)
    assert sg.NC == 27
    real = draw_realizations(cfg, 1, 3)
    W = isac_W(real, cfg, fraction=0.3)
    Q_t, Q_c = sensing_gram_averaged(sg)
    expected = scnr_averaged(Q_t, Q_c, W, cfg.MR)[0]
    rng = np.random.default_rng(9)
    target = clutter_noise = 0.0
    blocks = 0
    for _ in range(5):  # 1250 blocks in chunks
        e = echo.synthesize(sg, W, cfg.tau, rng, blocks=250, components=True)
        target = target + np.sum(np.abs(e.target) ** 2, axis=(0, 2, 3))
        clutter_noise = clutter_noise + np.sum(np.abs(e.clutter + e.noise) ** 2, axis=(0, 2, 3))
        blocks += 250
    empirical = target / clutter_noise
    assert blocks >= 1000
    assert empirical == pytest.approx(expected, rel=0.05)
    # per block, the target power is eq 22's numerator for the block's realized G_t
    G_t, _ = sensing_matrices(sg, e.varpi_t[:1], e.varpi_c[:1])
    numerator = np.sum(np.abs(np.einsum("jrn,nk->jrk", G_t[0], W[0])) ** 2, axis=(1, 2))
    block_target = np.sum(np.abs(e.target[0]) ** 2, axis=(1, 2)) / cfg.tau
    assert block_target == pytest.approx(numerator, rel=0.3)
