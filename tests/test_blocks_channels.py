"""QA of transmitter, downlink channel and echo channel on real top blocks (eqs 12, 15, 18)."""

import numpy as np
import pytest

from gr_cfisac.blocks import downlink_channel, echo_channel, transmitter
from gr_cfisac.blocks.layout import beam_layout, truth_layout
from gr_cfisac.blocks.qa import run_block
from gr_cfisac.echo import apply_sensing_channel
from gr_cfisac.scenario import draw_realizations

B = 6


def crandn(rng, shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)


@pytest.fixture
def beams(cfg):
    W = crandn(np.random.default_rng(1), (B, cfg.N, cfg.K + 1)) * 30
    Wb = W.reshape(B, cfg.NT, cfg.MT, cfg.K + 1)
    return W, [beam_layout(cfg).pack(W_bar=Wb[:, i])[:, None] for i in range(cfg.NT)]


def test_transmitter_sends_W_bar_x(cfg, beams):
    W, ports = beams
    outs = run_block(transmitter(cfg, seed=4, sensing_symbols="qpsk"), ports)
    x = np.swapaxes(outs[cfg.NT].data, 1, 2)  # (B, K+1, tau)
    assert x.shape == (B, cfg.K + 1, cfg.tau)
    np.testing.assert_allclose(np.abs(x), 1.0, rtol=1e-6)  # unit-power QPSK, x0 included
    S = np.concatenate([np.swapaxes(outs[i].data, 1, 2) for i in range(cfg.NT)], 1)
    want = W.astype(np.complex64) @ x
    np.testing.assert_allclose(S, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    for o in outs:
        assert o.cb() == [(b * cfg.tau, b) for b in range(B)]


def test_transmitter_gaussian_sensing_stream_and_seed(cfg, beams):
    _, ports = beams
    a = run_block(transmitter(cfg, seed=4), ports)[cfg.NT].data
    b = run_block(transmitter(cfg, seed=4, max_blocks=1), ports)[cfg.NT].data
    np.testing.assert_array_equal(a, b)
    x0 = a[..., 0]
    assert abs(np.mean(np.abs(x0) ** 2) - 1) < 5 / np.sqrt(x0.size)
    assert np.std(np.abs(x0)) > 0.2  # not constant-modulus: Gaussian


def test_transmitter_takes_user_data_streams(cfg, beams):
    W, ports = beams
    rng = np.random.default_rng(2)
    data = [crandn(rng, (B, cfg.tau, 1)) for _ in range(cfg.K)]
    outs = run_block(transmitter(cfg), ports + data)
    x = np.swapaxes(outs[cfg.NT].data, 1, 2)
    for k in range(cfg.K):
        np.testing.assert_allclose(x[:, k + 1], data[k][..., 0], rtol=1e-6)


@pytest.fixture
def air(cfg):
    """TAP samples and truth of B realizations."""
    r = draw_realizations(cfg, B, 11)
    rng = np.random.default_rng(3)
    S = crandn(rng, (B, cfg.N, cfg.tau)) * 100
    taps = [np.swapaxes(S[:, i * cfg.MT : (i + 1) * cfg.MT], 1, 2) for i in range(cfg.NT)]
    truth = truth_layout(cfg)
    fields = {f.name: np.zeros((B,) + f.shape) for f in truth.fields}
    fields.update(F=r.F, G_t=r.G_t, G_c=r.G_c)
    items = truth.pack(**fields)
    back = truth.unpack(items)
    return taps + [items[:, None]], S.astype(np.complex64).astype(complex), back


def test_downlink_channel_is_eq15_plus_unit_noise(cfg, air):
    ports, S, truth = air
    clean = run_block(downlink_channel(cfg, noise=False), ports)
    y = np.stack([o.data[..., 0] for o in clean], 1)  # (B, K, tau)
    want = np.swapaxes(truth["F"].conj(), 1, 2) @ S
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    noisy = run_block(downlink_channel(cfg, seed=9), ports)
    n = np.stack([o.data[..., 0] for o in noisy], 1) - y
    assert abs(np.mean(np.abs(n) ** 2) - 1) < 5 / np.sqrt(n.size)
    assert noisy[0].cb() == [(b * cfg.tau, b) for b in range(B)]


def test_echo_channel_is_the_sensing_core_plus_unit_noise(cfg, air):
    ports, S, truth = air
    clean = run_block(echo_channel(cfg, noise=False), ports)
    y = np.stack([np.swapaxes(o.data, 1, 2) for o in clean], 1)  # (B, NR, MR, tau)
    want = apply_sensing_channel(truth["G_t"], truth["G_c"], S, None, noise_power=0.0)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    noisy = run_block(echo_channel(cfg, seed=9), ports)
    n = np.stack([np.swapaxes(o.data, 1, 2) for o in noisy], 1) - y
    assert abs(np.mean(np.abs(n) ** 2) - 1) < 5 / np.sqrt(n.size)
