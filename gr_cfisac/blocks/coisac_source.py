"""Coisac source: paper 003's cooperative ISAC network, one coherence block per draw (issue 14).

Ports (per coherence block ``cb``, one item each, tagged; N BSs, L = Lx Ly antennas, sized by
the coisac stream config, gr_cfisac.coisac.network.stream_config):

- out ``estimate`` x N  complex64[K L]: BS n's channels h_{k,n} (K, L) -- perfect CSI, the
  scenario's F_hat = F, in the precoder's estimate layout (layout.estimate_layout)
- out ``geometry``      complex64[geometry]: the network-known sensing geometry (|alpha|, the
  BSs' steering vectors toward the target, its canonical angles; no clutter)
- out ``truth``         complex64[truth]: true F, the eq-7 echo matrices G_t, alpha's phases
  ``varpi_t``, user and target positions and angles (coisac.network.truth_fields)
- out ``active``, optional float32[K]: all ones (every user is served)

Every block is a fresh draw of ``CoisacScenario.draw`` (users, target within
``target_spread_m``, channels, reflection coefficients), reproducible from ``seed`` whatever the
work() call sizes (_chunks). The pilot-less uplink is the scenario's perfect CSI: the cell-free
scenario source's pilots and statistics have no counterpart here.
"""

from __future__ import annotations

import numpy as np

from ..coisac import CoisacBatch, CoisacScenario
from ..coisac.network import coisac_config, truth_fields
from ..config import SystemConfig
from ._base import CoherenceBlock, Port, check_config
from ._chunks import CHUNK, ChunkedDraws
from .layout import estimate_layout, geometry_layout, pack_geometry, truth_layout

_SCENE_STREAM = 7


class coisac_source(CoherenceBlock):  # noqa: N801 - GNU Radio block naming
    """Coisac blocks: per-BS channels (perfect CSI), sensing geometry, ground truth.

    Args:
        config: the coisac stream config (coisac.network.stream_config(CoisacConfig(...))).
        seed: every per-block draw.
        num_blocks: coherence blocks to produce, then end the flowgraph (0: run forever).
        max_blocks: coherence blocks per work() call at most.
    """

    def __init__(
        self, config: SystemConfig, seed: int = 1, num_blocks: int = 0, max_blocks: int = 64
    ) -> None:
        cfg = check_config(config)
        self.coisac = coisac_config(cfg)
        if int(num_blocks) < 0:
            raise ValueError(
                f"coisac_source: num_blocks must be >= 0 (0: forever), got {num_blocks}"
            )
        self.estimate = estimate_layout(cfg)
        self.geometry = geometry_layout(cfg)
        self.truth = truth_layout(cfg)
        outputs = [Port(f"estimate{i}", np.complex64, self.estimate.size, 1) for i in range(cfg.NT)]
        outputs += [
            Port("geometry", np.complex64, self.geometry.size, 1),
            Port("truth", np.complex64, self.truth.size, 1),
            Port("active", np.float32, cfg.K, 1),
        ]
        super().__init__(
            "cfisac_coisac_source",
            cfg,
            [],
            outputs,
            min_outputs=len(outputs) - 1,
            max_blocks=max_blocks,
        )
        self.num_blocks = int(num_blocks)
        self.scenario = CoisacScenario(self.coisac)
        self.draws = ChunkedDraws(seed, _SCENE_STREAM, self._draw)

    def chunk_batch(self, chunk: int) -> CoisacBatch:
        """The core's CoisacBatch of blocks chunk CHUNK .. (chunk + 1) CHUNK - 1 (what those
        blocks publish, in complex128), for notebooks and tests."""
        rng = np.random.default_rng([self.draws.seed, _SCENE_STREAM, int(chunk)])
        return self.scenario.draw(CHUNK, rng)

    def _draw(self, rng: np.random.Generator, first_cb: int, n: int) -> dict[str, np.ndarray]:
        """One chunk of blocks from the numerical core, packed as stream items."""
        cfg = self.cfg
        batch = self.scenario.draw(n, rng)
        h = batch.F_hat.reshape(n, cfg.NT, cfg.MT, cfg.K).transpose(0, 1, 3, 2)  # (n, N, K, L)
        return {
            "estimate": h.reshape(n, cfg.NT, -1),
            "geometry": pack_geometry(cfg, batch.sensing),
            "truth": self.truth.pack(**truth_fields(batch)),
        }

    def blocks_available(self) -> int | None:
        return None if self.num_blocks == 0 else self.num_blocks - self.blocks_done

    def process(self, cb, ins, outs) -> None:
        NT = self.cfg.NT
        d = self.draws.get(cb)
        for i in range(NT):
            outs[i][:, 0] = d["estimate"][:, i]
        outs[NT][:, 0] = d["geometry"]
        outs[NT + 1][:, 0] = d["truth"]
        if len(outs) > NT + 2:
            outs[NT + 2][:, 0] = 1.0
