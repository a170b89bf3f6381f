"""Downlink transmitter: symbols x(t) mapped through each TAP's W_bar_i to its antennas (eq 12).

Ports (per coherence block):

- in ``beam`` x NT          complex64[MT (K+1)], 1 item: W_bar_i (from the precoder)
- in ``data`` x K, optional complex64, tau items: user k's symbols (else seeded QPSK)
- out ``tap`` x NT          complex64[MT], tau items: s_i(t) = W_bar_i x(t), t = 1..tau
- out ``symbols``           complex64[K+1], tau items: x(t) = [x_0, x_1 .. x_K] as sent
  (the reference the metrics sink measures SINR against; x_0 the sensing stream)

x_0 is CN(0, 1) ("gaussian") or QPSK; user symbols are unit-power QPSK (echo.transmit_symbols)
unless the K optional data inputs are connected.
"""

from __future__ import annotations

import numpy as np

from ..config import SystemConfig
from ..echo import transmit_symbols
from ._base import CoherenceBlock, Port, check_config
from ._chunks import ChunkedDraws
from .layout import beam_layout

_SYMBOL_STREAM = 2


class transmitter(CoherenceBlock):  # noqa: N801 - GNU Radio block naming
    """Per-TAP downlink samples from the beamformers of every block and the symbols x(t)."""

    def __init__(
        self,
        config: SystemConfig,
        seed: int = 2,
        sensing_symbols: str = "gaussian",
        max_blocks: int = 64,
    ) -> None:
        cfg = check_config(config)
        if sensing_symbols not in ("gaussian", "qpsk"):
            raise ValueError(
                f"transmitter: sensing_symbols must be 'gaussian' or 'qpsk', got {sensing_symbols!r}"
            )
        self.beam = beam_layout(cfg)
        inputs = [Port(f"beam{i}", np.complex64, self.beam.size, 1) for i in range(cfg.NT)] + [
            Port(f"data{k + 1}", np.complex64, 1, cfg.tau) for k in range(cfg.K)
        ]
        outputs = [Port(f"tap{i}", np.complex64, cfg.MT, cfg.tau) for i in range(cfg.NT)] + [
            Port("symbols", np.complex64, cfg.K + 1, cfg.tau)
        ]
        super().__init__(
            "cfisac_transmitter", cfg, inputs, outputs, min_inputs=cfg.NT, max_blocks=max_blocks
        )
        self.symbols = ChunkedDraws(
            seed,
            _SYMBOL_STREAM,
            lambda rng, first, n: transmit_symbols(rng, n, cfg.K, cfg.tau, sensing_symbols),
        )

    def process(self, cb, ins, outs) -> None:
        cfg = self.cfg
        NT, n = cfg.NT, len(cb)
        x = self.symbols.get(cb)  # (n, K+1, tau)
        if len(ins) > NT:
            if len(ins) != NT + cfg.K:
                raise ValueError(
                    f"transmitter: connect all K={cfg.K} data inputs or none (got {len(ins) - NT})"
                )
            x = x.copy()
            x[:, 1:] = np.stack([ins[NT + k][:, :, 0] for k in range(cfg.K)], axis=1)
        W = np.stack([ins[i][:, 0] for i in range(NT)], axis=1).reshape(n, cfg.N, cfg.K + 1)
        S = (W @ x.astype(np.complex64)).reshape(n, NT, cfg.MT, cfg.tau)  # W_bar_i x(t) per TAP
        for i in range(NT):
            outs[i][:] = np.swapaxes(S[:, i], 1, 2)
        outs[NT][:] = np.swapaxes(x, 1, 2)
