"""Monte-Carlo check of the SPEB (paper 003, eq 19): at high SNR the maximum-likelihood position
estimate from the echoes of eq 7 (reflection coefficients concentrated out) is efficient, so its
mean squared error approaches tr(J(t)^{-1})."""

import numpy as np

from gr_cfisac.coisac import CoisacConfig, CoisacScenario, normalize_per_bs, position_fim
from gr_cfisac.coisac.geometry import paper_angles, steering

TAU = 10**7  # integrated echo SNR ~ 60 dB per BS at 20 dBm: the asymptotic regime
TRIALS = 400


def beams(batch, power, rng):
    cfg = batch.cfg
    B, N, L, K = batch.batch, cfg.N, cfg.L, cfg.K
    Ws = batch.sensing.aT_t.reshape(B, N * L, 1)
    Wu = rng.standard_normal((B, N * L, K)) + 1j * rng.standard_normal((B, N * L, K))
    return normalize_per_bs(np.concatenate([Ws, Wu], axis=-1) * 1e8, power, N)


def concentrated_likelihood(points, R, bs, W, Lx, Ly):
    """sum_n ||a_n^H R_n Pi_G||^2 / L at candidate positions points (T, P, 3) for statistics
    R (T, N, L, S) = Y_n S^H / tau: the log-likelihood with every alpha_{m,n} maximized out."""
    N, L = len(bs), Lx * Ly
    theta, beta = paper_angles(bs, points)  # (T, P, N)
    a = steering(theta, beta, Lx, Ly)  # (T, P, N, L)
    g = np.einsum("tpnl,nls->tpns", a.conj(), W.reshape(N, L, -1))
    proj = np.linalg.pinv(g, rcond=1e-10) @ g  # (T, P, S, S)
    r = np.einsum("tpnl,tnls->tpns", a.conj(), R) @ proj
    return (np.abs(r) ** 2).sum(axis=(-1, -2)) / L


def stencil(h):
    """The 27 offsets of a 3 x 3 x 3 stencil with spacings h (3,) and its quadratic design."""
    grid = np.stack(np.meshgrid(*[np.array([-1.0, 0.0, 1.0])] * 3, indexing="ij"), -1)
    x = grid.reshape(-1, 3)
    i, j = np.triu_indices(3)
    design = np.concatenate([np.ones((27, 1)), x, x[:, i] * x[:, j]], axis=1)
    return x * h, np.linalg.pinv(design), (i, j)


def ml_positions(R, bs, W, Lx, Ly, center, half_width, grid=7, rounds=6):
    """Grid search over center +- half_width (grid^3 points), then rounds of a least-squares
    quadratic fit on a shrinking 27-point stencil, each jumping to the fitted maximum."""
    T = R.shape[0]
    axes = [np.linspace(-w, w, grid) for w in half_width]
    cells = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3) + center
    best = np.empty((T, 3))
    for lo in range(0, T, 50):
        f = concentrated_likelihood(
            np.broadcast_to(cells, (min(50, T - lo),) + cells.shape), R[lo : lo + 50], bs, W, Lx, Ly
        )
        best[lo : lo + 50] = cells[f.argmax(-1)]
    h = 2 * np.asarray(half_width) / (grid - 1)
    for _ in range(rounds):
        offsets, fit, (i, j) = stencil(h)
        f = concentrated_likelihood(best[:, None] + offsets, R, bs, W, Lx, Ly)
        coef = f @ fit.T  # (T, 10): c, b (3), upper-triangular quadratic terms (6)
        H = np.zeros((T, 3, 3))
        H[:, i, j] += coef[:, 4:]
        H = H + np.swapaxes(H, 1, 2)  # diagonal doubled: the Hessian in stencil units
        step = -np.linalg.solve(H, coef[:, 1:4, None])[..., 0]
        concave = np.all(np.linalg.eigvalsh(H) < 0, axis=-1)
        step = np.where(concave[:, None], np.clip(step, -1.5, 1.5), offsets[f.argmax(-1)] / h)
        best = best + step * h
        h = h / 3
    return best


def test_ml_position_error_approaches_the_speb():
    cfg = CoisacConfig()
    batch = CoisacScenario(cfg).draw(1, 21)
    W = beams(batch, cfg.power, np.random.default_rng(22))[0]
    echo = batch.echo
    crb = np.linalg.inv(position_fim(echo, W[None], TAU)[0])
    bound = np.trace(crb)
    assert 1e-5 < bound < 1e-2  # centimetres: the high-SNR regime the test is for

    rng = np.random.default_rng(23)
    N, L = cfg.N, cfg.L
    mean = np.einsum("nm,ml,mls->nls", echo.alpha[0], echo.a[0].conj(), W.reshape(N, L, -1))
    mean = echo.a[0][:, :, None] * mean.sum(1)[:, None, :]  # a_n c_n^T (N, L, S)
    # sufficient statistic Y_n S^H / tau with S S^H = tau I: noise CN(0, 1 / tau) per entry
    shape = (TRIALS,) + mean.shape
    noise = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2 * TAU)
    R = mean + noise
    t = batch.target[0]
    est = ml_positions(R, batch.bs, W, cfg.Lx, cfg.Ly, t, 5 * np.sqrt(np.diag(crb)))
    err = est - t
    mse = np.mean((err**2).sum(-1))
    assert 0.85 < mse / bound < 1.2, (mse, bound)
    # and the error covariance has the bound's shape, not only its trace
    cov = err.T @ err / TRIALS
    assert np.all(np.abs(np.diag(cov) / np.diag(crb) - 1) < 0.35)
