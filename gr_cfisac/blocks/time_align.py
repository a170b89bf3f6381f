"""Time align: a radio receiver's samples cut into the grid's coherence blocks, numbered by time
(the RAP side of a radio testbed; :mod:`gr_cfisac.timing` has the grid and the logic).

Ports (``num_ports`` of them, NR by default, one per RAP, all from one receiver):

- in  ``rap1`` .. : complex64[MR] samples as the radio delivers them, with its ``rx_time`` tags
  (UHD: on the first item and after every overflow; read on input 0) and ``rx_rate`` tags
- out ``rap1`` .. : complex64[MR], tau items per coherence block: only whole blocks of the grid
  that starts at radio time ``start_time_s``; the ``cb`` tag on every block's first item is its
  index on the grid, ``(t - start) * samp_rate / tau``; ``cfisac_config`` on the first item, and
  an ``rx_time`` tag (the block's start time) on the first block and the first after every break
- message out ``loss``: {cb (the first block after the break), first_lost, blocks_lost,
  samples_lost, rx_time_s} for every break in the received stream (an overflow)

A break is also logged (warning) and counted: ``breaks``, ``blocks_lost``, ``samples_lost``,
``blocks_out`` (and the aligner's drop counters, ``aligner``). Block indices only increase;
blocks lost are missing from the output (the ``cb`` sequence jumps): streams that must stay
block-aligned with it take their block indices from it (:class:`scene_follower`).

A stream with no ``rx_time`` tag after a second of samples is warned about once (its items
are dropped: their radio time is unknown). An ``rx_rate`` tag that disagrees with ``samp_rate`` (the radio could not set the rate asked
for) stops the flowgraph with a message saying so: the grid would drift.
"""

from __future__ import annotations

import traceback

import numpy as np
import pmt

from gnuradio import gr

from ..config import SystemConfig
from ..timing import BlockAligner, Loss, RadioTime, block_start_time
from ._base import CB_KEY, CONFIG_KEY, Port, check_config
from .messages import encode

RX_TIME = pmt.intern("rx_time")
RX_RATE = pmt.intern("rx_rate")
#: relative difference between the radio's rate and samp_rate that stops the flowgraph
RATE_TOLERANCE = 1e-9


def time_from_pmt(value) -> RadioTime:
    """UHD's time tag value, a tuple (uint64 whole seconds, double fractional seconds)."""
    if pmt.is_tuple(value) and pmt.length(value) == 2:
        return RadioTime.of(
            (pmt.to_uint64(pmt.tuple_ref(value, 0)), pmt.to_double(pmt.tuple_ref(value, 1)))
        )
    if pmt.is_number(value):
        return RadioTime.of(pmt.to_double(value))
    raise ValueError(f"a time tag must be (uint64 secs, double frac) as UHD writes, got {value}")


def time_to_pmt(t: RadioTime):
    """A RadioTime as UHD's time tag value."""
    return pmt.make_tuple(pmt.from_uint64(int(t.secs)), pmt.from_double(float(t.frac)))


class time_align(gr.basic_block):  # noqa: N801 - GNU Radio block naming
    """Whole coherence blocks of the radio-time grid, numbered by time, from a receiver's stream.

    Args:
        config: the flowgraph's SystemConfig (tau items per block, MR per port, NR ports).
        samp_rate: the radio's sample rate (S/s): one snapshot per sample.
        start_time_s: radio time (s) of block 0's first sample, the same on every host.
        num_ports: ports (RAPs received; 0: NR).
        max_blocks: coherence blocks per work() call the output buffers hold.
    """

    def __init__(
        self,
        config: SystemConfig,
        samp_rate: float,
        start_time_s: float = 0.0,
        num_ports: int = 0,
        max_blocks: int = 64,
    ) -> None:
        cfg = check_config(config)
        n = cfg.NR if int(num_ports) == 0 else int(num_ports)
        if n < 1:
            raise ValueError(f"time_align: num_ports must be >= 0 (0: NR), got {num_ports}")
        if int(max_blocks) < 1:
            raise ValueError(f"time_align: max_blocks must be >= 1, got {max_blocks}")
        sig = [(np.complex64, cfg.MR)] * n
        gr.basic_block.__init__(self, name="cfisac_time_align", in_sig=sig, out_sig=sig)
        self.cfg = cfg
        self.per = cfg.tau
        names = [f"rap{j + 1}" for j in range(n)]
        self.in_ports = [Port(name, np.complex64, cfg.MR, 1) for name in names]
        self.out_ports = [Port(name, np.complex64, cfg.MR, cfg.tau) for name in names]
        self.aligner = BlockAligner(samp_rate, self.per, start_time_s)
        self.rate = self.aligner.rate
        self.losses: list[Loss] = []
        #: the first block delivered (None until then)
        self.first_cb: int | None = None
        #: True once a second of samples came without an rx_time tag (warned once)
        self.untimed_warning = False
        self.error: Exception | None = None
        self._retag = True  # next block gets an rx_time tag
        self._srcid = pmt.intern("cfisac_time_align")
        self._config_json = pmt.intern(cfg.to_json())
        self.message_port_register_out(pmt.intern("loss"))
        self.set_output_multiple(self.per)
        for o in range(n):
            self.set_min_output_buffer(o, 2 * int(max_blocks) * self.per)
        self.set_tag_propagation_policy(gr.TPP_DONT)

    # counters, for reports and tests
    @property
    def blocks_out(self) -> int:
        return self.aligner.blocks_out

    @property
    def blocks_lost(self) -> int:
        return self.aligner.blocks_lost

    @property
    def breaks(self) -> int:
        return self.aligner.breaks

    @property
    def samples_lost(self) -> int:
        return self.aligner.samples_lost

    def forecast(self, noutput_items: int, ninputs: int) -> list[int]:
        return [1] * ninputs

    def general_work(self, input_items, output_items):
        try:
            return self._work(input_items, output_items)
        except Exception as exc:  # noqa: BLE001 - a dead block thread would hang the flowgraph
            self.error = exc
            detail = "" if isinstance(exc, ValueError) else "\n" + traceback.format_exc()
            self.logger.error(f"{self.name()}: {exc}{detail}")
            return gr.WORK_DONE

    def _work(self, input_items, output_items) -> int:
        per = self.per
        avail = min(len(a) for a in input_items)
        room = min(len(a) for a in output_items) // per
        feed = min(avail, room * per - self.aligner.fill)
        if feed <= 0:
            return 0
        tags = self._time_tags(feed)
        chunk = np.stack([np.asarray(a[:feed]) for a in input_items], axis=1)
        result = self.aligner.push(chunk, tags)
        nb = len(result.cb)
        if self.aligner.position is None and self.aligner.dropped_untimed >= self.rate:
            self._warn_untimed()
        if nb and self.first_cb is None:
            self.first_cb = int(result.cb[0])
            a = self.aligner
            self.logger.info(
                f"aligned on the radio-time grid at coherence block {self.first_cb} (dropped "
                f"{a.dropped_untimed} items before the first rx_time tag and {a.dropped_early} "
                "before the start time or the first block boundary)"
            )
        for o, out in enumerate(output_items):
            if nb:
                out[: nb * per] = result.blocks[:, :, o].reshape(nb * per, -1)
        losses = {loss.next_cb: loss for loss in result.losses}
        for j, cb in enumerate(result.cb.tolist()):
            if cb in losses:
                self._report(losses[cb])
                self._retag = True
            self._tag_block(j, cb, len(output_items))
        self.consume_each(feed)
        for o in range(len(output_items)):
            self.produce(o, nb * per)
        return gr.WORK_CALLED_PRODUCE

    def _warn_untimed(self) -> None:
        """Once: a second of samples came without any rx_time tag (all dropped)."""
        if self.untimed_warning:
            return
        self.untimed_warning = True
        self.logger.warn(
            f"{self.aligner.dropped_untimed} samples and no rx_time tag yet: their radio time is "
            "unknown, so they are dropped; feed this block from a UHD source (CF-ISAC Radio "
            "Source), a GNU Radio metadata file or a ZeroMQ link that passes the tags"
        )

    def _time_tags(self, feed: int) -> list[tuple[int, RadioTime]]:
        """rx_time tags of input 0 in this call (one per item), rx_rate checked."""
        start = self.nitems_read(0)
        found: dict[int, RadioTime] = {}
        for tag in self.get_tags_in_window(0, 0, feed):
            if pmt.eq(tag.key, RX_TIME):
                found[int(tag.offset - start)] = time_from_pmt(tag.value)
            elif pmt.eq(tag.key, RX_RATE):
                rate = pmt.to_double(tag.value)
                if abs(rate - self.rate) > RATE_TOLERANCE * self.rate:
                    raise ValueError(
                        f"the radio runs at {rate:.6g} S/s but samp_rate is {self.rate:.6g} "
                        "S/s (the radio could not set that rate): set samp_rate to a rate the "
                        "radio supports (a divisor of its master clock) on every host"
                    )
        return sorted(found.items())

    def _tag_block(self, j: int, cb: int, nout: int) -> None:
        for o in range(nout):
            at = self.nitems_written(o) + j * self.per
            if at == 0:
                self.add_item_tag(o, 0, CONFIG_KEY, self._config_json, self._srcid)
            self.add_item_tag(o, at, CB_KEY, pmt.from_uint64(cb), self._srcid)
            if self._retag:
                t = block_start_time(cb, self.aligner.start, self.per, self.rate)
                self.add_item_tag(o, at, RX_TIME, time_to_pmt(t), self._srcid)
        self._retag = False

    def _report(self, loss: Loss) -> None:
        """A break: warning line, counters (the aligner's), message."""
        self.losses.append(loss)
        what = (
            f"{loss.samples_lost} samples lost"
            if loss.samples_lost > 0
            else f"the radio's clock went back {-loss.samples_lost} samples"
        )
        self.logger.warn(
            f"rx_time jumped at {loss.resumed_at.seconds():.9f} s ({what}, an overflow?): "
            f"realigned on the block grid; {loss.blocks_lost} coherence block"
            f"{'s' if loss.blocks_lost != 1 else ''} lost"
            + (
                f" ({loss.first_lost} .. {loss.first_lost + loss.blocks_lost - 1})"
                if loss.blocks_lost
                else ""
            )
            + f", resuming at block {loss.next_cb}; {self.aligner.blocks_lost} lost in "
            f"{self.aligner.breaks} breaks so far"
        )
        port = pmt.intern("loss")
        if pmt.length(self.message_subscribers(port)) > 0:
            self.message_port_pub(
                port,
                encode(
                    loss.next_cb,
                    first_lost=np.int64(loss.first_lost),
                    blocks_lost=np.int64(loss.blocks_lost),
                    samples_lost=np.int64(loss.samples_lost),
                    rx_time_s=loss.resumed_at.seconds(),
                ),
            )
