"""Scenario source: the CF-ISAC network's uplink pilots, ground truth and known statistics.

Ports (N = NT MT; per coherence block ``cb``, tagged on its first item):

- out ``pilots`` x NT   complex64[MT], tau_p items: TAP i's received pilot snapshots Y_i (eq 6)
- out ``stats`` x NT    complex64[stats], 1 item: TAP i's known statistics c_ik, C_hik (eqs 1, 9)
- out ``truth``         complex64[truth], 1 item: true F, realized G_t/G_c, positions, angles
- out ``geometry``      complex64[geometry], 1 item: the network-known sensing geometry
  (amplitudes and steering vectors of eq 16, what precoders may use)
- out ``active``        float32[K], 1 item, optional: the active-user mask (1: user k+1 is
  served in this block, 0: it left), from ``active_users`` or the random join/leave process
  (gr_cfisac.active_users); all ones by default

(layouts in :mod:`gr_cfisac.blocks.layout`). Every block is a fresh draw of the small-scale
fading, the users' pilot noise and the RCS fluctuations varpi; users and target move in
straight lines at a set speed, bouncing off the edges of the area (positions are a closed-form
function of ``cb``). The scene is drawn once from ``seed``; block ``cb`` is reproducible
whatever the call sizes (:mod:`gr_cfisac.blocks._chunks`). Channels and pilots are drawn for
all K users whatever the mask (an inactive user's channel is there; the network just does not
serve it), so a run with users leaving is the same realization as one without.
"""

from __future__ import annotations

import numpy as np

from ..active_users import JoinLeave, parse_schedule
from ..channels import (
    draw_comm_channels,
    draw_rcs,
    sensing_geometry,
    sensing_matrices,
    split_tap_major,
)
from ..config import SystemConfig
from ..estimation import orthogonal_pilots, received_pilots
from ..mobility import Mobility
from ._base import CoherenceBlock, Port, check_config
from ._chunks import ChunkedDraws
from .layout import geometry_layout, pack_geometry, stats_layout, truth_layout

_SCENE_STREAM = 1
_ACTIVE_STREAM = 2


class scenario_source(CoherenceBlock):  # noqa: N801 - GNU Radio block naming
    """CF-ISAC scenario: per-TAP pilot streams, per-TAP statistics, ground truth, geometry.

    Args:
        config: the flowgraph's SystemConfig.
        seed: scene and every per-block draw.
        num_blocks: coherence blocks to produce, then end the flowgraph (0: run forever).
        scene: "paper" (the fixed target/clutter of Section VII-E) or "random".
        user_speed_mps, target_speed_mps: speeds of users and target (m/s).
        block_interval_s: time between coherence blocks (None: tau_c / bandwidth).
        max_blocks: coherence blocks per work() call at most.
        active_users: who is active per block (gr_cfisac.active_users.parse_schedule): None
            (everyone), a (blocks, K) table of 0/1, change points [[block, mask], ...] (or
            their JSON text), or a callable cb -> (n, K).
        user_leave_prob, user_join_prob: instead of a schedule, a random join/leave process
            seeded by ``seed``: per block, an active user leaves and an inactive one rejoins
            with these probabilities (0, 0: nobody leaves).
    """

    def __init__(
        self,
        config: SystemConfig,
        seed: int = 1,
        num_blocks: int = 0,
        scene: str = "paper",
        user_speed_mps: float = 0.0,
        target_speed_mps: float = 0.0,
        block_interval_s: float | None = None,
        max_blocks: int = 64,
        active_users=None,
        user_leave_prob: float = 0.0,
        user_join_prob: float = 0.0,
    ) -> None:
        cfg = check_config(config)
        if int(num_blocks) < 0:
            raise ValueError(
                f"scenario_source: num_blocks must be >= 0 (0: forever), got {num_blocks}"
            )
        if scene not in ("paper", "random"):
            raise ValueError(f"scenario_source: scene must be 'paper' or 'random', got {scene!r}")
        if user_speed_mps < 0 or target_speed_mps < 0:
            raise ValueError("scenario_source: speeds must be >= 0 m/s")
        interval = (
            cfg.tau_c / cfg.bandwidth_hz if block_interval_s in (None, 0) else block_interval_s
        )
        if interval <= 0:
            raise ValueError(f"scenario_source: block_interval_s must be > 0, got {interval}")
        if active_users is not None and (user_leave_prob or user_join_prob):
            raise ValueError(
                "scenario_source: give either active_users (a schedule) or user_leave_prob / "
                "user_join_prob (a random process), not both"
            )
        if user_leave_prob or user_join_prob:
            schedule = JoinLeave(cfg.K, user_leave_prob, user_join_prob, seed, _ACTIVE_STREAM)
        else:
            schedule = parse_schedule(active_users, cfg.K, "scenario_source: active_users")
        self.stats = stats_layout(cfg)
        self.truth = truth_layout(cfg)
        self.geometry = geometry_layout(cfg)
        outputs = (
            [Port(f"pilots{i}", np.complex64, cfg.MT, cfg.tau_p) for i in range(cfg.NT)]
            + [Port(f"stats{i}", np.complex64, self.stats.size, 1) for i in range(cfg.NT)]
            + [Port("truth", np.complex64, self.truth.size, 1)]
            + [Port("geometry", np.complex64, self.geometry.size, 1)]
            + [Port("active", np.float32, cfg.K, 1)]
        )
        super().__init__(
            "cfisac_scenario_source",
            cfg,
            [],
            outputs,
            min_outputs=len(outputs) - 1,
            max_blocks=max_blocks,
        )
        self.num_blocks = int(num_blocks)
        #: cb (n,) -> (n, K) bool: who is active in each block
        self.active_users = schedule
        self.mobility = Mobility(cfg, seed, scene, user_speed_mps, target_speed_mps, interval)
        self.pilots = orthogonal_pilots(cfg.K, cfg.tau_p)
        self.draws = ChunkedDraws(seed, _SCENE_STREAM, self._draw)

    def _draw(self, rng: np.random.Generator, first_cb: int, n: int) -> dict[str, np.ndarray]:
        """One chunk of blocks, drawn by the numerical core in one batch."""
        cfg = self.cfg
        geom = self.mobility.geometry(first_cb + np.arange(n))
        comm = draw_comm_channels(cfg, geom, rng)
        Y = received_pilots(split_tap_major(comm.F, cfg.NT), self.pilots, cfg.rho_p, rng)
        sg = sensing_geometry(cfg, geom)
        varpi_t, varpi_c = draw_rcs(rng, n, cfg.NR, cfg.NT, cfg.NC)
        G_t, G_c = sensing_matrices(sg, varpi_t, varpi_c)
        return {
            "pilots": np.transpose(Y, (0, 1, 3, 2)),  # (n, NT, tau_p, MT) snapshots
            "stats": np.stack(
                [
                    self.stats.pack(
                        mean=split_tap_major(comm.mean, cfg.NT)[:, i], cov=comm.cov[:, i]
                    )
                    for i in range(cfg.NT)
                ],
                axis=1,
            ),  # (n, NT, size)
            "truth": self.truth.pack(
                F=comm.F,
                G_t=G_t,
                G_c=G_c,
                varpi_t=varpi_t,
                varpi_c=varpi_c,
                user_pos=geom.user_pos,
                target_pos=geom.target_pos,
                clutter_pos=geom.clutter_pos,
                psi_t=sg.psi_t,
                theta_t=sg.theta_t,
            ),
            "geometry": pack_geometry(cfg, sg),
        }

    def blocks_available(self) -> int | None:
        return None if self.num_blocks == 0 else self.num_blocks - self.blocks_done

    def process(self, cb, ins, outs) -> None:
        NT = self.cfg.NT
        d = self.draws.get(cb)
        for i in range(NT):
            outs[i][:] = d["pilots"][:, i]
            outs[NT + i][:, 0] = d["stats"][:, i]
        outs[2 * NT][:, 0] = d["truth"]
        outs[2 * NT + 1][:, 0] = d["geometry"]
        if len(outs) > 2 * NT + 2:
            outs[2 * NT + 2][:, 0] = self.active_users(cb)
