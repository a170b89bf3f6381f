"""The strongest peaks of eq 42 (STCIB paper Section VI) of covariances whose
eigendecompositions are known: the peak search of :class:`~.search.PeakSearch` ("fast",
"grid"), or 2-D unitary ESPRIT's directions refined to the nearest maxima ("esprit", issue 16),
for one model order (:meth:`EigenPeaks.block_peaks`) or several at once
(:meth:`EigenPeaks.order_peaks`). :class:`~.estimators.MusicEstimator` adds covariances and
snapshots in.
"""

from __future__ import annotations

import functools

import numpy as np

from .esprit import basis_directions, capacity, esprit_uv, signal_basis
from .lags import lag_coefficients
from .newton import refine_lags
from .search import (
    SAME_PEAK_UV,
    Peaks,
    PeakSearch,
    evaluate,
    noise_projector,
    peaks_from_uv,
    select_distinct,
)


def noise_edge(M: int, snapshots: int) -> float:
    """Largest eigenvalue of a pure-noise M x M sample covariance of ``snapshots`` samples,
    relative to the noise power, that is exceeded rarely: the Tracy-Widom law's centre plus
    three of its scale (Johnstone 2001, complex case; ~1.85 for M = 16, tau = 192; the
    Marchenko-Pastur edge (1 + sqrt(M / tau))^2 is its centre)."""
    a, b = np.sqrt(snapshots), np.sqrt(M)
    return float(((a + b) ** 2 + 3.0 * (a + b) * (1 / a + 1 / b) ** (1 / 3)) / snapshots)


class EigenPeaks(PeakSearch):
    """Peaks of eq 42 from covariances R (B, M, M), their ascending eigenvalues lam (B, M) and
    eigenvectors vecs (B, M, M), for one rows x cols URPA (grids of :class:`PeakSearch`).

    Method "esprit": no search where 2-D unitary ESPRIT resolves the n sources
    (n <= esprit.capacity(rows, cols)): its n directions (:func:`.esprit.esprit_uv`) start
    the Newton refinement, which moves each to the nearest maximum of eq 42 (a few steps: the
    start is already in the peak's basin). What a block then reports depends on how many of
    its n signal eigenvalues clear what noise alone gives (:func:`noise_edge`; the "strong"
    sources; with snapshots unknown, all n):

    - all n (every source stands out of the noise): the refined peaks where they are trusted
      — every start converged, stayed within ``BASIN`` / max(rows, cols) in (u, v) of its
      ESPRIT direction (a start that leaves it is not refined further:
      ``refine(leash=...)``) and no two merged — and the fast search otherwise: the maxima
      the fast search reports, at a cost that does not need a batch;
    - some (a source within the noise): the strong sources start from ESPRIT of their own
      subspace (which the noise's eigenvectors do not tilt) and are refined to the maxima
      they reach; the weak ones come from a search on a grid ``WEAK_GRID`` times coarser
      refining only its ``WEAK_CANDIDATES`` + n best grid maxima (a maximum standing for a
      source within the noise is a beamwidth wide): the n strongest distinct maxima of the
      two. A block is fully searched instead where a strong start did not converge, or where
      one of ESPRIT's n directions not taken by a strong source lies within ``ISOLATION`` /
      max(rows, cols) of a strong one (two close sources, which the fast grid resolves
      better). On the Table-I scene with 4x4 RAPs and NC + 1 = 3 sources (78 % of RAP-blocks
      with a source within the noise) the target's peak is the fast search's in 99.9 % of
      RAP-blocks, the fused fix the same, in 0.6-0.7x the time; the sensing bench's named
      scene gives the same RMSE per RAP (issue 16);
    - none: the fast search.

    refine=False: ESPRIT's directions themselves (closed form, no refinement, no fallback).
    At most n peaks per block of model order n (more asked for are NaN).
    """

    #: Refined ESPRIT peaks farther than this from their start, in (u, v) times the array's
    #: larger dimension, left the start's basin (half a beamwidth): the block is searched.
    BASIN = 0.5
    #: In a block with a source within the noise, an ESPRIT direction that no strong source
    #: took closer than this to a strong one, in (u, v) times the array's larger dimension
    #: (half a Rayleigh beamwidth: two close sources, not one lost in the noise), has the
    #: block searched.
    ISOLATION = 1.0
    #: The weak peaks' search: its grid step over the fast search's, and the grid maxima it
    #: refines beyond the peaks asked for (the fast search refines 8 more).
    WEAK_GRID = 2.0
    WEAK_CANDIDATES = 2

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
        if self.refine_peaks:
            return self.order_peaks(R, lam, vecs, [(n, np.arange(R.shape[0]))], n_peaks, snapshots)
        u, v = esprit_uv(R, self.rows, self.cols, n)
        p0, p = lag_coefficients(noise_projector(vecs, n), self.rows, self.cols)
        u, v, f = select_distinct(
            u, v, evaluate(p0, p, u, v, self.rows, self.cols), min(n, n_peaks)
        )
        if n_peaks > n:  # ESPRIT finds the n sources, no further maxima
            pad = ((0, 0), (0, n_peaks - n))
            u, v = np.pad(u, pad, constant_values=np.nan), np.pad(v, pad, constant_values=np.nan)
            f = np.pad(f, pad, constant_values=np.inf)
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
        starts = []  # ESPRIT groups: (n, blocks, u0, v0, strong sources per block)
        for n, idx in groups:
            if n > cap:
                keep[idx] = width
                continue
            strong = np.full(idx.size, n)
            if snapshots:  # the signal eigenvalues above what noise alone gives
                edge = noise_edge(M, snapshots) * lam[idx, : M - n].mean(-1)
                strong = np.sum(lam[idx, M - n :] > edge[:, None], axis=-1)
            u0, v0 = self._esprit_starts(R[idx], n, strong)
            starts.append((n, idx, u0, v0, strong))
        if starts:
            refined = self._refine_starts(P, starts)
            for (n, idx, u0, v0, strong), (ru, rv, rf) in zip(starts, refined):
                trusted = self._trusted(u0, v0, ru, rv, rf, strong)
                weak = np.flatnonzero(trusted & (strong < n))
                if weak.size:
                    ru[weak], rv[weak], rf[weak] = self._with_weak_peaks(
                        P[idx[weak]], ru[weak], rv[weak], rf[weak], n
                    )
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

    def _esprit_starts(
        self, R: np.ndarray, n: int, strong: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Starts (u, v) (B, n) for blocks of model order n with ``strong`` (B,) sources above
        the noise: ESPRIT's n directions; where 0 < strong < n, the strong sources' own
        (ESPRIT of their subspace alone, which the noise's eigenvectors do not tilt) first,
        then the n - strong of the n directions farthest from them (not refined: they only
        tell two close sources, :meth:`_trusted`)."""
        M = self.M
        basis = signal_basis(R, self.rows, self.cols)
        u, v = basis_directions(basis[..., M - n :], self.rows, self.cols)
        for k in np.unique(strong[(strong > 0) & (strong < n)]):
            sel = np.flatnonzero(strong == k)
            uk, vk = basis_directions(basis[sel][..., M - k :], self.rows, self.cols)
            d = np.hypot(u[sel, :, None] - uk[:, None], v[sel, :, None] - vk[:, None]).min(-1)
            rest = np.argsort(-d, axis=-1, kind="stable")[:, : n - k]
            u[sel] = np.concatenate([uk, np.take_along_axis(u[sel], rest, -1)], -1)
            v[sel] = np.concatenate([vk, np.take_along_axis(v[sel], rest, -1)], -1)
        return u, v

    def _refine_starts(self, P: np.ndarray, starts: list) -> list[tuple[np.ndarray, ...]]:
        """Newton refinement of every group's strong sources' ESPRIT starts (the first
        ``strong`` of a block's) in one call -> per group (u, v, f) (blocks, n), f = inf
        where not refined. Leashed to their basin (:attr:`basin`: a start that leaves it is
        searched for) where every source is strong, free where some are not."""
        p0, p = lag_coefficients(P, self.rows, self.cols)
        out, todo = [], []
        for n, idx, u0, v0, strong in starts:
            out.append((u0.copy(), v0.copy(), np.full(u0.shape, np.inf)))
            first = np.arange(n) < strong[:, None]  # (b, n): the strong sources' starts
            rows = np.broadcast_to(idx[:, None], first.shape)[first]
            leash = np.where(
                np.broadcast_to((strong == n)[:, None], first.shape), self.basin, np.inf
            )
            todo.append((rows, u0[first], v0[first], leash[first]))
        blocks, su, sv, leash = (np.concatenate(x) for x in zip(*todo))
        ru, rv, rf = refine_lags(
            p0[blocks], p[blocks], su, sv, self.rows, self.cols, cap=0.5 * self.step, leash=leash
        )
        at = 0
        for (n, _, _, _, strong), (u, v, f) in zip(starts, out):
            first = np.arange(n) < strong[:, None]
            span = slice(at, at + int(first.sum()))
            u[first], v[first], f[first] = ru[span], rv[span], rf[span]
            at = span.stop
        return out

    def _with_weak_peaks(
        self, P: np.ndarray, u: np.ndarray, v: np.ndarray, f: np.ndarray, n: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The n strongest distinct maxima (b, n) of blocks with a source within the noise:
        their refined strong peaks (u, v, f finite; the weak ones inf) with those of a
        search on a coarser grid (WEAK_GRID x the fast one: a maximum standing for a source
        within the noise is a beamwidth wide) refining its best few grid maxima only."""
        wu, wv, wf = self.weak_search.search(P, n)
        return select_distinct(
            np.concatenate([u, wu], -1), np.concatenate([v, wv], -1), np.concatenate([f, wf], -1), n
        )

    @functools.cached_property
    def weak_search(self) -> PeakSearch:
        """The weak peaks' search (:meth:`_with_weak_peaks`), its grid built on first use."""
        return PeakSearch(
            self.rows, self.cols, "fast", coarse_step=self.WEAK_GRID * self.step,
            candidates=self.WEAK_CANDIDATES,
        )  # fmt: skip

    @property
    def basin(self) -> float:
        """How far in (u, v) a refined ESPRIT start may move and stay trusted (``BASIN``)."""
        return self.BASIN / max(self.rows, self.cols)

    def _trusted(
        self,
        u0: np.ndarray,
        v0: np.ndarray,
        u: np.ndarray,
        v: np.ndarray,
        f: np.ndarray,
        strong: np.ndarray,
    ) -> np.ndarray:
        """(B,) blocks whose refined ESPRIT peaks (B, n) stand (see the class): those of the
        ``strong`` (B,) sources (the first ones) all converged and, where every source is
        strong, stayed in their start's basin and merged with no other; where some are not,
        no other start lies within ``ISOLATION`` of a strong one; no strong source: never."""
        n = u.shape[-1]
        gap = np.hypot(u[..., :, None] - u[..., None, :], v[..., :, None] - v[..., None, :])
        gap[..., np.arange(n), np.arange(n)] = np.inf
        in_basin = np.hypot(u - u0, v - v0) <= self.basin
        whole = np.all(np.isfinite(f) & in_basin & (gap.min(axis=-1) >= SAME_PEAK_UV), axis=-1)
        # some sources within the noise: the strong ones converged, and no other start near
        # a strong one (two close sources, not one lost in the noise)
        strong_start = np.arange(n) < strong[:, None]
        near = np.hypot(u0[..., :, None] - u0[..., None, :], v0[..., :, None] - v0[..., None, :])
        near = np.where(strong_start[:, :, None] & ~strong_start[:, None, :], near, np.inf)
        apart = np.all(near >= self.ISOLATION / max(self.rows, self.cols), axis=(-2, -1))
        partial = (strong > 0) & np.all(np.isfinite(f) | ~strong_start, axis=-1) & apart
        return np.where(strong == n, whole, partial)
