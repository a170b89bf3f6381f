"""Checks shared by the GRC tests: a GRC block's stream ports against its Python block."""

from __future__ import annotations

import numpy as np

DTYPES = {"complex": np.complex64, "float": np.float32}


def check_shown_stream_ports(blk, instance, block_id: str) -> None:
    """The stream ports GRC shows are the block's, in order (dtype and vlen), and cover every
    port the block requires (hidden ones are optional on both sides)."""
    sides = (
        (blk.sinks, instance.in_ports, instance.input_signature()),
        (blk.sources, instance.out_ports, instance.output_signature()),
    )
    for grc_ports, py_ports, signature in sides:
        streams = [p for p in grc_ports if p.domain == "stream"]
        shown = [p for p in streams if not p.hidden]
        assert all(p.optional for p in streams if p.hidden), block_id
        assert signature.min_streams() <= len(shown) <= len(py_ports), block_id
        for gp, pp in zip(shown, py_ports):
            assert DTYPES[gp.dtype] == pp.dtype, f"{block_id} port {gp.key} ({pp.name})"
            assert int(gp.vlen) == pp.vlen, f"{block_id} port {gp.key} ({pp.name}) vlen"
