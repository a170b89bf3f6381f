"""Peak search of eq 42's MUSIC spectrum (STCIB paper Section VI) for one URPA: the grid,
the local maxima on it, their refinement and the strongest distinct peaks.

Eq 42 depends on a direction only through its direction cosines u = sin(theta) cos(psi),
v = sin(theta) sin(psi) (eqs 4a-4b), so peaks are searched and compared in (u, v) and reported
in the canonical range theta in [0, pi/2], psi in (-pi, pi] (arrays.canonical_angles):

- ``"grid"``: the paper's full grid, -100 ... 100 deg at 0.5 deg on both axes (401 x 401, which
  covers every direction: (psi, -theta) is (psi + 180 deg, theta)), its trigonometric basis
  precomputed; its local maxima are then refined like the fast search's, so both reach the
  same precision.
- ``"fast"``: a coarse grid in the (u, v) disk, then Newton steps on the continuous spectrum
  from every coarse local maximum (:func:`.newton.refine`).
- ``"esprit"``: no search where 2-D unitary ESPRIT resolves the sources (:mod:`.esprit`, the
  starts of the same Newton refinement; :class:`.estimators.MusicEstimator`), the fast search's
  grid for the blocks where it does not.

Without refinement (``refine=False``) the grid points are the peaks: local maxima closer than
``GRID_MERGE_STEPS`` grid steps in (u, v) are one peak (the highest is kept; a grid resolves
nothing finer, and near theta = 0 or on the fold theta = 90 deg several grid points map to
nearly the same direction), and a point on the edge of an (azimuth, elevation) grid is never
a peak (the spectrum may rise past it; the paper's grid reaches 10 deg past every fold, so
each direction also has an interior point). With refinement, edge points are not starts either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arrays import angles_from_uv, direction_cosines
from .lags import half_plane_lags, lag_basis, lag_coefficients, lag_polynomial
from .newton import refine_lags
from .pseudospectrum import paper_grid

#: The peak search methods (:class:`PeakSearch`, music.estimators.MusicEstimator).
METHODS = ("fast", "grid", "esprit")
#: Peaks closer than this in (u, v) after refinement are the same peak.
SAME_PEAK_UV = 1e-4
#: Unrefined grid peaks closer than this many grid steps in (u, v) are the same peak.
GRID_MERGE_STEPS = 2.5
#: Candidates refined per block beyond the peaks asked for.
_EXTRA_CANDIDATES = 8


@dataclass(frozen=True)
class Peaks:
    """The strongest peaks of eq 42 per block, strongest first.

    psi, theta (..., n) radians (canonical range), u, v (..., n) direction cosines, value (..., n)
    spectrum heights; where fewer than n distinct peaks exist the rest are NaN (value -inf).
    """

    psi: np.ndarray
    theta: np.ndarray
    u: np.ndarray
    v: np.ndarray
    value: np.ndarray

    @property
    def angles(self) -> np.ndarray:
        """(..., n, 2): [psi, theta] per peak."""
        return np.stack([self.psi, self.theta], axis=-1)

    def reshape(self, lead: tuple) -> Peaks:
        """The same peaks with leading axes ``lead`` (the peak axis stays last)."""
        shape = tuple(lead) + self.psi.shape[-1:]
        return Peaks(
            *(x.reshape(shape) for x in (self.psi, self.theta, self.u, self.v, self.value))
        )

    def take(self, index: int | np.ndarray | slice) -> Peaks:
        """The peaks of some blocks (indexing the leading axes)."""
        return Peaks(
            self.psi[index], self.theta[index], self.u[index], self.v[index], self.value[index]
        )


def _local_maxima(V: np.ndarray) -> np.ndarray:
    """Mask of grid points >= all 8 neighbours (outside the grid counts as -inf). V (..., na, ne).

    A separable 3 x 3 maximum filter: a point is a local maximum where it equals it.
    """
    row = V.copy()
    np.maximum(row[..., 1:, :], V[..., :-1, :], out=row[..., 1:, :])
    np.maximum(row[..., :-1, :], V[..., 1:, :], out=row[..., :-1, :])
    box = row.copy()
    np.maximum(box[..., :, 1:], row[..., :, :-1], out=box[..., :, 1:])
    np.maximum(box[..., :, :-1], row[..., :, 1:], out=box[..., :, :-1])
    return (V >= box) & np.isfinite(V)


def _top_candidates(values: np.ndarray, mask: np.ndarray, count: int) -> tuple[np.ndarray, ...]:
    """Indices (..., count) of the highest masked entries of values (..., G), and their values."""
    scored = np.where(mask, values, -np.inf)
    count = min(count, scored.shape[-1])
    idx = np.argpartition(-scored, count - 1, axis=-1)[..., :count]
    val = np.take_along_axis(scored, idx, axis=-1)
    return idx, val


def select_distinct(
    u: np.ndarray, v: np.ndarray, f: np.ndarray, n_peaks: int, same: float = SAME_PEAK_UV
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The n_peaks lowest-f (highest spectrum) candidates (..., k) of which none lies within
    ``same`` in (u, v) of a higher one (a duplicate of it). -> u, v, f (..., n_peaks), NaN
    (f inf) where fewer remain."""
    order = np.argsort(f, axis=-1, kind="stable")
    u, v, f = (np.take_along_axis(x, order, axis=-1) for x in (u, v, f))
    d = np.hypot(u[..., :, None] - u[..., None, :], v[..., :, None] - v[..., None, :])
    k = f.shape[-1]
    earlier = np.tril(np.ones((k, k), dtype=bool), -1)  # j < i
    dup = np.any((d < same) & earlier, axis=-1) | ~np.isfinite(f)
    f = np.where(dup, np.inf, f)
    order = np.argsort(f, axis=-1, kind="stable")[..., :n_peaks]
    u, v, f = (np.take_along_axis(x, order, axis=-1) for x in (u, v, f))
    if f.shape[-1] < n_peaks:
        pad = [(0, 0)] * (f.ndim - 1) + [(0, n_peaks - f.shape[-1])]
        u, v = np.pad(u, pad, constant_values=np.nan), np.pad(v, pad, constant_values=np.nan)
        f = np.pad(f, pad, constant_values=np.inf)
    missing = ~np.isfinite(f)
    return np.where(missing, np.nan, u), np.where(missing, np.nan, v), f


def noise_projector(vecs: np.ndarray, n_sources: int) -> np.ndarray:
    """P = E_n E_n^H (B, M, M) from ascending eigenvectors (B, M, M) (eq 42's denominator)."""
    En = vecs[..., : vecs.shape[-1] - n_sources]
    return En @ np.swapaxes(En, -1, -2).conj()


def evaluate(
    p0: np.ndarray, p: np.ndarray, u: np.ndarray, v: np.ndarray, rows: int, cols: int
) -> np.ndarray:
    """f = a^H P a (B, k) at directions (u, v) (B, k) from P's lag coefficients p0 (B,), p (B, L)."""
    lr, lc, _ = half_plane_lags(rows, cols)
    k = u.shape[-1]
    _, f = lag_polynomial(np.repeat(p0, k), np.repeat(p, k, axis=0), u.ravel(), v.ravel(), lr, lc)
    return np.maximum(f, 1e-300).reshape(u.shape)


def peaks_from_uv(u: np.ndarray, v: np.ndarray, f: np.ndarray, shape: tuple) -> Peaks:
    """Peaks (reshaped to ``shape``) from direction cosines and f = 1 / spectrum (NaN u: none)."""
    psi, theta = angles_from_uv(np.nan_to_num(u), np.nan_to_num(v))
    missing = np.isnan(u)
    return Peaks(
        psi=np.where(missing, np.nan, psi).reshape(shape),
        theta=np.where(missing, np.nan, theta).reshape(shape),
        u=u.reshape(shape),
        v=v.reshape(shape),
        value=np.where(missing, -np.inf, 1.0 / f).reshape(shape),
    )


class PeakSearch:
    """The peak search of eq 42 for one rows x cols URPA, with its grid precomputed.

    method "fast" (coarse (u, v) grid of step ``coarse_step``, default 0.1 / max(rows, cols),
    then Newton refinement), "grid" (the paper's 401 x 401 grid, or ``grid`` = (az, el) axes,
    then the same refinement unless refine=False) or "esprit" (the fast grid, searched where
    ESPRIT cannot start the refinement: music.estimators.MusicEstimator). ``candidates``:
    local maxima refined per block beyond the peaks asked for.
    """

    def __init__(
        self,
        rows: int,
        cols: int,
        method: str = "fast",
        coarse_step: float | None = None,
        grid: tuple[np.ndarray, np.ndarray] | None = None,
        refine: bool = True,
        candidates: int = _EXTRA_CANDIDATES,
    ) -> None:
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if rows < 1 or cols < 1:
            raise ValueError(f"rows and cols must be >= 1, got {rows} x {cols}")
        self.rows, self.cols, self.M = int(rows), int(cols), int(rows) * int(cols)
        self.method = method
        self.refine_peaks = refine
        self.candidates = int(candidates)
        if method != "grid":
            h = coarse_step if coarse_step is not None else 0.1 / max(rows, cols)
            if not 0 < h < 0.5:
                raise ValueError(f"coarse_step must be in (0, 0.5), got {h}")
            self.step = float(h)
            half = int(np.ceil(1.0 / h))
            axis = np.arange(-half, half + 1) * h
            uu, vv = np.meshgrid(axis, axis, indexing="ij")
            self.grid_shape = uu.shape
            self.grid_u, self.grid_v = uu.ravel(), vv.ravel()
            # the visible disk only; a rim maximum shows up at the outermost points
            self.grid_mask = np.hypot(self.grid_u, self.grid_v) <= 1.0
            self.grid_edge = np.zeros(self.grid_u.size, dtype=bool)  # the disk has no edge
            self.boresight: list[int] = []
        else:
            az, el = paper_grid() if grid is None else (np.ravel(grid[0]), np.ravel(grid[1]))
            self.step = float(max(np.abs(np.diff(az)).max(), np.abs(np.diff(el)).max()))
            self.grid_shape = (az.size, el.size)
            gu, gv = direction_cosines(az[:, None], el[None, :])
            self.grid_u, self.grid_v = gu.ravel(), gv.ravel()
            self.grid_mask = np.ones(self.grid_u.size, dtype=bool)
            # an edge point's maximum cannot be told from a slope running past the grid
            edge = np.ones(self.grid_shape, dtype=bool)
            edge[1:-1, 1:-1] = False
            self.grid_edge = edge.ravel()
            # elevation 0 is one direction (boresight) at every azimuth: its grid neighbours
            # are the whole rings of the adjacent elevations, not two points of them
            self.boresight = [int(e) for e in np.flatnonzero(np.abs(np.sin(el)) < 1e-12)]
        # f on the grid = p_0 + 2 basis @ [Re p, Im p]: the precomputed "steering" of the search
        self.basis = lag_basis(
            self.grid_u[self.grid_mask], self.grid_v[self.grid_mask], self.rows, self.cols
        )

    def subspace_peaks(self, vecs: np.ndarray, n_sources: int, n_peaks: int, lead: tuple) -> Peaks:
        """Peaks from ascending eigenvectors (B, M, M) of the covariances, shaped lead + (n,)."""
        u, v, f = self.search(noise_projector(vecs, n_sources), n_peaks)
        return peaks_from_uv(u, v, f, lead + (n_peaks,))

    def _maxima(self, vals: np.ndarray) -> np.ndarray:
        """Local maxima (b, G) of grid values (b, G), boresight checked against its rings."""
        grid = vals.reshape((-1,) + self.grid_shape)
        mask = _local_maxima(grid)
        ne = self.grid_shape[1]
        for e in self.boresight:
            ring = [c for c in (e - 1, e + 1) if 0 <= c < ne]
            if ring:
                top = grid[:, :, ring].max(axis=(1, 2))
                mask[:, :, e] &= grid[:, :, e] >= top[:, None]
        return mask.reshape(vals.shape)

    def search(self, P: np.ndarray, n_peaks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The n_peaks strongest distinct maxima (u, v, f = a^H P a) (B, n_peaks) for noise
        projectors P (B, M, M): grid local maxima, refined unless refine=False."""
        count = n_peaks + self.candidates
        p0, p = lag_coefficients(P, self.rows, self.cols)
        coef = np.concatenate([p.real, p.imag], axis=-1).T  # (2L, B)
        chunk = max(1, int(3e5 // self.grid_u.size))  # (b, G) temporaries that stay in cache
        us, vs, found = [], [], []
        for s in range(0, P.shape[0], chunk):
            den = p0[s : s + chunk, None] + 2 * (self.basis @ coef[:, s : s + chunk]).T
            vals = np.full((den.shape[0], self.grid_u.size), -np.inf)  # (b, G)
            vals[:, self.grid_mask] = 1.0 / np.maximum(den, 1e-300)
            mask = self._maxima(vals)
            idx, top = _top_candidates(vals, mask & ~self.grid_edge, count)
            us.append(self.grid_u[idx])
            vs.append(self.grid_v[idx])
            found.append(np.isfinite(top))  # False: filler where fewer maxima exist
        u, v, found = np.concatenate(us), np.concatenate(vs), np.concatenate(found)
        if self.refine_peaks:  # the grid's maxima only, not the filler
            block = np.broadcast_to(np.arange(P.shape[0])[:, None], found.shape)[found]
            f = np.full(u.shape, np.inf)
            u[found], v[found], f[found] = refine_lags(
                p0[block], p[block], u[found], v[found], self.rows, self.cols, cap=0.5 * self.step
            )
            return select_distinct(u, v, f, n_peaks)
        f = np.where(found, evaluate(p0, p, u, v, self.rows, self.cols), np.inf)
        return select_distinct(u, v, f, n_peaks, GRID_MERGE_STEPS * self.step)
