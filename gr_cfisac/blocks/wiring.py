"""Connect blocks by port name, not port index (the hier blocks and :func:`build_chain`).

Every cfisac block lists its stream ports (``in_ports`` / ``out_ports``, each a named
:class:`~gr_cfisac.blocks._base.Port`), and so do the hier blocks
(:class:`~gr_cfisac.blocks.tap_side.tap_side`, :class:`~gr_cfisac.blocks.rap_side.rap_side`).
A :class:`Wiring` connects named parts of a flowgraph by those names and records every edge
with the indices it resolved: ``flowgraphs/grc_parts.py`` replays the records to draw the same
wiring in a .grc file, so the Python chain and the flowgraphs have one description.

    w = Wiring(self, {"scenario": scenario, "estimator": estimator})
    w.connect(("scenario", "pilots0"), ("estimator", "pilots0"))
    w.connect(("scenario", "truth"), (SELF, "truth"))   # to the hier block's own output
    w.connect_by_name("scenario", "estimator")          # pilots0.., stats0.. alike

Inside a hier block, :data:`SELF` names the block itself: as a source its input ports, as a
destination its output ports (GNU Radio's ``self`` in ``connect``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: The part name of the hier block a Wiring connects inside (its own ports).
SELF = "self"


@dataclass(frozen=True)
class Edge:
    """One stream connection: output ``src_port`` of part ``src`` to input ``dst_port`` of
    part ``dst`` (indices; a SELF source is the hier block's input, a SELF destination its
    output)."""

    src: str
    src_port: int
    dst: str
    dst_port: int


def port_index(block, name: str, output: bool) -> int:
    """Index of the output (``output=True``) or input port called ``name`` of ``block`` (a
    cfisac block or hier block: anything with ``out_ports`` / ``in_ports``)."""
    ports = block.out_ports if output else block.in_ports
    for i, port in enumerate(ports):
        if port.name == name:
            return i
    side = "output" if output else "input"
    raise ValueError(
        f"{block.name()} has no {side} port {name!r}; its {side}s: {[p.name for p in ports]}"
    )


class Wiring:
    """Named parts of one flowgraph (a top block or a hier block), connected by port name."""

    def __init__(self, graph, parts: Mapping[str, object]) -> None:
        if SELF in parts:
            raise ValueError(f"Wiring: {SELF!r} names the graph itself; rename that part")
        self.graph = graph
        self.parts = dict(parts)
        #: every connection made, in order
        self.edges: list[Edge] = []

    def _block(self, part: str):
        if part == SELF:
            return self.graph
        if part not in self.parts:
            raise ValueError(f"Wiring: no part {part!r}; parts: {sorted(self.parts)}")
        return self.parts[part]

    def index(self, part: str, port: str, output: bool) -> int:
        """Port index of ``part``'s output (or input) ``port``; for SELF, ``output`` means the
        graph's own output."""
        return port_index(self._block(part), port, output)

    def connect(self, src: tuple[str, str], dst: tuple[str, str]) -> Edge:
        """Connect ``(part, output name)`` to ``(part, input name)`` and record the edge."""
        s = self.index(src[0], src[1], output=src[0] != SELF)
        d = self.index(dst[0], dst[1], output=dst[0] == SELF)
        self.graph.connect((self._block(src[0]), s), (self._block(dst[0]), d))
        edge = Edge(src[0], s, dst[0], d)
        self.edges.append(edge)
        return edge

    def connect_by_name(self, src: str, dst: str) -> list[Edge]:
        """Connect every output of part ``src`` to the input of part ``dst`` with the same name
        (cfisac ports named alike carry the same thing: ``tap0``, ``truth``, ``geometry``, …);
        refuses a pair with no name in common."""
        outs = self._block(src).in_ports if src == SELF else self._block(src).out_ports
        ins = self._block(dst).out_ports if dst == SELF else self._block(dst).in_ports
        wanted = {p.name for p in ins}
        names = [p.name for p in outs if p.name in wanted]
        if not names:
            raise ValueError(f"Wiring: {src} and {dst} have no port name in common")
        return [self.connect((src, name), (dst, name)) for name in names]

    def internal(self) -> list[Edge]:
        """The edges between parts (neither end the graph itself)."""
        return [e for e in self.edges if SELF not in (e.src, e.dst)]

    def source_of(self, output: int) -> tuple[str, int]:
        """``(part, port)`` that feeds the graph's own output ``output``."""
        for e in self.edges:
            if e.dst == SELF and e.dst_port == output:
                return e.src, e.src_port
        raise ValueError(f"Wiring: output {output} of the graph is fed by no part")

    def sinks_of(self, input_: int) -> list[tuple[str, int]]:
        """``(part, port)`` of every part fed by the graph's own input ``input_``."""
        return [(e.dst, e.dst_port) for e in self.edges if e.src == SELF and e.src_port == input_]


def flatten(wiring: Wiring) -> list[Edge]:
    """The edges between the blocks of a flowgraph whose parts include hier blocks (parts with
    their own ``wiring``, e.g. a :class:`~gr_cfisac.blocks.hier.HierBlock`; one level): first
    every hier part's inside, then the graph's edges with each hier end replaced by the parts
    behind it, named by their part names (which must not repeat across the hier blocks)."""
    hiers = {name: b.wiring for name, b in wiring.parts.items() if hasattr(b, "wiring")}
    edges = [e for w in hiers.values() for e in w.internal()]
    for e in wiring.edges:
        srcs = [hiers[e.src].source_of(e.src_port)] if e.src in hiers else [(e.src, e.src_port)]
        dsts = hiers[e.dst].sinks_of(e.dst_port) if e.dst in hiers else [(e.dst, e.dst_port)]
        edges += [Edge(s, sp, d, dp) for s, sp in srcs for d, dp in dsts]
    return edges
