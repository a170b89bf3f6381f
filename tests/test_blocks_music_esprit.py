"""The MUSIC localizer block with the "esprit" estimator (issue 16): on a real top block it
outputs the core's ESPRIT-started peaks, which are the fast search's on an identifiable scene."""

import numpy as np
import pytest

from gr_cfisac import music
from gr_cfisac.blocks import music_localizer
from gr_cfisac.blocks.layout import angles_layout
from gr_cfisac.blocks.qa import run_block
from gr_cfisac.config import SystemConfig
from gr_cfisac.echo import synthesize
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
        # the same peaks as the search, up to float32
        np.testing.assert_allclose(got["psi"], fast.angles[:, j, :, 0], atol=1e-4)


def test_unknown_method_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="esprit"):
        music_localizer(SystemConfig(), method="capon")
