"""2D MUSIC from snapshots to angles (STCIB paper Section VI, eqs 41-42): per block the sample
covariance (eq 41), its model order, and the strongest peaks of eq 42; the cached estimator and
the one-call functions :func:`find_peaks` and :func:`estimate`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .esprit import capacity, esprit_uv
from .lags import lag_coefficients
from .newton import refine
from .search import (
    SAME_PEAK_UV,
    Peaks,
    PeakSearch,
    evaluate,
    noise_projector,
    peaks_from_uv,
    select_distinct,
)
from .subspace import (
    check_covariance,
    check_sources,
    forward_backward,
    model_order,
    sample_covariance,
)
from .validity import Validity, identifiable, screen_snapshots


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


def noise_edge(M: int, snapshots: int) -> float:
    """Largest eigenvalue of a pure-noise M x M sample covariance of ``snapshots`` samples,
    relative to the noise power, that is exceeded rarely: the Tracy-Widom law's centre plus
    three of its scale (Johnstone 2001, complex case; ~1.85 for M = 16, tau = 192; the
    Marchenko-Pastur edge (1 + sqrt(M / tau))^2 is its centre)."""
    a, b = np.sqrt(snapshots), np.sqrt(M)
    return float(((a + b) ** 2 + 3.0 * (a + b) * (1 / a + 1 / b) ** (1 / 3)) / snapshots)


class MusicEstimator(PeakSearch):
    """2D MUSIC for one rows x cols URPA, with the search grids precomputed.

    method "fast" (coarse (u, v) grid of step ``coarse_step``, default 0.1 / max(rows, cols),
    then Newton refinement) or "grid" (the paper's 401 x 401 grid, or ``grid`` = (az, el) axes,
    then the same refinement unless refine=False): the grids and the search are those of
    :class:`~gr_cfisac.music.search.PeakSearch`, which this class extends with covariances and
    snapshots in.

    method "esprit": no search where 2-D unitary ESPRIT resolves the n sources
    (n <= esprit.capacity(rows, cols)): its n directions (:func:`.esprit.esprit_uv`) start
    the Newton refinement, which moves each to the nearest maximum of eq 42 (a few steps: the
    start is already in the peak's basin). A block keeps those peaks where they are trusted —
    every start converged, stayed within ``BASIN`` / max(rows, cols) in (u, v) of its ESPRIT
    direction (a start that leaves it is not refined further: ``refine(leash=...)``), no two
    merged, and (with snapshots known) the weakest signal eigenvalue clears
    what noise alone gives (:func:`noise_edge`) — and falls back to the fast search
    otherwise (and for n > capacity); so it reports the maxima the fast search reports, at
    a cost that does not need a batch.
    refine=False: ESPRIT's directions themselves (closed form, no refinement, no fallback).
    At most n peaks per block of model order n (more asked for are NaN).
    """

    #: Refined ESPRIT peaks farther than this from their start, in (u, v) times the array's
    #: larger dimension, left the start's basin (half a beamwidth): the block is searched.
    BASIN = 0.5

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
        the noise eigenvalues' spread, see the class); None: R is taken as exact."""
        R = check_covariance(R, self.M)
        check_sources(n_sources, self.M)
        n_peaks = n_sources if n_peaks is None else int(n_peaks)
        if n_peaks < 1:
            raise ValueError(f"n_peaks must be >= 1, got {n_peaks}")
        flat = R.reshape((-1, self.M, self.M))
        lam, vecs = np.linalg.eigh(flat)
        pk = self.block_peaks(flat, lam, vecs, n_sources, n_peaks, snapshots)
        return pk.reshape(R.shape[:-2])

    def block_peaks(
        self,
        R: np.ndarray,
        lam: np.ndarray,
        vecs: np.ndarray,
        n_sources: int,
        n_peaks: int,
        snapshots: int | None = None,
    ) -> Peaks:
        """Peaks (B, n_peaks) of covariances R (B, M, M) with ascending eigenvalues lam (B, M)
        and eigenvectors vecs (B, M, M), estimated from ``snapshots`` (None: exact)."""
        if self.method == "esprit" and n_sources <= capacity(self.rows, self.cols):
            return self.esprit_peaks(R, lam, vecs, n_sources, n_peaks, snapshots)
        return self.subspace_peaks(vecs, n_sources, n_peaks, (R.shape[0],))

    def esprit_peaks(
        self,
        R: np.ndarray,
        lam: np.ndarray,
        vecs: np.ndarray,
        n_sources: int,
        n_peaks: int,
        snapshots: int | None = None,
    ) -> Peaks:
        """ESPRIT-started peaks (B, n_peaks) (see the class); the fast search where untrusted."""
        n = int(n_sources)
        M = self.M
        u0, v0 = esprit_uv(R, self.rows, self.cols, n)
        P = noise_projector(vecs, n)
        if self.refine_peaks:
            trusted = np.ones(R.shape[0], dtype=bool)
            if snapshots:
                # the weakest signal eigenvalue must clear the largest one noise alone gives:
                # below it the subspace is noise and the strongest maximum may lie anywhere
                trusted &= lam[:, M - n] > noise_edge(M, snapshots) * lam[:, : M - n].mean(-1)
            # only blocks that can still be trusted are refined (each start's refinement is
            # its own: the others batched with it do not change it); the rest are searched
            u, v = u0.copy(), v0.copy()
            f = np.full(u0.shape, np.inf)
            if trusted.any():
                t = np.flatnonzero(trusted)
                u[t], v[t], f[t] = refine(
                    P[t], u0[t], v0[t], self.rows, self.cols, cap=0.5 * self.step,
                    leash=self.basin,
                )  # fmt: skip
            trusted &= self._trusted(u0, v0, u, v, f)
        else:
            p0, p = lag_coefficients(P, self.rows, self.cols)
            u, v, f = u0, v0, evaluate(p0, p, u0, v0, self.rows, self.cols)
            trusted = np.ones(R.shape[0], dtype=bool)
        u, v, f = select_distinct(u, v, f, min(n, n_peaks))
        if n_peaks > n:  # ESPRIT finds the n sources, no further maxima
            pad = ((0, 0), (0, n_peaks - n))
            u, v = np.pad(u, pad, constant_values=np.nan), np.pad(v, pad, constant_values=np.nan)
            f = np.pad(f, pad, constant_values=np.inf)
        if not trusted.all():
            redo = ~trusted
            us, vs, fs = self.search(P[redo], n_peaks)
            fs[:, n:] = np.inf  # the same at most n peaks
            none = np.isinf(fs)
            u[redo], v[redo], f[redo] = np.where(none, np.nan, us), np.where(none, np.nan, vs), fs
        return peaks_from_uv(u, v, f, (R.shape[0], n_peaks))

    def order_peaks(
        self,
        R: np.ndarray,
        lam: np.ndarray,
        vecs: np.ndarray,
        groups: list[tuple[int, np.ndarray]],
        width: int,
        snapshots: int | None = None,
    ) -> Peaks:
        """Peaks (B, width) of blocks of several model orders at once: ``groups`` lists
        (n, block indices) (the other blocks get no peaks). The same peaks as
        :meth:`block_peaks` per group, with one Newton refinement of every group's ESPRIT
        starts and one search of every block that needs one (each start's refinement and
        each block's search are their own, whatever is batched with them): the per-call cost
        is paid once, not once per model order."""
        B, M = R.shape[0], self.M
        if self.method == "esprit" and not self.refine_peaks:  # closed form: nothing to merge
            fields = [np.full((B, width), np.nan) for _ in range(4)] + [
                np.full((B, width), -np.inf)
            ]
            for n, idx in groups:
                pk = self.block_peaks(R[idx], lam[idx], vecs[idx], n, width, snapshots)
                for field, x in zip(fields, (pk.psi, pk.theta, pk.u, pk.v, pk.value)):
                    field[idx] = x
            return Peaks(*fields)
        u, v = np.full((B, width), np.nan), np.full((B, width), np.nan)
        f = np.full((B, width), np.inf)
        P = np.zeros((B, M, M), dtype=complex)
        for n, idx in groups:
            P[idx] = noise_projector(vecs[idx], n)
        keep = np.zeros(B, dtype=int)  # searched blocks: how many of their peaks stand
        cap = capacity(self.rows, self.cols) if self.method == "esprit" else 0
        starts = []  # ESPRIT groups: (n, blocks, u0, v0, still trusted)
        for n, idx in groups:
            if n > cap:
                keep[idx] = width
                continue
            u0, v0 = esprit_uv(R[idx], self.rows, self.cols, n)
            trusted = np.ones(idx.size, dtype=bool)
            if snapshots:  # see esprit_peaks
                trusted &= lam[idx, M - n] > noise_edge(M, snapshots) * lam[idx, : M - n].mean(-1)
            starts.append((n, idx, u0, v0, trusted))
        if starts:
            refined = self._refine_starts(P, starts)
            for (n, idx, u0, v0, trusted), (ru, rv, rf) in zip(starts, refined):
                trusted &= self._trusted(u0, v0, ru, rv, rf)
                gu, gv, gf = select_distinct(ru, rv, rf, min(n, width))
                u[idx, : gu.shape[1]], v[idx, : gv.shape[1]], f[idx, : gf.shape[1]] = gu, gv, gf
                keep[idx[~trusted]] = n  # the same at most n peaks
        redo = np.flatnonzero(keep)
        if redo.size:
            us, vs, fs = self.search(P[redo], width)
            fs[np.arange(width) >= keep[redo, None]] = np.inf
            none = np.isinf(fs)
            u[redo], v[redo] = np.where(none, np.nan, us), np.where(none, np.nan, vs)
            f[redo] = fs
        return peaks_from_uv(u, v, f, (B, width))

    def _refine_starts(self, P: np.ndarray, starts: list) -> list[tuple[np.ndarray, ...]]:
        """Newton refinement of the trusted blocks' ESPRIT starts of every group in one call
        -> per group (u, v, f) (blocks, n): the starts themselves with f = inf where the block
        was not refined."""
        blocks, su, sv, out = [], [], [], []
        for n, idx, u0, v0, trusted in starts:
            t = np.flatnonzero(trusted)
            blocks.append(np.repeat(idx[t], n))
            su.append(u0[t].ravel())
            sv.append(v0[t].ravel())
        blocks = np.concatenate(blocks)
        ru, rv, rf = (np.empty(0),) * 3
        if blocks.size:
            ru, rv, rf = refine(
                P[blocks], np.concatenate(su)[:, None], np.concatenate(sv)[:, None],
                self.rows, self.cols, cap=0.5 * self.step, leash=self.basin,
            )  # fmt: skip
        at = 0
        for n, _, u0, v0, trusted in starts:
            u, v, f = u0.copy(), v0.copy(), np.full(u0.shape, np.inf)
            t = np.flatnonzero(trusted)
            span = slice(at, at + t.size * n)
            u[t], v[t], f[t] = (x[span].reshape(t.size, n) for x in (ru, rv, rf))
            at += t.size * n
            out.append((u, v, f))
        return out

    @property
    def basin(self) -> float:
        """How far in (u, v) a refined ESPRIT start may move and stay trusted (``BASIN``)."""
        return self.BASIN / max(self.rows, self.cols)

    def _trusted(
        self, u0: np.ndarray, v0: np.ndarray, u: np.ndarray, v: np.ndarray, f: np.ndarray
    ) -> np.ndarray:
        """(B,) blocks whose refined ESPRIT peaks (B, n) all converged, stayed in their start's
        basin and did not merge (see the class)."""
        n = u.shape[-1]
        basin = self.basin
        gap = np.hypot(u[..., :, None] - u[..., None, :], v[..., :, None] - v[..., None, :])
        gap[..., np.arange(n), np.arange(n)] = np.inf
        return (
            np.all(np.isfinite(f), axis=-1)
            & np.all(np.hypot(u - u0, v - v0) <= basin, axis=-1)
            & np.all(gap.min(axis=-1) >= SAME_PEAK_UV, axis=-1)
        )

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
        validity = screen_snapshots(Y)  # on the samples as they came (complex64: half the bytes)
        good = validity == Validity.OK
        # bad blocks get a harmless covariance (eigh fails on NaN) and NaN results below
        if good.all():  # the usual case: one complex128 copy of the snapshots at most
            R = sample_covariance(Y.astype(complex, copy=False))
        else:
            R = np.broadcast_to(np.eye(self.M, dtype=complex), (len(Y), self.M, self.M)).copy()
            R[good] = sample_covariance(Y[good].astype(complex, copy=False))
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
