"""What every cfisac block shares: coherence-block scheduling, ``cb`` tags, config checks.

Streams carry coherence blocks (DESIGN.md, "Streams, messages, tags"): every port moves a
fixed number of items per block (``tau_p`` pilot snapshots, ``tau`` downlink snapshots, or one
vector item of per-block data), and a ``cb`` tag (uint64 block index) marks the first item of
every block. :class:`CoherenceBlock` turns that into one rule for all blocks: a ``work()`` call
handles ``n`` whole coherence blocks on every port at once, so

- ``forecast`` asks each input for ``n * items_per_block`` items,
- ``general_work`` reads the ``cb`` tags of every input, checks that they sit on the first item
  of every block and agree across inputs (else the streams are misaligned: the block stops the
  flowgraph with a message saying which input), computes all ``n`` blocks in one batched call
  of :meth:`CoherenceBlock.process`, tags its outputs and consumes/produces whole blocks,
- inputs that join streams already running (a ZeroMQ receiver started against a sender that
  is already streaming) are aligned before the first block: on each input with ``cb`` tags the
  items before its first tag (a partial block) are dropped, then whole blocks on the inputs
  that are behind, until every input starts at the same block (the largest first ``cb``); one
  info line says what was skipped. After that, misaligned inputs are an error as above,
- the first item of every output carries a ``cfisac_config`` tag (the SystemConfig as JSON);
  a consumer whose own configuration differs stops the flowgraph at its first ``work()`` with
  a message naming the fields that differ (an input that joined a running stream never saw
  that tag: its producer's configuration is not compared, and the join's info line says so),
- a block built with ``num_blocks=N`` (0: no limit) processes at most N coherence blocks,
  counted from its first processed block (after the join), and then ends (``WORK_DONE`` in the
  call that produced the last one, so it ends even if no more input ever comes). GNU Radio
  marks a buffer done as soon as its writer or any one of its readers is done: what is
  downstream ends when it has taken those blocks, the writer of each input when it is blocked
  on that buffer, and the input's other readers when they have taken what it holds. Blocks fed
  different streams align at different blocks, so a flowgraph whose inputs join running
  streams is limited once, where all of them come in (:class:`gr_cfisac.blocks.head.head`),
- BLAS and OpenMP threads are limited (gr_cfisac.blas, ``CFISAC_BLAS_THREADS``, default 1)
  in the block's thread before its first ``work()``: the block threads are the parallelism,
- any exception in ``work()`` is logged with the block's name and ends the flowgraph
  (GNU Radio would otherwise hang with a dead thread); it is kept in ``block.error``.

Outputs get ``set_output_multiple`` and ``set_min_output_buffer`` sized for ``max_blocks``
coherence blocks per call, so a Python block's ~100 us call overhead is paid once per many
blocks. Tags from inputs are not propagated (``TPP_DONT``): each block writes its own.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pmt

from gnuradio import gr

from .. import blas
from ..config import SystemConfig

#: Stream tag on the first item of every coherence block; value: the block index (uint64).
CB_KEY = pmt.intern("cb")
#: Stream tag on the first item of every output: the producer's SystemConfig as JSON.
CONFIG_KEY = pmt.intern("cfisac_config")

#: Coherence blocks per work() call the buffers are sized for (Table-I: ~6 MB per TAP port).
DEFAULT_MAX_BLOCKS = 64


@dataclass(frozen=True)
class Port:
    """One stream port: numpy dtype, vector length and items per coherence block."""

    name: str
    dtype: type
    vlen: int
    per_block: int

    @property
    def signature(self) -> tuple[type, int] | type:
        return (self.dtype, self.vlen) if self.vlen > 1 else self.dtype


class ConfigMismatch(ValueError):
    """Two connected cfisac blocks were built with different SystemConfigs."""


class Misaligned(ValueError):
    """An input's ``cb`` tags are not on the first item of every block, or disagree."""


def config_fields(cfg: SystemConfig) -> dict:
    """The compared fields of a config (``extra`` is informational and not compared)."""
    d = cfg.to_dict()
    d.pop("extra", None)
    return d


def config_difference(mine: dict, theirs: dict) -> list[str]:
    """'name: mine vs theirs' for every field that differs."""
    keys = sorted(set(mine) | set(theirs))
    return [
        f"{k}={theirs.get(k)!r} upstream vs {mine.get(k)!r} here"
        for k in keys
        if mine.get(k) != theirs.get(k)
    ]


def check_config(cfg: SystemConfig) -> SystemConfig:
    """Accept a SystemConfig or its JSON text (what a remote peer or a tag carries)."""
    if isinstance(cfg, SystemConfig):
        return cfg
    if isinstance(cfg, str):
        return SystemConfig.from_json(cfg)
    raise ValueError(
        f"config must be a gr_cfisac.SystemConfig (or its JSON), got {type(cfg).__name__}; "
        "in GRC, set it to the id of the flowgraph's 'CF-ISAC Config' block"
    )


class CoherenceBlock(gr.basic_block):
    """Base class: a GNU Radio block that works on whole coherence blocks on every port.

    Subclasses declare ``inputs``/``outputs`` as :class:`Port` lists (optional trailing ports
    with ``min_inputs``/``min_outputs``) and implement :meth:`process`.
    """

    def __init__(
        self,
        name: str,
        cfg: SystemConfig,
        inputs: Sequence[Port],
        outputs: Sequence[Port],
        min_inputs: int | None = None,
        min_outputs: int | None = None,
        max_blocks: int = DEFAULT_MAX_BLOCKS,
        num_blocks: int = 0,
    ) -> None:
        self.cfg = check_config(cfg)
        self.in_ports = list(inputs)
        self.out_ports = list(outputs)
        n_in, n_out = len(self.in_ports), len(self.out_ports)
        in_sig = gr.py_io_signature(
            n_in if min_inputs is None else min_inputs, n_in, [p.signature for p in inputs]
        )
        out_sig = gr.py_io_signature(
            n_out if min_outputs is None else min_outputs, n_out, [p.signature for p in outputs]
        )
        gr.basic_block.__init__(self, name=name, in_sig=in_sig, out_sig=out_sig)
        if int(max_blocks) < 1:
            raise ValueError(f"{name}: max_blocks must be >= 1, got {max_blocks}")
        self.max_blocks = int(max_blocks)
        if int(num_blocks) < 0:
            raise ValueError(f"{name}: num_blocks must be >= 0 (0: no limit), got {num_blocks}")
        #: Coherence blocks to process before ending, counted after the join (0: no limit).
        self.num_blocks = int(num_blocks)
        self.error: Exception | None = None
        # checked here (a bad CFISAC_BLAS_THREADS fails at construction), applied in work()
        self._blas_threads: int | None = blas.configured_threads()
        self._blas_entered = False
        self.blocks_done = 0
        self.calls = 0  # work() calls that computed something
        self.process_time = 0.0  # seconds spent in process(), for benchmarks
        self._next_cb = 0
        self._config_checked = False
        self._untagged_config: list[int] = []  # inputs without a cfisac_config tag on item 0
        self._drop: list[int] | None = None  # items each input still drops to join (None: unknown)
        self._joined = False
        #: The info line logged when inputs that joined running streams were aligned (or None).
        self.join_message: str | None = None
        self._config_json = pmt.intern(self.cfg.to_json())
        self._config_fields = config_fields(self.cfg)
        self._srcid = pmt.intern(name)
        # a work() call handles whole coherence blocks: noutput_items counts items of the
        # fastest output (or, for a sink, of the fastest input)
        rates = [p.per_block for p in (self.out_ports or self.in_ports)] or [1]
        self._unit = max(rates)
        self.set_output_multiple(self._unit)
        for i in range(len(self.out_ports)):
            # every output must offer room for max_blocks blocks of the fastest output
            self.set_min_output_buffer(i, 2 * self.max_blocks * self._unit)
        if self.out_ports and self.in_ports:
            self.set_relative_rate(1.0)
        if not self.in_ports:  # a source waits for room for several blocks, not one
            self.set_min_noutput_items(min(self.max_blocks, 16) * self._unit)
        self.set_tag_propagation_policy(gr.TPP_DONT)

    # ------------------------------------------------------------------ subclass API
    def process(self, cb: np.ndarray, ins: list[np.ndarray], outs: list[np.ndarray]) -> None:
        """Compute ``len(cb)`` coherence blocks. ins[i] is (n, per_block, vlen) (read-only view
        of the input buffer), outs[o] (n, per_block, vlen) to fill; absent optional ports are
        missing from the lists."""
        raise NotImplementedError

    def blocks_available(self) -> int | None:
        """For sources: how many more blocks may be produced (None: unlimited)."""
        return None

    # ------------------------------------------------------------------ GNU Radio glue
    def start(self) -> bool:
        if self.detail().sink_p():
            # GNU Radio ends a sink whose finished input holds fewer than output_multiple
            # items; a once-per-block input would end it early, so a sink takes any count
            self.set_output_multiple(1)
        return True

    def forecast(self, noutput_items: int, ninputs: int) -> list[int]:
        if not self._joined and self._drop is not None:
            # joining: an input that still drops items is all that is needed to progress (its
            # neighbours' buffers may be full until it has caught up)
            return [1 if self._drop[i] else 0 for i in range(ninputs)]
        # one whole block on every input is enough: work() then takes every ready block (up to
        # max_blocks). Asking for noutput_items // unit blocks would not: GNU Radio halves
        # noutput_items from the output space (768, 384, ..., 48, 24, ...) until the inputs
        # hold what forecast asks, and would hand over 48 of 64 ready blocks, then 12, 3, 1
        return [self.in_ports[i].per_block for i in range(ninputs)]

    def general_work(self, input_items, output_items):
        try:
            return self._work(input_items, output_items)
        except Exception as exc:  # noqa: BLE001 - a dead block thread would hang the flowgraph
            self.error = exc
            detail = "" if isinstance(exc, ValueError) else "\n" + traceback.format_exc()
            self.logger.error(f"{self.name()}: {exc}{detail}")
            return gr.WORK_DONE

    def _work(self, input_items, output_items) -> int:
        if not self._blas_entered:  # in this block's own thread, before any numerics
            blas.enter_block_thread(self._blas_threads or 0)
            self._blas_entered = True
        if not self._config_checked:
            # before anything is consumed: joining may drop the item that carries the tag
            self._check_upstream_config(len(input_items))
            self._config_checked = True
        if input_items and not self._joined and not self._join(input_items):
            return 0
        n = self.max_blocks
        for i, arr in enumerate(input_items):
            n = min(n, len(arr) // self.in_ports[i].per_block)
        for o, arr in enumerate(output_items):
            n = min(n, len(arr) // self.out_ports[o].per_block)
        if not input_items:
            left = self.blocks_available()
            if left is not None:
                if left <= 0:
                    return gr.WORK_DONE
                n = min(n, left)
        if self.num_blocks:
            left = self.num_blocks - self.blocks_done
            if left <= 0:
                return gr.WORK_DONE
            n = min(n, left)
        if n <= 0:
            return 0
        cb = self._read_cb(len(input_items), n)
        ins = [
            np.asarray(arr[: n * p.per_block]).reshape(n, p.per_block, p.vlen)
            for arr, p in zip(input_items, self.in_ports)
        ]
        outs = [
            np.asarray(arr[: n * p.per_block]).reshape(n, p.per_block, p.vlen)
            for arr, p in zip(output_items, self.out_ports)
        ]
        t0 = time.perf_counter()
        self.process(cb, ins, outs)
        self.process_time += time.perf_counter() - t0
        self.calls += 1
        self._write_tags(len(output_items), cb)
        for i in range(len(input_items)):
            self.consume(i, n * self.in_ports[i].per_block)
        for o in range(len(output_items)):
            self.produce(o, n * self.out_ports[o].per_block)
        self._next_cb = int(cb[-1]) + 1
        self.blocks_done += n
        if self.num_blocks and self.blocks_done >= self.num_blocks:
            # what was produced and consumed above stands: end now rather than at a next call
            # that may never come (an upstream peer that stopped sending)
            return gr.WORK_DONE
        return gr.WORK_CALLED_PRODUCE

    # ------------------------------------------------------------------ joining
    def _join(self, input_items) -> bool:
        """Align inputs that joined running streams, before the first block (consuming only
        what is dropped). True when every input starts at the same block in this call."""
        if self._drop is None:
            self._drop = self._join_plan(input_items)
            if self._drop is None:
                return False  # an input has less than a block and no cb tag yet: wait
        dropped = False
        for i, arr in enumerate(input_items):
            k = min(len(arr), self._drop[i])
            if k > 0:
                self.consume(i, k)
                self._drop[i] -= k
                dropped = True
        self._joined = not any(self._drop)
        # what was consumed is still in this call's buffers: the first block waits for the next
        return self._joined and not dropped

    def _join_plan(self, input_items) -> list[int] | None:
        """Items to drop on every input so that all start at the same block; None: wait."""
        first: dict[int, tuple[int, int]] = {}  # input -> (offset, value) of its first cb tag
        for i, arr in enumerate(input_items):
            per = self.in_ports[i].per_block
            # a stream in coherence blocks has a cb tag in any `per` consecutive items
            tags = self.get_tags_in_window(i, 0, min(len(arr), per), CB_KEY)
            if tags:
                tag = min(tags, key=lambda t: t.offset)
                first[i] = (int(tag.offset - self.nitems_read(i)), int(pmt.to_uint64(tag.value)))
            elif len(arr) < per:
                return None
            # else: an input without cb tags is not aligned (block indices from the others)
        drop = [0] * len(input_items)
        if not first:
            return drop
        start = max(value for _, value in first.values())
        for i, (offset, value) in first.items():
            drop[i] = offset + (start - value) * self.in_ports[i].per_block
        if any(drop):
            self.join_message = self._join_message(first, drop, start)
            self.logger.info(self.join_message)
        return drop

    def _join_message(self, first: dict[int, tuple[int, int]], drop: list[int], start: int) -> str:
        """The info line of a join: what was skipped on which input, what was not checked."""
        parts = []
        for i, (offset, value) in first.items():
            if not drop[i]:
                continue
            per, blocks = self.in_ports[i].per_block, start - value
            what = [f"{offset} items of a partial block"] if offset else []
            what += [f"{blocks} block{'s' if blocks != 1 else ''}"] if blocks else []
            parts.append(
                f"input {i} ({self.in_ports[i].name}): {' + '.join(what)} "
                f"({offset + blocks * per} items)"
            )
        msg = (
            f"{self.name()}: inputs joined streams already running at different points; "
            f"aligned them at coherence block {start}, skipping {'; '.join(parts)}"
        )
        late = [i for i in self._untagged_config if i in first]
        if late:
            names = ", ".join(f"{i} ({self.in_ports[i].name})" for i in late)
            msg += (
                f". No cfisac_config tag reached input{'s' if len(late) > 1 else ''} {names}: "
                "the SystemConfig of what feeds "
                f"{'them' if len(late) > 1 else 'it'} was not compared with this block's"
            )
        return msg

    # ------------------------------------------------------------------ tags
    def _check_upstream_config(self, ninputs: int) -> None:
        """Compare the cfisac_config tag on every input's first item with our config (called
        before anything is consumed); inputs without one are listed in _untagged_config."""
        for i in range(ninputs):
            if self.nitems_read(i) != 0:
                continue
            tags = self.get_tags_in_window(i, 0, 1, CONFIG_KEY)
            if not tags:
                self._untagged_config.append(i)
            for tag in tags:
                theirs = config_fields(SystemConfig.from_json(pmt.symbol_to_string(tag.value)))
                diff = config_difference(self._config_fields, theirs)
                if diff:
                    src = pmt.symbol_to_string(tag.srcid) if pmt.is_symbol(tag.srcid) else "?"
                    raise ConfigMismatch(
                        f"input {i} ({self.in_ports[i].name}) comes from {src}, built with a "
                        f"different SystemConfig: {'; '.join(diff)}. Give every cfisac block "
                        "the same config (in GRC: the one 'CF-ISAC Config' variable)"
                    )

    def _read_cb(self, ninputs: int, n: int) -> np.ndarray:
        """Block indices of the next n blocks from the inputs' cb tags (checked), or a counter."""
        found: np.ndarray | None = None
        first = -1
        for i in range(ninputs):
            per = self.in_ports[i].per_block
            tags = self.get_tags_in_window(i, 0, n * per, CB_KEY)
            if not tags:
                continue
            start = self.nitems_read(i)
            offsets = np.array([t.offset for t in tags], dtype=np.int64) - start
            values = np.array([pmt.to_uint64(t.value) for t in tags], dtype=np.int64)
            if len(tags) != n or np.any(offsets != np.arange(n) * per):
                raise Misaligned(
                    f"input {i} ({self.in_ports[i].name}) carries cb tags at item offsets "
                    f"{offsets.tolist()[:8]} of this call, expected one every {per} items "
                    f"from 0 ({n} blocks): the stream is not organized in coherence blocks of "
                    f"{per} items (check SystemConfig.tau_c/tau_p and what feeds this input)"
                )
            if found is None:
                found, first = values, i
            elif np.any(values != found):
                # inputs that joined at different points were aligned before the first block
                at = int(np.argmax(values != found))
                raise Misaligned(
                    f"input {i} ({self.in_ports[i].name}) is at coherence block "
                    f"{int(values[at])} where input {first} ({self.in_ports[first].name}) is at "
                    f"{int(found[at])}: the streams are misaligned (an upstream block dropped "
                    "or repeated items)"
                )
        if found is None:
            return np.arange(self._next_cb, self._next_cb + n, dtype=np.int64)
        return found

    def _write_tags(self, noutputs: int, cb: np.ndarray) -> None:
        # one PMT per block, shared by every output (PMTs are immutable)
        values = [pmt.from_uint64(value) for value in cb.tolist()] if noutputs else []
        add, key, src = self.add_item_tag, CB_KEY, self._srcid
        for o in range(noutputs):
            per = self.out_ports[o].per_block
            start = self.nitems_written(o)
            if start == 0:
                add(o, 0, CONFIG_KEY, self._config_json, src)
            for offset, value in zip(range(start, start + len(values) * per, per), values):
                add(o, offset, key, value, src)

    # ------------------------------------------------------------------ messages
    def subscribed(self, port: str) -> bool:
        """Whether anything listens on a message port (messages are not built otherwise)."""
        return pmt.length(self.message_subscribers(pmt.intern(port))) > 0

    def message_rows(self, port: str, cb: np.ndarray) -> np.ndarray:
        """Indices into blocks ``cb`` that publish on ``port``: every ``msg_interval``-th block
        (the subclass's attribute), none when it is 0 or nothing listens on the port."""
        interval = getattr(self, "msg_interval", 0)
        if not interval or not self.subscribed(port):
            return np.empty(0, dtype=np.int64)
        return np.flatnonzero(cb % interval == 0)

    def publish(self, port: str, msg) -> None:
        """Publish a PMT message on an output message port registered by the subclass."""
        self.message_port_pub(pmt.intern(port), msg)
