"""Benchmarks' resumable optimizer runs: chunks are cached, and a rerun reads them back."""

import numpy as np
import pytest

from gr_cfisac.bench import common
from gr_cfisac.scenario import draw_realizations


def test_optimizer_runs_resume_from_the_chunk_cache(cfg, tmp_path, monkeypatch):
    monkeypatch.setattr(common, "OPTIMIZER_CHUNK", 2)
    real = draw_realizations(cfg, 5, 3)
    kw = dict(regime="joint", eta=0.4, quality="fast")
    W, sec, info = common.optimize_resumable(real, tmp_path, "t", seed=3, **kw)
    assert W.shape == (5, cfg.N, cfg.K + 1) and sec > 0
    assert len(list(tmp_path.glob("t_*.npz"))) == 3  # chunks of 2, 2 and 1 realizations

    import gr_cfisac.precoding as precoding

    def refuse(*args, **kwargs):
        raise AssertionError("a cached chunk was solved again")

    monkeypatch.setattr(precoding, "optimize", refuse)
    W2, sec2, info2 = common.optimize_resumable(real, tmp_path, "t", seed=3, **kw)
    np.testing.assert_array_equal(W2, W)
    assert sec2 == pytest.approx(sec)
    assert info2.keys() == info.keys()
    # other parameters are another run: not read from this cache
    with pytest.raises(AssertionError, match="solved again"):
        common.optimize_resumable(real, tmp_path, "t", seed=3, regime="joint", eta=0.5)
