import numpy as np
import pytest

from gr_cfisac.arrays import (
    canonical_angles,
    direction_cosines,
    steering,
    steering_derivatives,
    wrap_angle,
)


def explicit_steering(psi, theta, rows, cols):
    """eqs 2-4 written out literally: vec(b1 b2^H), column stacking."""
    r1 = np.pi * np.cos(psi) * np.sin(theta)
    r2 = np.pi * np.sin(psi) * np.sin(theta)
    b1 = np.exp(-1j * np.arange(rows) * r1)
    b2 = np.exp(-1j * np.arange(cols) * r2)
    return np.outer(b1, b2.conj()).flatten(order="F")


@pytest.mark.parametrize("rows, cols", [(2, 2), (4, 4), (3, 5), (1, 6)])
def test_steering_is_vec_of_b1_b2h(rows, cols, rng):
    psi = rng.uniform(-np.pi, np.pi, 7)
    theta = rng.uniform(0, np.pi / 2, 7)
    a = steering(psi, theta, rows, cols)
    assert a.shape == (7, rows * cols)
    for i in range(7):
        np.testing.assert_allclose(a[i], explicit_steering(psi[i], theta[i], rows, cols))
    # element (r, c) lives at index r + rows * c
    r, c = 1 % rows, cols - 1
    expected = np.exp(-1j * np.pi * (r * np.cos(psi) - c * np.sin(psi)) * np.sin(theta))
    np.testing.assert_allclose(a[:, r + rows * c], expected)


def test_derivatives_match_finite_differences(rng):
    psi, theta = rng.uniform(-3, 3, 5), rng.uniform(0.1, 1.4, 5)
    a, d_psi, d_theta = steering_derivatives(psi, theta, 4, 3)
    h = 1e-6
    fd_psi = (steering(psi + h, theta, 4, 3) - steering(psi - h, theta, 4, 3)) / (2 * h)
    fd_theta = (steering(psi, theta + h, 4, 3) - steering(psi, theta - h, 4, 3)) / (2 * h)
    np.testing.assert_allclose(d_psi, fd_psi, atol=1e-7)
    np.testing.assert_allclose(d_theta, fd_theta, atol=1e-7)
    np.testing.assert_allclose(a, steering(psi, theta, 4, 3))


def test_canonical_angles_keep_the_steering_vector():
    # the paper's clutter at 0 deg azimuth, -45 deg elevation is psi = 180, theta = 45
    psi, theta = canonical_angles(np.radians(0.0), np.radians(-45.0))
    assert np.degrees(psi) == pytest.approx(180.0)
    assert np.degrees(theta) == pytest.approx(45.0)
    rng = np.random.default_rng(0)
    p = rng.uniform(np.radians(-100), np.radians(100), 50)
    t = rng.uniform(np.radians(-100), np.radians(100), 50)
    cp, ct = canonical_angles(p, t)
    assert np.all((ct >= 0) & (ct <= np.pi / 2 + 1e-12))
    assert np.all((cp > -np.pi) & (cp <= np.pi))
    np.testing.assert_allclose(steering(cp, ct, 4, 4), steering(p, t, 4, 4), atol=1e-12)
    np.testing.assert_allclose(direction_cosines(cp, ct), direction_cosines(p, t), atol=1e-12)


def test_wrap_angle():
    np.testing.assert_allclose(
        wrap_angle(np.array([3 * np.pi, -np.pi, 0.5, -4.0])), [np.pi, np.pi, 0.5, -4.0 + 2 * np.pi]
    )
