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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arrays import angles_from_uv, direction_cosines
from .lags import lag_basis, lag_coefficients, half_plane_lags, lag_polynomial
from .newton import refine
from .pseudospectrum import paper_grid

#: Peaks closer than this in (u, v) after refinement are the same peak.
_SAME_PEAK_UV = 1e-4
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


def _select_distinct(
    u: np.ndarray, v: np.ndarray, f: np.ndarray, n_peaks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The n_peaks lowest-f (highest spectrum) candidates that are not duplicates. (..., k)."""
    order = np.argsort(f, axis=-1)
    u, v, f = (np.take_along_axis(x, order, axis=-1) for x in (u, v, f))
    d = np.hypot(u[..., :, None] - u[..., None, :], v[..., :, None] - v[..., None, :])
    k = f.shape[-1]
    earlier = np.tril(np.ones((k, k), dtype=bool), -1)  # j < i
    dup = np.any((d < _SAME_PEAK_UV) & earlier, axis=-1) | ~np.isfinite(f)
    f = np.where(dup, np.inf, f)
    order = np.argsort(f, axis=-1, kind="stable")[..., :n_peaks]
    u, v, f = (np.take_along_axis(x, order, axis=-1) for x in (u, v, f))
    if f.shape[-1] < n_peaks:
        pad = [(0, 0)] * (f.ndim - 1) + [(0, n_peaks - f.shape[-1])]
        u, v = np.pad(u, pad, constant_values=np.nan), np.pad(v, pad, constant_values=np.nan)
        f = np.pad(f, pad, constant_values=np.inf)
    missing = ~np.isfinite(f)
    return np.where(missing, np.nan, u), np.where(missing, np.nan, v), f


class PeakSearch:
    """The peak search of eq 42 for one rows x cols URPA, with its grid precomputed.

    method "fast" (coarse (u, v) grid of step ``coarse_step``, default 0.1 / max(rows, cols),
    then Newton refinement) or "grid" (the paper's 401 x 401 grid, or ``grid`` = (az, el) axes,
    then the same refinement unless refine=False). ``candidates``: local maxima refined per
    block beyond the peaks asked for.
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
        if method not in ("fast", "grid"):
            raise ValueError(f"method must be 'fast' or 'grid', got {method!r}")
        if rows < 1 or cols < 1:
            raise ValueError(f"rows and cols must be >= 1, got {rows} x {cols}")
        self.rows, self.cols, self.M = int(rows), int(cols), int(rows) * int(cols)
        self.method = method
        self.refine_peaks = refine
        self.candidates = int(candidates)
        if method == "fast":
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
        else:
            az, el = paper_grid() if grid is None else (np.ravel(grid[0]), np.ravel(grid[1]))
            self.step = float(max(np.abs(np.diff(az)).max(), np.abs(np.diff(el)).max()))
            self.grid_shape = (az.size, el.size)
            gu, gv = direction_cosines(az[:, None], el[None, :])
            self.grid_u, self.grid_v = gu.ravel(), gv.ravel()
            self.grid_mask = np.ones(self.grid_u.size, dtype=bool)
        # f on the grid = p_0 + 2 basis @ [Re p, Im p]: the precomputed "steering" of the search
        self.basis = lag_basis(
            self.grid_u[self.grid_mask], self.grid_v[self.grid_mask], self.rows, self.cols
        )

    def subspace_peaks(self, vecs: np.ndarray, n_sources: int, n_peaks: int, lead: tuple) -> Peaks:
        """Peaks from ascending eigenvectors (B, M, M) of the covariances, shaped lead + (n,)."""
        En = vecs[..., : self.M - n_sources]
        u, v, f = self.search(En @ np.swapaxes(En, -1, -2).conj(), n_peaks)
        psi, theta = angles_from_uv(np.nan_to_num(u), np.nan_to_num(v))
        missing = np.isnan(u)
        shape = lead + (n_peaks,)
        return Peaks(
            psi=np.where(missing, np.nan, psi).reshape(shape),
            theta=np.where(missing, np.nan, theta).reshape(shape),
            u=u.reshape(shape),
            v=v.reshape(shape),
            value=np.where(missing, -np.inf, 1.0 / f).reshape(shape),
        )

    def search(self, P: np.ndarray, n_peaks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The n_peaks strongest distinct maxima (u, v, f = a^H P a) (B, n_peaks) for noise
        projectors P (B, M, M): grid local maxima, refined unless refine=False."""
        count = n_peaks + self.candidates
        p0, p = lag_coefficients(P, self.rows, self.cols)
        coef = np.concatenate([p.real, p.imag], axis=-1).T  # (2L, B)
        chunk = max(1, int(3e5 // self.grid_u.size))  # (b, G) temporaries that stay in cache
        us, vs = [], []
        for s in range(0, P.shape[0], chunk):
            den = p0[s : s + chunk, None] + 2 * (self.basis @ coef[:, s : s + chunk]).T
            vals = np.full((den.shape[0], self.grid_u.size), -np.inf)  # (b, G)
            vals[:, self.grid_mask] = 1.0 / np.maximum(den, 1e-300)
            mask = _local_maxima(vals.reshape((-1,) + self.grid_shape)).reshape(vals.shape)
            idx, _ = _top_candidates(vals, mask, count)
            us.append(self.grid_u[idx])
            vs.append(self.grid_v[idx])
        u, v = np.concatenate(us), np.concatenate(vs)
        if self.refine_peaks:
            u, v, f = refine(P, u, v, self.rows, self.cols, cap=0.5 * self.step)
        else:
            lr, lc, _ = half_plane_lags(self.rows, self.cols)
            k = u.shape[-1]
            _, f = lag_polynomial(np.repeat(p0, k), np.repeat(p, k, axis=0), u.ravel(), v.ravel(), lr, lc)
            f = np.maximum(f, 1e-300).reshape(u.shape)
        return _select_distinct(u, v, f, n_peaks)
