"""The network's transmit side as one GNU Radio block: scenario, per-TAP estimation, precoder,
transmitter (a ``gr.hier_block2``; ``cfisac_sim.grc`` draws the same four blocks one by one).

Parts (attributes, wired by port name; their parameters are this block's, named alike):
``scenario`` (:class:`scenario_source`, seed ``seed``) -> ``estimator``
(:class:`pilot_estimator`) -> ``precoder`` (:class:`precoder`, which also takes the scenario's
sensing geometry) -> ``transmitter`` (:class:`transmitter`, seed ``seed + 1``).

Ports (DESIGN.md "Streams": one port per TAP, per-block data one vector item per coherence
block, a ``cb`` tag on every block's first item; layouts in :mod:`gr_cfisac.layout`):

- in ``data1`` .. ``dataK``     complex64, tau items: user symbols (optional: unconnected, the
  transmitter sends seeded unit-power QPSK)
- out ``tap0`` .. ``tap{NT-1}`` complex64[MT], tau items: TAP i's transmitted snapshots (eq 12)
- out ``symbols``               complex64[K+1], tau items: x(t) as sent (x0 first)
- out ``truth``                 complex64[truth], 1 item: the scenario's ground truth
- out ``geometry``              complex64[geometry], 1 item: the network-known sensing geometry
  (may stay unconnected)
- out ``W``                     complex64[N(K+1)], 1 item: the block's ISAC beamformer
- out ``active``                float32[K], 1 item: the scenario's active-user mask (may stay
  unconnected; the precoder inside serves the active users only)
- out ``pilots0`` .., ``stats0`` .. (x NT each, may stay unconnected): TAP i's received pilots
  (complex64[MT], tau_p items) and known statistics (1 item), e.g. for a SigMF recording
- message out ``beamformer``: the precoder's message

The outputs not marked as such must be connected (a null sink will do): their parts need them.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..config import SystemConfig
from ._base import check_config
from .hier import HierBlock, part_setting, ports_named
from .pilot_estimator import pilot_estimator
from .precoder import precoder
from .scenario_source import scenario_source
from .transmitter import transmitter

#: each part's seed relative to the block's ``seed`` (the chain adds downlink and echo)
SEED_OFFSETS = {"scenario": 0, "transmitter": 1}


class tap_side(HierBlock):  # noqa: N801 - GNU Radio block naming
    """Scenario, per-TAP MMSE estimation, precoder and transmitter as one block.

    Args (each goes to the part named; see its docstring):
        config: the flowgraph's SystemConfig.
        seed, num_blocks, scene, user_speed_mps, target_speed_mps, block_interval_s,
        active_users, user_leave_prob, user_join_prob:
            scenario_source (the transmitter's seed is ``seed + 1``).
        method: pilot_estimator ("mmse" or "ls").
        algorithm, sensing_fraction, sensing_beam, per_tap, regime, eta, threshold, threads,
        remote_address, remote_timeout_ms, remote_server_key, remote_client_key, fallback,
        msg_interval: precoder.
        sensing_symbols: transmitter.
        max_blocks: coherence blocks per work() call, one number or {part name: number}.
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
        method: str = "mmse",
        algorithm: str = "zf",
        sensing_fraction: float = 0.1,
        sensing_beam: str = "nullspace",
        per_tap: bool = False,
        regime: str = "joint",
        eta: float = 0.5,
        threshold: float = 0.0,
        threads: int = 1,
        remote_address: str = "",
        remote_timeout_ms: int = 500,
        remote_server_key: str = "",
        remote_client_key: str = "",
        fallback: str = "zf",
        msg_interval: int = 1,
        sensing_symbols: str = "gaussian",
        max_blocks: int | Mapping[str, int] = 64,
        active_users=None,
        user_leave_prob: float = 0.0,
        user_join_prob: float = 0.0,
    ) -> None:
        cfg = check_config(config)

        def mb(part: str) -> int:
            return part_setting(max_blocks, part, 64)

        parts = {
            "scenario": scenario_source(
                cfg,
                seed=seed + SEED_OFFSETS["scenario"],
                num_blocks=num_blocks,
                scene=scene,
                user_speed_mps=user_speed_mps,
                target_speed_mps=target_speed_mps,
                block_interval_s=block_interval_s,
                max_blocks=mb("scenario"),
                active_users=active_users,
                user_leave_prob=user_leave_prob,
                user_join_prob=user_join_prob,
            ),
            "estimator": pilot_estimator(cfg, method=method, max_blocks=mb("estimator")),
            "precoder": precoder(
                cfg,
                algorithm,
                sensing_fraction=sensing_fraction,
                sensing_beam=sensing_beam,
                per_tap=per_tap,
                regime=regime,
                eta=eta,
                threshold=threshold,
                threads=threads,
                remote_address=remote_address,
                remote_timeout_ms=remote_timeout_ms,
                remote_server_key=remote_server_key,
                remote_client_key=remote_client_key,
                fallback=fallback,
                msg_interval=msg_interval,
                max_blocks=mb("precoder"),
            ),
            "transmitter": transmitter(
                cfg,
                seed=seed + SEED_OFFSETS["transmitter"],
                sensing_symbols=sensing_symbols,
                max_blocks=mb("transmitter"),
            ),
        }
        taps = [f"tap{i}" for i in range(cfg.NT)]
        uplink = [f"pilots{i}" for i in range(cfg.NT)] + [f"stats{i}" for i in range(cfg.NT)]
        outputs = (
            ports_named(parts["transmitter"].out_ports, [*taps, "symbols"])
            + ports_named(parts["scenario"].out_ports, ["truth", "geometry"])
            + ports_named(parts["precoder"].out_ports, ["W"])
            + ports_named(parts["scenario"].out_ports, ["active"])
            + ports_named(parts["scenario"].out_ports, uplink)
        )
        data = [f"data{k + 1}" for k in range(cfg.K)]
        super().__init__(
            "cfisac_tap_side",
            parts,
            inputs=ports_named(parts["transmitter"].in_ports, data),
            outputs=outputs,
            messages={"beamformer": "precoder"},
        )
        self.cfg = cfg
        w = self.wiring
        w.connect_by_name("scenario", "estimator")  # pilots, stats
        w.connect_by_name("estimator", "precoder")  # estimates
        w.connect(("scenario", "geometry"), ("precoder", "geometry"))
        w.connect(("scenario", "active"), ("precoder", "active"))
        w.connect_by_name("precoder", "transmitter")  # beams
        for part in parts:
            self.export(part)
