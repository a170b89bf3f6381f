"""The exact subspace reduction of a covariance program (``speb_program``, the SDR of
``sca_speb``).

Where a covariance Q (n x n, PSD) enters the objective and the constraints only through linear
functionals v^H Q u with v, u in a known set of vectors (users' channels, steering vectors and
their derivatives) and through power budgets that are traces of diagonal blocks (per AP / BS,
or the total), let B (n, d) be block-diagonal with orthonormal columns spanning those vectors
block by block, and P = B B^H. Then P Q P is PSD, changes none of the functionals (P v = v) and
spends no more power in any block (P is block-diagonal: tr(P_b Q_bb P_b) <= tr(Q_bb)). So an
optimum exists with Q = B Y B^H, and the program can be solved in the d x d matrix Y: an
interior-point step costs about (d / n)^6 of the full one per PSD cone. ``block_basis`` builds
B; ``block_power_columns`` says which of Y's diagonal entries make each block's power. It pays
where the vectors span much less than n per block: ``sca_speb`` (3 + K of L per BS: 24 of 48
at the bench's size); not ``ccpa`` (K + NT (1 + NC) of NT MT: 28 of 32 at Table I) nor
problem 9 of ``problems`` (1 + K of M per AP). numpy only."""

from __future__ import annotations

import numpy as np

#: a singular value below RTOL x the largest of its block adds no direction
RTOL = 1e-10


def orthonormal_span(V: np.ndarray, rtol: float = RTOL) -> np.ndarray:
    """Orthonormal columns (m, r) spanning the columns of V (m, c), r its numerical rank
    (at least 1, so an all-zero block keeps one direction)."""
    U, sv, _ = np.linalg.svd(np.asarray(V, complex), full_matrices=False)
    if sv.size == 0 or sv[0] == 0:
        return np.eye(V.shape[0], 1, dtype=complex)
    return U[:, : max(1, int((sv > rtol * sv[0]).sum()))]


def block_basis(columns: list[np.ndarray], rtol: float = RTOL) -> np.ndarray:
    """B (sum of block sizes, d): block-diagonal, block b spanning ``columns[b]`` (m_b, c_b)
    with orthonormal columns; d = the sum of the blocks' ranks."""
    parts = [orthonormal_span(V, rtol) for V in columns]
    B = np.zeros((sum(p.shape[0] for p in parts), sum(p.shape[1] for p in parts)), complex)
    row = col = 0
    for p in parts:
        B[row : row + p.shape[0], col : col + p.shape[1]] = p
        row, col = row + p.shape[0], col + p.shape[1]
    return B


def block_power_columns(B: np.ndarray, block: int) -> list[np.ndarray]:
    """Per block of ``block`` rows of a ``block_basis`` B: the indices of its columns, whose
    diagonal entries of Y sum to that block's power tr((B Y B^H)_bb)."""
    nonzero = np.abs(B) > 0
    return [np.flatnonzero(nonzero[b * block : (b + 1) * block].any(0))
            for b in range(B.shape[0] // block)]  # fmt: skip
