"""Angle errors of a direction estimate: the localization error of eq 43 and the angle between
two directions.

Angles are radians. Errors are taken after mapping both directions to the canonical range
(arrays.canonical_angles) with the azimuth difference wrapped (arrays.wrap_angle), as eq 43
compares (psi, theta) pairs; :func:`separation` is the angle between two directions, by which
directions are matched.
"""

from __future__ import annotations

import numpy as np

from ..arrays import canonical_angles, direction_cosines, wrap_angle


def angle_errors(
    psi_true: np.ndarray, theta_true: np.ndarray, psi_est: np.ndarray, theta_est: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(psi_true - psi_est wrapped to (-pi, pi], theta_true - theta_est), both canonical."""
    pt, tt = canonical_angles(psi_true, theta_true)
    pe, te = canonical_angles(psi_est, theta_est)
    return wrap_angle(pt - pe), tt - te


def localization_error(
    psi_true: np.ndarray, theta_true: np.ndarray, psi_est: np.ndarray, theta_est: np.ndarray
) -> np.ndarray:
    """Eq 43 for each realization: sqrt((psi_true - psi_est)^2 + (theta_true - theta_est)^2)."""
    dpsi, dtheta = angle_errors(psi_true, theta_true, psi_est, theta_est)
    return np.hypot(dpsi, dtheta)


def localization_rmse(
    psi_true: np.ndarray, theta_true: np.ndarray, psi_est: np.ndarray, theta_est: np.ndarray
) -> float:
    """Root mean square of eq 43 over all realizations (NaN estimates, i.e. misses, excluded)."""
    err = localization_error(psi_true, theta_true, psi_est, theta_est)
    err = err[np.isfinite(err)]
    return float(np.sqrt(np.mean(err**2))) if err.size else float("nan")


def separation(
    psi_a: np.ndarray, theta_a: np.ndarray, psi_b: np.ndarray, theta_b: np.ndarray
) -> np.ndarray:
    """Angle between two directions in front of an array (radians, broadcasting)."""
    ua, va = direction_cosines(np.asarray(psi_a, float), np.asarray(theta_a, float))
    ub, vb = direction_cosines(np.asarray(psi_b, float), np.asarray(theta_b, float))
    wa = np.sqrt(np.maximum(0.0, 1 - ua**2 - va**2))
    wb = np.sqrt(np.maximum(0.0, 1 - ub**2 - vb**2))
    # atan2 of |a x b| and a.b is accurate for tiny angles
    cross = np.sqrt((va * wb - wa * vb) ** 2 + (wa * ub - ua * wb) ** 2 + (ua * vb - va * ub) ** 2)
    return np.arctan2(cross, ua * ub + va * vb + wa * wb)
