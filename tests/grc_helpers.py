"""What the GRC tests share: a GRC block in a flowgraph with a config variable, and a check of its
stream ports against its Python block."""

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


def grc_block(
    platform, block_id: str, network: dict, config_block: str = "cfisac_config", **params
):
    """A GRC block ``blk`` in a flowgraph with a config variable ``cfg`` (``config_block``:
    cfisac_config or cfisac_coisac_config, its parameters ``network``), rewritten until
    evaluated; the config variable must be valid. -> (flowgraph, block)."""
    fg = platform.make_flow_graph()
    cfg_block = fg.new_block(config_block)
    cfg_block.params["id"].set_value("cfg")
    for k, v in network.items():
        cfg_block.params[k].set_value(v)
    blk = fg.new_block(block_id)
    blk.params["id"].set_value("blk")
    for k, v in params.items():
        blk.params[k].set_value(v)
    for _ in range(3):  # GRC evaluates ports against the namespace of the previous pass
        fg.rewrite()
    assert cfg_block.is_valid(), cfg_block.get_error_messages()
    return fg, blk
