"""The flowgraphs ``cfisac bench realtime`` times, and their batched-core twins.

Each part of the network runs twice over the same coherence blocks:

- as a GNU Radio flowgraph of the cfisac blocks (their threads, buffers, tags, scheduler),
- as the same work in one thread: every block's ``process()`` (the numerical core's functions
  plus the item packing the streams need) called directly on ``BATCH`` blocks at a time, the
  outputs of one fed to the next by port name, no GNU Radio in between.

The ratio of the two is what GNU Radio's plumbing costs once the work is batched.

Parts (:func:`build`): ``chain`` (build_chain: the whole simulated network, sensing on);
``tap`` (what a radio TAP runs: recorded pilots, statistics and sensing geometry from C++
vector sources -> pilot_estimator -> precoder -> transmitter -> null sinks); ``tap_sim`` (the
tap_side hier block, its simulated scenario included); ``rap`` (what a radio RAP runs:
recorded echoes and geometry -> rap_side, MUSIC + fusion). "Recorded" items are made once by
the simulated blocks (:func:`recorded_items`) and repeated from a pool of POOL blocks.

Throughput is the steady state: a thread samples the last block's ``blocks_done`` every few
ms, and blocks/s is the slope from its first completed call to the end (start-up and the first
batch left out, as the twin leaves out its warm-up batch). Latency (:func:`tap_latency`): a
source hands the estimator one block of pilots at a time, when the previous W has come out,
and a probe on W stamps each block's arrival.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gnuradio import blocks, gr

from .. import blas
from ..blocks import (
    build_chain,
    downlink_channel,
    echo_channel,
    fusion,
    metrics_sink,
    music_localizer,
    pilot_estimator,
    precoder,
    rap_side,
    scenario_source,
    tap_side,
    transmitter,
)
from ..config import SystemConfig
from .realtime import DEFAULT_BLOCKS_PER_CALL

#: coherence blocks per work() call (the blocks' max_blocks) and per twin call, by default
BATCH = DEFAULT_BLOCKS_PER_CALL
#: distinct recorded blocks the sources repeat
POOL = 64
#: seconds between samples of the last block's progress
POLL_S = 0.003
#: every part build() knows
PARTS = ("chain", "tap", "tap_sim", "rap")


# ---------------------------------------------------------------------------- memory
def reset_peak_rss() -> bool:
    """Reset the process's peak RSS (Linux: ``5 > /proc/self/clear_refs``); False if it
    cannot be, and :func:`peak_rss_mb` then reports the peak since the process started."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _status_mb(field: str) -> float | None:
    """A memory field of /proc/self/status in MiB (None where there is none)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """Peak resident set size (VmHWM) of this process in MiB since the last reset."""
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """Resident set size of this process now, in MiB (0 where /proc is not there)."""
    return _status_mb("VmRSS") or 0.0


# ---------------------------------------------------------------------------- twins
@dataclass
class Stage:
    """One block of a twin: its process() gets the inputs named like its in_ports (those
    present, in order) and fills its first ``outputs`` out_ports."""

    block: Any
    outputs: int


def call_stage(stage: Stage, cb: np.ndarray, items: dict[str, np.ndarray]) -> None:
    """Run one stage on blocks ``cb``: reads its inputs from ``items``, adds its outputs."""
    block, n = stage.block, len(cb)
    ins = [items[p.name] for p in block.in_ports if p.name in items]
    ports = block.out_ports[: stage.outputs]
    outs = [np.empty((n, p.per_block, p.vlen), p.dtype) for p in ports]
    block.process(cb, ins, outs)
    items.update({p.name: o for p, o in zip(ports, outs)})


def run_twin(
    stages: Sequence[Stage],
    n_blocks: int,
    feeds: dict[str, np.ndarray] | None = None,
    batch: int = BATCH,
) -> dict[str, Any]:
    """The stages' work on n_blocks coherence blocks, ``batch`` per call, in this thread (BLAS
    limited as in a block thread). ``feeds``: recorded items (POOL, per_block, vlen) by port
    name, repeated. The first batch is a warm-up. -> blocks, seconds, blocks_per_s."""
    blas.enter_block_thread()
    feeds = feeds or {}
    pool = min((len(v) for v in feeds.values()), default=0)

    def call(first: int, n: int) -> None:
        cb = np.arange(first, first + n, dtype=np.int64)
        rows = cb % pool if pool else None
        items = {k: v[rows] for k, v in feeds.items()}
        for stage in stages:
            call_stage(stage, cb, items)

    call(0, batch)
    t0 = time.perf_counter()
    for first in range(batch, batch + n_blocks, batch):
        call(first, min(batch, batch + n_blocks - first))
    seconds = time.perf_counter() - t0
    return {"blocks": n_blocks, "seconds": seconds, "blocks_per_s": n_blocks / seconds}


def recorded_items(cfg: SystemConfig, n: int = POOL, seed: int = 7) -> dict[str, np.ndarray]:
    """n blocks of what the simulated network puts on its streams (scenario, estimates, ZF
    beams, transmitted samples, echoes), by port name: the recordings the radio-side parts
    replay."""
    items: dict[str, np.ndarray] = {}
    cb = np.arange(n, dtype=np.int64)
    for stage in _simulated_tap(cfg, "zf", seed) + [
        Stage(echo_channel(cfg, seed=seed + 3, max_blocks=BATCH), cfg.NR)
    ]:
        call_stage(stage, cb, items)
    return items


def _simulated_tap(cfg: SystemConfig, algorithm: str, seed: int = 1, batch: int = BATCH
                   ) -> list[Stage]:  # fmt: skip
    est, prec, tx = _radio_tap_blocks(cfg, algorithm, seed, batch)
    scen = scenario_source(cfg, seed=seed, max_blocks=batch)
    return [Stage(scen, len(scen.out_ports)), Stage(est, cfg.NT), Stage(prec, cfg.NT + 1),
            Stage(tx, cfg.NT + 1)]  # fmt: skip


def _radio_tap_blocks(cfg: SystemConfig, algorithm: str, seed: int = 1, batch: int = BATCH):
    est = pilot_estimator(cfg, max_blocks=batch)
    prec = precoder(cfg, algorithm, sensing_fraction=0.3, msg_interval=0, max_blocks=batch)
    tx = transmitter(cfg, seed=seed + 1, max_blocks=batch)
    return est, prec, tx


def _rap_blocks(cfg: SystemConfig, n_sources: int, method: str, batch: int = BATCH,
                workers: int = 1):  # fmt: skip
    music = music_localizer(cfg, n_sources=n_sources, method=method, msg_interval=0,
                            max_blocks=batch, workers=workers)  # fmt: skip
    fuse = fusion(cfg, n_peaks=music.n_peaks, msg_interval=0, max_blocks=batch)
    return music, fuse


def twin_stages(part: str, cfg: SystemConfig, algorithm: str = "zf", n_sources: int = 0,
                method: str = "fast", batch: int = BATCH, workers: int = 1
                ) -> list[Stage]:  # fmt: skip
    """The stages of a part's twin, built like the flowgraph's blocks (``batch``: their
    max_blocks; ``workers``: the RAP side's MUSIC threads, as in the flowgraph)."""
    if part == "tap":
        est, prec, tx = _radio_tap_blocks(cfg, algorithm, batch=batch)
        return [Stage(est, cfg.NT), Stage(prec, cfg.NT + 1), Stage(tx, cfg.NT + 1)]
    if part == "tap_sim":
        return _simulated_tap(cfg, algorithm, batch=batch)
    if part == "rap":
        return _rap_stages(cfg, n_sources, method, batch, workers)
    if part == "chain":
        return _simulated_tap(cfg, algorithm, batch=batch) + [
            Stage(downlink_channel(cfg, seed=3, max_blocks=batch), cfg.K),
            Stage(echo_channel(cfg, seed=4, max_blocks=batch), cfg.NR),
            *_rap_stages(cfg, n_sources, method, batch),
            Stage(metrics_sink(cfg, msg_interval=0, max_blocks=batch), 0),
        ]
    raise ValueError(f"part must be one of {PARTS}, got {part!r}")


def _rap_stages(cfg: SystemConfig, n_sources: int, method: str, batch: int = BATCH,
                workers: int = 1) -> list[Stage]:  # fmt: skip
    music, fuse = _rap_blocks(cfg, n_sources, method, batch, workers)
    return [Stage(music, cfg.NR), Stage(fuse, 1)]


# ---------------------------------------------------------------------------- flowgraphs
@dataclass
class Graph:
    """A flowgraph ready to run: its top block, the block whose progress counts, the cfisac
    blocks to check for errors."""

    tb: gr.top_block
    last: Any
    parts: list

    def errors(self) -> dict[str, Exception]:
        return {b.name(): b.error for b in self.parts if getattr(b, "error", None) is not None}


def _source(tb: gr.top_block, data: np.ndarray, dst, batch: int = BATCH) -> None:
    """A repeating C++ vector source of recorded items (POOL, per_block, vlen) into dst, its
    buffer sized like a cfisac block's (2 ``batch`` coherence blocks: GNU Radio's default holds a
    few, and the reader would then be called with a few blocks at a time)."""
    per_block, vlen = data.shape[1], data.shape[-1]
    src = blocks.vector_source_c(np.ascontiguousarray(data, np.complex64).ravel(), True, vlen)
    src.set_log_level("warning")  # not an info line per source about its buffer
    src.set_min_output_buffer(2 * batch * per_block)
    tb.connect(src, dst)


def _null(tb: gr.top_block, block, port) -> None:
    p = block.out_ports[port]
    tb.connect((block, port), blocks.null_sink(np.dtype(p.dtype).itemsize * p.vlen))


def build(part: str, cfg: SystemConfig, n_blocks: int, items: dict[str, np.ndarray] | None = None,
          algorithm: str = "zf", n_sources: int = 0, method: str = "fast", batch: int = BATCH,
          workers: int = 1) -> Graph:  # fmt: skip
    """The flowgraph of ``part`` (PARTS) for n_blocks coherence blocks. ``items``: recorded
    items (:func:`recorded_items`) for the radio-side parts; ``batch``: the blocks'
    max_blocks (coherence blocks per work() call at most); ``workers``: the RAP side's
    MUSIC threads (rap_side)."""
    tb = gr.top_block()
    if part == "chain":
        chain = build_chain(tb, cfg, num_blocks=n_blocks, algorithm=algorithm,
                            sensing_fraction=0.3, n_sources=n_sources, max_blocks=batch)  # fmt: skip
        return Graph(tb, chain.metrics, chain.blocks)
    if items is None and part in ("tap", "rap"):
        raise ValueError(f"part {part!r} replays recorded items: pass items=recorded_items(cfg)")
    if part == "tap":
        est, prec, tx = _radio_tap_blocks(cfg, algorithm, batch=batch)
        est.num_blocks = n_blocks  # ends the sources (its only readers) after n_blocks
        for i, p in enumerate(est.in_ports):
            _source(tb, items[p.name], (est, i), batch)
        for i in range(cfg.NT):
            tb.connect((est, i), (prec, i))
            tb.connect((prec, i), (tx, i))
        _source(tb, items["geometry"], (prec, cfg.NT), batch)
        _null(tb, prec, cfg.NT)
        for o in range(cfg.NT + 1):
            _null(tb, tx, o)
        return Graph(tb, tx, [est, prec, tx])
    if part == "tap_sim":
        tap = tap_side(cfg, num_blocks=n_blocks, algorithm=algorithm, sensing_fraction=0.3,
                       msg_interval=0, max_blocks=batch)  # fmt: skip
        for o, p in enumerate(tap.out_ports):
            if p.name.startswith(("tap", "symbols", "truth", "W")):
                _null(tb, tap, o)
        return Graph(tb, tap.transmitter, tap.blocks)
    if part == "rap":
        rap = rap_side(cfg, n_sources=n_sources, method=method, msg_interval=0, max_blocks=batch,
                       workers=workers)  # fmt: skip
        rap.music.num_blocks = rap.fusion.num_blocks = n_blocks
        for i, p in enumerate(rap.in_ports):
            _source(tb, items[p.name], (rap, i), batch)
        _null(tb, rap, 0)
        return Graph(tb, rap.fusion, rap.blocks)
    raise ValueError(f"part must be one of {PARTS}, got {part!r}")


def run_graph(graph: Graph, n_blocks: int, timeout_s: float = 600.0, batch: int = BATCH
              ) -> dict[str, Any]:  # fmt: skip
    """Run a flowgraph to its end -> blocks, seconds (start to end), blocks_per_s (steady
    state: the last block's progress from its first call to the end, see the module doc)."""
    samples: list[tuple[float, int]] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            samples.append((time.perf_counter(), graph.last.blocks_done))
            done.wait(POLL_S)

    t0 = time.perf_counter()
    graph.tb.start()
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    waiter = threading.Thread(target=graph.tb.wait, daemon=True)
    waiter.start()
    waiter.join(timeout_s)
    t_end = time.perf_counter()
    done.set()
    poller.join()
    if waiter.is_alive():
        graph.tb.stop()
        waiter.join(10)
        raise TimeoutError(f"the flowgraph did not finish {n_blocks} blocks in {timeout_s} s")
    if graph.errors():
        raise RuntimeError(f"the flowgraph stopped: {graph.errors()}")
    finished = graph.last.blocks_done
    if finished != n_blocks:
        raise RuntimeError(f"the flowgraph ended after {finished} of {n_blocks} blocks")
    started = [(t, b) for t, b in samples if b > 0]
    steady = None
    # a steady state needs most blocks after the first call (else: start to end)
    if started and finished - started[0][1] >= max(batch, finished // 2):
        t_first, b_first = started[0]
        t_last = next((t for t, b in samples if b >= finished), t_end)
        steady = (finished - b_first) / max(t_last - t_first, 1e-9)
    seconds = t_end - t0
    return {
        "blocks": n_blocks,
        "seconds": seconds,
        "wall_blocks_per_s": n_blocks / seconds,
        "blocks_per_s": steady if steady is not None else n_blocks / seconds,
    }


# ---------------------------------------------------------------------------- latency
class PilotFeed(gr.basic_block):
    """Source of recorded TAP inputs (pilots x NT, stats x NT, geometry), one coherence block
    per call and only once ``ready`` is set (by the probe, when the previous W came out);
    stamps when each block is handed over (``sent``, perf_counter seconds)."""

    def __init__(self, est_ports, geometry_port, items: dict[str, np.ndarray], n_blocks: int):
        ports = [*est_ports, geometry_port]
        gr.basic_block.__init__(self, name="realtime_pilot_feed", in_sig=None,
                                out_sig=[(p.dtype, p.vlen) for p in ports])  # fmt: skip
        self.ports = ports
        self.items = [np.ascontiguousarray(items[p.name]) for p in ports]
        self.n_blocks = int(n_blocks)
        self.ready = threading.Event()
        self.ready.set()
        self.sent: list[float] = []
        for o, p in enumerate(ports):
            self.set_min_output_buffer(o, 2 * BATCH * p.per_block)

    def general_work(self, input_items, output_items):
        if len(self.sent) >= self.n_blocks:
            return gr.WORK_DONE
        if not self.ready.wait(0.05):
            return 0
        if any(len(out) < p.per_block for out, p in zip(output_items, self.ports)):
            return 0
        row = len(self.sent) % len(self.items[0])
        self.ready.clear()
        for o, (out, p) in enumerate(zip(output_items, self.ports)):
            out[: p.per_block] = self.items[o][row]
        self.sent.append(time.perf_counter())  # the block's last pilot sample is in
        for o, p in enumerate(self.ports):
            self.produce(o, p.per_block)
        return gr.WORK_CALLED_PRODUCE


class ArrivalProbe(gr.sync_block):
    """Sink that stamps the arrival of every item (one per coherence block) and sets
    ``ready`` for the next."""

    def __init__(self, vlen: int, ready: threading.Event):
        gr.sync_block.__init__(self, name="realtime_arrival_probe",
                               in_sig=[(np.complex64, vlen)], out_sig=None)  # fmt: skip
        self.ready = ready
        self.arrived: list[float] = []

    def work(self, input_items, output_items):
        now = time.perf_counter()
        self.arrived.extend([now] * len(input_items[0]))
        self.ready.set()
        return len(input_items[0])


def tap_latency(cfg: SystemConfig, items: dict[str, np.ndarray], algorithm: str,
                n_blocks: int, timeout_s: float = 300.0) -> dict[str, Any]:  # fmt: skip
    """One block in flight at a time: "latency_s" (n_blocks,), seconds from each block's last
    pilot sample handed to the estimator to its W out of the precoder (the first 4 blocks are
    warm-up and left out), and "process_s", the estimator's and precoder's process() time
    per block (the rest of the latency is GNU Radio's hand-offs between the threads and the
    wait for a free core)."""
    warm = 4
    tb = gr.top_block()
    est, prec, _ = _radio_tap_blocks(cfg, algorithm)
    feed = PilotFeed(est.in_ports, prec.in_ports[cfg.NT], items, n_blocks + warm)
    probe = ArrivalProbe(prec.out_ports[cfg.NT].vlen, feed.ready)
    for i in range(len(est.in_ports)):
        tb.connect((feed, i), (est, i))
    for i in range(cfg.NT):
        tb.connect((est, i), (prec, i))
        _null(tb, prec, i)
    tb.connect((feed, len(est.in_ports)), (prec, cfg.NT))
    tb.connect((prec, cfg.NT), probe)
    _run_to_end(tb, timeout_s, [est, prec])
    n = min(len(feed.sent), len(probe.arrived))
    if n < n_blocks + warm:
        raise RuntimeError(f"latency run: {n} of {n_blocks + warm} blocks came out")
    return {
        "latency_s": np.array(probe.arrived[warm:n]) - np.array(feed.sent[warm:n]),
        "process_s": (est.process_time + prec.process_time) / max(est.blocks_done, 1),
    }


def _run_to_end(tb: gr.top_block, timeout_s: float, parts: list) -> None:
    tb.start()
    waiter = threading.Thread(target=tb.wait, daemon=True)
    waiter.start()
    waiter.join(timeout_s)
    if waiter.is_alive():
        tb.stop()
        waiter.join(10)
        raise TimeoutError(f"the flowgraph did not end within {timeout_s} s")
    errors = {b.name(): b.error for b in parts if b.error is not None}
    if errors:
        raise RuntimeError(f"the flowgraph stopped: {errors}")


def timed(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """fn()'s result with the process's RSS before it ("rss_before_mb", after collecting what
    earlier runs left), the peak RSS reached while it ran ("peak_rss_mb") and the difference
    ("peak_rss_increase_mb"), MiB."""
    gc.collect()
    before = rss_mb()
    exact = reset_peak_rss()
    out = fn()
    out["peak_rss_mb"] = peak_rss_mb()
    out["rss_before_mb"] = before
    out["peak_rss_increase_mb"] = out["peak_rss_mb"] - before
    out["peak_rss_since"] = "this run" if exact else "process start"
    return out
