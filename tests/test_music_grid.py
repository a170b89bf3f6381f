"""MUSIC's grid mode without refinement (issue 16): grid peaks are real maxima of eq 42 —
duplicates merged, never a point on the grid's edge where the spectrum runs past it."""

import numpy as np
import pytest

from gr_cfisac import music
from gr_cfisac.arrays import steering
from gr_cfisac.channels import crandn
from gr_cfisac.localization import separation
from gr_cfisac.music.newton import refine
from gr_cfisac.music.search import GRID_MERGE_STEPS, noise_projector


def covariance(psi_deg, theta_deg, rows=4, cols=4, noise=1e-2):
    A = steering(np.radians(psi_deg), np.radians(theta_deg), rows, cols).T
    return A @ A.conj().T + noise * np.eye(rows * cols)


def grid_peaks(R, n, n_peaks, rows=4, cols=4):
    return music.MusicEstimator(rows, cols, "grid", refine=False).peaks(R, n, n_peaks)


def refined_from(R, pk, n, rows=4, cols=4):
    """Where Newton steps from the grid peaks end: the continuous maxima they stand for."""
    _, vecs = np.linalg.eigh(R.reshape(-1, rows * cols, rows * cols))
    u, v, _ = refine(
        noise_projector(vecs, n), pk.u.reshape(len(vecs), -1), pk.v.reshape(len(vecs), -1),
        rows, cols,
    )  # fmt: skip
    return u.reshape(pk.u.shape), v.reshape(pk.v.shape)


STEP_UV = np.radians(0.5)  # the paper grid's step, an upper bound of its step in (u, v)


def test_a_slope_running_past_the_grid_edge_is_not_a_peak():
    # a source at theta = 79 deg: the paper grid's edge el = 100 deg (theta = 80 deg) is higher
    # than its inner neighbour, but the spectrum keeps rising past it to 79 deg
    R = covariance([30.0], [79.0])
    pk = grid_peaks(R, 1, 4)
    found = np.isfinite(pk.psi)
    assert np.degrees(pk.theta[0]) == pytest.approx(79.0, abs=0.01)
    assert not np.any(np.isclose(np.degrees(pk.theta[found]), 80.0, atol=1e-6))
    u, v = refined_from(R, pk, 1)
    moved = np.hypot(u - pk.u, v - pk.v)[found]
    assert np.all(moved <= 1.5 * STEP_UV)


def test_one_peak_is_reported_once():
    # near boresight every azimuth of the theta = 0 row is the same direction: it is a grid
    # maximum only if it beats the whole ring of theta = 0.5 deg around it, not two points
    R = covariance([20.0], [0.3])
    pk = grid_peaks(R, 1, 4)
    near = np.degrees(separation(pk.psi, pk.theta, np.radians(20.0), np.radians(0.3))) < 10
    assert near.sum() == 1  # the others are the noise's own maxima, far away
    assert near[0] and np.degrees(pk.theta[0]) == pytest.approx(0.5)


def test_boresight_is_a_peak_when_the_source_is_there():
    R = covariance([0.0], [0.0])
    pk = grid_peaks(R, 1, 3)
    assert np.isfinite(pk.u).sum() >= 1
    assert np.hypot(pk.u[0], pk.v[0]) < 1e-12


def test_random_scenes_give_distinct_maxima_inside_the_grid():
    rng = np.random.default_rng(5)
    Rs, orders = [], []
    for _ in range(40):
        n = int(rng.integers(1, 4))
        psi = rng.uniform(-180, 180, n)
        theta = np.degrees(np.arcsin(rng.uniform(0, 1, n)))  # up to the rim
        A = steering(np.radians(psi), np.radians(theta), 4, 4).T
        Y = A @ (crandn(rng, (n, 192)) * 3) + crandn(rng, (16, 192))
        Rs.append(music.sample_covariance(Y))
        orders.append(n)
    Rs, orders = np.stack(Rs), np.array(orders)
    for n in (1, 2, 3):
        sel = Rs[orders == n]
        pk = grid_peaks(sel, n, n + 3)
        u, v = refined_from(sel, pk, n)
        found = np.isfinite(pk.u)
        # the n strongest (the sources) stand for maxima within a grid step or so (weaker grid
        # maxima may sit on a ridge whose crest runs between the 8 grid directions)
        assert np.all(np.hypot(u - pk.u, v - pk.v)[:, :n] <= 1.5 * STEP_UV)
        # and no two stand for the same one
        gap = np.hypot(pk.u[:, :, None] - pk.u[:, None], pk.v[:, :, None] - pk.v[:, None])
        off = ~np.eye(pk.u.shape[-1], dtype=bool) & found[:, :, None] & found[:, None]
        assert np.all(gap[off] >= GRID_MERGE_STEPS * STEP_UV * 0.999)


def test_refined_grid_search_still_finds_the_sources():
    R = covariance([30.0, -45.0], [79.0, 45.0], noise=1e-4)
    pk = music.MusicEstimator(4, 4, "grid").peaks(R, 2)
    got = np.array(sorted(np.degrees(pk.angles).tolist()))
    np.testing.assert_allclose(got, [[-45.0, 45.0], [30.0, 79.0]], atol=1e-3)
