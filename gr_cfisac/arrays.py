"""URPA steering vectors (eqs 2-5) and their angle derivatives.

Convention (DESIGN.md): the array lies in its own plane, elevation theta is measured from the
array normal and azimuth psi in the array plane. With direction cosines
u = sin(theta) cos(psi), v = sin(theta) sin(psi), eqs 4a-4b are r1 = pi u and r2 = pi v
(half-wavelength spacing), b_x = [1, e^{-j r_x}, ..., e^{-j (M_x - 1) r_x}]^T (eq 3) and
a = vec(b1 b2^H) (eq 2) with vec() stacking columns, so element (r, c) of a rows x cols URPA
is index r + rows * c and equals exp(-j pi (r u - c v)).
"""

from __future__ import annotations

import numpy as np


def element_indices(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """(r, c) index of every element in vec() order: element (r, c) is index r + rows * c."""
    idx = np.arange(rows * cols)
    return idx % rows, idx // rows


def direction_cosines(psi: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """u = sin(theta) cos(psi), v = sin(theta) sin(psi): what eqs 4a-4b depend on."""
    s = np.sin(theta)
    return s * np.cos(psi), s * np.sin(psi)


def steering_uv(u: np.ndarray, v: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Steering vector of eq 2 from direction cosines. u, v: (...) -> (..., rows*cols) complex128."""
    r, c = element_indices(rows, cols)
    u = np.asarray(u, dtype=float)[..., None]
    v = np.asarray(v, dtype=float)[..., None]
    return np.exp(-1j * np.pi * (r * u - c * v))


def steering(psi: np.ndarray, theta: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """URPA steering vector a(psi, theta) of eqs 2-5. psi, theta: (...) radians -> (..., M)."""
    u, v = direction_cosines(np.asarray(psi, dtype=float), np.asarray(theta, dtype=float))
    return steering_uv(u, v, rows, cols)


def steering_derivatives(
    psi: np.ndarray, theta: np.ndarray, rows: int, cols: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """a and its derivatives da/dpsi, da/dtheta (each (..., M)), for CRB and Newton refinement.

    d/dx exp(-j pi (r u - c v)) = -j pi (r du/dx - c dv/dx) a, with
    du/dpsi = -sin(theta) sin(psi), dv/dpsi = sin(theta) cos(psi),
    du/dtheta = cos(theta) cos(psi), dv/dtheta = cos(theta) sin(psi).
    """
    psi = np.asarray(psi, dtype=float)
    theta = np.asarray(theta, dtype=float)
    r, c = element_indices(rows, cols)
    a = steering(psi, theta, rows, cols)
    st, ct = np.sin(theta)[..., None], np.cos(theta)[..., None]
    sp, cp = np.sin(psi)[..., None], np.cos(psi)[..., None]
    d_psi = -1j * np.pi * (r * (-st * sp) - c * (st * cp)) * a
    d_theta = -1j * np.pi * (r * (ct * cp) - c * (ct * sp)) * a
    return a, d_psi, d_theta


def canonical_angles(psi: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map any (psi, theta) to the canonical range theta in [0, pi/2], psi in (-pi, pi].

    Two directions with the same (u, v) give the same steering vector, so this is the
    representative used to compare estimated and true angles (DESIGN.md, angles).
    """
    u, v = direction_cosines(np.asarray(psi, dtype=float), np.asarray(theta, dtype=float))
    return angles_from_uv(u, v)


def angles_from_uv(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(psi, theta) in the canonical range from direction cosines (u^2 + v^2 <= 1)."""
    u = np.asarray(u, dtype=float)
    v = np.asarray(v, dtype=float)
    s = np.clip(np.hypot(u, v), 0.0, 1.0)
    theta = np.arcsin(s)
    psi = np.arctan2(v, u)
    psi = np.where(psi <= -np.pi, psi + 2 * np.pi, psi)
    return psi, theta


def wrap_angle(x: np.ndarray) -> np.ndarray:
    """Wrap radians to (-pi, pi] (eq 43 errors wrap psi)."""
    y = np.mod(np.asarray(x, dtype=float) + np.pi, 2 * np.pi) - np.pi
    return np.where(y == -np.pi, np.pi, y)
