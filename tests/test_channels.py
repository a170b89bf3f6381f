import numpy as np
import pytest

from gr_cfisac.channels import (
    comm_statistics,
    correlation_matrix,
    draw_comm_channels,
    draw_rcs,
    sensing_geometry,
    sensing_gram_averaged,
    sensing_matrices,
    sensing_tokens,
    split_tap_major,
    stack_tap_major,
)
from gr_cfisac.geometry import drop


def test_isotropic_correlation_closed_form():
    R = correlation_matrix(2, 2)
    assert np.trace(R) == pytest.approx(4)
    # neighbours one half-wavelength apart are uncorrelated, diagonal ones sinc(sqrt 2)
    assert R[0, 1] == pytest.approx(0, abs=1e-15)
    assert R[0, 3] == pytest.approx(np.sin(np.pi * np.sqrt(2)) / (np.pi * np.sqrt(2)))
    assert np.all(np.linalg.eigvalsh(correlation_matrix(4, 4)) > -1e-12)


def test_rician_mean_and_covariance_match_eq1_and_eq10(cfg):
    """Many draws of the same user: empirical mean -> c_ik, covariance -> e_ik R (eqs 1, 10)."""
    geom = drop(cfg, 1, 1)
    n = 20000
    rep = geom.take(np.zeros(n, dtype=int))
    ch = draw_comm_channels(cfg.replace(rician_k_range=(2.0, 2.0)), rep, 5)
    H = split_tap_major(ch.F, cfg.NT)[:, 0, 0]  # TAP 1, user 1: (n, MT)
    c = split_tap_major(ch.mean, cfg.NT)[0, 0, 0]
    C = ch.cov[0, 0, 0]
    scale = np.sqrt(np.trace(C).real / cfg.MT)
    np.testing.assert_allclose(H.mean(0), c, atol=4 * scale / np.sqrt(n) * 3)
    emp = np.einsum("bm,bn->mn", H - c, (H - c).conj()) / n
    assert np.linalg.norm(emp - C) / np.linalg.norm(C) < 0.05
    # K factor: |c|^2 / tr(C) = K
    assert np.sum(np.abs(c) ** 2) / np.trace(C).real == pytest.approx(2.0)


def test_pathloss_in_statistics(cfg, rng):
    geom = drop(cfg, 2, 4)
    mean, cov, gain, rician = comm_statistics(cfg, geom, rng)
    d = np.linalg.norm(geom.user_pos[:, None] - geom.tap_pos[None, :, None], axis=-1)
    np.testing.assert_allclose(gain, 10 ** ((-40 - 30 * np.log10(d)) / 10))
    total = (np.abs(mean) ** 2).sum(-1) + np.trace(cov, axis1=-2, axis2=-1).real
    np.testing.assert_allclose(total, gain * cfg.MT)  # E||h||^2 = varsigma MT
    assert np.all((rician >= 1) & (rician <= 3))


def test_tap_major_round_trip(rng):
    x = rng.standard_normal((3, 8, 4, 4))
    np.testing.assert_array_equal(split_tap_major(stack_tap_major(x), 8), x)
    # TAP i owns rows i*MT ... (i+1)*MT - 1
    np.testing.assert_array_equal(stack_tap_major(x)[:, 4:8, 2], x[:, 1, 2, :])


def test_sensing_matrices_block_structure(cfg, rng):
    geom = drop(cfg, 3, 2, scene="random")
    sg = sensing_geometry(cfg, geom)
    vt, vc = draw_rcs(rng, 2, cfg.NR, cfg.NT, cfg.NC)
    G_t, G_c = sensing_matrices(sg, vt, vc)
    assert G_t.shape == (2, cfg.NR, cfg.MR, cfg.N)
    assert G_c.shape == (2, cfg.NR, cfg.NC, cfg.MR, cfg.N)
    b, j, i, c = 1, 2, 5, 1
    block = G_t[b, j][:, i * cfg.MT : (i + 1) * cfg.MT]
    alpha = sg.amp_t[b, j, i] * vt[b, j, i]
    np.testing.assert_allclose(block, alpha * np.outer(sg.aR_t[b, j], sg.aT_t[b, i].conj()))
    block_c = G_c[b, j, c][:, i * cfg.MT : (i + 1) * cfg.MT]
    alpha_c = sg.amp_c[b, j, c, i] * vc[b, j, c, i]
    np.testing.assert_allclose(
        block_c, alpha_c * np.outer(sg.aR_c[b, j, c], sg.aT_c[b, c, i].conj())
    )


def test_reflection_amplitude_is_the_radar_equation(cfg):
    geom = drop(cfg, 4, 1)
    sg = sensing_geometry(cfg, geom)
    d_it = np.linalg.norm(geom.tap_pos[3] - geom.target_pos[0])
    d_jt = np.linalg.norm(geom.rap_pos[1] - geom.target_pos[0])
    lam = cfg.wavelength_m
    expected = np.sqrt(lam**2 * cfg.rcs_target_m2 / ((4 * np.pi) ** 3 * d_it**2 * d_jt**2))
    assert sg.amp_t[0, 1, 3] == pytest.approx(expected)


def test_averaged_gram_is_the_expectation_over_varpi(cfg):
    geom = drop(cfg, 5, 1)
    sg = sensing_geometry(cfg, geom)
    Q_t, Q_c = sensing_gram_averaged(sg)
    n = 4000
    rng = np.random.default_rng(9)
    rep = sensing_geometry(cfg, geom.take(np.zeros(n, dtype=int)))
    vt, vc = draw_rcs(rng, n, cfg.NR, cfg.NT, cfg.NC)
    G_t, G_c = sensing_matrices(rep, vt, vc)
    emp_t = np.einsum("bjrn,bjrm->jnm", G_t.conj(), G_t) / n
    emp_c = np.einsum("bjcrn,bjcrm->jnm", G_c.conj(), G_c) / n
    assert np.linalg.norm(emp_t - Q_t[0]) / np.linalg.norm(Q_t[0]) < 0.06
    assert np.linalg.norm(emp_c - Q_c[0]) / np.linalg.norm(Q_c[0]) < 0.06


def test_sensing_tokens_layout(cfg):
    sg = sensing_geometry(cfg, drop(cfg, 6, 3))
    tok = sensing_tokens(sg)
    assert tok.shape == (3, 1 + cfg.NC, cfg.N)
    scale = np.sqrt((sg.amp_t[1] ** 2).sum(0))
    np.testing.assert_allclose(tok[1, 0, 4:8], scale[1] * sg.aT_t[1, 1])


def test_no_clutter_network():
    from gr_cfisac.config import SystemConfig
    from gr_cfisac.metrics import scnr
    from gr_cfisac.precoding import mrt
    from gr_cfisac.scenario import draw_realizations

    cfg = SystemConfig(NC=0)
    r = draw_realizations(cfg, 4, 1, scene="random")
    assert r.G_c.shape == (4, cfg.NR, 0, cfg.MR, cfg.N)
    W = mrt(r.F_hat, cfg.power_budget)
    # no clutter: SCNR is the target echo power over the noise term MR
    target = np.sum(np.abs(np.einsum("bjrn,bnk->bjrk", r.G_t, W)) ** 2, axis=(-2, -1))
    np.testing.assert_allclose(scnr(r.G_t, r.G_c, W), target / cfg.MR)
    np.testing.assert_allclose(r.Q_c, 0)


def test_public_generators_take_a_seed_or_a_generator(cfg):
    from gr_cfisac.channels import crandn
    from gr_cfisac.echo import qpsk_symbols

    for fn, args in (
        (crandn, ((3, 2),)),
        (draw_rcs, (2, cfg.NR, cfg.NT, cfg.NC)),
        (qpsk_symbols, ((4, 5),)),
        (lambda rng: comm_statistics(cfg, drop(cfg, 0, 2), rng)[3], ()),
    ):
        a, b = fn(7, *args), fn(np.random.default_rng(7), *args)
        for x, y in zip(*(o if isinstance(o, tuple) else (o,) for o in (a, b)), strict=True):
            np.testing.assert_array_equal(x, y)
