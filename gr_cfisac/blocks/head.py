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

A peer that stops: GNU Radio's ZeroMQ stream blocks have no end-of-stream, so a RAP side whose
TAP side ended before ``num_blocks`` would wait for ever. With ``idle_timeout_s`` > 0, a
watchdog calls ``on_idle`` (a top-level flowgraph passes its own ``stop``) once no block has
arrived for that long after the first one, and logs how many blocks it passed; the flowgraph
then ends as if it had reached ``num_blocks`` (its recorders finish their files).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import pmt

from gnuradio import gr

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
        idle_timeout_s: float = 0.0,
        on_idle: Callable[[], object] | None = None,
    ) -> None:
        cfg = check_config(config)
        if not idle_timeout_s >= 0:
            raise ValueError(
                f"head: idle_timeout_s must be >= 0 (0: wait for ever), got {idle_timeout_s}"
            )
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
        self.idle_timeout_s, self.on_idle = float(idle_timeout_s), on_idle
        self.timed_out = False  # True once the watchdog ended the run
        self._last_block: float | None = None  # monotonic time of the last block passed
        self._halt = threading.Event()
        self._watchdog: threading.Thread | None = None

    def start(self) -> bool:
        if self.idle_timeout_s > 0:
            self._halt.clear()
            self._watchdog = threading.Thread(
                target=self._watch, name="cfisac_head idle", daemon=True
            )
            self._watchdog.start()
        return super().start()

    def stop(self) -> bool:
        self._halt.set()
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.join(timeout=2.0)
        return True

    def _watch(self) -> None:
        """End the run (on_idle) once no block has arrived for idle_timeout_s after the first."""
        poll = min(0.25, self.idle_timeout_s / 4)
        while not self._halt.wait(poll):
            last = self._last_block
            if last is None or time.monotonic() - last < self.idle_timeout_s:
                continue
            self.timed_out = True
            gr.logger("cfisac_head").warn(
                f"no coherence block for {self.idle_timeout_s:g} s: the peer has stopped; ending "
                f"after {self.blocks_done} blocks"
                + (f" of the {self.num_blocks} asked for" if self.num_blocks else "")
            )
            if self.on_idle is not None:
                self.on_idle()
            return

    def process(self, cb, ins, outs) -> None:
        self._last_block = time.monotonic()
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
