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

Both return the strongest ``n`` distinct peaks. All angles are radians; complex128 inside.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .arrays import angles_from_uv, direction_cosines, element_indices, steering, steering_uv

#: The paper's search grid (Section VII-B): start, stop, step in degrees, both axes.
PAPER_GRID_DEG = (-100.0, 100.0, 0.5)

#: Peaks closer than this in (u, v) after refinement are the same peak.
_SAME_PEAK_UV = 1e-4
#: Candidates refined per block beyond the peaks asked for.
_EXTRA_CANDIDATES = 8
_NEWTON_ITERATIONS = 30
_RIM = 0.9  # sin(theta) above which the refinement works in (psi, theta)


def paper_grid() -> tuple[np.ndarray, np.ndarray]:
    """Azimuth and elevation axes of the paper's grid, radians: each (401,)."""
    start, stop, step = PAPER_GRID_DEG
    axis = np.radians(np.linspace(start, stop, round((stop - start) / step) + 1))
    return axis, axis.copy()


# ----------------------------------------------------------------------------- subspaces


def sample_covariance(Y: np.ndarray) -> np.ndarray:
    """R = (1/tau) sum_t y(t) y(t)^H (eq 41). Y (..., M, tau) -> (..., M, M)."""
    Y = np.asarray(Y)
    if Y.ndim < 2:
        raise ValueError(f"Y must be (..., M, tau) snapshots, got shape {Y.shape}")
    return Y @ np.swapaxes(Y, -1, -2).conj() / Y.shape[-1]


def check_sources(n_sources: int, M: int) -> None:
    """ValueError unless 1 <= n_sources <= M - 1 (MUSIC needs a non-empty noise subspace)."""
    if int(n_sources) != n_sources or n_sources < 1:
        raise ValueError(f"n_sources must be a positive integer, got {n_sources!r}")
    if n_sources >= M:
        raise ValueError(
            f"n_sources={n_sources} but the RAP has only M={M} antennas: MUSIC resolves at most "
            f"M - 1 = {M - 1} sources. Ask for fewer sources or use a larger RAP array "
            "(SystemConfig.MR_shape)"
        )


def _check_covariance(R: np.ndarray, M: int | None = None) -> np.ndarray:
    R = np.asarray(R)
    if R.ndim < 2 or R.shape[-1] != R.shape[-2]:
        raise ValueError(f"R must be (..., M, M) covariance matrices, got shape {R.shape}")
    if M is not None and R.shape[-1] != M:
        raise ValueError(f"R is {R.shape[-1]} x {R.shape[-1]} but the array has M={M} elements")
    return R


def noise_subspace(R: np.ndarray, n_sources: int) -> np.ndarray:
    """Eigenvectors of the M - n_sources smallest eigenvalues of R: (..., M, M) -> (..., M, M-n)."""
    R = _check_covariance(R)
    check_sources(n_sources, R.shape[-1])
    _, vecs = np.linalg.eigh(R)
    return vecs[..., : R.shape[-1] - n_sources]


def model_order(eigenvalues: np.ndarray, snapshots: int, criterion: str = "mdl") -> np.ndarray:
    """Number of sources from the eigenvalues of a sample covariance (Wax & Kailath 1985).

    eigenvalues (..., M) in any order, snapshots tau -> (...,) int in 0 ... M-1 minimizing
    MDL(k) = -tau (M-k) log(g_k / a_k) + k (2M - k) log(tau) / 2, or
    AIC(k) = -2 tau (M-k) log(g_k / a_k) + 2 k (2M - k),
    with g_k, a_k the geometric and arithmetic means of the M - k smallest eigenvalues.
    """
    if criterion not in ("mdl", "aic"):
        raise ValueError(f"criterion must be 'mdl' or 'aic', got {criterion!r}")
    if snapshots < 1:
        raise ValueError(f"snapshots must be >= 1, got {snapshots}")
    lam = np.sort(np.maximum(np.asarray(eigenvalues, dtype=float), 1e-300), axis=-1)  # ascending
    M = lam.shape[-1]
    k = np.arange(M)
    # the M - k smallest eigenvalues are lam[..., :M-k]
    logs = np.log(lam)
    cum_log = np.cumsum(logs, axis=-1)  # cum_log[..., i] = sum of i+1 smallest
    cum = np.cumsum(lam, axis=-1)
    count = M - k
    log_g = cum_log[..., count - 1] / count
    log_a = np.log(cum[..., count - 1] / count)
    fit = -(count) * (log_g - log_a)
    if criterion == "mdl":
        score = snapshots * fit + 0.5 * k * (2 * M - k) * np.log(snapshots)
    else:
        score = 2 * snapshots * fit + 2 * k * (2 * M - k)
    return np.argmin(score, axis=-1)


# ----------------------------------------------------------------------------- spectrum


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
    R = _check_covariance(R, rows * cols)
    check_sources(n_sources, rows * cols)
    az = np.asarray(az, dtype=float).ravel()
    el = np.asarray(el, dtype=float).ravel()
    A = steering(az[:, None], el[None, :], rows, cols).reshape(-1, rows * cols)
    _, vecs = np.linalg.eigh(R.reshape((-1,) + R.shape[-2:]))
    den = _denominator(A.conj(), vecs, n_sources)
    return (1.0 / den).reshape(R.shape[:-2] + (az.size, el.size))


# ----------------------------------------------------------------------------- peaks


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


@dataclass(frozen=True)
class MusicResult:
    """What :func:`estimate` returns for B blocks of snapshots.

    angles (B, n, 2) [psi, theta] radians of the strongest peaks (NaN where a block has fewer),
    value (B, n) their spectrum heights, n_sources (B,) the model order used per block,
    eigenvalues (B, M) of the sample covariance, ascending.
    """

    angles: np.ndarray
    value: np.ndarray
    n_sources: np.ndarray
    eigenvalues: np.ndarray


def _local_maxima(V: np.ndarray) -> np.ndarray:
    """Mask of grid points >= all 8 neighbours (edges padded with -inf). V (..., na, ne)."""
    P = np.pad(V, [(0, 0)] * (V.ndim - 2) + [(1, 1), (1, 1)], constant_values=-np.inf)
    na, ne = V.shape[-2:]
    peak = np.ones(V.shape, dtype=bool)
    for da in (0, 1, 2):
        for de in (0, 1, 2):
            if da == 1 and de == 1:
                continue
            peak &= V >= P[..., da : da + na, de : de + ne]
    return peak & np.isfinite(V)


def _top_candidates(values: np.ndarray, mask: np.ndarray, count: int) -> tuple[np.ndarray, ...]:
    """Indices (..., count) of the highest masked entries of values (..., G), and their values."""
    scored = np.where(mask, values, -np.inf)
    count = min(count, scored.shape[-1])
    idx = np.argpartition(-scored, count - 1, axis=-1)[..., :count]
    val = np.take_along_axis(scored, idx, axis=-1)
    return idx, val


def _derivatives(
    P: np.ndarray, u: np.ndarray, v: np.ndarray, r: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f = a^H P a with its (u, v) gradient (..., k, 2) and Hessian (..., k, 2, 2).

    P (..., M, M) noise projector, u, v (..., k). da/du = -j pi r a, da/dv = +j pi c a.
    """
    a = np.exp(-1j * np.pi * (r * u[..., None] - c * v[..., None]))  # (..., k, M)
    Pt = np.swapaxes(P, -1, -2)
    Pa = a @ Pt
    du, dv = -1j * np.pi * r, 1j * np.pi * c
    f = np.einsum("...km,...km->...k", a.conj(), Pa).real
    # a_x^H P a = conj(d_x) (a^H P a per element) summed: sum_m conj(d_x,m a_m) (Pa)_m
    aPa = a.conj() * Pa  # (..., k, M)
    g_u = 2 * (np.conj(du) * aPa).sum(-1).real
    g_v = 2 * (np.conj(dv) * aPa).sum(-1).real
    # second derivatives: a_xy = d_x d_y a; a_x^H P a_y = sum conj(d_x a)_m (P (d_y a))_m
    Pau = (du * a) @ Pt
    Pav = (dv * a) @ Pt
    h_uu = 2 * ((np.conj(du * du) * aPa).sum(-1) + ((du * a).conj() * Pau).sum(-1)).real
    h_vv = 2 * ((np.conj(dv * dv) * aPa).sum(-1) + ((dv * a).conj() * Pav).sum(-1)).real
    h_uv = 2 * ((np.conj(du * dv) * aPa).sum(-1) + ((du * a).conj() * Pav).sum(-1)).real
    grad = np.stack([g_u, g_v], axis=-1)
    hess = np.stack([np.stack([h_uu, h_uv], -1), np.stack([h_uv, h_vv], -1)], -2)
    return f, grad, hess


def _newton_step(grad: np.ndarray, hess: np.ndarray, cap: float) -> np.ndarray:
    """Levenberg-damped Newton step -(H + mu I)^{-1} g for a minimum, length capped. (..., 2)."""
    lam_min = np.linalg.eigvalsh(hess)[..., 0]
    scale = np.abs(hess).max(axis=(-2, -1)) + 1e-300
    mu = np.where(lam_min > 1e-9 * scale, 0.0, -lam_min + 1e-3 * scale)
    H = hess + mu[..., None, None] * np.eye(2)
    det = H[..., 0, 0] * H[..., 1, 1] - H[..., 0, 1] * H[..., 1, 0]
    det = np.where(np.abs(det) > 0, det, 1e-300)
    step = -np.stack(
        [
            (H[..., 1, 1] * grad[..., 0] - H[..., 0, 1] * grad[..., 1]) / det,
            (-H[..., 1, 0] * grad[..., 0] + H[..., 0, 0] * grad[..., 1]) / det,
        ],
        axis=-1,
    )
    length = np.linalg.norm(step, axis=-1, keepdims=True)
    return step * np.minimum(1.0, cap / np.maximum(length, 1e-300))


def _uv_of(psi: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return direction_cosines(psi, theta)


def refine(
    P: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    rows: int,
    cols: int,
    cap: float = 0.05,
    max_move: float = np.inf,
    iterations: int = _NEWTON_ITERATIONS,
    tol: float = 1e-10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Newton refinement of spectrum maxima (minima of f = a^H P a) from starts (u, v) (..., k).

    P (..., M, M) the noise projector E_n E_n^H. Inside the disk the steps are taken in (u, v);
    where sin(theta) > 0.9 in (psi, theta), through the chain rule, so that maxima on the rim
    theta = 90 deg (a fold of the map) are found like any other. Every step must lower f (step
    halving). A start that drifts farther than ``max_move`` (in (u, v)) is heading for a maximum
    another start covers, or for none: it is dropped (f = inf). -> refined u, v and f (..., k).
    """
    r, c = element_indices(rows, cols)
    u = np.array(u, dtype=float)
    v = np.array(v, dtype=float)
    rad = np.hypot(u, v)
    scale = np.where(rad > 1.0, 1.0 / np.maximum(rad, 1e-300), 1.0)
    u, v = u * scale, v * scale
    u0, v0 = u.copy(), v.copy()
    alive = np.ones(u.shape, dtype=bool)
    psi = np.arctan2(v, u)
    theta = np.arcsin(np.clip(np.hypot(u, v), 0.0, 1.0))
    f, grad, hess = _derivatives(P, u, v, r, c)
    for _ in range(iterations):
        rim = np.sin(theta) > _RIM
        step_uv = _newton_step(grad, hess, cap)
        # chain rule to (psi, theta): J = d(u, v)/d(psi, theta)
        st, ct, sp, cp = np.sin(theta), np.cos(theta), np.sin(psi), np.cos(psi)
        J = np.stack([np.stack([-st * sp, ct * cp], -1), np.stack([st * cp, ct * sp], -1)], -2)
        g_pt = np.einsum("...ij,...i->...j", J, grad)
        # second derivatives of u and v: u_pp = u_tt = -u, u_pt = -ct sp; v_pp = v_tt = -v, v_pt = ct cp
        uu, vv = st * cp, st * sp
        curv = grad[..., 0, None, None] * np.stack(
            [np.stack([-uu, -ct * sp], -1), np.stack([-ct * sp, -uu], -1)], -2
        ) + grad[..., 1, None, None] * np.stack(
            [np.stack([-vv, ct * cp], -1), np.stack([ct * cp, -vv], -1)], -2
        )
        h_pt = np.einsum("...ij,...ik,...kl->...jl", J, hess, J) + curv
        step_pt = _newton_step(g_pt, h_pt, cap)
        best_f = f.copy()
        new_u, new_v, new_psi, new_theta = u.copy(), v.copy(), psi.copy(), theta.copy()
        moved = np.zeros(f.shape, dtype=bool)
        for frac in (1.0, 0.5, 0.25, 0.125):
            tu = u + frac * step_uv[..., 0]
            tv = v + frac * step_uv[..., 1]
            tp = psi + frac * step_pt[..., 0]
            tt = theta + frac * step_pt[..., 1]
            ru, rv = _uv_of(tp, tt)
            tu = np.where(rim, ru, tu)
            tv = np.where(rim, rv, tv)
            # an interior (u, v) step that leaves the disk is pulled back onto the rim
            out = np.hypot(tu, tv) > 1.0
            shrink = np.where(out, 1.0 / np.maximum(np.hypot(tu, tv), 1e-300), 1.0)
            tu, tv = tu * shrink, tv * shrink
            tf = _spectrum_denominator(P, tu, tv, r, c)
            take = alive & (~moved) & (tf < best_f)
            best_f = np.where(take, tf, best_f)
            new_u = np.where(take, tu, new_u)
            new_v = np.where(take, tv, new_v)
            new_psi = np.where(take, np.where(rim, tp, np.arctan2(tv, tu)), new_psi)
            new_theta = np.where(
                take, np.where(rim, tt, np.arcsin(np.clip(np.hypot(tu, tv), 0, 1))), new_theta
            )
            moved |= take
        delta = np.hypot(new_u - u, new_v - v)
        u, v, psi, theta = new_u, new_v, new_psi, new_theta
        alive &= np.hypot(u - u0, v - v0) <= max_move
        if not np.any(alive & (delta > tol)):
            break
        f, grad, hess = _derivatives(P, u, v, r, c)
    f = np.where(alive, _spectrum_denominator(P, u, v, r, c), np.inf)
    return u, v, f


def _spectrum_denominator(
    P: np.ndarray, u: np.ndarray, v: np.ndarray, r: np.ndarray, c: np.ndarray
) -> np.ndarray:
    a = np.exp(-1j * np.pi * (r * u[..., None] - c * v[..., None]))
    Pa = a @ np.swapaxes(P, -1, -2)  # rows (P a_k)^T
    return np.maximum((a.conj() * Pa).sum(-1).real, 1e-300)


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


class MusicEstimator:
    """2D MUSIC for one rows x cols URPA, with the search grids precomputed.

    method "fast" (coarse (u, v) grid of step ``coarse_step``, default 0.2 / max(rows, cols),
    then Newton refinement) or "grid" (the paper's 401 x 401 grid, or ``grid`` = (az, el) axes,
    then the same refinement unless refine=False).
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
            h = coarse_step if coarse_step is not None else 0.2 / max(rows, cols)
            if not 0 < h < 0.5:
                raise ValueError(f"coarse_step must be in (0, 0.5), got {h}")
            self.step = float(h)
            axis = np.arange(-1.0 - h, 1.0 + 1.5 * h, h)
            uu, vv = np.meshgrid(axis, axis, indexing="ij")
            self.grid_shape = uu.shape
            self.grid_u, self.grid_v = uu.ravel(), vv.ravel()
            # keep a ring just outside the disk so rim maxima show up as coarse maxima
            self.grid_mask = np.hypot(self.grid_u, self.grid_v) <= 1.0 + h
        else:
            az, el = paper_grid() if grid is None else (np.ravel(grid[0]), np.ravel(grid[1]))
            self.step = float(max(np.abs(np.diff(az)).max(), np.abs(np.diff(el)).max()))
            self.grid_shape = (az.size, el.size)
            gu, gv = direction_cosines(az[:, None], el[None, :])
            self.grid_u, self.grid_v = gu.ravel(), gv.ravel()
            self.grid_mask = np.ones(self.grid_u.size, dtype=bool)
        self.steering_conj = steering_uv(self.grid_u, self.grid_v, self.rows, self.cols).conj()

    # -- the search -------------------------------------------------------------
    def peaks(self, R: np.ndarray, n_sources: int, n_peaks: int | None = None) -> Peaks:
        """Strongest ``n_peaks`` (default n_sources) distinct peaks of eq 42 for R (..., M, M)."""
        R = _check_covariance(R, self.M)
        check_sources(n_sources, self.M)
        n_peaks = n_sources if n_peaks is None else int(n_peaks)
        if n_peaks < 1:
            raise ValueError(f"n_peaks must be >= 1, got {n_peaks}")
        lead = R.shape[:-2]
        R = R.reshape((-1, self.M, self.M))
        _, vecs = np.linalg.eigh(R)
        En = vecs[..., : self.M - n_sources]
        P = En @ np.swapaxes(En, -1, -2).conj()
        u, v, f = self._search(vecs, P, n_sources, n_peaks)
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

    def _search(
        self, vecs: np.ndarray, P: np.ndarray, n_sources: int, n_peaks: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        count = n_peaks + self.candidates
        k = min(n_sources, self.M - n_sources)
        chunk = max(1, int(4e6 // (self.grid_u.size * k)))  # bound the (G, B k) temporaries
        us, vs, fs = [], [], []
        for s in range(0, vecs.shape[0], chunk):
            den = _denominator(self.steering_conj, vecs[s : s + chunk], n_sources)
            vals = np.where(self.grid_mask, 1.0 / den, -np.inf)
            mask = _local_maxima(vals.reshape((-1,) + self.grid_shape)).reshape(den.shape)
            idx, _ = _top_candidates(vals, mask, count)
            us.append(self.grid_u[idx])
            vs.append(self.grid_v[idx])
            fs.append(np.take_along_axis(den, idx, axis=-1))
        u, v, f = np.concatenate(us), np.concatenate(vs), np.concatenate(fs)
        if self.refine_peaks:
            u, v, f = refine(P, u, v, self.rows, self.cols, cap=self.step, max_move=3 * self.step)
        return _select_distinct(u, v, f, n_peaks)

    # -- snapshots in, angles out -----------------------------------------------
    def __call__(
        self,
        Y: np.ndarray,
        n_sources: int | None = None,
        n_peaks: int | None = None,
        criterion: str = "mdl",
    ) -> MusicResult:
        """MUSIC over a batch of snapshot blocks: Y (B, M, tau) (any leading axes) -> result.

        n_sources None: estimated per block (:func:`model_order`); n_peaks defaults to the
        model order (its maximum over the batch when estimated).
        """
        Y = np.asarray(Y)
        if Y.ndim < 2 or Y.shape[-2] != self.M:
            raise ValueError(
                f"Y must be (..., M={self.M}, tau) snapshots of a {self.rows}x{self.cols} URPA, "
                f"got shape {Y.shape}"
            )
        lead, tau = Y.shape[:-2], Y.shape[-1]
        R = sample_covariance(Y.reshape((-1, self.M, tau)))
        lam = np.linalg.eigvalsh(R)
        if n_sources is None:
            order = np.minimum(model_order(lam, tau, criterion), self.M - 1)
        else:
            check_sources(n_sources, self.M)
            order = np.full(R.shape[0], int(n_sources))
        width = int(n_peaks) if n_peaks is not None else max(1, int(order.max()))
        angles = np.full((R.shape[0], width, 2), np.nan)
        value = np.full((R.shape[0], width), -np.inf)
        for n in np.unique(order):
            if n == 0:
                continue
            sel = order == n
            pk = self.peaks(R[sel], int(n), n_peaks=width)
            angles[sel] = pk.angles
            value[sel] = pk.value
            if n_peaks is None:  # at most n peaks for a block of order n
                angles[np.ix_(sel, np.arange(n, width))] = np.nan
                value[np.ix_(sel, np.arange(n, width))] = -np.inf
        return MusicResult(
            angles=angles.reshape(lead + (width, 2)),
            value=value.reshape(lead + (width,)),
            n_sources=order.reshape(lead),
            eigenvalues=lam.reshape(lead + (self.M,)),
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
) -> MusicResult:
    """MUSIC angles from snapshot blocks Y (B, M, tau) (any leading axes, e.g. (B, NR, MR, tau)):
    angles (B, n, 2) [psi, theta] radians with their spectrum values. See MusicEstimator."""
    return estimator(rows, cols, method)(Y, n_sources, n_peaks, criterion)
