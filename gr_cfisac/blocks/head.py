"""Head: aligns streams that joined at different coherence blocks and passes ``num_blocks``.

The cfisac counterpart of GNU Radio's Head block, for the point where a flowgraph's streams
come in from a peer (the ZeroMQ sources of a hardware-in-the-loop RAP side): put it between
those sources and everything else. Started against a peer that is already streaming, each
stream reaches it from a different block, some in the middle of one; the head drops the
partial blocks and the blocks of the streams that are behind, and starts every stream at the
latest stream's first block (the join of :class:`~gr_cfisac.blocks._base.CoherenceBlock`, one
info line). It then passes the same ``num_blocks`` coherence blocks (0: no limit) on every port
and ends, so every block downstream gets the same blocks and ends after them. Counting
elsewhere does not work for a late join: a GNU Radio Head per stream counts items from where
that stream joined, and a limit on each consumer counts from where that consumer's own inputs
align (MUSIC, fed by the RAP streams only, starts hundreds of blocks before the fusion block
that also waits for the geometry stream).

Ports: the groups of :mod:`gr_cfisac.blocks.sigmf_sink` (``rap_echo``, ``truth``, ``geometry``,
``tap_pilots``, ``stats``, ``tap_downlink``, ``estimate``), counts as in the sink or a
``preset``; output i carries input i from the aligned start, with a ``cb`` tag on the first
item of every block and this block's ``cfisac_config`` tag on the first item. The other tags
of the passed items are passed at their items.
"""

from __future__ import annotations

import numpy as np
import pmt

from ..config import SystemConfig
from ._base import CB_KEY, CONFIG_KEY, CoherenceBlock, Port, check_config
from .sigmf_sink import KIND_ORDER, preset_counts, stream_kind


class head(CoherenceBlock):  # noqa: N801 - GNU Radio block naming
    """Align streams that joined running streams and pass ``num_blocks`` coherence blocks."""

    def __init__(
        self,
        config: SystemConfig,
        num_blocks: int = 0,
        rap_echo: int = 0,
        truth: bool = False,
        geometry: bool = False,
        tap_pilots: int = 0,
        stats: int = 0,
        tap_downlink: int = 0,
        estimate: int = 0,
        preset: str = "",
        max_blocks: int = 64,
    ) -> None:
        cfg = check_config(config)
        counts = {
            "rap_echo": int(rap_echo),
            "truth": int(bool(truth)),
            "geometry": int(bool(geometry)),
            "tap_pilots": int(tap_pilots),
            "stats": int(stats),
            "tap_downlink": int(tap_downlink),
            "estimate": int(estimate),
        }
        if preset:
            counts = preset_counts(cfg, preset)
        limits = preset_counts(cfg, "all")
        for kind, n in counts.items():
            if not 0 <= n <= limits[kind]:
                raise ValueError(f"head: {kind} must be in 0..{limits[kind]}, got {n}")
        if sum(counts.values()) == 0:
            raise ValueError("head: pass at least one stream (e.g. rap_echo=NR)")
        ports = []
        for kind in KIND_ORDER:
            spec = stream_kind(cfg, kind)
            ports += [
                Port(f"{kind}{j}", np.complex64, spec.vlen, spec.per_block)
                for j in range(counts[kind])
            ]
        super().__init__(
            "cfisac_head", cfg, ports, ports, max_blocks=max_blocks, num_blocks=num_blocks
        )

    def process(self, cb, ins, outs) -> None:
        for p, (src, dst) in enumerate(zip(ins, outs)):
            dst[:] = src
            self._pass_tags(p, src.shape[0] * src.shape[1])

    def _pass_tags(self, port: int, n_items: int) -> None:
        """Every tag but cb and cfisac_config of this call's items, at the same output item."""
        shift = self.nitems_written(port) - self.nitems_read(port)
        for tag in self.get_tags_in_window(port, 0, n_items):
            if pmt.eq(tag.key, CB_KEY) or pmt.eq(tag.key, CONFIG_KEY):
                continue
            self.add_item_tag(port, tag.offset + shift, tag.key, tag.value, tag.srcid)
