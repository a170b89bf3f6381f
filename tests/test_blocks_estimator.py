"""QA of the pilot estimator on a real top block: the core's MMSE/LS estimates, TAP by TAP."""

import numpy as np
import pytest

from gr_cfisac.blocks import pilot_estimator
from gr_cfisac.blocks.layout import stats_layout
from gr_cfisac.blocks.qa import run_block
from gr_cfisac.channels import draw_comm_channels, split_tap_major
from gr_cfisac.estimation import (
    ls_estimate,
    mmse_estimate,
    orthogonal_pilots,
    project_pilots,
    received_pilots,
)
from gr_cfisac.geometry import drop

B = 12


@pytest.fixture
def uplink(cfg):
    rng = np.random.default_rng(4)
    comm = draw_comm_channels(cfg, drop(cfg, rng, B), rng)
    pilots = orthogonal_pilots(cfg.K, cfg.tau_p)
    Y = received_pilots(split_tap_major(comm.F, cfg.NT), pilots, cfg.rho_p, rng)
    mean = split_tap_major(comm.mean, cfg.NT)
    # what the core computes, from the same complex64 samples the stream carries
    Y64 = Y.astype(np.complex64).astype(complex)
    y_tilde = project_pilots(Y64, pilots)
    ports = [np.swapaxes(Y[:, i], 1, 2) for i in range(cfg.NT)]  # (B, tau_p, MT)
    stats = stats_layout(cfg)
    ports += [stats.pack(mean=mean[:, i], cov=comm.cov[:, i])[:, None] for i in range(cfg.NT)]
    m64 = mean.astype(np.complex64).astype(complex)
    c64 = comm.cov.astype(np.complex64).astype(complex)
    return ports, y_tilde, m64, c64, comm


def estimates(cfg, outs):
    return np.stack([o.data[:, 0].reshape(B, cfg.K, cfg.MT) for o in outs], 1)


def test_mmse_estimates_equal_the_core(cfg, uplink):
    ports, y_tilde, mean, cov, comm = uplink
    outs = run_block(pilot_estimator(cfg, "mmse"), ports)
    want = mmse_estimate(y_tilde, mean, cov, cfg.rho_p, cfg.tau_p)
    got = estimates(cfg, outs)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    for o in outs:
        assert o.cb() == [(b, b) for b in range(B)]
    # and they estimate the channel: NMSE well below 0 dB
    H = split_tap_major(comm.F, cfg.NT)
    assert np.sum(np.abs(got - H) ** 2) / np.sum(np.abs(H) ** 2) < 0.1


def test_ls_estimates_ignore_the_statistics(cfg, uplink):
    ports, y_tilde, *_ = uplink
    scrambled = ports[: cfg.NT] + [np.zeros_like(p) for p in ports[cfg.NT :]]
    got = estimates(cfg, run_block(pilot_estimator(cfg, "ls"), scrambled))
    want = ls_estimate(y_tilde, cfg.rho_p, cfg.tau_p)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())


def test_one_tap_block_serves_any_tap_alone(cfg, uplink):
    ports, y_tilde, mean, cov, _ = uplink
    i = 5
    outs = run_block(pilot_estimator(cfg, num_taps=1), [ports[i], ports[cfg.NT + i]])
    want = mmse_estimate(y_tilde[:, i], mean[:, i], cov[:, i], cfg.rho_p, cfg.tau_p)
    np.testing.assert_allclose(
        outs[0].data[:, 0].reshape(B, cfg.K, cfg.MT),
        want,
        rtol=1e-5,
        atol=1e-6 * np.abs(want).max(),
    )


def test_bad_parameters(cfg):
    with pytest.raises(ValueError, match="method must be 'mmse' or 'ls'"):
        pilot_estimator(cfg, "ml")
    with pytest.raises(ValueError, match="num_taps must be in 1..NT"):
        pilot_estimator(cfg, num_taps=cfg.NT + 1)
