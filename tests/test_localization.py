import numpy as np
import pytest

from gr_cfisac import bounds, echo, music, precoding
from gr_cfisac.config import SystemConfig
from gr_cfisac.geometry import PAPER_SCENE_DEG, drop, local_angles
from gr_cfisac.localization import (
    ClutterMap,
    angle_errors,
    associate_target,
    fuse_position,
    localization_error,
    localization_rmse,
    pick,
)
from gr_cfisac.scenario import draw_realizations

deg = np.radians


def test_eq_43_wraps_azimuth_and_compares_canonical_angles():
    dpsi, dtheta = angle_errors(deg(179.0), deg(40.0), deg(-179.0), deg(41.0))
    assert np.degrees(dpsi) == pytest.approx(-2.0) and np.degrees(dtheta) == pytest.approx(-1.0)
    # (psi, -theta) is the direction (psi + 180, theta): no error
    assert localization_error(deg(0.0), deg(-45.0), deg(180.0), deg(45.0)) == pytest.approx(0.0)
    # and a grid over -100 ... 100 deg elevation folds at 90 deg
    assert localization_error(deg(30.0), deg(100.0), deg(30.0), deg(80.0)) == pytest.approx(0.0)
    err = localization_rmse(
        deg([10.0, 20.0]), deg([30.0, 30.0]), deg([13.0, 20.0]), deg([34.0, 30.0])
    )
    assert np.degrees(err) == pytest.approx(np.sqrt((25.0 + 0.0) / 2))
    # misses (NaN estimates) are left out of the RMSE
    assert np.isfinite(
        localization_rmse(deg([1.0, 2.0]), deg([30.0] * 2), [np.nan, deg(2.0)], [np.nan, deg(30.0)])
    )


def test_association_by_prior_gate_and_clutter_map():
    peaks = deg(np.array([[[45.0, 30.0], [-45.0, 45.0], [180.0, 45.0]]]))
    prior = deg(np.array([[-44.0, 44.0]]))
    idx = associate_target(peaks, prior=prior)
    assert idx.tolist() == [1]
    assert np.allclose(pick(peaks, idx), peaks[:, 1])
    assert associate_target(
        peaks, prior=deg(np.array([[-10.0, 70.0]])), gate=deg(3.0)
    ).tolist() == [-1]
    assert np.all(np.isnan(pick(peaks, np.array([-1]))))
    # a map learned from blocks showing the static clutter only
    cmap = ClutterMap(radius=deg(2.0), min_fraction=0.6, warmup=3)
    rng = np.random.default_rng(0)
    clutter = deg(np.array([[45.0, 30.0], [180.0, 45.0]]))
    for _ in range(10):
        jitter = deg(rng.normal(0, 0.3, (2, 2)))
        spurious = deg(np.array([[rng.uniform(-180, 180), rng.uniform(10, 80)]]))
        cmap.update(np.concatenate([clutter + jitter, spurious])[None])
    assert len(cmap.clutter) == 2
    assert associate_target(peaks, clutter_map=cmap).tolist() == [1]
    # without prior or map: the strongest peak
    assert associate_target(peaks).tolist() == [0]
    with pytest.raises(ValueError, match="angles must be"):
        associate_target(np.zeros((3, 3)))


def test_fusion_recovers_the_position_from_exact_angles(cfg):
    geom = drop(cfg, 0, 3, "random")
    psi, theta, _ = local_angles(geom.rap_pos, geom.rap_frame, geom.target_pos)
    fix = fuse_position(geom.rap_pos, geom.rap_frame, psi, theta)
    assert np.allclose(fix.position, geom.target_pos, atol=1e-6)
    assert np.all(fix.used) and np.all(fix.rms_residual < 1e-9)
    # a missing RAP is left out; with the height known one RAP is enough
    psi2 = psi.copy()
    psi2[:, 1:] = np.nan
    assert np.all(np.isnan(fuse_position(geom.rap_pos, geom.rap_frame, psi2, theta).position))
    one = fuse_position(geom.rap_pos, geom.rap_frame, psi2, theta, height_m=cfg.target_height_m)
    assert np.allclose(one.position, geom.target_pos, atol=1e-6)
    with pytest.raises(ValueError, match="rap_pos must be"):
        fuse_position(geom.rap_pos[:2], geom.rap_frame, psi, theta)
    with pytest.raises(ValueError, match="psi and theta must both be"):
        fuse_position(geom.rap_pos, geom.rap_frame, psi, theta[:, :3])


def test_fusion_error_matches_its_covariance_and_the_bound(cfg):
    # angles perturbed with the CRB's own (u, v) covariance: the weighted fusion's error
    # covariance is the position-error bound (an efficient estimator at high SNR)
    cfg4 = cfg.replace(MR_shape=(4, 4))
    real = draw_realizations(cfg4, 1, 4)
    users = precoding.zf(real.F_hat, cfg4.power_budget)
    beam = precoding.target_beam(real.sensing.aT_t, real.sensing.amp_t)
    W = precoding.isac_beamformer(users, beam, cfg4.power_budget, 0.5)
    e = echo.synthesize(real.sensing, W, cfg4.tau, 2)
    # 100 blocks' worth of snapshots keeps the far RAPs' errors in the linear regime
    tb = bounds.target_bounds(real.sensing, e.source_covariance(), 4, 4, 100 * cfg4.tau)
    peb, _ = bounds.position_error_bound(
        real.geom.rap_pos, real.geom.rap_frame, real.geom.target_pos, tb.info_uv
    )
    rng = np.random.default_rng(1)
    trials = 400
    cov_uv = np.linalg.inv(tb.info_uv[0])  # (NR, 2, 2)
    L = np.linalg.cholesky(cov_uv)
    u0 = np.sin(real.sensing.theta_t[0]) * np.cos(real.sensing.psi_t[0])
    v0 = np.sin(real.sensing.theta_t[0]) * np.sin(real.sensing.psi_t[0])
    noise = np.einsum("jkl,tjl->tjk", L, rng.standard_normal((trials, cfg4.NR, 2)))
    u, v = u0 + noise[..., 0], v0 + noise[..., 1]
    psi, theta = np.arctan2(v, u), np.arcsin(np.minimum(np.hypot(u, v), 1.0))
    fix = fuse_position(
        real.geom.rap_pos, real.geom.rap_frame, psi, theta, info_uv=tb.info_uv[0][None]
    )
    err = fix.position - real.geom.target_pos[0]
    rms = np.sqrt(np.mean(np.sum(err**2, axis=-1)))
    assert rms == pytest.approx(peb[0], rel=0.15)
    assert np.mean(fix.error_radius) == pytest.approx(peb[0], rel=0.1)


def test_paper_scene_sensing_precoder_finds_the_target_and_comm_only_degrades():
    # Figs. 9-10 trend on the named scene (target at (-45, 45) deg from RAP1, clutter at
    # (45, 30) and (0, -45) deg) with 4x4 RAPs: ZF users plus a null-space target beam with half
    # the power, against ZF alone (sensing_fraction = 0)
    cfg = SystemConfig(MR_shape=(4, 4))
    assert PAPER_SCENE_DEG["target"] == (-45.0, 45.0)
    real = draw_realizations(cfg, 150, 0, scene="paper")
    assert np.allclose(
        np.degrees([real.sensing.psi_t[0, 0], real.sensing.theta_t[0, 0]]), [-45, 45]
    )
    users = precoding.zf(real.F_hat, cfg.power_budget)
    beam = precoding.nullspace_beam(
        precoding.target_beam(real.sensing.aT_t, real.sensing.amp_t), real.F_hat
    )
    prior = np.stack([real.sensing.psi_t, real.sensing.theta_t], axis=-1)
    out = {}
    for fraction in (0.5, 0.0):
        W = precoding.isac_beamformer(users, beam, cfg.power_budget, fraction)
        e = echo.synthesize(real.sensing, W, cfg.tau, 1)
        res = music.estimate(e.y, 4, 4, n_sources=1 + cfg.NC)
        est = pick(res.angles, associate_target(res.angles, prior=prior))
        err = localization_error(e.psi_t, e.theta_t, est[..., 0], est[..., 1])
        fix = fuse_position(real.geom.rap_pos, real.geom.rap_frame, est[..., 0], est[..., 1])
        pos_err = np.linalg.norm(fix.position - real.geom.target_pos, axis=-1)
        out[fraction] = (err[:, 0], np.median(pos_err))
    found = np.mean(np.degrees(out[0.5][0]) < 2.0)
    assert found > 0.85
    rmse_sense = np.sqrt(np.mean(out[0.5][0] ** 2))
    rmse_comm = np.sqrt(np.mean(out[0.0][0] ** 2))
    assert rmse_sense < 0.6 * rmse_comm
    assert out[0.5][1] < 0.5 * out[0.0][1]


def test_clutter_map_counts_a_cell_once_per_block():
    cmap = ClutterMap(radius=deg(2.0), min_fraction=0.5, warmup=1)
    cmap.update(deg(np.array([[45.0, 30.0], [45.5, 30.0], [0.0, 60.0]])))  # two peaks, one cell
    assert len(cmap.centers) == 2 and cmap.hits.tolist() == [1, 1]
    cmap.update(deg(np.array([[[45.0, 30.5], [44.8, 30.2], [np.nan, np.nan]]])))
    assert cmap.hits.tolist() == [2, 1] and cmap.blocks == 2
    cmap.update(deg(np.array([[[10.0, 10.0], [10.5, 10.0], [45.2, 29.9]]])))
    assert len(cmap.centers) == 3 and cmap.hits.tolist() == [3, 1, 1]
    np.testing.assert_allclose(cmap.clutter, deg(np.array([[45.0, 30.0]])))  # 3 of 3 blocks
    assert cmap.is_clutter(deg(np.array([[45.3, 30.1], [0.0, 60.0]]))).tolist() == [True, False]


def test_fusion_with_a_grossly_wrong_rap_stays_in_the_scene(cfg):
    # RAP 2 picked a peak on the far side (azimuth off by 180 deg): the (u, v) least-squares
    # optimum can then lie at infinity; the fix must stay in front of the arrays, within the
    # scene, and say by its error radius that it is poor
    geom = drop(cfg, 0, 200, "random")
    psi, theta, _ = local_angles(geom.rap_pos, geom.rap_frame, geom.target_pos)
    psi = psi + deg(np.random.default_rng(0).normal(0, 1.0, psi.shape))
    clean = fuse_position(geom.rap_pos, geom.rap_frame, psi, theta)
    psi[:, 1] += np.pi
    fix = fuse_position(geom.rap_pos, geom.rap_frame, psi, theta)
    err = np.linalg.norm(fix.position - geom.target_pos, axis=-1)
    assert np.all(np.isfinite(fix.position))
    assert err.max() < np.hypot(cfg.area_m, cfg.area_m)
    assert np.all(fix.position[:, 2] < cfg.ap_height_m)
    assert np.median(fix.error_radius) > 5 * np.median(clean.error_radius)
