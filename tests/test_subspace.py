"""precoding.convex.subspace: the block-diagonal orthonormal basis of the exact subspace
reduction (numerical rank per block, a zero block kept as one direction) and the columns that
make each block's power."""

from __future__ import annotations

import numpy as np

from gr_cfisac.precoding.convex.subspace import block_basis, block_power_columns


def test_block_basis_spans_each_block_at_its_rank_and_powers_add_up():
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((4, 1)) + 1j * rng.standard_normal((4, 1)) for _ in range(2))
    V0 = np.column_stack([a, b, 2 * a - 1j * b])  # rank 2
    B = block_basis([V0, np.zeros((4, 2))])
    assert B.shape == (8, 3)
    np.testing.assert_allclose(B.conj().T @ B, np.eye(3), atol=1e-12)
    P0 = B[:4] @ B[:4].conj().T
    np.testing.assert_allclose(P0 @ V0, V0, atol=1e-12)  # block 0 spans V0
    assert not np.abs(B[4:, :2]).any() and not np.abs(B[:4, 2]).any()  # block-diagonal
    cols = block_power_columns(B, 4)
    assert [c.tolist() for c in cols] == [[0, 1], [2]]
    Y = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    Y = Y @ Y.conj().T
    Q = B @ Y @ B.conj().T
    for n, c in enumerate(cols):  # tr(Q's block n) = the trace of Y over block n's columns
        np.testing.assert_allclose(
            np.trace(Q[4 * n : 4 * n + 4, 4 * n : 4 * n + 4]).real, np.trace(Y[np.ix_(c, c)]).real
        )
