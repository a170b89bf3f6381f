"""sdp_bisection on the sweep runner: two realizations solved on a real 2-worker LocalCluster
give the in-process W (the same cvxpy problems on the same inputs; relative tolerance 1e-6 to
allow BLAS threading differences between this process and the single-threaded workers), and
the cluster's results land in the same cache files the in-process run reads."""

import numpy as np
import pytest

pytest.importorskip("cvxpy")
distributed = pytest.importorskip("dask.distributed")

from gr_cfisac import decentral  # noqa: E402
from gr_cfisac.decentral import PosConfig  # noqa: E402
from gr_cfisac.precoding.convex import sdp_bisection  # noqa: E402

CFG = PosConfig("pos1", L=2, M=2, N=2)


def test_solve_batch_through_the_cluster_equals_in_process(tmp_path, monkeypatch):
    b = decentral.realize(CFG, [[10.0, 50.0], [62.0, 50.0]], [40.0, 50.0])
    b2 = decentral.realize(CFG, [[30.0, 50.0], [80.0, 50.0]], [55.0, 50.0])
    F, a_t = np.concatenate([b.F, b2.F]), np.concatenate([b.a_t, b2.a_t])
    here = sdp_bisection.solve_batch(F, a_t, 0.1, 1.0, 1.0, scheduler="sync")
    cache = tmp_path / "sdp"
    with distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
        there = sdp_bisection.solve_batch(F, a_t, 0.1, 1.0, 1.0, cache_dir=cache, scheduler=client)
    assert there.W.shape == (2, 4, 3)
    np.testing.assert_allclose(there.W, here.W, rtol=1e-6, atol=1e-6 * np.abs(here.W).max())
    for k in ("gamma_high", "ssnr_sdp", "min_sinr", "ssnr"):
        np.testing.assert_allclose(there.extras[k], here.extras[k], rtol=1e-6)
    # the cache files keep the sdp_bisection names (cache_key) and are read back in process
    names = sorted(p.stem for p in cache.glob("*.npz"))
    points = [(F[i], a_t[i], np.full((2, 2), 0.1), np.ones(2), 1.0, sdp_bisection.Settings())
              for i in range(2)]  # fmt: skip
    assert names == sorted(sdp_bisection.cache_key(*p) for p in points)

    def no_solving(*args, **kwargs):
        raise AssertionError("solved again despite the cache")

    monkeypatch.setattr(sdp_bisection, "solve_one", no_solving)
    again = sdp_bisection.solve_batch(F, a_t, 0.1, 1.0, 1.0, cache_dir=cache)
    np.testing.assert_array_equal(again.W, there.W)
    np.testing.assert_array_equal(again.extras["seconds"], there.extras["seconds"])


def test_solve_batch_names_a_bad_scheduler():
    b = decentral.realize(CFG, [[10.0, 50.0], [62.0, 50.0]], [40.0, 50.0])
    with pytest.raises(ValueError, match="scheduler"):
        sdp_bisection.solve_batch(b.F, b.a_t, 0.1, 1.0, 1.0, scheduler="cluster:1")
    with pytest.raises(ValueError, match="workers"):
        sdp_bisection.solve_batch(b.F, b.a_t, 0.1, 1.0, 1.0, workers=0)
