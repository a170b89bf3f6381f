"""Multistatic least-squares fusion of the target's angles at the RAPs into a position in metres.

Each RAP's (psi, theta) is turned into direction cosines (u, v) in its own frame (eqs 4a-4b,
arrays.direction_cosines); the fix minimizes the (u, v) residuals, weighted by the information of
bounds.TargetBounds.info_uv when given, by Gauss-Newton from the point nearest to all rays.
Angles are radians, positions metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arrays import direction_cosines
from ..bounds import uv_jacobian


@dataclass(frozen=True)
class PositionFix:
    """Fused target positions. position (B, 3) metres; covariance (B, 3, 3) of its error
    (from the given information, or scaled by the residual when none was given); rms_residual
    (B,) of the (u, v) fit; used (B, NR) the RAPs that contributed."""

    position: np.ndarray
    covariance: np.ndarray
    rms_residual: np.ndarray
    used: np.ndarray

    @property
    def error_radius(self) -> np.ndarray:
        """sqrt(trace(covariance)) (B,): the fix's RMS position error, metres."""
        return np.sqrt(np.trace(self.covariance, axis1=-2, axis2=-1))


def _rays(rap_frame: np.ndarray, psi: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """World unit vectors (B, NR, 3) from each RAP toward (psi, theta) in its frame."""
    u, v = direction_cosines(psi, theta)
    w = np.sqrt(np.maximum(0.0, 1.0 - u**2 - v**2))
    return (
        u[..., None] * rap_frame[:, 0]
        + v[..., None] * rap_frame[:, 1]
        + w[..., None] * rap_frame[:, 2]
    )


def _pinv(J: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Pseudo-inverse of symmetric PSD matrices (B, d, d), zeros where not ok."""
    J = np.where(ok[:, None, None] & np.all(np.isfinite(J), axis=(-2, -1))[:, None, None], J, 0.0)
    return np.linalg.pinv(0.5 * (J + np.swapaxes(J, -1, -2)), hermitian=True)


def _solve(J: np.ndarray, g: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """J^+ g per block (B, d); zero where not ok (a degenerate geometry gives no NaN)."""
    g = np.where(ok[:, None] & np.all(np.isfinite(g), axis=-1)[:, None], g, 0.0)
    return np.einsum("bxy,by->bx", _pinv(J, ok), g)


def fuse_position(
    rap_pos: np.ndarray,
    rap_frame: np.ndarray,
    psi: np.ndarray,
    theta: np.ndarray,
    info_uv: np.ndarray | None = None,
    height_m: float | None = None,
    iterations: int = 10,
) -> PositionFix:
    """Least-squares position from the target's angles at every RAP.

    rap_pos (NR, 3), rap_frame (NR, 3, 3) (geometry.Geometry), psi, theta (B, NR) radians (NaN:
    the RAP has no target peak and is left out); info_uv (B, NR, 2, 2) weights of the (u, v)
    residuals (bounds.TargetBounds.info_uv, or the inverse covariance of the estimates; None:
    equal weights). The start is the point nearest to all rays (closed form); Gauss-Newton then
    minimizes the weighted (u, v) residuals, each step halved until the cost does not rise and
    the point stays in front of the arrays; a fit that runs away (a grossly wrong angle can put
    the optimum at infinity) falls back to the start. height_m fixes z (only x, y estimated).
    Needs two RAPs (one with a known height); blocks with fewer get NaN.
    """
    psi = np.atleast_2d(np.asarray(psi, dtype=float))
    theta = np.atleast_2d(np.asarray(theta, dtype=float))
    if psi.shape != theta.shape or psi.ndim != 2:
        raise ValueError(
            f"psi and theta must both be (B, NR) target angles, got {psi.shape} and {theta.shape}"
        )
    B, NR = psi.shape
    if rap_pos.shape != (NR, 3) or rap_frame.shape != (NR, 3, 3):
        raise ValueError(
            f"rap_pos must be (NR={NR}, 3) and rap_frame (NR, 3, 3), got {rap_pos.shape} and "
            f"{rap_frame.shape}"
        )
    used = np.isfinite(psi) & np.isfinite(theta)
    if info_uv is None:
        weights = np.broadcast_to(np.eye(2), (B, NR, 2, 2)).copy()
    else:
        weights = np.array(np.broadcast_to(info_uv, (B, NR, 2, 2)), dtype=float)
        used &= np.all(np.isfinite(weights), axis=(-2, -1))
    weights[~used] = 0.0
    need = 1 if height_m is not None else 2  # blocks with fewer RAPs get NaN
    psi0, theta0 = np.where(used, psi, 0.0), np.where(used, theta, 0.0)
    z_u, z_v = direction_cosines(psi0, theta0)
    z = np.stack([z_u, z_v], axis=-1)  # (B, NR, 2)
    dims = 2 if height_m is not None else 3

    # start: argmin_p sum_j ||(I - d d^T)(p - q_j)||^2 over the used rays
    d = _rays(rap_frame, psi0, theta0)
    proj = np.eye(3) - d[..., :, None] * d[..., None, :]  # (B, NR, 3, 3)
    proj = proj * used[..., None, None]
    A = proj.sum(1)
    b = np.einsum("bjxy,jy->bx", proj, rap_pos)
    if height_m is not None:
        b = b[:, :2] - A[:, :2, 2] * height_m
        A = A[:, :2, :2]
    ok = used.sum(-1) >= need
    x = _solve(A, b, ok)

    def full(x: np.ndarray) -> np.ndarray:
        if height_m is None:
            return x.copy()  # the point, not a view of x (x is updated in place)
        return np.concatenate([x, np.full((len(x), 1), height_m)], -1)

    def fit(
        x: np.ndarray, rows: np.ndarray | slice = slice(None)
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Point, (u, v) residuals, weighted cost, and whether every used RAP sees it in front,
        for points x (b, dims) of the blocks ``rows`` (index into the B blocks; default all)."""
        p = full(x)
        u_, z_, w_ = used[rows], z[rows], weights[rows]
        unit = p[:, None, :] - rap_pos
        unit = unit / np.linalg.norm(unit, axis=-1, keepdims=True)
        h = np.einsum("bjx,jkx->bjk", unit, rap_frame[:, :2, :])  # predicted (u, v)
        res = np.where(u_[..., None], z_ - h, 0.0)
        front = np.all(~u_ | (np.einsum("bjx,jx->bj", unit, rap_frame[:, 2, :]) > 0), axis=-1)
        return p, res, np.einsum("bjk,bjkl,bjl->b", res, w_, res), front

    halvings = 0.5 ** np.arange(1, 30)  # the shorter steps tried, all at once
    x0 = x.copy()
    p, res, cost, front = fit(x)
    # each block iterates until its own step is below 1e-9 m (so a block's fix does not depend
    # on the blocks batched with it); blocks that cannot be solved do not iterate
    act = np.flatnonzero(ok)
    for _ in range(iterations):
        if act.size == 0:
            break
        xa, ca, fa = x[act], cost[act], front[act]
        D = uv_jacobian(rap_pos, rap_frame, p[act])[..., :dims]  # (b, NR, 2, dims)
        J = np.einsum("bjkx,bjkl,bjly->bxy", D, weights[act], D)
        g = np.einsum("bjkx,bjkl,bjl->bx", D, weights[act], res[act])
        step = _solve(J, g, ok[act])
        # the longest of the steps 1, 1/2, ..., 2^-29 that does not raise the cost nor take the
        # point behind an array it was in front of (none: no step); every block's shorter
        # trials evaluated in one call, not one call per halving
        new = list(fit(xa + step, act))  # the fit at the full step: (p, res, cost, front)
        t = np.where((new[2] <= ca) & (new[3] | ~fa), 1.0, 0.0)
        short = np.flatnonzero(t == 0.0)
        if short.size:
            rows = np.repeat(short, halvings.size)
            trials = (xa[short, None] + halvings[:, None] * step[short, None]).reshape(-1, dims)
            tfit = fit(trials, act[rows])
            good = ((tfit[2] <= ca[rows]) & (tfit[3] | ~fa[rows])).reshape(short.size, -1)
            took = good.any(-1)
            t[short] = np.where(took, halvings[np.argmax(good, axis=-1)], 0.0)
            # the fit at each block's new point is the one of the trial it took (the same
            # point, xa + t step); a block that took no step keeps its fit
            pick = np.flatnonzero(took) * halvings.size + np.argmax(good, axis=-1)[took]
            stay = act[short[~took]]
            for mine, theirs, old in zip(new, tfit, (p, res, cost, front)):
                mine[short[took]] = theirs[pick]
                mine[short[~took]] = old[stay]
        moved = t[:, None] * step
        x[act] = xa + moved
        p[act], res[act], cost[act], front[act] = new
        act = act[np.max(np.abs(moved), axis=-1) >= 1e-9]
    # With a grossly wrong angle the least-squares optimum can lie at infinity (far away, every
    # RAP sees nearly the same direction): a fit that wandered farther from the closed-form
    # start than the farthest RAP is from it has failed; keep the start there.
    reach = np.where(used, np.linalg.norm(full(x0)[:, None] - rap_pos, axis=-1), 0.0).max(-1)
    lost = np.linalg.norm(p - full(x0), axis=-1) > reach
    if lost.any():
        x = np.where(lost[:, None], x0, x)
        p, res, cost, front = fit(x)
    D = uv_jacobian(rap_pos, rap_frame, p)[..., :dims]
    J = np.einsum("bjkx,bjkl,bjly->bxy", D, weights, D)
    ok &= np.all(np.isfinite(p), axis=-1)
    cov = _pinv(J, ok)
    n_res = 2 * used.sum(-1)
    rss = cost
    rms = np.sqrt(np.einsum("bjk,bjk->b", res, res) / np.maximum(n_res, 1))
    if info_uv is None:  # unknown accuracy: scale by the residual variance
        dof = np.maximum(n_res - dims, 1)
        cov = cov * (rss / dof)[:, None, None]
    cov_full = np.zeros((B, 3, 3))
    cov_full[:, :dims, :dims] = cov
    position = np.where(ok[:, None], p, np.nan)
    cov_full = np.where(ok[:, None, None], cov_full, np.nan)
    return PositionFix(position, cov_full, np.where(ok, rms, np.nan), used)
