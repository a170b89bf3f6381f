"""Covariance and subspaces for 2D MUSIC (STCIB paper Section VI): the sample covariance of
eq 41, its forward-backward average, the noise subspace that eq 42 projects on, and the model
order (how many sources) from the covariance's eigenvalues.

Complex128 inside; covariances are (..., M, M) for M = rows x cols URPA elements.
"""

from __future__ import annotations

import numpy as np

from .validity import Validity, screen_snapshots


def sample_covariance(Y: np.ndarray) -> np.ndarray:
    """R = (1/tau) sum_t y(t) y(t)^H (eq 41). Y (..., M, tau) -> (..., M, M)."""
    Y = np.asarray(Y)
    if Y.ndim < 2:
        raise ValueError(f"Y must be (..., M, tau) snapshots, got shape {Y.shape}")
    return Y @ np.swapaxes(Y, -1, -2).conj() / Y.shape[-1]


#: Snapshot bytes (complex128) per chunk of :func:`screened_covariances`: a chunk's copy and
#: magnitudes stay in cache (a whole call's, 50 MB for 256 blocks of four 4x4 RAPs, do not:
#: twice the time per block)
CHUNK_BYTES = 1 << 19


def screened_covariances(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validity codes (B,) (:func:`~.validity.screen_snapshots`, on the samples as they came)
    and sample covariances (B, M, M) complex128 (eq 41) of snapshot blocks Y (B, M, tau), a
    cache-sized chunk of blocks at a time. Bad blocks get a harmless identity (eigh fails on
    NaN; their results are NaN anyway)."""
    B, M, tau = Y.shape
    validity = np.empty(B, dtype=np.int8)
    R = np.empty((B, M, M), dtype=complex)
    chunk = max(1, CHUNK_BYTES // (16 * M * max(tau, 1)))
    for s in range(0, B, chunk):
        y = Y[s : s + chunk]
        code = validity[s : s + chunk] = screen_snapshots(y)
        good = code == Validity.OK
        if good.all():  # the usual case
            R[s : s + chunk] = sample_covariance(y.astype(complex, copy=False))
        else:
            R[s : s + chunk] = np.eye(M)
            R[s : s + chunk][good] = sample_covariance(y[good].astype(complex, copy=False))
    return validity, R


def forward_backward(R: np.ndarray) -> np.ndarray:
    """Forward-backward averaged covariance (R + J R^* J) / 2, J the exchange matrix.

    Valid for a URPA: reversing the element order maps a(u, v) to a phase times a(u, v)^*, so
    the averaged R keeps eq 42's steering while two coherent echoes (e.g. target and clutter
    both lit mainly by the one sensing stream x_0) are decorrelated. (..., M, M) -> same.
    """
    R = check_covariance(R)
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


def check_covariance(R: np.ndarray, M: int | None = None) -> np.ndarray:
    R = np.asarray(R)
    if R.ndim < 2 or R.shape[-1] != R.shape[-2]:
        raise ValueError(f"R must be (..., M, M) covariance matrices, got shape {R.shape}")
    if M is not None and R.shape[-1] != M:
        raise ValueError(f"R is {R.shape[-1]} x {R.shape[-1]} but the array has M={M} elements")
    return R


def noise_subspace(R: np.ndarray, n_sources: int) -> np.ndarray:
    """Eigenvectors of the M - n_sources smallest eigenvalues of R: (..., M, M) -> (..., M, M-n)."""
    R = check_covariance(R)
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
