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

from .arrays import angles_from_uv, direction_cosines, element_indices, steering

#: The paper's search grid (Section VII-B): start, stop, step in degrees, both axes.
PAPER_GRID_DEG = (-100.0, 100.0, 0.5)

#: Peaks closer than this in (u, v) after refinement are the same peak.
_SAME_PEAK_UV = 1e-4
#: Candidates refined per block beyond the peaks asked for.
_EXTRA_CANDIDATES = 8
_NEWTON_ITERATIONS = 60
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


def forward_backward(R: np.ndarray) -> np.ndarray:
    """Forward-backward averaged covariance (R + J R^* J) / 2, J the exchange matrix.

    Valid for a URPA: reversing the element order maps a(u, v) to a phase times a(u, v)^*, so
    the averaged R keeps eq 42's steering while two coherent echoes (e.g. target and clutter
    both lit mainly by the one sensing stream x_0) are decorrelated. (..., M, M) -> same.
    """
    R = _check_covariance(R)
    return 0.5 * (R + np.flip(R, axis=(-2, -1)).conj())


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

    def take(self, index: int | np.ndarray | slice) -> Peaks:
        """The peaks of some blocks (indexing the leading axes)."""
        return Peaks(
            self.psi[index], self.theta[index], self.u[index], self.v[index], self.value[index]
        )


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


# The search works on f(u, v) = a^H P a, P = E_n E_n^H, written as a 2D trigonometric
# polynomial over the element-position differences ("lags") (dr, dc) = (r_m - r_n, c_m - c_n):
# conj(a_m) a_n = exp(j pi (dr u - dc v)), so f = p_0 + 2 Re sum_l p_l exp(j pi (dr_l u - dc_l v))
# over half of the lags (dr > 0, or dr = 0 and dc > 0), p_l the sum of P over lag l's entries.
# (2 rows - 1)(2 cols - 1) / 2 coefficients per block instead of an M x M projector.


@functools.lru_cache(maxsize=16)
def _lags(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Half-plane lags dr, dc (L,) and the (M*M, L) 0/1 matrix summing P's entries per lag."""
    r, c = element_indices(rows, cols)
    dr = (r[:, None] - r[None, :]).ravel()
    dc = (c[:, None] - c[None, :]).ravel()
    lr, lc = np.meshgrid(np.arange(rows), np.arange(-(cols - 1), cols), indexing="ij")
    lr, lc = lr.ravel(), lc.ravel()
    keep = (lr > 0) | ((lr == 0) & (lc > 0))
    lr, lc = lr[keep], lc[keep]
    S = ((dr[:, None] == lr[None, :]) & (dc[:, None] == lc[None, :])).astype(float)
    return lr.astype(float), lc.astype(float), S


def _lag_coefficients(P: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """p_0 (B,) = tr P and p (B, L) lag sums of projectors P (B, M, M)."""
    _, _, S = _lags(rows, cols)
    M = P.shape[-1]
    return np.trace(P, axis1=-2, axis2=-1).real, P.reshape(-1, M * M) @ S


def _lag_basis(u: np.ndarray, v: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Real basis [cos, -sin](j pi (dr u - dc v)) (G, 2L) so that f = p_0 + 2 basis @ [Re p, Im p]."""
    lr, lc, _ = _lags(rows, cols)
    phase = np.pi * (np.outer(u, lr) - np.outer(v, lc))
    return np.concatenate([np.cos(phase), -np.sin(phase)], axis=-1)


def _poly(
    p0: np.ndarray, p: np.ndarray, u: np.ndarray, v: np.ndarray, lr: np.ndarray, lc: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """q_l = p_l exp(j pi (dr_l u - dc_l v)) (N, L) and f = p_0 + 2 Re sum q (N,). p (N, L).

    The exponential factors: exp(j pi dr u) exp(-j pi dc v), one small table per axis.
    """
    r = np.arange(lr.max() + 1)
    c = np.arange(lc.min(), lc.max() + 1)
    e_r = np.exp(1j * np.pi * u[:, None] * r)
    e_c = np.exp(-1j * np.pi * v[:, None] * c)
    q = p * e_r[:, lr.astype(int)] * e_c[:, (lc - lc.min()).astype(int)]
    return q, p0 + 2 * q.real.sum(-1)


def _derivatives(
    p0: np.ndarray, p: np.ndarray, u: np.ndarray, v: np.ndarray, lr: np.ndarray, lc: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f (N,), its (u, v) gradient (N, 2) and Hessian (N, 2, 2) for per-start coefficients."""
    q, f = _poly(p0, p, u, v, lr, lc)
    # d/du multiplies q_l by j pi dr_l, d/dv by -j pi dc_l
    weights = np.pi * np.stack([lr, -lc], axis=-1)  # (L, 2)
    grad = -2 * q.imag @ weights
    hess = -2 * np.einsum("nl,li,lj->nij", q.real, weights, weights)
    return f, grad, hess


def _newton_step(grad: np.ndarray, hess: np.ndarray, cap: float | np.ndarray) -> np.ndarray:
    """Levenberg-damped Newton step -(H + mu I)^{-1} g toward a minimum, length at most cap
    (a number or (N, 1)). (N, 2)."""
    a, b, d = hess[:, 0, 0], hess[:, 0, 1], hess[:, 1, 1]
    lam_min = 0.5 * (a + d) - np.sqrt(0.25 * (a - d) ** 2 + b**2)
    scale = np.abs(hess).max(axis=(-2, -1)) + 1e-300
    mu = np.where(lam_min > 1e-9 * scale, 0.0, -lam_min + 1e-3 * scale)
    a, d = a + mu, d + mu
    det = a * d - b * b
    det = np.where(det > 0, det, 1e-300)
    step = (
        -np.stack([d * grad[:, 0] - b * grad[:, 1], a * grad[:, 1] - b * grad[:, 0]], -1)
        / det[:, None]
    )
    length = np.linalg.norm(step, axis=-1, keepdims=True)
    return step * np.minimum(1.0, cap / np.maximum(length, 1e-300))


def _rim_newton_step(
    psi: np.ndarray, theta: np.ndarray, grad: np.ndarray, hess: np.ndarray, cap: np.ndarray
) -> np.ndarray:
    """Newton step in (psi, theta) from the (u, v) gradient and Hessian (chain rule). (N, 2)."""
    st, ct, sp, cp = np.sin(theta), np.cos(theta), np.sin(psi), np.cos(psi)
    J = np.stack([np.stack([-st * sp, ct * cp], -1), np.stack([st * cp, ct * sp], -1)], -2)
    g = np.einsum("nij,ni->nj", J, grad)
    # second derivatives: u_pp = u_tt = -u, u_pt = -ct sp; v_pp = v_tt = -v, v_pt = ct cp
    u, v = st * cp, st * sp
    d2u = np.stack([np.stack([-u, -ct * sp], -1), np.stack([-ct * sp, -u], -1)], -2)
    d2v = np.stack([np.stack([-v, ct * cp], -1), np.stack([ct * cp, -v], -1)], -2)
    H = np.einsum("nij,nik,nkl->njl", J, hess, J)
    H = H + grad[:, 0, None, None] * d2u + grad[:, 1, None, None] * d2v
    return _newton_step(g, H, cap)


def refine(
    P: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    rows: int,
    cols: int,
    cap: float = 0.05,
    iterations: int = _NEWTON_ITERATIONS,
    tol: float = 1e-8,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Newton refinement of spectrum maxima (minima of f = a^H P a) from starts (u, v) (B, k).

    P (B, M, M) the noise projector E_n E_n^H of each block. Inside the disk the steps are
    taken in (u, v); where sin(theta) > 0.9 in (psi, theta), through the chain rule, so that
    maxima on the rim theta = 90 deg (a fold of the map) are found like any other. Steps are
    capped by a trust radius (``cap`` at first; doubled after a full capped step, up to 16 cap,
    so a start crossing a flat region speeds up, and halved after a rejected one) and halved
    until f drops; a start stops when its Newton step is below ``tol`` (1e-8 in (u, v), ~6e-7
    deg: finer steps only move f by rounding, so their line search would fail 12 times) or
    nothing lowers f. Starts still moving after ``iterations`` get f = inf (no peak).
    -> refined u, v and f (B, k).
    """
    P = np.asarray(P).reshape((-1,) + np.shape(P)[-2:])
    shape = np.broadcast(u, v).shape
    lr, lc, _ = _lags(rows, cols)
    p0, p = _lag_coefficients(P, rows, cols)
    k = int(np.prod(shape)) // P.shape[0]
    p0, p = np.repeat(p0, k), np.repeat(p, k, axis=0)
    u = np.broadcast_to(u, shape).astype(float).ravel()
    v = np.broadcast_to(v, shape).astype(float).ravel()
    shrink = 1.0 / np.maximum(np.hypot(u, v), 1.0)
    u, v = u * shrink, v * shrink
    psi = np.arctan2(v, u)
    theta = np.arcsin(np.minimum(np.hypot(u, v), 1.0))
    active = np.arange(u.size)
    pa0, pa = p0, p
    radius = np.full(u.size, float(cap))
    for _ in range(iterations):
        if active.size == 0:
            break
        ua, va, sa, ta = u[active], v[active], psi[active], theta[active]
        f, grad, hess = _derivatives(pa0, pa, ua, va, lr, lc)
        rim = np.sin(ta) > _RIM
        ra = radius[active][:, None]
        step_uv = _newton_step(grad, hess, ra)
        step_pt = _rim_newton_step(sa, ta, grad, hess, ra)
        length = np.where(rim, np.hypot(*step_pt.T), np.hypot(*step_uv.T))
        # a Newton step below tol: converged, no line search (f would only move by rounding)
        settled = length <= tol
        if settled.any():
            keep = ~settled
            active, pa0, pa = active[keep], pa0[keep], pa[keep]
            ua, va, sa, ta, f, rim = ua[keep], va[keep], sa[keep], ta[keep], f[keep], rim[keep]
            ra, step_uv, step_pt, length = ra[keep], step_uv[keep], step_pt[keep], length[keep]
            if active.size == 0:
                break
        capped = length >= 0.999 * ra[:, 0]
        full = np.zeros(active.size, dtype=bool)
        nu, nv, npsi, nth = ua.copy(), va.copy(), sa.copy(), ta.copy()
        todo = np.arange(active.size)
        for frac in 0.5 ** np.arange(12):
            tp = sa[todo] + frac * step_pt[todo, 0]
            tt = ta[todo] + frac * step_pt[todo, 1]
            ru, rv = direction_cosines(tp, tt)
            tu = np.where(rim[todo], ru, ua[todo] + frac * step_uv[todo, 0])
            tv = np.where(rim[todo], rv, va[todo] + frac * step_uv[todo, 1])
            # an interior (u, v) step that leaves the disk is pulled back onto the rim
            shrink = 1.0 / np.maximum(np.hypot(tu, tv), 1.0)
            tu, tv = tu * shrink, tv * shrink
            _, tf = _poly(pa0[todo], pa[todo], tu, tv, lr, lc)
            take = tf < f[todo]
            idx = todo[take]
            full[idx] = frac == 1.0
            nu[idx], nv[idx] = tu[take], tv[take]
            npsi[idx] = np.where(rim[idx], tp[take], np.arctan2(tv[take], tu[take]))
            nth[idx] = np.where(
                rim[idx], tt[take], np.arcsin(np.minimum(np.hypot(tu, tv), 1))[take]
            )
            todo = todo[~take]
            if todo.size == 0:
                break
        moving = np.hypot(nu - ua, nv - va) > tol
        u[active], v[active], psi[active], theta[active] = nu, nv, npsi, nth
        grow = np.where(full & capped, 2.0, np.where(full, 1.0, 0.5))
        radius[active] = np.clip(radius[active] * grow, cap / 64, 16 * cap)
        active, pa0, pa = active[moving], pa0[moving], pa[moving]
    _, f = _poly(p0, p, u, v, lr, lc)
    f = np.maximum(f, 1e-300)
    f[active] = np.inf  # not converged: not a peak (a converged start covers its target)
    return u.reshape(shape), v.reshape(shape), f.reshape(shape)


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

    method "fast" (coarse (u, v) grid of step ``coarse_step``, default 0.1 / max(rows, cols),
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
        self.basis = _lag_basis(
            self.grid_u[self.grid_mask], self.grid_v[self.grid_mask], self.rows, self.cols
        )

    # -- the search -------------------------------------------------------------
    def peaks(self, R: np.ndarray, n_sources: int, n_peaks: int | None = None) -> Peaks:
        """Strongest ``n_peaks`` (default n_sources) distinct peaks of eq 42 for R (..., M, M)."""
        R = _check_covariance(R, self.M)
        check_sources(n_sources, self.M)
        n_peaks = n_sources if n_peaks is None else int(n_peaks)
        if n_peaks < 1:
            raise ValueError(f"n_peaks must be >= 1, got {n_peaks}")
        _, vecs = np.linalg.eigh(R.reshape((-1, self.M, self.M)))
        return self._peaks(vecs, n_sources, n_peaks, R.shape[:-2])

    def _peaks(self, vecs: np.ndarray, n_sources: int, n_peaks: int, lead: tuple) -> Peaks:
        """Peaks from ascending eigenvectors (B, M, M) of the covariances."""
        En = vecs[..., : self.M - n_sources]
        u, v, f = self._search(En @ np.swapaxes(En, -1, -2).conj(), n_peaks)
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

    def _search(self, P: np.ndarray, n_peaks: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        count = n_peaks + self.candidates
        p0, p = _lag_coefficients(P, self.rows, self.cols)
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
            lr, lc, _ = _lags(self.rows, self.cols)
            k = u.shape[-1]
            _, f = _poly(np.repeat(p0, k), np.repeat(p, k, axis=0), u.ravel(), v.ravel(), lr, lc)
            f = np.maximum(f, 1e-300).reshape(u.shape)
        return _select_distinct(u, v, f, n_peaks)

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
        R = sample_covariance(Y.reshape((-1, self.M, tau)))
        if fb:
            R = forward_backward(R)
        lam, vecs = np.linalg.eigh(R)
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
            pk = self._peaks(vecs[sel], int(n), width, (int(sel.sum()),))
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
    fb: bool = False,
) -> MusicResult:
    """MUSIC angles from snapshot blocks Y (B, M, tau) (any leading axes, e.g. (B, NR, MR, tau)):
    angles (B, n, 2) [psi, theta] radians with their spectrum values. See MusicEstimator."""
    return estimator(rows, cols, method)(Y, n_sources, n_peaks, criterion, fb)
