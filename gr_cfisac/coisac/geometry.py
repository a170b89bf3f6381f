"""Geometry of the ``coisac`` scenario (paper 003, section II-B): the paper's angles (eqs 5-6),
their map to DESIGN's array convention, the UPA steering vector of eq 8 and the Jacobian of
eqs 29-31.

Paper angles: theta_n is the elevation of the target seen from BS n measured from the
horizontal plane (eq 5, theta in [-pi/2, pi/2]), beta_n the azimuth in the x-y plane from the
x axis (eq 6, beta in [-pi, pi]); the unit direction is k = [cos th cos be, cos th sin be, sin th].
Every UPA lies in the x-z plane (section II-B) with Lx elements along x and Lz along z (section
IV-A calls the second size Ly; we keep its name ``Ly`` for the vertical axis), spacing d = lambda/2.

Map to DESIGN (``gr_cfisac.arrays``): the array's row axis is x (r = i_x), its column axis z
(c = i_z), and the direction cosines are u = -k_x = -cos th cos be, v = k_z = sin th, so
``arrays.steering_uv(u, v, Lx, Ly)`` = exp(-j pi (r u - c v)) = exp(j pi (i_x k_x + i_z k_z)),
which is eq 8 without its 1/sqrt(L) (that factor lives in the reflection coefficients here, so
every element has unit gain). DESIGN's canonical angles (elevation from the array normal, the
y axis; azimuth in the array plane) follow from (u, v) by ``arrays.angles_from_uv``; the planar
array cannot tell the front (+y) from the back (-y) and neither can the steering vector.

numpy only; radians; metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arrays import angles_from_uv, element_indices, steering_uv

#: horizontal distances below this (m) leave eq 6's azimuth and eq 31 undefined
NEAR = 1e-6


@dataclass(frozen=True)
class Placement:
    """Where everything is, for B blocks: BSs ``bs`` (N, 3), users ``users`` (B, K, 3), the
    target ``target`` (B, 3), in metres; the carrier's ``wavelength_m`` and every BS's UPA size
    ``Lx`` x ``Ly`` (x-z plane, half-wavelength spacing). What a channel source is given."""

    bs: np.ndarray
    users: np.ndarray
    target: np.ndarray
    wavelength_m: float
    Lx: int
    Ly: int

    @property
    def batch(self) -> int:
        return self.users.shape[0]

    @property
    def N(self) -> int:
        return self.bs.shape[0]

    @property
    def K(self) -> int:
        return self.users.shape[1]

    @property
    def L(self) -> int:
        return self.Lx * self.Ly


def offsets(origins: np.ndarray, points: np.ndarray) -> np.ndarray:
    """points - origins: origins (N, 3), points (..., 3) -> (..., N, 3) metres."""
    return np.asarray(points, float)[..., None, :] - np.asarray(origins, float)


def paper_angles(bs: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(theta, beta) of eqs 5-6 of every point seen from every BS: bs (N, 3), points (..., 3)
    -> two (..., N) arrays, theta from the horizontal, beta = atan2(dy, dx) (eq 6's arctan plus
    its pi correction, wrapped to (-pi, pi])."""
    d = offsets(bs, points)
    dist = np.linalg.norm(d, axis=-1)
    theta = np.arcsin(np.clip(d[..., 2] / np.maximum(dist, NEAR), -1.0, 1.0))
    beta = np.arctan2(d[..., 1], d[..., 0])
    return theta, beta


def uv_from_paper(theta: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DESIGN's direction cosines of an x-z plane UPA: u = -cos th cos be, v = sin th."""
    theta, beta = np.asarray(theta, float), np.asarray(beta, float)
    return -np.cos(theta) * np.cos(beta), np.sin(theta)


def design_angles(theta: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DESIGN's canonical (psi, theta) (azimuth in the array plane, elevation from its normal)
    of the paper's (theta, beta)."""
    return angles_from_uv(*uv_from_paper(theta, beta))


def steering(theta: np.ndarray, beta: np.ndarray, Lx: int, Ly: int) -> np.ndarray:
    """Eq 8 times sqrt(L) (unit-modulus elements): (...) angles -> (..., Lx Ly) complex128,
    element (i_x, i_z) at index i_x + Lx i_z (DESIGN's vec order)."""
    return steering_uv(*uv_from_paper(theta, beta), Lx, Ly)


def steering_derivatives(
    theta: np.ndarray, beta: np.ndarray, Lx: int, Ly: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """a of :func:`steering` and da/dtheta, da/dbeta (each (..., L)), the blocks of D in
    eqs 26-27: d/dx a = j pi (i_x dk_x/dx + i_z dk_z/dx) a."""
    theta, beta = np.asarray(theta, float), np.asarray(beta, float)
    a = steering(theta, beta, Lx, Ly)
    ix, iz = element_indices(Lx, Ly)
    st, ct = np.sin(theta)[..., None], np.cos(theta)[..., None]
    sb, cb = np.sin(beta)[..., None], np.cos(beta)[..., None]
    d_theta = 1j * np.pi * (ix * (-st * cb) + iz * ct) * a
    d_beta = 1j * np.pi * (ix * (-ct * sb)) * a
    return a, d_theta, d_beta


def angle_jacobian(bs: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Q = d omega / d t of eqs 29-31, omega = [theta_1..theta_N, beta_1..beta_N]:
    bs (N, 3), target (..., 3) -> (..., 2N, 3). ValueError when the target stands right above
    or below a BS (eq 6's azimuth is undefined there)."""
    d = offsets(bs, target)
    dxy2 = d[..., 0] ** 2 + d[..., 1] ** 2
    if np.any(dxy2 < NEAR**2):
        raise ValueError(
            "target: it stands straight above or below a BS, where the azimuth of eq 6 and the "
            "Jacobian of eq 31 are undefined; move it horizontally away from the BSs"
        )
    dxy = np.sqrt(dxy2)
    dist2 = dxy2 + d[..., 2] ** 2
    dth = np.stack(
        [
            -d[..., 0] * d[..., 2] / (dist2 * dxy),
            -d[..., 1] * d[..., 2] / (dist2 * dxy),
            dxy / dist2,
        ],
        axis=-1,
    )  # eq 30
    dbe = np.stack([-d[..., 1] / dxy2, d[..., 0] / dxy2, np.zeros_like(dxy)], axis=-1)  # eq 31
    return np.concatenate([dth, dbe], axis=-2)
