"""What the cfisac hier blocks share: named parts wired by port name, ports listed like a block's.

A :class:`HierBlock` lists its own stream ports as ``in_ports`` / ``out_ports`` (named
:class:`~gr_cfisac.blocks._base.Port`, the convention every cfisac block follows), so a
flowgraph connects it by name (:class:`~gr_cfisac.blocks.wiring.Wiring`) like any cfisac
block; its parts are attributes (``tap.precoder``) and its ``wiring`` records how they are
connected, which ``flowgraphs/grc_parts.py`` replays when it draws the same blocks in a .grc.

GNU Radio's hier blocks have a fixed number of ports. An output may still be left unconnected
when its part's port also feeds another part inside (GNU Radio then drops the edge); one that
feeds nothing inside must be connected (or sent to a null sink), as for the part itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from gnuradio import gr

from ._base import Port
from .wiring import SELF, Wiring


def io_signature(ports: Sequence[Port]) -> gr.io_signature:
    """A fixed GNU Radio io signature with one stream per port (item size dtype x vlen)."""
    if not ports:
        return gr.io_signature(0, 0, 0)
    sizes = [np.dtype(p.dtype).itemsize * p.vlen for p in ports]
    return gr.io_signature.makev(len(sizes), len(sizes), sizes)


def part_setting(value: int | Mapping[str, int], part: str, default: int) -> int:
    """A per-part setting given as one number for all parts or as {part: number} (parts it
    does not name get ``default``)."""
    return int(value.get(part, default)) if isinstance(value, Mapping) else int(value)


def ports_named(ports: Sequence[Port], names: Sequence[str]) -> list[Port]:
    """The ports called ``names``, in that order (a hier block's ports are its parts')."""
    by_name = {p.name: p for p in ports}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ValueError(f"no port {missing}; the ports: {list(by_name)}")
    return [by_name[n] for n in names]


class HierBlock(gr.hier_block2):
    """A GNU Radio hier block made of named cfisac parts, with named ports and mirrored
    message ports (``messages``: port name -> the part that publishes it)."""

    def __init__(
        self,
        name: str,
        parts: Mapping[str, gr.basic_block],
        inputs: Sequence[Port],
        outputs: Sequence[Port],
        messages: Mapping[str, str],
    ) -> None:
        gr.hier_block2.__init__(self, name, io_signature(inputs), io_signature(outputs))
        self.in_ports = list(inputs)
        self.out_ports = list(outputs)
        self.parts = dict(parts)
        for part, block in self.parts.items():
            setattr(self, part, block)
        #: how the parts are connected, by port name (what the .grc builders replay)
        self.wiring = Wiring(self, self.parts)
        for port, part in messages.items():
            self.message_port_register_hier_out(port)
            self.msg_connect(self.parts[part], port, self, port)

    def export(self, part: str) -> None:
        """Feed the hier block's outputs from ``part``'s outputs of the same names, and
        ``part``'s inputs from the hier block's inputs of the same names."""
        outs = {p.name for p in self.out_ports}
        if outs & {p.name for p in self.parts[part].out_ports}:
            self.wiring.connect_by_name(part, SELF)
        ins = {p.name for p in self.in_ports}
        if ins & {p.name for p in self.parts[part].in_ports}:
            self.wiring.connect_by_name(SELF, part)

    @property
    def blocks(self) -> list[gr.basic_block]:
        """The parts, in signal order."""
        return list(self.parts.values())

    def errors(self) -> dict[str, Exception]:
        """Parts that stopped the flowgraph with an error: name -> exception."""
        return {b.name(): b.error for b in self.blocks if b.error is not None}
