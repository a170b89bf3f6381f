"""The MUSIC localizer block with the "esprit" estimator (issue 16): on a real top block it
outputs the core's ESPRIT-started peaks, which are the fast search's on an identifiable scene."""

import threading

import numpy as np
import pytest

from gr_cfisac import music
from gr_cfisac.blocks import music_localizer
from gr_cfisac.blocks.layout import angles_layout
from gr_cfisac.blocks.qa import run_block
from gr_cfisac.config import SystemConfig
from gr_cfisac.echo import synthesize
from gr_cfisac.music.eigen_peaks import noise_edge
from gr_cfisac.precoding import isac_beamformer, nullspace_beam, target_beam, zf
from gr_cfisac.scenario import draw_realizations

B = 6


def test_esprit_localizer_outputs_the_cores_peaks():
    cfg = SystemConfig(MR_shape=(4, 4))
    r = draw_realizations(cfg, B, 21)
    beam = nullspace_beam(target_beam(r.sensing.aT_t, r.sensing.amp_t), r.F_hat)
    W = isac_beamformer(zf(r.F_hat, cfg.power_budget), beam, cfg.power_budget, 0.6)
    Y = synthesize(r.sensing, W, cfg.tau, 5).y.astype(np.complex64)
    ports = [np.swapaxes(Y[:, j], 1, 2) for j in range(cfg.NR)]
    n = cfg.NC + 1
    outs = run_block(
        music_localizer(cfg, method="esprit", msg_interval=0), ports, n_outputs=cfg.NR
    )  # fmt: skip
    want = music.estimate(Y.astype(complex), *cfg.MR_shape, n, n, method="esprit")
    fast = music.estimate(Y.astype(complex), *cfg.MR_shape, n, n, method="fast")
    layout = angles_layout(n)
    for j in range(cfg.NR):
        got = layout.unpack(outs[j].data[:, 0])
        np.testing.assert_allclose(got["psi"], want.angles[:, j, :, 0], atol=2e-6)
        np.testing.assert_allclose(got["theta"], want.angles[:, j, :, 1], atol=2e-6)
        assert np.all(got["validity"] == music.Validity.OK)
    # the same peaks as the search, up to float32, where every source clears the noise (the
    # other blocks are not searched: music.MusicEstimator)
    lam = want.eigenvalues
    M = cfg.MR
    clear = lam[..., M - n] > noise_edge(M, cfg.tau) * lam[..., : M - n].mean(-1)
    assert 0 < clear.sum() < clear.size  # both kinds in this scene
    np.testing.assert_allclose(want.angles[clear], fast.angles[clear], atol=1e-4)


def test_workers_share_a_call_and_output_each_shares_estimate(monkeypatch):
    cfg = SystemConfig(MR_shape=(4, 4))
    r = draw_realizations(cfg, B, 22)
    beam = nullspace_beam(target_beam(r.sensing.aT_t, r.sensing.amp_t), r.F_hat)
    W = isac_beamformer(zf(r.F_hat, cfg.power_budget), beam, cfg.power_budget, 0.6)
    Y = synthesize(r.sensing, W, cfg.tau, 5).y.astype(np.complex64)
    Y[4, 1, 0, 0] = np.nan  # a bad block in the second worker's share
    ports = [np.swapaxes(Y[:, j], 1, 2) for j in range(cfg.NR)]
    n = cfg.NC + 1
    layout = angles_layout(n)
    # what each of the two threads computes: its contiguous share of the call's blocks (the
    # same estimates as one call up to BLAS rounding, which may tip a noise-level peak)
    shares = [
        music.estimate(Y[s], *cfg.MR_shape, n, n, "esprit") for s in (slice(0, 3), slice(3, 6))
    ]
    calls = []  # (thread, blocks) of every estimate the block asks for
    estimate = music.estimate
    monkeypatch.setattr(
        music,
        "estimate",
        lambda Y, *a: calls.append((threading.current_thread().name, len(Y))) or estimate(Y, *a),
    )
    block = music_localizer(cfg, method="esprit", msg_interval=0, workers=2)
    outs = run_block(block, ports, n_outputs=cfg.NR)
    assert block.calls == 1  # one work() call: the two threads shared its six blocks
    assert sorted(b for _, b in calls) == [3, 3] and len({t for t, _ in calls}) == 2
    for j in range(cfg.NR):
        got = layout.unpack(outs[j].data[:, 0])
        want = np.concatenate([s.angles[:, j] for s in shares])
        np.testing.assert_allclose(got["psi"], want[..., 0], atol=2e-6)
        np.testing.assert_allclose(got["theta"], want[..., 1], atol=2e-6)
        codes = np.concatenate([s.validity[:, j] for s in shares])
        np.testing.assert_array_equal(got["validity"][:, 0], codes)
    assert layout.unpack(outs[1].data[:, 0])["validity"][4, 0] == music.Validity.NON_FINITE


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_a_bad_worker_count_is_refused(workers):
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        music_localizer(SystemConfig(), workers=workers)


def test_unknown_method_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="esprit"):
        music_localizer(SystemConfig(), method="capon")
