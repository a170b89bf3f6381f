"""Power normalization shared by every precoder (eq 23d and the per-TAP option)."""

from __future__ import annotations

import numpy as np


def scale_power(W: np.ndarray, power: float, per_tap: int | None = None) -> np.ndarray:
    """Scale W (B, N, K') to ||W||_F^2 = power, or with ``per_tap=NT`` every TAP's block of
    rows to power / NT (a TAP whose block is zero stays zero)."""
    if power <= 0:
        raise ValueError(f"power must be positive, got {power}")
    B, N, _ = W.shape
    if per_tap is None:
        norm2 = (np.abs(W) ** 2).sum(axis=(1, 2), keepdims=True)
        return W * np.sqrt(power / np.maximum(norm2, 1e-300))
    if N % per_tap:
        raise ValueError(f"per_tap={per_tap} does not divide N={N}")
    blocks = W.reshape(B, per_tap, N // per_tap, -1)
    norm2 = (np.abs(blocks) ** 2).sum(axis=(2, 3), keepdims=True)
    scale = np.where(norm2 > 0, np.sqrt(power / per_tap / np.maximum(norm2, 1e-300)), 0.0)
    return (blocks * scale).reshape(W.shape)


def project_power(W: np.ndarray, power: float) -> np.ndarray:
    """Projection onto ||W||_F^2 <= power (the Lambda layer of eq 37 applied to W)."""
    norm2 = (np.abs(W) ** 2).sum(axis=(1, 2), keepdims=True)
    return W * np.minimum(1.0, np.sqrt(power / np.maximum(norm2, 1e-300)))
