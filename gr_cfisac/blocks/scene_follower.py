"""Scene follower: the scenario's ground truth and sensing geometry for exactly the coherence
blocks a stream carries (the RAP side of a radio testbed).

A RAP side fed by a radio numbers its blocks by time (CF-ISAC Time Align): the first block may
be any index (the RAP started after the TAP side) and indices jump where an overflow lost
blocks. A Scenario Source counts from 0 without gaps, so joining it would drop thousands of
blocks and misalign after every loss. This block reads the ``cb`` tags of one stream (any RAP's)
and produces the truth and geometry of those very blocks, from the same scenario as the TAP
side's (same seed, scene and speeds: block ``cb`` of a scenario is reproducible on its own,
:mod:`gr_cfisac.blocks._chunks`).

Ports (per coherence block):

- in  ``clock``     complex64[MR], tau items: any stream of the blocks to follow (consumed)
- out ``truth``     complex64[truth], 1 item: the scenario's ground truth of block cb
- out ``geometry``  complex64[geometry], 1 item: its network-known sensing geometry
"""

from __future__ import annotations

import numpy as np

from ..config import SystemConfig
from ._base import CoherenceBlock, Port, check_config
from .scenario_source import scenario_source


class scene_follower(CoherenceBlock):  # noqa: N801 - GNU Radio block naming
    """Truth and geometry of the blocks a stream carries (see the module docstring).

    Args:
        config: the flowgraph's SystemConfig.
        seed, scene, user_speed_mps, target_speed_mps, block_interval_s: the scenario, as the
            TAP side's Scenario Source / TAP Side has them.
        max_blocks: coherence blocks per work() call at most.
    """

    def __init__(
        self,
        config: SystemConfig,
        seed: int = 1,
        scene: str = "paper",
        user_speed_mps: float = 0.0,
        target_speed_mps: float = 0.0,
        block_interval_s: float | None = None,
        max_blocks: int = 64,
    ) -> None:
        cfg = check_config(config)
        #: the scenario whose blocks are followed (never connected: only its draws are used)
        self.scenario = scenario_source(
            cfg,
            seed=seed,
            scene=scene,
            user_speed_mps=user_speed_mps,
            target_speed_mps=target_speed_mps,
            block_interval_s=block_interval_s,
        )
        inputs = [Port("clock", np.complex64, cfg.MR, cfg.tau)]
        outputs = [
            Port("truth", np.complex64, self.scenario.truth.size, 1),
            Port("geometry", np.complex64, self.scenario.geometry.size, 1),
        ]
        super().__init__("cfisac_scene_follower", cfg, inputs, outputs, max_blocks=max_blocks)

    def process(self, cb, ins, outs) -> None:
        d = self.scenario.draws.get(cb)
        outs[0][:, 0] = d["truth"]
        outs[1][:, 0] = d["geometry"]
