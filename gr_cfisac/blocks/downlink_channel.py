"""Downlink channel: TAP streams -> one stream per user through the true channels + noise.

Ports (per coherence block):

- in ``tap`` x NT     complex64[MT], tau items: s_i(t) from the transmitter
- in ``truth``        complex64[truth], 1 item: the true channels F of the block (scenario)
- out ``user`` x K    complex64, tau items: y_k(t) = sum_i h_ik^H s_i(t) + n_k(t) (eqs 13-15)

Noise is CN(0, 1) (unit noise at every receiver, DESIGN.md), reproducible from ``seed``.
"""

from __future__ import annotations

import numpy as np

from ..channels import crandn
from ..config import SystemConfig
from ._base import CoherenceBlock, Port, check_config
from ._chunks import ChunkedDraws
from .layout import truth_layout

_NOISE_STREAM = 3


def stack_taps(ins: list[np.ndarray], NT: int) -> np.ndarray:
    """TAP port views (n, tau, MT) x NT -> S (n, N, tau), TAP-major rows (complex64 as sent)."""
    return np.concatenate([np.swapaxes(ins[i], 1, 2) for i in range(NT)], axis=1)


class downlink_channel(CoherenceBlock):  # noqa: N801 - GNU Radio block naming
    """y_k(t) = f_k^H s(t) + n_k(t) for every user, block by block."""

    def __init__(
        self, config: SystemConfig, seed: int = 3, noise: bool = True, max_blocks: int = 64
    ) -> None:
        cfg = check_config(config)
        self.truth = truth_layout(cfg)
        inputs = [Port(f"tap{i}", np.complex64, cfg.MT, cfg.tau) for i in range(cfg.NT)] + [
            Port("truth", np.complex64, self.truth.size, 1)
        ]
        outputs = [Port(f"user{k + 1}", np.complex64, 1, cfg.tau) for k in range(cfg.K)]
        super().__init__("cfisac_downlink_channel", cfg, inputs, outputs, max_blocks=max_blocks)
        self.noise = bool(noise)
        self.draws = ChunkedDraws(
            seed, _NOISE_STREAM, lambda rng, first, n: crandn(rng, (n, cfg.K, cfg.tau))
        )

    def process(self, cb, ins, outs) -> None:
        cfg = self.cfg
        S = stack_taps(ins, cfg.NT)
        F = self.truth.field(ins[cfg.NT][:, 0], "F").astype(np.complex64)  # (n, N, K)
        y = np.swapaxes(F.conj(), 1, 2) @ S  # eq 15: f_k^H s(t), (n, K, tau)
        if self.noise:
            y += self.draws.get(cb)
        for k in range(cfg.K):
            outs[k][:, :, 0] = y[:, k]
