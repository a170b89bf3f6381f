"""The network's sensing receive side as one GNU Radio block: MUSIC per RAP, then fusion of the
RAPs' target directions into a position (a ``gr.hier_block2``).

Parts (attributes, wired by port name; their parameters are this block's, named alike):
``music`` (:class:`music_localizer`, every RAP) -> ``fusion`` (:class:`fusion`, which also takes
the sensing geometry). Fusion reads the peaks MUSIC reports, so it gets MUSIC's ``n_peaks``.

Ports (DESIGN.md "Streams": one port per RAP, per-block data one vector item per coherence
block, a ``cb`` tag on every block's first item; layouts in :mod:`gr_cfisac.layout`):

- in ``rap1`` .. ``rapNR``          complex64[MR], tau items: RAP j's received snapshots (from
  the echo channel, a SigMF recording, a ZeroMQ link or a radio)
- in ``geometry``                   complex64[geometry], 1 item: the network-known sensing geometry
- out ``fix``                       float32[fix], 1 item: the fused position (layout.fix_layout)
- out ``angles1`` .. ``anglesNR``   float32[angles], 1 item: each RAP's MUSIC peaks (may stay
  unconnected)
- out ``spectrum1`` .. (x NR)       float32[display], 1 item: MUSIC's display spectra (may stay
  unconnected; connected ones must be the first: spectrum1, spectrum2, …)
- messages out ``angles`` (MUSIC's) and ``position`` (fusion's)

To stop after N blocks of streams that join a running peer, put a CF-ISAC Head (aligned) before
it (:mod:`gr_cfisac.blocks.head`): MUSIC and fusion see different streams and would each count
from where their own inputs align.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..config import SystemConfig
from ._base import check_config
from .fusion import fusion
from .hier import HierBlock, part_setting, ports_named
from .music_localizer import music_localizer


class rap_side(HierBlock):  # noqa: N801 - GNU Radio block naming
    """MUSIC at every RAP and target fusion as one block.

    Args (each goes to the part named; see its docstring):
        config: the flowgraph's SystemConfig.
        n_sources, n_peaks, method, display_step_deg: music_localizer (n_sources None: NC + 1;
            0: MDL per block). n_peaks also sets fusion's.
        association, gate_deg, known_height: fusion.
        msg_interval: both (every N blocks a message, 0: none). A message is built only when
            something subscribes; each costs ~45 us of PMT building (MUSIC's angles and
            fusion's position: ~90 us per coherence block at 1, measured on the 2-core
            bench host), so a radio-rate RAP publishes every N > 1 blocks or none.
        max_blocks: coherence blocks per work() call, one number or {part name: number}.
        workers: music_localizer (threads sharing MUSIC's work() calls; 2 on two cores
            speeds up 4x4 RAPs).
    """

    def __init__(
        self,
        config: SystemConfig,
        n_sources: int | None = None,
        n_peaks: int | None = None,
        method: str = "fast",
        display_step_deg: float = 4.0,
        association: str = "prior",
        gate_deg: float = 10.0,
        known_height: bool = True,
        msg_interval: int = 1,
        max_blocks: int | Mapping[str, int] = 64,
        workers: int = 1,
    ) -> None:
        cfg = check_config(config)
        music = music_localizer(
            cfg,
            n_sources=n_sources,
            n_peaks=n_peaks,
            method=method,
            display_step_deg=display_step_deg,
            msg_interval=msg_interval,
            max_blocks=part_setting(max_blocks, "music", 64),
            workers=workers,
        )
        parts = {
            "music": music,
            "fusion": fusion(
                cfg,
                n_peaks=music.n_peaks,
                association=association,
                gate_deg=gate_deg,
                known_height=known_height,
                msg_interval=msg_interval,
                max_blocks=part_setting(max_blocks, "fusion", 64),
            ),
        }
        raps = [f"rap{j + 1}" for j in range(cfg.NR)]
        angles = [f"angles{j + 1}" for j in range(cfg.NR)]
        spectra = [f"spectrum{j + 1}" for j in range(cfg.NR)]
        super().__init__(
            "cfisac_rap_side",
            parts,
            inputs=ports_named(music.in_ports, raps)
            + ports_named(parts["fusion"].in_ports, ["geometry"]),
            outputs=parts["fusion"].out_ports + ports_named(music.out_ports, angles + spectra),
            messages={"angles": "music", "position": "fusion"},
        )
        self.cfg = cfg
        self.wiring.connect_by_name("music", "fusion")  # angles
        for part in parts:
            self.export(part)
