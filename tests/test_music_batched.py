"""MUSIC batched over blocks of several model orders (issue 16): estimate() refines every
order's ESPRIT starts in one call and searches every block that needs it in one call, and a
block's peaks are its own: the same (up to rounding, ~1e-15 rad, as before the merge) as when the block is
estimated alone, and bit for bit the same as with its own model order only
(MusicEstimator.block_peaks)."""

import numpy as np
import pytest

from gr_cfisac import music
from gr_cfisac.arrays import steering
from gr_cfisac.channels import crandn


def mixed_blocks(rows, cols, blocks=24, tau=96, seed=3):
    """Snapshot blocks whose scenes hold 0-3 sources of random strength: MDL picks several
    model orders in one batch (and some sources sit near the rim)."""
    rng = np.random.default_rng(seed)
    Y = crandn(rng, (blocks, rows * cols, tau))
    for b in range(blocks):
        n = b % 4
        psi = rng.uniform(-np.pi, np.pi, n)
        theta = rng.uniform(0.1, 1.5, n)
        A = steering(psi, theta, rows, cols).T
        power = 10 ** rng.uniform(-0.5, 1.5, n)
        Y[b] += A @ (crandn(rng, (n, tau)) * np.sqrt(power)[:, None])
    return Y


@pytest.mark.parametrize("method", ["fast", "esprit", "grid"])
@pytest.mark.parametrize("rows, cols", [(2, 2), (3, 3)])
def test_a_blocks_peaks_do_not_depend_on_the_blocks_batched_with_it(method, rows, cols):
    Y = mixed_blocks(rows, cols)
    est = music.MusicEstimator(rows, cols, method)
    batch = est(Y, n_peaks=3)
    assert len(np.unique(batch.n_sources[batch.valid])) >= 2  # several orders in one call
    for b in range(len(Y)):
        alone = est(Y[b : b + 1], n_peaks=3)
        np.testing.assert_allclose(alone.angles[0], batch.angles[b], rtol=0, atol=1e-12)
        np.testing.assert_allclose(alone.value[0], batch.value[b], rtol=1e-9)
        assert alone.validity[0] == batch.validity[b]


@pytest.mark.parametrize("method, refine", [("esprit", True), ("esprit", False), ("fast", True)])
def test_order_peaks_equal_block_peaks_per_model_order(method, refine):
    rows, cols, width = 3, 3, 4
    Y = mixed_blocks(rows, cols, blocks=32, seed=5)
    est = music.MusicEstimator(rows, cols, method, refine=refine)
    R = music.sample_covariance(Y)
    lam, vecs = np.linalg.eigh(R)
    order = music.model_order(lam, Y.shape[-1])
    groups = [(int(n), np.flatnonzero(order == n)) for n in np.unique(order) if n]
    assert len(groups) >= 2
    merged = est.order_peaks(R, lam, vecs, groups, width, Y.shape[-1])
    for n, idx in groups:
        own = est.block_peaks(R[idx], lam[idx], vecs[idx], n, width, Y.shape[-1])
        for name in ("psi", "theta", "u", "v", "value"):
            np.testing.assert_array_equal(getattr(merged, name)[idx], getattr(own, name))
    none = order == 0  # blocks in no group get no peaks
    assert np.all(np.isnan(merged.psi[none])) and np.all(merged.value[none] == -np.inf)
