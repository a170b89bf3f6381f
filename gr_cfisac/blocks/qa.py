"""Run one cfisac block on a real gr.top_block with numpy data in and out (QA tests, notebooks).

    outs = run_block(pilot_estimator(cfg), [pilots_0, ..., stats_7])

Each input is an array (blocks, per_block, vlen) fed by a vector source that tags the first
item of every coherence block with ``cb``; each output is collected by a vector sink and
returned as (blocks, per_block, vlen) together with its tags.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pmt

from gnuradio import blocks, gr

from ._base import CB_KEY, CoherenceBlock

_SOURCES = {
    np.dtype(np.complex64): blocks.vector_source_c,
    np.dtype(np.float32): blocks.vector_source_f,
}
_SINKS = {np.dtype(np.complex64): blocks.vector_sink_c, np.dtype(np.float32): blocks.vector_sink_f}


def run_with_timeout(tb: gr.top_block, seconds: float = 60.0) -> None:
    """tb.run(), raising TimeoutError (after stopping it) if the flowgraph does not end."""
    tb.start()
    waiter = threading.Thread(target=tb.wait, daemon=True)
    waiter.start()
    waiter.join(seconds)
    if waiter.is_alive():
        tb.stop()
        waiter.join(10)
        raise TimeoutError(f"the flowgraph did not end within {seconds} s")


def cb_tags(n_blocks: int, per_block: int, first_cb: int = 0) -> list:
    """``cb`` tags on the first item of each of n_blocks blocks."""
    tags = []
    for b in range(n_blocks):
        t = gr.tag_t()
        t.offset = b * per_block
        t.key = CB_KEY
        t.value = pmt.from_uint64(first_cb + b)
        tags.append(t)
    return tags


def source_for(data: np.ndarray, per_block: int, tagged: bool = True, first_cb: int = 0):
    """A vector source emitting data (blocks, per_block, vlen) with cb tags."""
    data = np.asarray(data)
    vlen = data.shape[-1]
    dtype = np.dtype(np.float32) if np.isrealobj(data) else np.dtype(np.complex64)
    n = data.shape[0]
    tags = cb_tags(n, per_block, first_cb) if tagged else []
    return _SOURCES[dtype](data.astype(dtype).ravel().tolist(), False, vlen, tags)


@dataclass
class Output:
    data: np.ndarray  # (blocks, per_block, vlen)
    tags: list  # gr tags seen by the sink

    def cb(self) -> list[tuple[int, int]]:
        """(offset, value) of every cb tag."""
        return [(t.offset, pmt.to_uint64(t.value)) for t in self.tags if pmt.eq(t.key, CB_KEY)]


def run_block(
    block: CoherenceBlock,
    inputs: list[np.ndarray],
    n_outputs: int | None = None,
    tagged: bool = True,
    extra=None,
) -> list[Output]:
    """Feed ``inputs`` to the block's first len(inputs) ports, collect its first n_outputs
    outputs (default: all), run to completion. ``extra(tb, block)`` may connect more."""
    tb = gr.top_block()
    for i, data in enumerate(inputs):
        tb.connect(source_for(data, block.in_ports[i].per_block, tagged), (block, i))
    n_outputs = len(block.out_ports) if n_outputs is None else n_outputs
    sinks = []
    for o in range(n_outputs):
        p = block.out_ports[o]
        sink = _SINKS[np.dtype(p.dtype)](p.vlen)
        tb.connect((block, o), sink)
        sinks.append(sink)
    if extra is not None:
        extra(tb, block)
    tb.run()
    if block.error is not None:
        raise block.error
    out = []
    for o, sink in enumerate(sinks):
        p = block.out_ports[o]
        data = np.asarray(sink.data(), dtype=p.dtype).reshape(-1, p.per_block, p.vlen)
        out.append(Output(data, list(sink.tags())))
    return out
