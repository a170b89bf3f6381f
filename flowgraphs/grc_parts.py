"""What the scripts writing this folder's .grc flowgraphs share (build_grc.py for the simulation,
cfisac_hil_build.py for the hardware-in-the-loop pair): the .grc writer and the blocks every
flowgraph builds the same way.

The wiring follows DESIGN.md: one port per access point, per-block data on streams. Port
numbers are GRC's: ports with a multiplicity expand in place, numbered in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from gr_cfisac.config import SystemConfig

CFG = SystemConfig()  # the flowgraphs' default network (Table I)
NT, K, NR = CFG.NT, CFG.K, CFG.NR
#: the scenario source's outputs after its 2·NT per-TAP ports (pilots, statistics)
TRUTH, GEOMETRY = 2 * NT, 2 * NT + 1


class Flowgraph:
    """A .grc document: the options block, then blocks and connections in the order added."""

    def __init__(self, fg_id: str, title: str, generate: str, description: str) -> None:
        self.options = {
            "parameters": {
                "author": "gr-cfisac",
                "category": "[cfisac]",
                "description": description,
                "generate_options": generate,
                "id": fg_id,
                "output_language": "python",
                "run": "True",
                "run_options": "run",
                "title": title,
                "window_size": "(1280, 900)",
            },
            "states": {"coordinate": [8, 8], "rotation": 0, "state": "enabled"},
        }
        self.blocks: list[dict] = []
        self.connections: list[list[str]] = []
        self._x, self._y = 8, 160

    def block(self, ident: str, block_id: str, at: tuple[int, int] | None = None, **params) -> str:
        """Add block ``ident`` of GRC type ``block_id`` at ``at`` (else below the last one)."""
        if at is None:
            at = (self._x, self._y)
            self._y += 120
        self.blocks.append(
            {
                "name": ident,
                "id": block_id,
                "parameters": {k: str(v) for k, v in params.items()},
                "states": {"coordinate": list(at), "rotation": 0, "state": "enabled"},
            }
        )
        return ident

    def connect(self, src: str, src_port: int | str, dst: str, dst_port: int | str) -> None:
        """Connect output ``src_port`` of ``src`` to input ``dst_port`` of ``dst``."""
        self.connections.append([src, str(src_port), dst, str(dst_port)])

    def write(self, path: Path) -> None:
        """Write the flowgraph as a .grc file."""
        doc = {
            "options": self.options,
            "blocks": self.blocks,
            "connections": self.connections,
            "metadata": {"file_format": 1, "grc_version": "3.10.5.1"},
        }
        path.write_text(yaml.safe_dump(doc, sort_keys=False, width=100))


def parameters(fg: Flowgraph, rows: Iterable[tuple[str, str, str, str, int]]) -> None:
    """Flowgraph parameters (command-line options), one per row ``(name, type, default,
    label, x)``, along the top of the canvas."""
    for name, kind, value, label, x in rows:
        fg.block(
            name, "parameter", (x, 8), label=label, type=kind, value=value, short_id="", hide="none"
        )


def config(fg: Flowgraph, **params: str) -> None:
    """The ``cfg`` configuration block every cfisac block refers to."""
    fg.block("cfg", "cfisac_config", (200, 8), **params)


def transmit_front_end(
    fg: Flowgraph,
    feeds: Iterable[str],
    user_speed_mps: str,
    geometry: tuple[str, int] = ("scenario", GEOMETRY),
    **precoder_params: str,
) -> None:
    """Scenario, per-TAP MMSE estimation, precoder and transmitter, wired; the transmitter's
    TAP ports feed the same ports of each block named in ``feeds``; the precoder takes the
    sensing geometry from output ``geometry`` (block, port). Needs the flowgraph parameters
    ``num_blocks``, ``seed``, ``algorithm`` and ``sensing_fraction``."""
    fg.block(
        "scenario",
        "cfisac_scenario_source",
        (8, 200),
        config="cfg",
        seed="seed",
        num_blocks="num_blocks",
        scene='"paper"',
        user_speed_mps=user_speed_mps,
        target_speed_mps="0.0",
    )
    fg.block("estimator", "cfisac_pilot_estimator", (300, 200), config="cfg", method='"mmse"')
    fg.block(
        "precoder",
        "cfisac_precoder",
        (600, 200),
        config="cfg",
        algorithm="algorithm",
        sensing_fraction="sensing_fraction",
        sensing_beam='"nullspace"',
        **precoder_params,
    )
    fg.block("transmitter", "cfisac_transmitter", (900, 200), config="cfg", seed="seed + 1")
    feeds = list(feeds)
    for i in range(NT):
        fg.connect("scenario", i, "estimator", i)
        fg.connect("scenario", NT + i, "estimator", NT + i)
        fg.connect("estimator", i, "precoder", i)
        fg.connect("precoder", i, "transmitter", i)
        for dst in feeds:
            fg.connect("transmitter", i, dst, i)
    fg.connect(*geometry, "precoder", NT)


def echo_channel(fg: Flowgraph, at: tuple[int, int]) -> None:
    """The echo channel block (its seed offset is the same in every flowgraph)."""
    fg.block("echo", "cfisac_echo_channel", at, config="cfg", seed="seed + 3")


def localizer(
    fg: Flowgraph, music_at: tuple[int, int], fusion_at: tuple[int, int], **music_params: str
) -> None:
    """MUSIC per RAP (target and clutter sources) and the fusion block, not wired."""
    fg.block(
        "music",
        "cfisac_music_localizer",
        music_at,
        config="cfg",
        **({"n_sources": str(CFG.NC + 1)} | music_params),
    )
    fg.block("fusion", "cfisac_fusion", fusion_at, config="cfg", association='"prior"')


def recorder(
    fg: Flowgraph, at: tuple[int, int], preset: str, streams: Iterable[tuple[str, int]]
) -> None:
    """A CF-ISAC SigMF Sink recording ``preset``'s port groups, its inputs fed in order from
    ``streams`` (block, output port) (gr_cfisac.blocks.sigmf_sink.KIND_ORDER), to the flowgraph
    parameter ``capture`` (folder/NAME). The sink records nothing when ``capture`` is empty
    (its documented off switch: GRC cannot remove a block by a parameter); a rerun overwrites."""
    fg.block(
        "recorder",
        "cfisac_sigmf_sink",
        at,
        config="cfg",
        path="capture",
        preset=preset,
        overwrite="True",
    )
    for port, (src, src_port) in enumerate(streams):
        fg.connect(src, src_port, "recorder", port)
