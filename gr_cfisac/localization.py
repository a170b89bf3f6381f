"""From MUSIC peaks to a target position: target association, the localization error of eq 43,
and multistatic least-squares fusion of the RAPs' angles into a position in metres.

Angles are radians. Errors are taken after mapping both directions to the canonical range
(arrays.canonical_angles) with the azimuth difference wrapped (arrays.wrap_angle), as eq 43
compares (psi, theta) pairs; directions are matched by the angle between them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .arrays import canonical_angles, direction_cosines, wrap_angle
from .bounds import uv_jacobian

# ----------------------------------------------------------------------------- errors (eq 43)


def angle_errors(
    psi_true: np.ndarray, theta_true: np.ndarray, psi_est: np.ndarray, theta_est: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(psi_true - psi_est wrapped to (-pi, pi], theta_true - theta_est), both canonical."""
    pt, tt = canonical_angles(psi_true, theta_true)
    pe, te = canonical_angles(psi_est, theta_est)
    return wrap_angle(pt - pe), tt - te


def localization_error(
    psi_true: np.ndarray, theta_true: np.ndarray, psi_est: np.ndarray, theta_est: np.ndarray
) -> np.ndarray:
    """Eq 43 for each realization: sqrt((psi_true - psi_est)^2 + (theta_true - theta_est)^2)."""
    dpsi, dtheta = angle_errors(psi_true, theta_true, psi_est, theta_est)
    return np.hypot(dpsi, dtheta)


def localization_rmse(
    psi_true: np.ndarray, theta_true: np.ndarray, psi_est: np.ndarray, theta_est: np.ndarray
) -> float:
    """Root mean square of eq 43 over all realizations (NaN estimates, i.e. misses, excluded)."""
    err = localization_error(psi_true, theta_true, psi_est, theta_est)
    err = err[np.isfinite(err)]
    return float(np.sqrt(np.mean(err**2))) if err.size else float("nan")


def separation(
    psi_a: np.ndarray, theta_a: np.ndarray, psi_b: np.ndarray, theta_b: np.ndarray
) -> np.ndarray:
    """Angle between two directions in front of an array (radians, broadcasting)."""
    ua, va = direction_cosines(np.asarray(psi_a, float), np.asarray(theta_a, float))
    ub, vb = direction_cosines(np.asarray(psi_b, float), np.asarray(theta_b, float))
    wa = np.sqrt(np.maximum(0.0, 1 - ua**2 - va**2))
    wb = np.sqrt(np.maximum(0.0, 1 - ub**2 - vb**2))
    # atan2 of |a x b| and a.b is accurate for tiny angles
    cross = np.sqrt((va * wb - wa * vb) ** 2 + (wa * ub - ua * wb) ** 2 + (ua * vb - va * ub) ** 2)
    return np.arctan2(cross, ua * ub + va * vb + wa * wb)


# ----------------------------------------------------------------------------- association


def associate_target(
    angles: np.ndarray,
    prior: np.ndarray | None = None,
    clutter_map: ClutterMap | None = None,
    gate: float | None = None,
) -> np.ndarray:
    """Index of the target among the MUSIC peaks of each block, -1 where none qualifies.

    angles (..., n, 2) [psi, theta] strongest first (NaN = no peak). With a ``prior``
    (..., 2) direction (e.g. from the initial sensing stage that built G_t), the peak nearest
    to it, within ``gate`` radians if given. With a ``clutter_map``, the strongest peak that is
    not a known clutter direction. With neither, the strongest peak.
    """
    angles = np.asarray(angles, dtype=float)
    if angles.ndim < 2 or angles.shape[-1] != 2:
        raise ValueError(f"angles must be (..., n, 2) [psi, theta], got shape {angles.shape}")
    valid = np.all(np.isfinite(angles), axis=-1)
    if clutter_map is not None:
        valid &= ~clutter_map.is_clutter(angles)
    if prior is not None:
        prior = np.asarray(prior, dtype=float)
        dist = separation(angles[..., 0], angles[..., 1], prior[..., None, 0], prior[..., None, 1])
        if gate is not None:
            valid &= dist <= gate
        score = np.where(valid, dist, np.inf)
        idx = np.argmin(score, axis=-1)
    else:
        idx = np.argmax(valid, axis=-1)  # first valid = strongest
    return np.where(np.any(valid, axis=-1), idx, -1)


def pick(angles: np.ndarray, index: np.ndarray) -> np.ndarray:
    """angles (..., n, 2) at index (...,) -> (..., 2), NaN where index is -1."""
    angles = np.asarray(angles, dtype=float)
    idx = np.maximum(index, 0)[..., None, None]
    out = np.take_along_axis(angles, np.broadcast_to(idx, angles.shape[:-2] + (1, 2)), axis=-2)
    return np.where((np.asarray(index) >= 0)[..., None], out[..., 0, :], np.nan)


def _as_blocks(angles: np.ndarray) -> np.ndarray:
    """Peaks (B, n, 2) of consecutive blocks from (B, n, 2) or one block's (n, 2)."""
    angles = np.asarray(angles, dtype=float)
    if angles.ndim < 2 or angles.shape[-1] != 2:
        raise ValueError(f"angles must be (B, n, 2) [psi, theta] peaks, got shape {angles.shape}")
    return angles.reshape((-1,) + angles.shape[-2:])


class ClutterMap:
    """Directions that keep producing MUSIC peaks, learned block by block at one RAP.

    Static clutter shows up in most blocks; a direction seen in at least ``min_fraction`` of
    the blocks so far (after ``warmup`` blocks) counts as clutter. Learn it while the target is
    absent or moving, or from a calibration run: a target that stays put would be learned too.
    radius: directions closer than this (radians) are the same cell.
    """

    def __init__(self, radius: float = np.radians(3.0), min_fraction: float = 0.5, warmup: int = 5):
        if radius <= 0 or not 0 < min_fraction <= 1 or warmup < 1:
            raise ValueError(
                "ClutterMap: radius must be > 0, min_fraction in (0, 1], warmup >= 1; got "
                f"{radius}, {min_fraction}, {warmup}"
            )
        self.radius, self.min_fraction, self.warmup = radius, min_fraction, warmup
        self.centers = np.zeros((0, 2))  # (psi, theta) of learned cells
        self.hits = np.zeros(0)
        self.blocks = 0

    def update(self, angles: np.ndarray) -> None:
        """Learn from peaks (B, n, 2) (or (n, 2)) of consecutive blocks, in order."""
        self.learn(_as_blocks(angles))

    def associate(self, angles: np.ndarray) -> np.ndarray:
        """Target index among the peaks (B, n, 2) of consecutive blocks, each block judged by
        the map as learned from the blocks before it, then learned from: the strongest peak
        that is not clutter, -1 where none. (B,). The same as, block by block in order,
        ``associate_target(angles[b], clutter_map=self)`` then ``self.update(angles[b])``, with
        the blocks batched (one pass per block that opens a new cell, rare once learned)."""
        angles = _as_blocks(angles)
        before = self.learn(angles)  # (B, C): the cells that were clutter before each block
        valid = np.all(np.isfinite(angles), axis=-1)
        if before.any():
            d = separation(
                angles[..., None, 0], angles[..., None, 1], self.centers[:, 0], self.centers[:, 1]
            )
            valid &= ~np.any((d <= self.radius) & before[:, None, :], axis=-1)
        return np.where(np.any(valid, axis=-1), np.argmax(valid, axis=-1), -1)

    def learn(self, angles: np.ndarray) -> np.ndarray:
        """Learn from the peaks (B, n, 2) of consecutive blocks, in order; -> (B, C) which of
        the C cells (self.centers after learning) counted as clutter before each block.

        Blocks whose peaks all fall in known cells only add hits: a run of them is counted at
        once (cumulative sums). A block with an unknown direction opens cells the next blocks
        see: it is learned alone (:meth:`_learn_block`), and the later blocks' nearest cells
        are updated against the new cells only.
        """
        B = len(angles)
        finite = np.all(np.isfinite(angles), axis=-1)
        # nearest cell (first of equals, as argmin) and its distance for every peak
        best_d = np.full(finite.shape, np.inf)
        best = np.zeros(finite.shape, dtype=int)
        self._nearest(angles, finite, 0, best_d, best)
        masks: list[np.ndarray] = []
        t = 0
        while t < B:
            known = finite[t:] & (best_d[t:] <= self.radius)
            opens = np.flatnonzero(np.any(finite[t:] & ~known, axis=-1))
            run = int(opens[0]) if opens.size else B - t
            if run == 0:  # this block opens cells: learned alone below
                masks.append(self._clutter_cells()[None])
                first_new = len(self.centers)
                self._learn_block(angles[t])
                t += 1
                self._nearest(angles[t:], finite[t:], first_new, best_d[t:], best[t:])
                continue
            hit = np.zeros((run, len(self.centers)), dtype=bool)
            rows, cols = np.nonzero(known[:run])
            hit[rows, best[t:][rows, cols]] = True  # a cell counts once per block
            hits_before = self.hits + np.cumsum(hit, axis=0) - hit
            blocks_before = self.blocks + np.arange(run)
            masks.append(
                (blocks_before >= self.warmup)[:, None]
                & (hits_before >= self.min_fraction * blocks_before[:, None])
            )
            self.hits = self.hits + hit.sum(axis=0)
            self.blocks += run
            t += run
        C = len(self.centers)
        return np.concatenate(
            [np.pad(m, ((0, 0), (0, C - m.shape[1]))) for m in masks] or [np.zeros((0, C), bool)]
        )

    def _nearest(
        self,
        angles: np.ndarray,
        finite: np.ndarray,
        first: int,
        best_d: np.ndarray,
        best: np.ndarray,
    ) -> None:
        """Update the nearest cell (best, best_d, (b, n) views) of the finite peaks with the
        cells from index ``first`` on (a strictly nearer one wins: argmin keeps the first)."""
        cells = self.centers[first:]
        if not len(cells) or not len(angles):
            return
        d = separation(angles[..., None, 0], angles[..., None, 1], cells[:, 0], cells[:, 1])
        d = np.where(finite[..., None], d, np.inf)
        k = np.argmin(d, axis=-1)
        dk = np.take_along_axis(d, k[..., None], axis=-1)[..., 0]
        closer = dk < best_d
        best_d[closer] = dk[closer]
        best[closer] = first + k[closer]

    def _clutter_cells(self) -> np.ndarray:
        """(C,) True for the cells counted as clutter now."""
        if self.blocks < self.warmup:
            return np.zeros(len(self.centers), dtype=bool)
        return self.hits >= self.min_fraction * self.blocks

    def _learn_block(self, block: np.ndarray) -> None:
        """Learn from one block's peaks (n, 2): hits for known cells, new cells for the rest."""
        block = block[np.all(np.isfinite(block), axis=-1)]
        new = block
        if len(self.centers) and len(block):
            # every peak against every learned cell at once; a cell counts once per block
            d = separation(
                block[:, None, 0], block[:, None, 1], self.centers[:, 0], self.centers[:, 1]
            )
            nearest = np.argmin(d, axis=1)
            known = d[np.arange(len(block)), nearest] <= self.radius
            self.hits[np.unique(nearest[known])] += 1
            new = block[~known]
        first_new = len(self.centers)
        for psi, theta in new:  # unknown directions (rare once learned) open new cells
            fresh = self.centers[first_new:]  # cells opened by this block
            if len(fresh) and separation(*fresh.T, psi, theta).min() <= self.radius:
                continue
            self.centers = np.vstack([self.centers, [psi, theta]])
            self.hits = np.append(self.hits, 1.0)
        self.blocks += 1

    @property
    def clutter(self) -> np.ndarray:
        """(C, 2) directions currently counted as clutter."""
        return self.centers[self._clutter_cells()]

    def is_clutter(self, angles: np.ndarray) -> np.ndarray:
        """(..., n, 2) -> (..., n) True where a peak lies within radius of a clutter cell."""
        angles = np.asarray(angles, dtype=float)
        known = self.clutter
        if not len(known):
            return np.zeros(angles.shape[:-1], dtype=bool)
        d = separation(angles[..., None, 0], angles[..., None, 1], known[:, 0], known[:, 1])
        return np.any(d <= self.radius, axis=-1)


# ----------------------------------------------------------------------------- fusion


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
