"""2D MUSIC for a URPA (STCIB paper Section VI, eqs 41-43): sample covariance, noise subspace,
the azimuth x elevation spectrum, model-order estimation and peak search.

Eq 42's spectrum depends on a direction only through its direction cosines
u = sin(theta) cos(psi), v = sin(theta) sin(psi) (eqs 4a-4b), so peaks are searched and
compared in (u, v) and reported in the canonical range theta in [0, pi/2], psi in (-pi, pi]
(arrays.canonical_angles). Two searches exist:

- ``"grid"``: the paper's full grid, -100 ... 100 deg at 0.5 deg on both axes (401 x 401, which
  covers every direction: (psi, -theta) is (psi + 180 deg, theta)), steering matrix precomputed;
  its local maxima are then refined like the fast search's, so both reach the same precision.
- ``"fast"`` (default): a coarse grid in the (u, v) disk, then Newton steps on the continuous
  spectrum from every coarse local maximum (in (u, v) inside the disk, in (psi, theta) near its
  rim, where theta = 90 deg is a fold and rim maxima are ordinary stationary points).
- ``"esprit"``: no search where the array resolves the sources: 2-D unitary ESPRIT's closed-form
  directions start the same Newton steps; blocks whose refined peaks are not trusted (merged,
  left their start's basin) and model orders ESPRIT cannot resolve get the fast search, a
  source within the noise a coarser one. Cheap at batch 1 too.

All return the strongest ``n`` distinct peaks (``METHODS`` names them). All angles are radians;
complex128 inside.

Modules: :mod:`.subspace` (eq 41's covariance, forward-backward averaging, noise subspace,
model order), :mod:`.pseudospectrum` (eq 42 on azimuth x elevation grids, the paper's grid),
:mod:`.lags` (eq 42's denominator as a trigonometric polynomial in (u, v), with derivatives),
:mod:`.validity` (whether a block's result means anything), :mod:`.newton` (Newton refinement
of the peaks), :mod:`.esprit` (2-D unitary ESPRIT), :mod:`.search` (grids, local maxima, the
strongest distinct peaks: :class:`PeakSearch`, :class:`Peaks`), :mod:`.eigen_peaks` (the
peaks of eigendecompositions: the search or ESPRIT-started refinement, per model order or
several at once), :mod:`.estimators` (:class:`MusicEstimator`, :func:`estimate`,
:func:`find_peaks`, :class:`MusicResult`).
"""

from __future__ import annotations

from .esprit import esprit_uv
from .estimators import MusicEstimator, MusicResult, estimate, estimator, find_peaks
from .newton import refine
from .pseudospectrum import PAPER_GRID_DEG, paper_grid, spectrum
from .search import METHODS, Peaks, PeakSearch
from .subspace import (
    check_sources,
    forward_backward,
    model_order,
    noise_subspace,
    sample_covariance,
)
from .validity import Validity, identifiable, is_bad_input, screen_snapshots

__all__ = [
    "METHODS",
    "PAPER_GRID_DEG",
    "MusicEstimator",
    "MusicResult",
    "PeakSearch",
    "Validity",
    "Peaks",
    "check_sources",
    "estimate",
    "estimator",
    "esprit_uv",
    "find_peaks",
    "forward_backward",
    "identifiable",
    "is_bad_input",
    "model_order",
    "noise_subspace",
    "paper_grid",
    "refine",
    "sample_covariance",
    "screen_snapshots",
    "spectrum",
]
