"""Newton refinement of eq 42's peaks (STCIB paper Section VI): from coarse starts, descend
f = a^H E_n E_n^H a (the spectrum's denominator, :mod:`.lags`) to the continuous maxima of the
spectrum, in (u, v) inside the visible disk and in (psi, theta) near its rim, where
theta = 90 deg is a fold of eqs 4a-4b and rim maxima are ordinary stationary points.
"""

from __future__ import annotations

import numpy as np

from ..arrays import direction_cosines
from .lags import half_plane_lags, lag_coefficients, lag_derivatives, lag_polynomial

_NEWTON_ITERATIONS = 60
_RIM = 0.9  # sin(theta) above which the refinement works in (psi, theta)


def _newton_step(
    g1: np.ndarray,
    g2: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    d: np.ndarray,
    cap: float | np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Levenberg-damped Newton step -(H + mu I)^{-1} g toward a minimum, length at most cap,
    for gradients (g1, g2) and Hessians [[a, b], [b, d]] (N,) each. -> the step's two
    components (N,). Written out per component: at batch 1 the cost is numpy's per-call
    overhead, not arithmetic."""
    lam_min = 0.5 * (a + d) - np.sqrt(0.25 * (a - d) ** 2 + b**2)
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), np.abs(d)) + 1e-300
    mu = np.where(lam_min > 1e-9 * scale, 0.0, -lam_min + 1e-3 * scale)
    a, d = a + mu, d + mu
    det = a * d - b * b
    det = np.where(det > 0, det, 1e-300)
    s1 = -(d * g1 - b * g2) / det
    s2 = -(a * g2 - b * g1) / det
    shrink = np.minimum(1.0, cap / np.maximum(np.hypot(s1, s2), 1e-300))
    return s1 * shrink, s2 * shrink


def _rim_newton_step(
    psi: np.ndarray, theta: np.ndarray, grad: np.ndarray, hess: np.ndarray, cap: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Newton step in (psi, theta) from the (u, v) gradient (N, 2) and Hessian (N, 2, 2)
    (chain rule). -> (d psi, d theta) (N,) each."""
    st, ct, sp, cp = np.sin(theta), np.cos(theta), np.sin(psi), np.cos(psi)
    # Jacobian of (u, v) in (psi, theta): u_p, u_t, v_p, v_t
    up, ut, vp, vt = -st * sp, ct * cp, st * cp, ct * sp
    gu, gv = grad[:, 0], grad[:, 1]
    huu, huv, hvv = hess[:, 0, 0], hess[:, 0, 1], hess[:, 1, 1]
    g1, g2 = up * gu + vp * gv, ut * gu + vt * gv
    # J^T H J, plus grad . second derivatives: u_pp = u_tt = -u, u_pt = -ct sp;
    # v_pp = v_tt = -v, v_pt = ct cp
    curv = -(st * cp) * gu - (st * sp) * gv
    a = up * up * huu + 2 * up * vp * huv + vp * vp * hvv + curv
    b = up * ut * huu + (up * vt + vp * ut) * huv + vp * vt * hvv - ct * sp * gu + ct * cp * gv
    d = ut * ut * huu + 2 * ut * vt * huv + vt * vt * hvv + curv
    return _newton_step(g1, g2, a, b, d, cap)


#: The line search's step fractions: the full Newton step, then 1/2 ... 1/2048 of it.
_FULL = np.ones(1)
_SHORTER = 0.5 ** np.arange(1, 12)


def _try_steps(
    rows: np.ndarray,
    fracs: np.ndarray,
    ua: np.ndarray,
    va: np.ndarray,
    sa: np.ndarray,
    ta: np.ndarray,
    f: np.ndarray,
    rim: np.ndarray,
    any_rim: bool,
    step_uv: np.ndarray,
    step_pt: np.ndarray,
    pa0: np.ndarray,
    pa: np.ndarray,
    lr: np.ndarray,
    lc: np.ndarray,
    out: tuple[np.ndarray, ...],
) -> np.ndarray:
    """Steps ``fracs`` (k,) of the Newton steps of starts ``rows`` (n,), all evaluated in one
    call; each start takes the longest step that lowers f (written into out = (u, v, psi,
    theta), which it leaves alone where none does). -> (N,) True where a start took a step."""
    n, k = rows.size, fracs.size
    frac = np.broadcast_to(fracs, (n, k))
    tu = ua[rows, None] + frac * step_uv[rows, 0, None]
    tv = va[rows, None] + frac * step_uv[rows, 1, None]
    if any_rim:  # starts near the rim step in (psi, theta)
        tp, tt = np.zeros((n, k)), np.zeros((n, k))
        rr = np.flatnonzero(rim[rows])
        at = rows[rr]
        tp[rr] = sa[at, None] + frac[rr] * step_pt[at, 0, None]
        tt[rr] = ta[at, None] + frac[rr] * step_pt[at, 1, None]
        tu[rr], tv[rr] = direction_cosines(tp[rr], tt[rr])
    # an interior (u, v) step that leaves the disk is pulled back onto the rim
    shrink = 1.0 / np.maximum(np.hypot(tu, tv), 1.0)
    tu, tv = tu * shrink, tv * shrink
    _, tf = lag_polynomial(
        np.repeat(pa0[rows], k), np.repeat(pa[rows], k, axis=0), tu.ravel(), tv.ravel(), lr, lc
    )
    lower = tf.reshape(n, k) < f[rows, None]
    ok = lower.any(axis=-1)
    first = np.argmax(lower, axis=-1)[ok]
    sel = rows[ok]
    pick_u, pick_v = tu[ok, first], tv[ok, first]
    nu, nv, npsi, nth = out
    nu[sel], nv[sel] = pick_u, pick_v
    npsi[sel] = np.arctan2(pick_v, pick_u)
    nth[sel] = np.arcsin(np.minimum(np.hypot(pick_u, pick_v), 1))
    if any_rim:
        on_rim = rim[sel]
        npsi[sel] = np.where(on_rim, tp[ok, first], npsi[sel])
        nth[sel] = np.where(on_rim, tt[ok, first], nth[sel])
    found = np.zeros(ua.size, dtype=bool)
    found[sel] = True
    return found


def refine(
    P: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    rows: int,
    cols: int,
    cap: float = 0.05,
    iterations: int = _NEWTON_ITERATIONS,
    tol: float = 1e-8,
    leash: float | None = None,
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
    ``leash``: a start that moves farther than this from where it began, in (u, v), is
    abandoned with f = inf (for starts that only count near their origin, such as ESPRIT's:
    the refinement stops paying for a start once its answer is already known to be "left").
    -> refined u, v and f (B, k).
    """
    P = np.asarray(P).reshape((-1,) + np.shape(P)[-2:])
    shape = np.broadcast(u, v).shape
    p0, p = lag_coefficients(P, rows, cols)
    k = int(np.prod(shape)) // P.shape[0]
    u = np.broadcast_to(u, shape).ravel()
    v = np.broadcast_to(v, shape).ravel()
    u, v, f = refine_lags(
        np.repeat(p0, k), np.repeat(p, k, axis=0), u, v, rows, cols, cap, iterations, tol, leash
    )
    return u.reshape(shape), v.reshape(shape), f.reshape(shape)


def refine_lags(
    p0: np.ndarray,
    p: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    rows: int,
    cols: int,
    cap: float = 0.05,
    iterations: int = _NEWTON_ITERATIONS,
    tol: float = 1e-8,
    leash: float | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`refine` of starts (u, v) (N,), each with its own block's lag coefficients
    p0 (N,), p (N, L) (:func:`.lags.lag_coefficients`): starts of different blocks in any
    number per block (a search refines only the grid maxima each block has); ``leash`` one
    for all or one per start (N,) (inf: none). -> u, v, f (N,)."""
    lr, lc, _ = half_plane_lags(rows, cols)
    u = np.asarray(u, dtype=float).ravel()
    v = np.asarray(v, dtype=float).ravel()
    shrink = 1.0 / np.maximum(np.hypot(u, v), 1.0)
    u, v = u * shrink, v * shrink
    psi = np.arctan2(v, u)
    theta = np.arcsin(np.minimum(np.hypot(u, v), 1.0))
    active = np.arange(u.size)
    pa0, pa = p0, p
    radius = np.full(u.size, float(cap))
    u_start, v_start = u.copy(), v.copy()
    abandoned = np.zeros(u.size, dtype=bool)
    for _ in range(iterations):
        if active.size == 0:
            break
        ua, va, sa, ta = u[active], v[active], psi[active], theta[active]
        f, grad, hess = lag_derivatives(pa0, pa, ua, va, lr, lc)
        rim = np.sin(ta) > _RIM
        ra = radius[active][:, None]
        step_uv = np.stack(
            _newton_step(
                grad[:, 0], grad[:, 1], hess[:, 0, 0], hess[:, 0, 1], hess[:, 1, 1], ra[:, 0]
            ),
            axis=-1,
        )
        length = np.hypot(*step_uv.T)
        any_rim = bool(rim.any())  # most calls have no start near the rim: skip its algebra
        step_pt = np.zeros_like(step_uv)
        if any_rim:  # the (psi, theta) steps of the starts near the rim only
            r = np.flatnonzero(rim)
            step_pt[r] = np.stack(_rim_newton_step(sa[r], ta[r], grad[r], hess[r], ra[r, 0]), -1)
            length[r] = np.hypot(*step_pt[r].T)
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
        nu, nv, npsi, nth = ua.copy(), va.copy(), sa.copy(), ta.copy()
        # the full step for every start, then the shorter ones (1/2 ... 1/2048) for the starts
        # it did not improve, all in one evaluation; each takes the longest step that lowers f
        full = _try_steps(
            np.arange(active.size), _FULL, ua, va, sa, ta, f, rim, any_rim, step_uv, step_pt,
            pa0, pa, lr, lc, (nu, nv, npsi, nth),
        )  # fmt: skip
        todo = np.flatnonzero(~full)
        if todo.size:
            _try_steps(
                todo, _SHORTER, ua, va, sa, ta, f, rim, any_rim, step_uv, step_pt, pa0, pa,
                lr, lc, (nu, nv, npsi, nth),
            )  # fmt: skip
        moving = np.hypot(nu - ua, nv - va) > tol
        u[active], v[active], psi[active], theta[active] = nu, nv, npsi, nth
        grow = np.where(full & capped, 2.0, np.where(full, 1.0, 0.5))
        radius[active] = np.clip(radius[active] * grow, cap / 64, 16 * cap)
        if leash is not None:
            reach = leash if np.ndim(leash) == 0 else leash[active]
            gone = np.hypot(nu - u_start[active], nv - v_start[active]) > reach
            abandoned[active[gone]] = True
            moving &= ~gone
        active, pa0, pa = active[moving], pa0[moving], pa[moving]
    _, f = lag_polynomial(p0, p, u, v, lr, lc)
    f = np.maximum(f, 1e-300)
    f[active] = np.inf  # not converged: not a peak (a converged start covers its target)
    f[abandoned] = np.inf
    return u, v, f
