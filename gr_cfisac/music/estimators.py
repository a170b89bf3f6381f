"""2D MUSIC from snapshots to angles (STCIB paper Section VI, eqs 41-42): per block the sample
covariance (eq 41), its model order, and the strongest peaks of eq 42; the cached estimator and
the one-call functions :func:`find_peaks` and :func:`estimate`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .eigen_peaks import EigenPeaks
from .search import Peaks
from .subspace import (
    check_covariance,
    check_sources,
    forward_backward,
    model_order,
    screened_covariances,
)
from .validity import Validity, identifiable


@dataclass(frozen=True)
class MusicResult:
    """What :func:`estimate` returns for B blocks of snapshots.

    angles (B, n, 2) [psi, theta] radians of the strongest peaks (NaN where a block has fewer),
    value (B, n) their spectrum heights (-inf where a valid block has fewer peaks),
    n_sources (B,) the model order used per block (0 for bad input), eigenvalues (B, M) of the
    sample covariance, ascending, validity (B,) int8 :class:`~.validity.Validity` codes. Blocks
    whose code is not OK hold NaN angles, values and eigenvalues: nothing to misread.
    """

    angles: np.ndarray
    value: np.ndarray
    n_sources: np.ndarray
    eigenvalues: np.ndarray
    validity: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        """(B,) True where the block's peaks are estimates (validity OK)."""
        return self.validity == Validity.OK


class MusicEstimator(EigenPeaks):
    """2D MUSIC for one rows x cols URPA, with the search grids precomputed.

    method "fast" (coarse (u, v) grid of step ``coarse_step``, default 0.1 / max(rows, cols),
    then Newton refinement) or "grid" (the paper's 401 x 401 grid, or ``grid`` = (az, el) axes,
    then the same refinement unless refine=False): the grids and the search are those of
    :class:`~gr_cfisac.music.search.PeakSearch`, the peaks of eigendecompositions those of
    :class:`~.eigen_peaks.EigenPeaks`, which this class extends with covariances and snapshots
    in.

    method "esprit": no search where 2-D unitary ESPRIT resolves the sources, its directions
    refined to the nearest maxima of eq 42 instead (:class:`~.eigen_peaks.EigenPeaks`).
    At most n peaks per block of model order n (more asked for are NaN).
    """

    # -- covariances in, peaks out ---------------------------------------------
    def peaks(
        self,
        R: np.ndarray,
        n_sources: int,
        n_peaks: int | None = None,
        snapshots: int | None = None,
    ) -> Peaks:
        """Strongest ``n_peaks`` (default n_sources) distinct peaks of eq 42 for R (..., M, M).

        snapshots: how many R was estimated from ("esprit" checks its signal subspace against
        the noise eigenvalues' spread, see EigenPeaks); None: R is taken as exact."""
        R = check_covariance(R, self.M)
        check_sources(n_sources, self.M)
        n_peaks = n_sources if n_peaks is None else int(n_peaks)
        if n_peaks < 1:
            raise ValueError(f"n_peaks must be >= 1, got {n_peaks}")
        flat = R.reshape((-1, self.M, self.M))
        lam, vecs = np.linalg.eigh(flat)
        pk = self.block_peaks(flat, lam, vecs, n_sources, n_peaks, snapshots)
        return pk.reshape(R.shape[:-2])

    # -- snapshots in, angles out -----------------------------------------------
    def __call__(
        self,
        Y: np.ndarray,
        n_sources: int | None = None,
        n_peaks: int | None = None,
        criterion: str = "mdl",
        fb: bool = False,
    ) -> MusicResult:
        """MUSIC over a batch of snapshot blocks: Y (B, M, tau) (any leading axes) -> result.

        n_sources None: estimated per block (:func:`model_order`); n_peaks defaults to the
        model order (its maximum over the batch when estimated). fb: forward-backward average
        the covariance first (:func:`forward_backward`; not in the paper, helps coherent echoes).
        """
        Y = np.asarray(Y)
        if Y.ndim < 2 or Y.shape[-2] != self.M:
            raise ValueError(
                f"Y must be (..., M={self.M}, tau) snapshots of a {self.rows}x{self.cols} URPA, "
                f"got shape {Y.shape}"
            )
        lead, tau = Y.shape[:-2], Y.shape[-1]
        Y = Y.reshape((-1, self.M, tau))
        validity, R = screened_covariances(Y)
        good = validity == Validity.OK
        if fb:
            R = forward_backward(R)
        lam, vecs = np.linalg.eigh(R)
        if n_sources is None:
            order = np.minimum(model_order(lam, tau, criterion), self.M - 1)
        else:
            check_sources(n_sources, self.M)
            order = np.full(R.shape[0], int(n_sources))
        order = np.where(good, order, 0)
        validity[good & ~identifiable(order, self.rows, self.cols)] = Validity.NOT_IDENTIFIABLE
        width = int(n_peaks) if n_peaks is not None else max(1, int(order.max()))
        angles = np.full((R.shape[0], width, 2), np.nan)
        value = np.full((R.shape[0], width), -np.inf)
        search = validity == Validity.OK
        groups = [
            (int(n), np.flatnonzero(search & (order == n))) for n in np.unique(order[search]) if n
        ]
        if groups:
            pk = self.order_peaks(R, lam, vecs, groups, width, tau)
            angles[search], value[search] = pk.angles[search], pk.value[search]
        if n_peaks is None:  # at most n peaks for a block of order n
            beyond = search[:, None] & (np.arange(width) >= order[:, None])
            angles[beyond], value[beyond] = np.nan, -np.inf
        value[~search] = np.nan
        lam[~good] = np.nan
        return MusicResult(
            angles=angles.reshape(lead + (width, 2)),
            value=value.reshape(lead + (width,)),
            n_sources=order.reshape(lead),
            eigenvalues=lam.reshape(lead + (self.M,)),
            validity=validity.reshape(lead),
        )


@functools.lru_cache(maxsize=8)
def estimator(rows: int, cols: int, method: str = "fast") -> MusicEstimator:
    """A cached :class:`MusicEstimator` with default settings (grids are built once)."""
    return MusicEstimator(rows, cols, method)


def find_peaks(
    R: np.ndarray,
    rows: int,
    cols: int,
    n_sources: int,
    n_peaks: int | None = None,
    method: str = "fast",
) -> Peaks:
    """Strongest distinct peaks of eq 42 for R (..., M, M): see :class:`MusicEstimator`."""
    return estimator(rows, cols, method).peaks(R, n_sources, n_peaks)


def estimate(
    Y: np.ndarray,
    rows: int,
    cols: int,
    n_sources: int | None = None,
    n_peaks: int | None = None,
    method: str = "fast",
    criterion: str = "mdl",
    fb: bool = False,
) -> MusicResult:
    """MUSIC angles from snapshot blocks Y (B, M, tau) (any leading axes, e.g. (B, NR, MR, tau)):
    angles (B, n, 2) [psi, theta] radians with their spectrum values. See MusicEstimator."""
    return estimator(rows, cols, method)(Y, n_sources, n_peaks, criterion, fb)
