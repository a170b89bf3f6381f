"""Echo channel: TAP streams -> RAP streams through target and clutter + noise (eqs 16-18).

Ports (per coherence block):

- in ``tap`` x NT    complex64[MT], tau items: s_i(t) from the transmitter
- in ``truth``       complex64[truth], 1 item: the realized G_t, G_c of the block (scenario)
- out ``rap`` x NR   complex64[MR], tau items: y_j(t) = (G_jt + sum_c G_jc) s(t) + n_j(t)

The multistatic echo is the sensing core's echo.apply_sensing_channel; the CN(0, I) noise is
drawn here per block, reproducible from ``seed`` whatever the work() call sizes.
"""

from __future__ import annotations

import numpy as np

from ..channels import crandn
from ..config import SystemConfig
from ..echo import apply_sensing_channel
from ._base import CoherenceBlock, Port, check_config
from ._chunks import ChunkedDraws
from .downlink_channel import stack_taps
from .layout import truth_layout

_NOISE_STREAM = 4


class echo_channel(CoherenceBlock):  # noqa: N801 - GNU Radio block naming
    """Multistatic echoes at every RAP, block by block."""

    def __init__(
        self, config: SystemConfig, seed: int = 4, noise: bool = True, max_blocks: int = 64
    ) -> None:
        cfg = check_config(config)
        self.truth = truth_layout(cfg)
        inputs = [Port(f"tap{i}", np.complex64, cfg.MT, cfg.tau) for i in range(cfg.NT)] + [
            Port("truth", np.complex64, self.truth.size, 1)
        ]
        outputs = [Port(f"rap{j + 1}", np.complex64, cfg.MR, cfg.tau) for j in range(cfg.NR)]
        super().__init__("cfisac_echo_channel", cfg, inputs, outputs, max_blocks=max_blocks)
        self.noise = bool(noise)
        self.draws = ChunkedDraws(
            seed,
            _NOISE_STREAM,
            lambda rng, first, n: crandn(rng, (n, cfg.NR, cfg.MR, cfg.tau)),
        )

    def process(self, cb, ins, outs) -> None:
        cfg = self.cfg
        S = stack_taps(ins, cfg.NT)
        items = ins[cfg.NT][:, 0]
        G_t = self.truth.field(items, "G_t")
        G_c = self.truth.field(items, "G_c")
        y = apply_sensing_channel(G_t, G_c, S, None, noise_power=0.0)  # (n, NR, MR, tau)
        if self.noise:
            y += self.draws.get(cb)
        for j in range(cfg.NR):
            outs[j][:] = np.swapaxes(y[:, j], 1, 2)
