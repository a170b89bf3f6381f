"""Inner ascent of the optimizer's merit (eq 23a with the ALM terms) on the power set.

Every SINR and SCNR grows with the scale of W, so under the total power budget (23d) the
maximizer lies on the sphere ||V||_F = 1: L-BFGS maximizes merit(X / ||X||) over unconstrained
X, with monotone Armijo backtracking (the fixed points of projected gradient on the ball, in ~5x
fewer iterations). With per-TAP balls, L-BFGS on the product of the TAP spheres is followed by
projected gradient (Barzilai-Borwein trial steps) on the balls themselves, which lets a TAP back
off where that helps (clutter). Problems run batched; finished ones are retired from the
working set as they converge.
"""

from __future__ import annotations

import numpy as np

from .problem import ProblemSpec, ProblemWork, block_products, evaluate_merit, merit_gradient
from .rates import TINY

_SIGMA = 1e-4  # Armijo sufficient-increase constant


def ascend(spec: ProblemSpec, w: ProblemWork, V: np.ndarray, max_iters: int, tol: float):
    """Maximize the merit from V. Returns V (M, N, K+1) and the iterations per problem.

    Total power: the merit grows with ||W|| (every SINR and SCNR does), so its maximizer on the
    ball lies on the sphere; L-BFGS maximizes merit(X / ||X||) there. Per-TAP balls: L-BFGS on
    the product of the TAP spheres (every TAP at full power) first, then projected gradient on
    the balls themselves, which stops at once where that point is already stationary there.
    """
    V, n = _lbfgs_spheres(spec, w, V, max_iters, tol)
    if spec.blocks == 1:
        return V, n
    V, m = _projected_gradient(spec, w, V, max_iters, tol)
    return V, n + m


def _rdot(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Re <X, Y> over all but the leading axis."""
    return (X.conj() * Y).real.reshape(len(X), -1).sum(-1)


def _block_dot(X: np.ndarray, Y: np.ndarray, nb: int) -> np.ndarray:
    """Re <X_b, Y_b> per power block: (M, N, C) x2 -> (M, nb)."""
    M, N, C = X.shape
    return (X.conj() * Y).real.reshape(M, nb, -1).sum(-1)


def _retiring(done: np.ndarray) -> bool:
    """Whether to retire the finished problems: all of them, or a good share of the working set."""
    return done.all() or (done.sum() >= max(1, 0.25 * len(done)))


def _stalls(small: np.ndarray, gain: np.ndarray, phi: np.ndarray, tol: float) -> np.ndarray:
    """Count of consecutive iterations whose relative gain stayed below ``tol`` (M,)."""
    return np.where(gain <= tol * np.maximum(1.0, np.abs(phi)), small + 1, 0)


def _armijo(
    spec: ProblemSpec, w: ProblemWork, phi, base, along, dots, t0, shrink: float, slope=None
):
    """Monotone Armijo backtracking from X along D, every problem at once, the trial merits
    from the cached per-block products (``block_products``): ``base`` = (F_b^H X_b, L_b^H X_b),
    ``along`` the same for D, ``dots`` = (<X_b, X_b>, <X_b, D_b>, <D_b, D_b>) (M, nb).

    With ``slope`` = Re<g, D> (M,), the trial point X + t D is normalized onto the spheres
    (L-BFGS) and must rise by sigma t slope; without it, it is projected onto the balls
    ||V_b||^2 <= 1 / nb (projected gradient, D = G) and must rise by sigma Re<G, V_t - V>.
    Trial steps start at t0 (M,) and shrink by ``shrink``, 40 times at most. Returns the
    accepted step (M,) (0 where none), the per-block scale of the accepted point (M, nb), its
    merit (M,), and where no step was accepted: no ascent is left at machine precision there,
    the point is stationary.
    """
    nb, cap = spec.blocks, 1.0 / spec.blocks
    (Z, Y), (Zd, Yd), (xx, xd, dd) = base, along, dots
    step, scale, new_phi = np.zeros(len(t0)), np.ones((len(t0), nb)), phi.copy()
    pending = np.arange(len(t0))
    trial = t0.copy()
    for _ in range(40):
        tp = trial[pending]
        t = tp[:, None]
        norm2 = xx[pending] + 2 * t * xd[pending] + t**2 * dd[pending]
        if slope is not None:
            k = 1.0 / np.sqrt(nb * norm2)
            rise = _SIGMA * tp * slope[pending]
        else:
            k = np.minimum(1.0, np.sqrt(cap / np.maximum(norm2, TINY)))
            rise = _SIGMA * ((k - 1) * xd[pending] + k * t * dd[pending]).sum(-1)
        kb, tb = k[..., None, None], t[..., None, None]
        zb = kb * (Z[pending] + tb * Zd[pending])
        yb = kb * (Y[pending] + tb * Yd[pending])
        phi_t, _ = evaluate_merit(spec, w.mult(pending), zb, yb)
        ok = phi_t >= phi[pending] + rise
        acc = pending[ok]
        step[acc], scale[acc], new_phi[acc] = tp[ok], k[ok], phi_t[ok]
        pending = pending[~ok]
        if not len(pending):
            break
        trial[pending] *= shrink
    stuck = np.zeros(len(t0), dtype=bool)
    stuck[pending] = True
    return step, scale, new_phi, stuck


def _two_loop(g, S, Yc, rho, order):
    """L-BFGS direction H g from pairs (s_i, y_i) (M, m, N, C) with rho_i = 1 / Re<s_i, y_i>
    (0 for empty slots); ``order`` lists slots newest first. For ascent, y_i is minus the
    change of the gradient, so H is positive definite."""
    q = g.copy()
    alpha = np.zeros(rho.shape)
    for i in order:
        alpha[:, i] = rho[:, i] * _rdot(S[:, i], q)
        q -= alpha[:, i, None, None] * Yc[:, i]
    newest = order[0]
    yy = _rdot(Yc[:, newest], Yc[:, newest])
    gamma = np.where(rho[:, newest] > 0, 1.0 / np.maximum(rho[:, newest] * yy, TINY), 1.0)
    r = gamma[:, None, None] * q
    for i in order[::-1]:
        beta = rho[:, i] * _rdot(Yc[:, i], r)
        r += (alpha[:, i] - beta)[:, None, None] * S[:, i]
    return r


def _lbfgs_spheres(
    spec: ProblemSpec, w: ProblemWork, V: np.ndarray, max_iters: int, tol: float, memory=8
):
    """Maximize merit(V(X)) over unconstrained X, V_b = X_b / (||X_b|| sqrt(nb)) per power
    block, by L-BFGS with Armijo backtracking (monotone), every problem until its relative gain
    stays below ``tol`` twice running or no ascent is left at machine precision. Its fixed
    points are those of projected gradient on the spheres: the tangent gradient vanishes."""
    nb = spec.blocks
    M, N, C = V.shape
    V_out, iters_out = V.copy(), np.zeros(M, dtype=int)
    gidx = np.arange(M)
    X = V / np.sqrt(np.maximum(_block_dot(V, V, nb), TINY)).repeat(N // nb, 1)[:, :, None]
    Zx, Yx = block_products(w, X, nb)
    n2 = np.ones((M, nb))
    S = np.zeros((M, memory, N, C), complex)
    Yc = np.zeros_like(S)
    rho = np.zeros((M, memory))

    def rows(x):  # (M, nb) -> (M, N, 1), per-block factors on the rows of a block
        return x.repeat(N // nb, 1)[:, :, None]

    def merit_and_gradient(w, X, Zx, Yx, n2):
        k = 1.0 / np.sqrt(nb * n2)  # V_b = k_b X_b
        phi, cache = evaluate_merit(
            spec, w.mult(), k[..., None, None] * Zx, k[..., None, None] * Yx
        )
        G = merit_gradient(spec, w, cache)
        radial = _block_dot(X, G, nb) / n2  # Re<G_b, X_b> / ||X_b||^2
        return phi, rows(k) * (G - rows(radial) * X)

    phi, g = merit_and_gradient(w, X, Zx, Yx, n2)
    d = g.copy()
    t_init = np.minimum(0.1 / np.maximum(np.sqrt(_rdot(g, g)), TINY), 1e8)
    small = np.zeros(M, dtype=int)
    done = np.zeros(M, dtype=bool)

    def output(X, n2):
        return X / rows(np.sqrt(nb * n2))

    for it in range(max_iters):
        if _retiring(done):
            fin = gidx[done]
            V_out[fin] = output(X[done], n2[done])
            iters_out[fin] = it
            keep = ~done
            if not keep.any():
                return V_out, iters_out
            w = w.take(keep)
            gidx, X, Zx, Yx, n2, S, Yc, rho = (a[keep] for a in (gidx, X, Zx, Yx, n2, S, Yc, rho))
            phi, g, d, t_init, small, done = (a[keep] for a in (phi, g, d, t_init, small, done))
        # Armijo backtracking along d, trial merits from the cached products
        Zd, Yd = block_products(w, d, nb)
        xd, dd, slope = _block_dot(X, d, nb), _block_dot(d, d, nb), _rdot(g, d)
        dots = n2, xd, dd
        step, _, _, stuck = _armijo(spec, w, phi, (Zx, Yx), (Zd, Yd), dots, t_init, 0.3, slope)
        tb = step[:, None, None]
        X = X + tb * d
        Zx, Yx = Zx + tb[..., None] * Zd, Yx + tb[..., None] * Yd
        n2 = n2 + 2 * step[:, None] * xd + step[:, None] ** 2 * dd
        phi_new, g_new = merit_and_gradient(w, X, Zx, Yx, n2)
        gain = phi_new - phi
        small = _stalls(small, gain, phi_new, tol)
        done |= (small >= 2) | stuck
        # curvature pair (ascent: y = -(g_new - g)); skipped where curvature is not positive
        slot = it % memory
        s_vec, y_vec = tb * d, g - g_new
        sy = _rdot(s_vec, y_vec)
        good = sy > 1e-12 * np.sqrt(_rdot(s_vec, s_vec) * _rdot(y_vec, y_vec))
        S[:, slot], Yc[:, slot] = s_vec, y_vec
        rho[:, slot] = np.where(good, 1.0 / np.where(good, sy, 1.0), 0.0)
        phi, g = phi_new, g_new
        d = _two_loop(g, S, Yc, rho, [(slot - i) % memory for i in range(memory)])
        # the gradient where the quasi-Newton direction is not an ascent one, or ||X_b|| drifted
        # far from 1 (the merit does not depend on it; the stored pairs do): restart there
        bad = _rdot(g, d) <= 1e-12 * np.sqrt(_rdot(g, g) * _rdot(d, d))
        drift = n2.max(-1) > 4.0
        if drift.any():
            r = np.sqrt(n2[drift])
            X[drift] /= rows(r)
            Zx[drift] /= r[..., None, None]
            Yx[drift] /= r[..., None, None]
            g[drift] *= rows(r)
            n2[drift] = 1.0
        restart = bad | drift
        d[restart], rho[restart] = g[restart], 0.0
        fresh = restart | (rho.max(-1) == 0)
        gnorm = np.sqrt(np.maximum(_rdot(g, g), TINY))
        t_init = np.where(fresh, np.minimum(0.1 / gnorm, 1e8), 1.0)
    V_out[gidx] = output(X, n2)
    iters_out[gidx] = max_iters
    return V_out, iters_out


def _projected_gradient(
    spec: ProblemSpec, w: ProblemWork, V: np.ndarray, max_iters: int, tol: float
):
    """Projected gradient ascent (BB trial step, Armijo backtracking) of the merit on the
    power ball, every problem until its relative gain stays below ``tol`` twice running.
    Returns V (M, N, K+1) and the iterations each problem ran."""
    nb = spec.blocks
    M = V.shape[0]
    V_out, iters_out = V.copy(), np.zeros(M, dtype=int)
    gidx = np.arange(M)  # working set -> problem index
    Zb, Yb = block_products(w, V, nb)
    phi, cache = evaluate_merit(spec, w.mult(), Zb, Yb)
    G = merit_gradient(spec, w, cache)
    t = 0.1 / np.maximum(np.sqrt((np.abs(G) ** 2).sum(axis=(1, 2))), TINY)
    small = np.zeros(M, dtype=int)
    done = np.zeros(M, dtype=bool)
    for it in range(max_iters):
        if _retiring(done):
            V_out[gidx[done]] = V[done]
            iters_out[gidx[done]] = it
            keep = ~done
            if not keep.any():
                return V_out, iters_out
            gidx, w, V, G, phi, t, small, done = (
                gidx[keep],
                w.take(keep),
                V[keep],
                G[keep],
                phi[keep],
                t[keep],
                small[keep],
                done[keep],
            )
            Zb, Yb = Zb[keep], Yb[keep]
        # line search along G, the trial point projected blockwise onto the balls
        ZGb, YGb = block_products(w, G, nb)
        dots = _block_dot(V, V, nb), _block_dot(V, G, nb), _block_dot(G, G, nb)
        step, scale, new_phi, stuck = _armijo(spec, w, phi, (Zb, Yb), (ZGb, YGb), dots, t, 0.2)
        # move, update the cached products and the merit
        V_prev, G_prev = V, G
        sb = scale[:, :, None, None]
        tb = step[:, None, None, None]
        Zb, Yb = sb * (Zb + tb * ZGb), sb * (Yb + tb * YGb)
        M_, N, C = V.shape
        V = (sb * (V + step[:, None, None] * G).reshape(M_, nb, N // nb, C)).reshape(M_, N, C)
        gain = new_phi - phi
        phi, cache = evaluate_merit(spec, w.mult(), Zb, Yb)
        G = merit_gradient(spec, w, cache)
        small = _stalls(small, gain, phi, tol)
        done |= (small >= 2) | stuck
        # Barzilai-Borwein trial step for the next iteration
        s_vec, y_vec = V - V_prev, G - G_prev
        ss = (np.abs(s_vec) ** 2).sum(axis=(1, 2))
        sy = (s_vec.conj() * y_vec).real.sum(axis=(1, 2))
        t = np.where(sy < 0, ss / np.maximum(-sy, TINY), 4 * np.maximum(step, t * 1e-3))
        t = np.clip(t, 1e-12, 1e12)
    V_out[gidx] = V
    iters_out[gidx] = max_iters
    return V_out, iters_out
