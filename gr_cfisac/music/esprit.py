"""2-D unitary ESPRIT for a URPA (Zoltowski, Haardt & Mathews, IEEE TSP 44(2), 1996): source
directions in closed form from a covariance, no search; what the "esprit" MUSIC method starts
its Newton refinement from (:mod:`.estimators`).

With alpha = -pi u, beta = pi v, element (r, c) of eqs 2-5's steering vector is
exp(j (r alpha + c beta)) (index r + rows c), so the subarray of rows 1 ... rows-1 is the one of
rows 0 ... rows-2 times exp(j alpha) (and likewise for columns with beta). A URPA is
centro-symmetric: with the left Pi-real unitary Q_M (Pi Q_M^* = Q_M), d = Q_M^H a (centred) is
real, and the invariance becomes tan(alpha / 2) K_1 d = K_2 d with the real
K_1 + j K_2 = Q_m^H J_2 Q_M (J_2 the shifted subarray's selection). So:

1. E_s: the n principal eigenvectors of the real Re(Q_M^H R Q_M) = Q_M^H R_fb Q_M (the
   forward-backward average comes for free: it decorrelates two coherent echoes),
2. Y_alpha, Y_beta: least-squares solutions of K_1 E_s Y = K_2 E_s for rows and columns,
3. the eigenvalues of Y_alpha + j Y_beta are tan(alpha_k / 2) + j tan(beta_k / 2): both
   angles of each source at once, paired.

n sources need n <= (rows - 1) cols and n <= rows (cols - 1) (:func:`capacity`) besides MUSIC's
own n <= M - 2 (:mod:`.validity`). Batched over any leading axes; complex128 in, radians out.
"""

from __future__ import annotations

import functools

import numpy as np

from ..arrays import element_indices


def capacity(rows: int, cols: int) -> int:
    """Most sources 2-D ESPRIT resolves on a rows x cols URPA: the smaller shifted subarray
    (0 for a linear array, which has no shift in one of the two directions)."""
    if min(rows, cols) < 2:
        return 0
    return min((rows - 1) * cols, rows * (cols - 1))


def left_real_unitary(M: int) -> np.ndarray:
    """The sparse left Pi-real unitary matrix Q_M (M, M): Pi_M Q_M^* = Q_M."""
    n = M // 2
    eye, flip = np.eye(n), np.fliplr(np.eye(n))
    Q = np.zeros((M, M), dtype=complex)
    Q[:n, :n], Q[:n, M - n :] = eye, 1j * eye
    Q[M - n :, :n], Q[M - n :, M - n :] = flip, -1j * flip
    if M % 2:
        Q[n, n] = np.sqrt(2.0)
    return Q / np.sqrt(2.0)


@functools.lru_cache(maxsize=16)
def invariance_matrices(rows: int, cols: int) -> tuple[np.ndarray, ...]:
    """Q_M (M, M) and the real K_1, K_2 of the row shift ((rows-1) cols, M) and of the column
    shift (rows (cols-1), M): (Q, K1_row, K2_row, K1_col, K2_col)."""
    r, c = element_indices(rows, cols)
    M = rows * cols
    Q = left_real_unitary(M)
    out = [Q]
    for shifted in (r >= 1, c >= 1):
        # the shifted subarray in vec() order (its own column-major order), so that
        # Pi_m J_2 Pi_M = J_1 and Q_m^H J_2 Q_M = K_1 + j K_2 with real K's
        J2 = np.eye(M)[shifted]
        G = left_real_unitary(J2.shape[0]).conj().T @ J2 @ Q
        out += [G.real.copy(), G.imag.copy()]
    return tuple(out)


def _shift_operator(K1: np.ndarray, K2: np.ndarray, Es: np.ndarray) -> np.ndarray:
    """Least-squares Y of K1 Es Y = K2 Es per block (lightly regularized). (B, n, n)."""
    A, C = K1 @ Es, K2 @ Es
    At = np.swapaxes(A, -1, -2)
    N = At @ A
    n = N.shape[-1]
    ridge = 1e-12 * np.trace(N, axis1=-2, axis2=-1)[..., None, None] / n + 1e-300
    return np.linalg.solve(N + ridge * np.eye(n), At @ C)


def esprit_uv(R: np.ndarray, rows: int, cols: int, n_sources: int) -> tuple[np.ndarray, np.ndarray]:
    """Direction cosines (u, v) (..., n) of n_sources sources from covariances R (..., M, M).

    Unordered (in the order of the eigenvalues of step 3); clipped onto the visible disk
    u^2 + v^2 <= 1 where noise put them outside.
    """
    R = np.asarray(R)
    M = rows * cols
    if R.shape[-2:] != (M, M):
        raise ValueError(f"R must be (..., {M}, {M}) for a {rows}x{cols} URPA, got {R.shape}")
    check_sources(n_sources, rows, cols)
    lead = R.shape[:-2]
    basis = signal_basis(R.reshape((-1, M, M)), rows, cols)
    u, v = basis_directions(basis[..., M - int(n_sources) :], rows, cols)
    return u.reshape(lead + u.shape[-1:]), v.reshape(lead + v.shape[-1:])


def check_sources(n_sources: int, rows: int, cols: int) -> None:
    """ValueError unless 1 <= n_sources <= capacity(rows, cols)."""
    if not 1 <= int(n_sources) <= capacity(rows, cols):
        raise ValueError(
            f"n_sources={n_sources}: 2-D ESPRIT on a {rows}x{cols} URPA resolves 1 ... "
            f"{capacity(rows, cols)} sources (its shifted subarrays); use MUSIC's search "
            "(method 'fast') for more"
        )


def signal_basis(R: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Step 1 for every model order at once: the real eigenvectors (B, M, M) of
    Re(Q_M^H R Q_M), ascending (the last n columns span n sources' subspace). R (B, M, M)."""
    Q = invariance_matrices(rows, cols)[0]
    T = (Q.conj().T @ R @ Q).real
    return np.linalg.eigh(0.5 * (T + np.swapaxes(T, -1, -2)))[1]


def basis_directions(Es: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Steps 2-3: direction cosines (u, v) (B, n) of the n sources whose real signal subspace
    is Es (B, M, n) (:func:`signal_basis`'s last n columns), clipped onto the visible disk."""
    _, K1r, K2r, K1c, K2c = invariance_matrices(rows, cols)
    Y = _shift_operator(K1r, K2r, Es) + 1j * _shift_operator(K1c, K2c, Es)
    lam = np.linalg.eigvals(Y)  # tan(alpha / 2) + j tan(beta / 2)
    u = -2.0 / np.pi * np.arctan(lam.real)
    v = 2.0 / np.pi * np.arctan(lam.imag)
    shrink = 1.0 / np.maximum(np.hypot(u, v), 1.0)
    return u * shrink, v * shrink
