import numpy as np
import pytest

from gr_cfisac import music
from gr_cfisac.arrays import steering
from gr_cfisac.bounds import stochastic_crb
from gr_cfisac.channels import crandn
from gr_cfisac.localization import angle_errors, separation

# the paper's localization scene at RAP1 (degrees): target, then the two clutter points
SCENE_DEG = np.array([[-45.0, 45.0], [45.0, 30.0], [0.0, -45.0]])


def covariance(psi, theta, powers, rows, cols, noise=0.0):
    A = steering(np.asarray(psi), np.asarray(theta), rows, cols).T  # (M, n)
    return A @ np.diag(powers) @ A.conj().T + noise * np.eye(rows * cols)


def snapshots(rng, psi, theta, powers, rows, cols, tau, blocks):
    A = steering(np.asarray(psi), np.asarray(theta), rows, cols).T
    S = crandn(rng, (blocks, len(powers), tau)) * np.sqrt(np.asarray(powers))[:, None]
    return A @ S + crandn(rng, (blocks, rows * cols, tau))


def matched(peaks_psi, peaks_theta, psi, theta, tol_deg):
    """Every true direction has a peak within tol (angle between directions)."""
    d = separation(peaks_psi[:, None], peaks_theta[:, None], psi[None, :], theta[None, :])
    return np.all(np.degrees(d.min(axis=0)) <= tol_deg)


@pytest.mark.parametrize("method", ["fast", "grid"])
@pytest.mark.parametrize(
    "shape, n", [((4, 4), 3), ((4, 4), 1), ((2, 2), 1), ((2, 2), 2), ((3, 5), 3)]
)
def test_noise_free_covariance_gives_true_angles(method, shape, n):
    psi, theta = np.radians(SCENE_DEG[:n, 0]), np.radians(SCENE_DEG[:n, 1])
    R = covariance(psi, theta, [1.0, 2.0, 0.5][:n], *shape)
    pk = music.find_peaks(R, *shape, n, method=method)
    assert matched(pk.psi, pk.theta, psi, theta, 0.05)
    # canonical range: the clutter at (0, -45) deg comes back as (180, 45) deg
    assert np.all((pk.theta >= 0) & (pk.theta <= np.pi / 2))
    dpsi, dtheta = angle_errors(psi[:, None], theta[:, None], pk.psi[None], pk.theta[None])
    assert np.all(np.degrees(np.hypot(dpsi, dtheta)).min(axis=1) < 0.05)


def test_two_by_two_three_sources_leaves_a_ridge_of_spurious_peaks():
    # Table I's 2x2 RAP with target + 2 clutter: the noise subspace is one vector e, and
    # a^H e = 0 holds on a whole curve through the three sources, not only at them
    psi, theta = np.radians(SCENE_DEG[:, 0]), np.radians(SCENE_DEG[:, 1])
    R = covariance(psi, theta, [1.0, 2.0, 0.5], 2, 2)
    assert music.noise_subspace(R, 3).shape == (4, 1)
    pk = music.find_peaks(R, 2, 2, 3, n_peaks=12)
    huge = pk.value > 1e8 * np.median(music.spectrum(R, 2, 2, 3, *music.paper_grid()))
    far = np.degrees(
        separation(pk.psi[:, None], pk.theta[:, None], psi[None], theta[None]).min(axis=1)
    )
    assert np.sum(huge & (far > 5.0)) >= 2
    # while on a 4x4 RAP the same scene has exactly three peaks
    R4 = covariance(psi, theta, [1.0, 2.0, 0.5], 4, 4, noise=1e-3)
    pk4 = music.find_peaks(R4, 4, 4, 3, n_peaks=4)
    assert pk4.value[3] < 1e-3 * pk4.value[2]


def test_spectrum_matches_eq_42_and_peaks_at_the_source():
    rng = np.random.default_rng(3)
    Y = snapshots(rng, [0.4], [0.6], [10.0], 4, 4, 200, 1)[0]
    R = music.sample_covariance(Y)
    assert np.allclose(R, Y @ Y.conj().T / 200)
    az = np.radians(np.linspace(-100, 100, 41))
    el = np.radians(np.linspace(-100, 100, 31))
    S = music.spectrum(R, 4, 4, 1, az, el)
    assert S.shape == (41, 31)
    _, vecs = np.linalg.eigh(R)
    En = vecs[:, :15]
    a = steering(az[:, None], el[None, :], 4, 4)
    expected = 1.0 / np.sum(np.abs(a.conj() @ En) ** 2, axis=-1)
    assert np.allclose(S, expected, rtol=1e-9)
    # batched R gives the per-block spectra
    Sb = music.spectrum(np.stack([R, 2 * R]), 4, 4, 1, az, el)
    assert Sb.shape == (2, 41, 31) and np.allclose(Sb[1], S)


def test_forward_backward_keeps_the_steering_structure():
    psi, theta = np.radians(SCENE_DEG[:2, 0]), np.radians(SCENE_DEG[:2, 1])
    A = steering(psi, theta, 4, 4).T
    # two fully coherent sources: rank-one signal covariance, plain MUSIC cannot split them
    g = np.array([1.0, 0.8 * np.exp(0.7j)])
    R = A @ np.outer(g, g.conj()) @ A.conj().T + 1e-4 * np.eye(16)
    pk = music.find_peaks(music.forward_backward(R), 4, 4, 2)
    assert matched(pk.psi, pk.theta, psi, theta, 0.2)
    plain = music.find_peaks(R, 4, 4, 2)
    assert not matched(plain.psi, plain.theta, psi, theta, 0.2)


@pytest.mark.parametrize("criterion", ["mdl", "aic"])
def test_model_order(criterion):
    rng = np.random.default_rng(5)
    psi, theta = np.radians([-45.0, 45.0]), np.radians([45.0, 30.0])
    Y = snapshots(rng, psi, theta, [3.0, 3.0], 4, 4, 192, 20)
    lam = np.linalg.eigvalsh(music.sample_covariance(Y))
    assert np.all(music.model_order(lam, 192, criterion) == 2)
    noise = crandn(rng, (20, 16, 192))
    lam0 = np.linalg.eigvalsh(music.sample_covariance(noise))
    assert np.mean(music.model_order(lam0, 192, criterion) == 0) >= 0.9


def test_estimate_batches_and_estimates_the_order():
    rng = np.random.default_rng(7)
    psi, theta = np.radians([-45.0, 45.0]), np.radians([45.0, 30.0])
    Y = snapshots(rng, psi, theta, [5.0, 5.0], 4, 4, 192, 6).reshape(2, 3, 16, 192)
    res = music.estimate(Y, 4, 4)  # (B, NR, MR, tau) in, order by MDL
    assert res.angles.shape == (2, 3, 2, 2) and res.value.shape == (2, 3, 2)
    assert np.all(res.n_sources == 2) and res.eigenvalues.shape == (2, 3, 16)
    flat = res.angles.reshape(-1, 2, 2)
    for block in flat:
        assert matched(block[:, 0], block[:, 1], psi, theta, 1.0)
    # asking for more peaks than the order pads with NaN only where fewer exist
    one = music.estimate(Y[0, :1], 4, 4, n_sources=1, n_peaks=3)
    assert one.angles.shape == (1, 3, 2) and np.all(np.isfinite(one.angles[0, 0]))


def test_errors_name_the_parameter_and_the_fix():
    R = np.eye(4)
    with pytest.raises(ValueError, match=r"at most M - 1 = 3 sources.*MR_shape"):
        music.find_peaks(R, 2, 2, 4)
    with pytest.raises(ValueError, match="n_sources"):
        music.noise_subspace(R, 0)
    with pytest.raises(ValueError, match="R is 4 x 4 but the array has M=16"):
        music.spectrum(R, 4, 4, 1, [0.0], [0.0])
    with pytest.raises(ValueError, match=r"Y must be \(\.\.\., M=16, tau\)"):
        music.estimate(np.zeros((3, 4, 10)), 4, 4, n_sources=1)
    with pytest.raises(ValueError, match="method"):
        music.MusicEstimator(4, 4, method="coarse")
    with pytest.raises(ValueError, match="criterion"):
        music.model_order(np.ones(4), 10, "bic")


def test_monte_carlo_rmse_within_twice_the_crb():
    # one source on a 4x4 RAP at -5 dB per antenna (about 7 dB after the array gain)
    rng = np.random.default_rng(11)
    psi, theta, p, tau = np.radians(-45.0), np.radians(45.0), 10 ** (-0.5), 192
    Y = snapshots(rng, [psi], [theta], [p], 4, 4, tau, 300)
    res = music.estimate(Y, 4, 4, n_sources=1)
    dpsi, dtheta = angle_errors(psi, theta, res.angles[:, 0, 0], res.angles[:, 0, 1])
    rmse = np.sqrt(np.mean(dpsi**2 + dtheta**2))
    crb = stochastic_crb(np.array([psi]), np.array([theta]), np.array([[p]]), 4, 4, tau)
    bound = np.sqrt(crb[0, 0] + crb[1, 1])
    assert 0.7 * bound < rmse < 2.0 * bound


def random_scenes(rng, count, rows, cols, tau=192):
    """Random 1-3 sources, theta up to 80 deg, 0-15 dB per antenna, with noise."""
    Rs, orders = [], []
    for _ in range(count):
        n = int(rng.integers(1, 4))
        psi = rng.uniform(-np.pi, np.pi, n)
        theta = np.arcsin(rng.uniform(0, np.sin(np.radians(80)), n))
        powers = 10 ** (rng.uniform(0, 15, n) / 10)
        Y = snapshots(rng, psi, theta, powers, rows, cols, tau, 1)[0]
        Rs.append(music.sample_covariance(Y))
        orders.append(n)
    return Rs, orders


def agree(fast: music.Peaks, grid: music.Peaks, tol_deg: float = 0.05) -> bool:
    """Same peaks within tol, or the fast search's peaks are at least as high."""
    d = separation(fast.psi[:, None], fast.theta[:, None], grid.psi[None], grid.theta[None])
    d = np.where(np.isnan(d), np.inf, d).min(axis=0)
    if np.all(np.degrees(d[np.isfinite(grid.psi)]) <= tol_deg):
        return True
    return bool(np.all(np.sort(fast.value) >= np.sort(grid.value) * (1 - 1e-9)))


def test_coarse_to_fine_agrees_with_the_full_grid():
    rng = np.random.default_rng(2024)
    fast = music.MusicEstimator(4, 4, "fast")
    grid = music.MusicEstimator(4, 4, "grid")
    Rs, orders = random_scenes(rng, 60, 4, 4)
    ok = []
    for n in (1, 2, 3):
        sel = [R for R, k in zip(Rs, orders, strict=True) if k == n]
        pf, pg = fast.peaks(np.stack(sel), n), grid.peaks(np.stack(sel), n)
        ok += [agree(pf.take(i), pg.take(i)) for i in range(len(sel))]
    assert np.mean(ok) >= 0.99


def test_peaks_are_the_maxima_of_eq_42_computed_independently():
    """Check the lag-polynomial search against eq 42 evaluated with steering vectors: each
    reported height is the spectrum at the reported angles, and the strongest peak is at
    least the maximum of the paper's full 401 x 401 grid (so refinement found the top)."""
    rng = np.random.default_rng(77)
    Rs, orders = random_scenes(rng, 12, 4, 4)
    az, el = music.paper_grid()
    for n in (1, 2, 3):
        sel = np.stack([R for R, k in zip(Rs, orders, strict=True) if k == n])
        pk = music.find_peaks(sel, 4, 4, n)
        full = music.spectrum(sel, 4, 4, n, az, el)  # (b, 401, 401)
        for b in range(len(sel)):
            at_peaks = [
                music.spectrum(sel[b], 4, 4, n, [p], [t])[0, 0]
                for p, t in zip(pk.psi[b], pk.theta[b], strict=True)
            ]
            np.testing.assert_allclose(pk.value[b], at_peaks, rtol=1e-8)
            assert pk.value[b, 0] >= full[b].max() * (1 - 1e-9)


def test_screen_snapshots_codes_do_not_depend_on_scale(rng):
    """Gaussian noise is OK at any scale (no ties at its peak); clipping is SATURATED at any
    scale; a NaN wins over everything; an all-zero block is SILENT."""
    from gr_cfisac.music import Validity, screen_snapshots

    Y = rng.standard_normal((5, 4, 200)) + 1j * rng.standard_normal((5, 4, 200))
    for scale in (1e-12, 1.0, 1e12):
        assert np.all(screen_snapshots(scale * Y) == Validity.OK)
    clipped = np.clip(Y.real, -1, 1) + 1j * np.clip(Y.imag, -1, 1)
    for scale in (1e-12, 1.0, 1e12):
        assert np.all(screen_snapshots(scale * clipped) == Validity.SATURATED)
    Y[1, 0, 0] = np.nan
    Y[2] = 0
    Y[3, 2, 7] = np.inf
    assert list(screen_snapshots(Y)) == [0, 2, 3, 2, 0]


def test_estimate_never_raises_on_bad_samples(rng):
    """A NaN made eigh fail ('Eigenvalues did not converge') and stopped replay and the MUSIC
    block; now the block is marked and the others are untouched."""
    from gr_cfisac.music import Validity

    Y = rng.standard_normal((3, 16, 80)) + 1j * rng.standard_normal((3, 16, 80))
    ref = music.estimate(Y, 4, 4, n_sources=2)
    Y[1, :, 3] = np.nan
    res = music.estimate(Y, 4, 4, n_sources=2)
    assert list(res.validity) == [Validity.OK, Validity.NON_FINITE, Validity.OK]
    assert np.all(np.isnan(res.angles[1])) and np.all(np.isnan(res.eigenvalues[1]))
    np.testing.assert_array_equal(res.angles[[0, 2]], ref.angles[[0, 2]])
