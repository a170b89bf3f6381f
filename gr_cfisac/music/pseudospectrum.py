"""The MUSIC spectrum of eq 42 (STCIB paper Section VI), 1 / (a^H E_n E_n^H a), evaluated on
azimuth x elevation grids with the URPA steering of eqs 2-5, and the paper's search grid
(Section VII-B). All angles are radians; complex128 inside.
"""

from __future__ import annotations

import numpy as np

from ..arrays import steering
from .subspace import check_covariance, check_sources

#: The paper's search grid (Section VII-B): start, stop, step in degrees, both axes.
PAPER_GRID_DEG = (-100.0, 100.0, 0.5)


def paper_grid() -> tuple[np.ndarray, np.ndarray]:
    """Azimuth and elevation axes of the paper's grid, radians: each (401,)."""
    start, stop, step = PAPER_GRID_DEG
    axis = np.radians(np.linspace(start, stop, round((stop - start) / step) + 1))
    return axis, axis.copy()


def _denominator(A_conj: np.ndarray, vecs: np.ndarray, n_sources: int) -> np.ndarray:
    """a^H E_n E_n^H a for conjugated steering rows A_conj (G, M) and ascending eigenvectors
    (B, M, M) -> (B, G), as one matrix product over the batch.

    Uses whichever subspace is smaller: a^H E_n E_n^H a = M - ||E_s^H a||^2 as ||a||^2 = M.
    """
    B, M, _ = vecs.shape
    signal = n_sources <= M - n_sources
    E = vecs[..., M - n_sources :] if signal else vecs[..., : M - n_sources]
    k = E.shape[-1]
    Z = A_conj @ np.transpose(E, (1, 0, 2)).reshape(M, B * k)  # (G, B k)
    power = (Z.real**2 + Z.imag**2).reshape(-1, B, k).sum(-1).T  # (B, G)
    den = M - power if signal else power
    return np.maximum(den, M * 1e-15)


def spectrum(
    R: np.ndarray, rows: int, cols: int, n_sources: int, az: np.ndarray, el: np.ndarray
) -> np.ndarray:
    """MUSIC spectrum of eq 42, 1 / (a^H N N^H a), on an azimuth x elevation grid.

    R (M, M) (or (..., M, M)) covariance of a rows x cols URPA, n_sources sources, az (na,) and
    el (ne,) radians -> (na, ne) (or (..., na, ne)).
    """
    R = check_covariance(R, rows * cols)
    check_sources(n_sources, rows * cols)
    az = np.asarray(az, dtype=float).ravel()
    el = np.asarray(el, dtype=float).ravel()
    A = steering(az[:, None], el[None, :], rows, cols).reshape(-1, rows * cols)
    _, vecs = np.linalg.eigh(R.reshape((-1,) + R.shape[-2:]))
    den = _denominator(A.conj(), vecs, n_sources)
    return (1.0 / den).reshape(R.shape[:-2] + (az.size, el.size))
