"""Pilot channel estimator, local to each TAP (eqs 7-8): pilot snapshots in, h_hat out.

Ports (per coherence block; one group per TAP served, ``num_taps`` of them, independent):

- in ``pilots`` x n     complex64[MT], tau_p items: the TAP's received pilots Y_i (eq 6)
- in ``stats`` x n      complex64[stats], 1 item: its known statistics c_ik, C_hik
- out ``estimate`` x n  complex64[K MT], 1 item: h_hat_ik for k = 1..K (eq 8, or LS)

Each TAP's estimate uses only that TAP's pilots and statistics, so a block serving one TAP
(``num_taps=1``) can run on that TAP's host. ``method``: "mmse" (eq 8) or "ls" (y~ / sqrt(rho_p
tau_p), ignores the statistics; for comparison).
"""

from __future__ import annotations

import numpy as np

from ..config import SystemConfig
from ..estimation import ls_estimate, mmse_estimate, orthogonal_pilots, project_pilots
from ._base import CoherenceBlock, Port, check_config
from .layout import estimate_layout, stats_layout


class pilot_estimator(CoherenceBlock):  # noqa: N801 - GNU Radio block naming
    """Per-TAP MMSE (or LS) channel estimation from the uplink pilots of every block."""

    def __init__(
        self,
        config: SystemConfig,
        method: str = "mmse",
        num_taps: int | None = None,
        max_blocks: int = 64,
    ) -> None:
        cfg = check_config(config)
        if method not in ("mmse", "ls"):
            raise ValueError(f"pilot_estimator: method must be 'mmse' or 'ls', got {method!r}")
        n = cfg.NT if num_taps in (None, 0) else int(num_taps)
        if not 1 <= n <= cfg.NT:
            raise ValueError(f"pilot_estimator: num_taps must be in 1..NT={cfg.NT}, got {num_taps}")
        self.method = method
        self.num_taps = n
        self.stats = stats_layout(cfg)
        self.estimate = estimate_layout(cfg)
        inputs = [Port(f"pilots{i}", np.complex64, cfg.MT, cfg.tau_p) for i in range(n)] + [
            Port(f"stats{i}", np.complex64, self.stats.size, 1) for i in range(n)
        ]
        outputs = [Port(f"estimate{i}", np.complex64, self.estimate.size, 1) for i in range(n)]
        super().__init__("cfisac_pilot_estimator", cfg, inputs, outputs, max_blocks=max_blocks)
        self.pilots = orthogonal_pilots(cfg.K, cfg.tau_p)

    def process(self, cb, ins, outs) -> None:
        cfg, n = self.cfg, self.num_taps
        # (blocks, taps, MT, tau_p): the snapshots of each TAP as columns of Y_i
        Y = np.stack([np.swapaxes(ins[i], 1, 2) for i in range(n)], axis=1).astype(np.complex128)
        y_tilde = project_pilots(Y, self.pilots)  # (blocks, taps, K, MT), eq 7
        if self.method == "mmse":
            st = [self.stats.unpack(ins[n + i]) for i in range(n)]
            mean = np.stack([s["mean"] for s in st], axis=1)
            cov = np.stack([s["cov"] for s in st], axis=1)
            h_hat = mmse_estimate(y_tilde, mean, cov, cfg.rho_p, cfg.tau_p)
        else:
            h_hat = ls_estimate(y_tilde, cfg.rho_p, cfg.tau_p)
        for i in range(n):
            outs[i][:, 0] = h_hat[:, i].reshape(len(cb), -1)
