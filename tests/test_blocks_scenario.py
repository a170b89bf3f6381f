"""QA of the scenario source on a real top block: pilots, statistics and truth agree (eq 6, eq 1),
every port is tagged per coherence block, the scene moves as set, the seed fixes everything."""

import numpy as np
import pytest

from gr_cfisac.blocks import scenario_source
from gr_cfisac.blocks.layout import stats_layout, truth_layout
from gr_cfisac.blocks.qa import run_block
from gr_cfisac.channels import split_tap_major
from gr_cfisac.estimation import orthogonal_pilots, project_pilots

N_BLOCKS = 40


def run(cfg, **kw):
    return run_block(scenario_source(cfg, num_blocks=N_BLOCKS, **kw), [])


@pytest.fixture(scope="module")
def outs():
    from gr_cfisac.config import SystemConfig

    return run(SystemConfig(), seed=3)


def test_every_port_has_one_cb_tag_per_block(cfg, outs):
    assert len(outs) == 2 * cfg.NT + 3  # pilots, stats, truth, geometry, active
    for o in outs:
        per = o.data.shape[1]
        assert o.data.shape[0] == N_BLOCKS
        assert o.cb() == [(b * per, b) for b in range(N_BLOCKS)]


def test_pilots_are_eq6_of_the_true_channels(cfg, outs):
    F = truth_layout(cfg).field(outs[2 * cfg.NT].data[:, 0], "F")
    H = split_tap_major(F, cfg.NT)  # (B, NT, K, MT)
    Y = np.stack([np.swapaxes(outs[i].data, 1, 2) for i in range(cfg.NT)], 1)  # (B, NT, MT, tau_p)
    y_tilde = project_pilots(Y.astype(complex), orthogonal_pilots(cfg.K, cfg.tau_p))
    noise = y_tilde - np.sqrt(cfg.rho_p * cfg.tau_p) * H
    # projected pilot noise is CN(0, 1) per entry (orthonormal pilots, unit noise)
    power = np.mean(np.abs(noise) ** 2)
    assert abs(power - 1) < 5 / np.sqrt(noise.size)
    assert np.mean(np.abs(y_tilde) ** 2) > 30  # the channel is really in there (~20 dB)


def test_statistics_describe_the_channel_draws(cfg, outs):
    F = truth_layout(cfg).field(outs[2 * cfg.NT].data[:, 0], "F")
    H = split_tap_major(F, cfg.NT)
    st = [stats_layout(cfg).unpack(outs[cfg.NT + i].data[:, 0]) for i in range(cfg.NT)]
    mean = np.stack([s["mean"] for s in st], 1)
    cov = np.stack([s["cov"] for s in st], 1)
    # h - c ~ CN(0, C_h): the normalized scatter power averages to one
    dev = np.sum(np.abs(H - mean) ** 2, -1) / np.trace(cov, axis1=-2, axis2=-1).real
    assert abs(dev.mean() - 1) < 0.1
    # the LoS part carries the Rician share K/(K+1) of the gain: |c|^2 / tr(C) = K_ik in [1, 3]
    ratio = np.sum(np.abs(mean) ** 2, -1) / np.trace(cov, axis1=-2, axis2=-1).real
    lo, hi = cfg.rician_k_range
    assert ratio.min() > lo - 1e-3 and ratio.max() < hi + 1e-3


def test_same_seed_same_output_whatever_the_call_sizes(cfg):
    a = run(cfg, seed=5, max_blocks=64)
    b = run(cfg, seed=5, max_blocks=3)
    c = run(cfg, seed=6, max_blocks=64)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.data, y.data)
    assert not np.allclose(a[0].data, c[0].data)


def test_users_and_target_move_at_the_set_speed(cfg):
    interval = 0.01
    outs = run(cfg, seed=2, user_speed_mps=3.0, target_speed_mps=1.0, block_interval_s=interval)
    truth = truth_layout(cfg).unpack(outs[2 * cfg.NT].data[:, 0])
    step_users = np.linalg.norm(np.diff(truth["user_pos"], axis=0), axis=-1)
    step_target = np.linalg.norm(np.diff(truth["target_pos"], axis=0), axis=-1)
    # away from the walls each step is speed * interval (bounces only shorten it)
    assert np.median(step_users) == pytest.approx(3.0 * interval, rel=1e-4)
    assert np.all(step_users <= 3.0 * interval * (1 + 1e-4))
    assert np.median(step_target) == pytest.approx(1.0 * interval, rel=1e-4)
    assert np.all((truth["user_pos"][..., :2] >= 0) & (truth["user_pos"][..., :2] <= cfg.area_m))


def test_bad_parameters_get_clear_errors(cfg):
    with pytest.raises(ValueError, match="scene must be"):
        scenario_source(cfg, scene="mars")
    with pytest.raises(ValueError, match="num_blocks must be >= 0"):
        scenario_source(cfg, num_blocks=-1)
    with pytest.raises(ValueError, match="config must be a gr_cfisac.SystemConfig"):
        scenario_source({"K": 4})
