"""What the scripts writing this folder's .grc flowgraphs share (build_grc.py for the simulation,
cfisac_hil_build.py for the hardware-in-the-loop pair): the .grc writer, the transmit front end
and the wiring, all taken from the blocks' own Python so there is one description of each.

The wiring follows DESIGN.md: one port per access point, per-block data on streams. Ports are
named by the blocks' own port names (``out(block, "truth")``), never counted: GRC numbers a
block's ports in the order the block lists them (ports with a multiplicity expand in place),
so a name resolved on a reference instance (built here with the default network) is the GRC
port. The simulation draws the chain that ``gr_cfisac.blocks.build_chain`` wires, edge for
edge (:func:`chain_edges`); the TAP side (:class:`gr_cfisac.blocks.tap_side`) is its transmit
front end, drawn block by block there (:func:`transmit_front_end`) and as one CF-ISAC TAP Side
block in the hardware-in-the-loop pair (:func:`tap_side_block`), with the same parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

import yaml

from gnuradio import gr
from gr_cfisac.blocks.chain import SEED_OFFSETS, Chain, build_chain
from gr_cfisac.blocks.wiring import Edge, Wiring, flatten, port_index
from gr_cfisac.config import SystemConfig

CFG = SystemConfig()  # the flowgraphs' default network (Table I)
NT, K, NR = CFG.NT, CFG.K, CFG.NR


@cache
def reference_chain() -> Chain:
    """build_chain on the default network (never run): the blocks whose port names give GRC's
    port numbers, and the wiring the simulation flowgraphs draw."""
    return build_chain(gr.top_block(), CFG, num_blocks=1, n_sources=0)


def out(block, name: str) -> int:
    """GRC port number of ``block``'s output called ``name``."""
    return port_index(block, name, output=True)


def inp(block, name: str) -> int:
    """GRC port number of ``block``'s input called ``name``."""
    return port_index(block, name, output=False)


def seed(part: str) -> str:
    """The GRC expression of a part's seed (the chain's offsets from the ``seed`` parameter)."""
    offset = SEED_OFFSETS[part]
    return f"seed + {offset}" if offset else "seed"


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


#: where the simulation flowgraphs draw the TAP side's parts
FRONT_END_AT = {"scenario": (8, 200), "estimator": (300, 200), "precoder": (600, 200)}
FRONT_END_AT |= {"transmitter": (900, 200)}


def front_end_params(user_speed_mps: str, **precoder_params: str) -> dict[str, dict[str, str]]:
    """The transmit front end's GRC parameters, per part of the TAP side (scenario, estimator,
    precoder, transmitter; the CF-ISAC TAP Side block takes the same names). Needs the
    flowgraph parameters ``num_blocks``, ``seed``, ``algorithm`` and ``sensing_fraction``."""
    return {
        "scenario": {
            "seed": seed("scenario"),
            "num_blocks": "num_blocks",
            "scene": '"paper"',
            "user_speed_mps": user_speed_mps,
            "target_speed_mps": "0.0",
        },
        "estimator": {"method": '"mmse"'},
        "precoder": {
            "algorithm": "algorithm",
            "sensing_fraction": "sensing_fraction",
            "sensing_beam": '"nullspace"',
            **precoder_params,
        },
        "transmitter": {"seed": seed("transmitter")},
    }


def transmit_front_end(fg: Flowgraph, user_speed_mps: str, **precoder_params: str) -> None:
    """The TAP side's parts drawn block by block, ids as its part names (wired by
    :func:`draw`)."""
    tap = reference_chain().tap
    for part, params in front_end_params(user_speed_mps, **precoder_params).items():
        fg.block(part, tap.parts[part].name(), FRONT_END_AT[part], config="cfg", **params)


def tap_side_block(
    fg: Flowgraph, at: tuple[int, int], user_speed_mps: str, **precoder_params: str
) -> str:
    """The transmit front end as one CF-ISAC TAP Side block ``tap``, with the parameters
    :func:`transmit_front_end` gives its parts (the block derives the transmitter's seed)."""
    parts = front_end_params(user_speed_mps, **precoder_params)
    parts.pop("transmitter")
    params = {k: v for p in parts.values() for k, v in p.items()}
    return fg.block("tap", "cfisac_tap_side", at, config="cfg", **params)


def chain_edges() -> list[Edge]:
    """build_chain's connections between the blocks the simulation draws (the TAP and RAP
    sides' parts by their part names, the other blocks by build_chain's)."""
    return flatten(reference_chain().wiring)


def draw(
    fg: Flowgraph,
    edges: Iterable[Edge],
    sources: Mapping[tuple[str, int], tuple[str, int]] | None = None,
) -> None:
    """Draw ``edges``, each fed from ``sources[(block, port)]`` where given (e.g. a throttle
    in front of a stream) and from its own source otherwise."""
    sources = sources or {}
    for e in edges:
        fg.connect(*sources.get((e.src, e.src_port), (e.src, e.src_port)), e.dst, e.dst_port)


class _GrcGraph:
    """What a Wiring connects through: draws each connection into a Flowgraph, the blocks
    named by their part names."""

    def __init__(self, fg: Flowgraph, parts: Mapping[str, object]) -> None:
        self.fg = fg
        self.names = {id(block): name for name, block in parts.items()}

    def connect(self, src: tuple[object, int], dst: tuple[object, int]) -> None:
        self.fg.connect(self.names[id(src[0])], src[1], self.names[id(dst[0])], dst[1])


def grc_wiring(fg: Flowgraph, parts: Mapping[str, object]) -> Wiring:
    """A Wiring that draws into ``fg``: ``parts`` are reference instances of the flowgraph's
    blocks of the same ids (their port names give the GRC port numbers)."""
    return Wiring(_GrcGraph(fg, parts), parts)


def echo_channel(fg: Flowgraph, at: tuple[int, int]) -> None:
    """The echo channel block (the chain's seed offset)."""
    fg.block("echo", "cfisac_echo_channel", at, config="cfg", seed=seed("echo"))


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


def clean_exit(fg: Flowgraph, at: tuple[int, int]) -> None:
    """Snippets of a no-GUI template's process end (gr_cfisac.blocks.process_exit): a Python
    stack of every thread on a crash, SIGINT/SIGTERM that only stop the flowgraph (main()'s
    one wait then returns), and the Python threads joined after the stop, before GRC's main()
    exits (after any other main_after_stop snippet)."""
    fg.block(
        "crash_report",
        "snippet",
        at,
        section="init_before_blocks",
        priority="1",
        code="from gr_cfisac.blocks.process_exit import report_crashes\nreport_crashes()",
    )
    fg.block(
        "stop_on_signal",
        "snippet",
        (at[0], at[1] + 200),
        section="main_after_start",
        priority="0",
        code="from gr_cfisac.blocks.process_exit import stop_on_signal\nstop_on_signal(self)",
    )
    fg.block(
        "join_threads",
        "snippet",
        (at[0], at[1] + 100),
        section="main_after_stop",
        priority="-9",  # GRC runs a section's snippets by descending priority: last
        code="from gr_cfisac.blocks.process_exit import join_threads\njoin_threads()",
    )
