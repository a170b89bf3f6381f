"""The radio-time blocks in flowgraphs: Time Align (RAP side) numbers whole coherence blocks by
the receiver's rx_time tags, realigns after an overflow and reports the loss (message, counts);
Burst Time (TAP side) stamps the first burst with its block's tx_time; a TAP stream sent with
Burst Time and received through an ideal radio loop with an overflow comes out of Time Align
with the block indices it was sent with."""

import numpy as np
import pmt
import pytest

from gnuradio import blocks, gr
from gr_cfisac.blocks.burst_time import burst_time
from gr_cfisac.blocks.messages import decode
from gr_cfisac.blocks.time_align import time_align, time_from_pmt, time_to_pmt
from gr_cfisac.config import SystemConfig
from gr_cfisac.timing import RadioTime

CFG = SystemConfig(NT=2, NR=2, MT_shape=(1, 2), MR_shape=(1, 2), K=2, NC=1, tau_c=12, tau_p=2)
PER, MR = CFG.tau, CFG.MR  # 10 items per block
RATE, START = 1e6, 5.0


def tag(offset: int, key: str, value) -> gr.tag_t:
    t = gr.tag_t()
    t.offset, t.key, t.value = offset, pmt.intern(key), value
    return t


def rx_time(offset: int, grid_index: int) -> gr.tag_t:
    """An rx_time tag on item ``offset``: the time of grid sample ``grid_index``."""
    return tag(offset, "rx_time", time_to_pmt(RadioTime.of(START).plus_samples(grid_index, RATE)))


def received(grid: np.ndarray, port: int) -> np.ndarray:
    """Items (n, MR) of RAP ``port`` for grid sample indices ``grid``: value index + 1j*port."""
    return (grid[:, None] * MR + np.arange(MR) + 1j * port).astype(np.complex64)


def run_align(grid: np.ndarray, tags: list[gr.tag_t], **kw):
    tb = gr.top_block()
    align = time_align(CFG, RATE, START, **kw)
    sinks = []
    for j in range(CFG.NR):
        src = blocks.vector_source_c(received(grid, j).ravel().tolist(), False, MR, tags)
        sink = blocks.vector_sink_c(MR)
        tb.connect(src, (align, j))
        tb.connect((align, j), sink)
        sinks.append(sink)
    msgs = blocks.message_debug()
    tb.msg_connect(align, "loss", msgs, "store")
    tb.run()
    return align, sinks, msgs


def cb_tags(sink) -> list[tuple[int, int]]:
    return [
        (int(t.offset), int(pmt.to_uint64(t.value)))
        for t in sink.tags()
        if pmt.symbol_to_string(t.key) == "cb"
    ]


def test_time_align_cuts_blocks_by_time_and_reports_an_overflow():
    # the radio starts 4 samples before the start time; samples 43 .. 70 are lost (overflow)
    grid = np.concatenate([np.arange(-4, 43), np.arange(71, 125)])
    tags = [rx_time(0, -4), rx_time(47, 71), tag(0, "rx_rate", pmt.from_double(RATE))]
    align, sinks, msgs = run_align(grid, tags)
    assert align.error is None
    # blocks 0..3, then 4 (40..49) in progress at the break, 5, 6 and 7 (70..79) incomplete
    want_cb = [0, 1, 2, 3, 8, 9, 10, 11]
    for j, sink in enumerate(sinks):
        assert cb_tags(sink) == [(i * PER, cb) for i, cb in enumerate(want_cb)]
        out = np.array(sink.data()).reshape(-1, PER, MR)
        want = np.stack([received(cb * PER + np.arange(PER), j) for cb in want_cb])
        assert np.array_equal(out, want)
        times = {
            int(t.offset): time_from_pmt(t.value)
            for t in sink.tags()
            if pmt.symbol_to_string(t.key) == "rx_time"
        }
        # the first block and the first after the break carry their grid start time
        assert times == {
            0: RadioTime.of(START),
            4 * PER: RadioTime.of(START).plus_samples(80, RATE),
        }
    assert (align.breaks, align.blocks_lost, align.samples_lost) == (1, 4, 28)
    assert align.blocks_out == len(want_cb)
    assert msgs.num_messages() == 1
    msg = decode(msgs.get_message(0))
    assert msg["cb"] == 8 and msg["first_lost"] == 4 and msg["blocks_lost"] == 4
    assert msg["samples_lost"] == 28
    assert msg["rx_time_s"] == pytest.approx(START + 71e-6)


def test_time_align_refuses_a_radio_at_another_rate():
    grid = np.arange(0, 40)
    tags = [rx_time(0, 0), tag(0, "rx_rate", pmt.from_double(RATE * 1.25))]
    align, sinks, _ = run_align(grid, tags)
    assert isinstance(align.error, ValueError)
    assert "samp_rate" in str(align.error) and "1.25e+06" in str(align.error)
    assert len(sinks[0].data()) == 0


def test_burst_time_stamps_the_first_item_with_its_blocks_time():
    tb = gr.top_block()
    stamp = burst_time(CFG, RATE, START)
    sinks = []
    for i in range(CFG.NT):
        first_cb = tag(0, "cb", pmt.from_uint64(7))
        src = blocks.vector_source_c([0j] * (3 * PER * CFG.MT), False, CFG.MT, [first_cb])
        sink = blocks.vector_sink_c(CFG.MT)
        tb.connect(src, (stamp, i), sink)
        sinks.append(sink)
    tb.run()
    want = RadioTime.of(START).plus_samples(7 * PER, RATE)
    assert stamp.first_tx_time == want
    for sink in sinks:
        keys = [(int(t.offset), pmt.symbol_to_string(t.key)) for t in sink.tags()]
        assert sorted(keys) == [(0, "cb"), (0, "tx_time")]  # one each: no copies across ports
        (tx,) = [t for t in sink.tags() if pmt.symbol_to_string(t.key) == "tx_time"]
        assert time_from_pmt(tx.value) == want


class ideal_radio_loop(gr.basic_block):  # noqa: N801
    """What a radio pair does to the TAP stream, for the test: sends it at its tx_time, receives
    it with rx_time tags, and overflows once (``lost`` items after item ``at`` never arrive,
    the next item's rx_time says so)."""

    def __init__(self, vlen: int, rate: float, at: int, lost: int) -> None:
        gr.basic_block.__init__(
            self, "ideal_radio_loop", [(np.complex64, vlen)], [(np.complex64, vlen)]
        )
        self.rate, self.at, self.lost = rate, at, lost
        self.t0: RadioTime | None = None
        self.set_tag_propagation_policy(gr.TPP_DONT)

    def general_work(self, input_items, output_items):
        n = min(len(input_items[0]), len(output_items[0]))
        read = self.nitems_read(0)
        if self.t0 is None:
            (tx,) = [
                t
                for t in self.get_tags_in_window(0, 0, 1)
                if pmt.symbol_to_string(t.key) == "tx_time"
            ]
            self.t0 = time_from_pmt(tx.value)
            self.add_item_tag(0, 0, pmt.intern("rx_time"), tx.value)
        keep = np.ones(n, dtype=bool)
        idx = read + np.arange(n)
        keep[(idx >= self.at) & (idx < self.at + self.lost)] = False
        kept = input_items[0][:n][keep]
        written = self.nitems_written(0)
        if read <= self.at + self.lost < read + n and self.lost:
            pos = int(np.sum(keep[: self.at + self.lost - read]))
            t = self.t0.plus_samples(self.at + self.lost, self.rate)
            self.add_item_tag(0, written + pos, pmt.intern("rx_time"), time_to_pmt(t))
        output_items[0][: len(kept)] = kept
        self.consume(0, n)
        return len(kept)


def test_blocks_sent_with_burst_time_are_received_with_the_indices_they_were_sent_with():
    """TAP stream (cb 3 .. 14, each block filled with its index) -> Burst Time -> radio loop
    that loses 25 items inside block 6 -> Time Align: every block out holds the block sent with
    that cb, and the ones the overflow cut are reported lost."""
    cfg = CFG.replace(NT=1, NR=1, MT_shape=(1, 2), MR_shape=(1, 2))
    cbs = np.arange(3, 15)
    items = np.repeat(cbs, PER)[:, None] * np.ones((1, 2))
    tags = [tag(i * PER, "cb", pmt.from_uint64(int(cb))) for i, cb in enumerate(cbs)]
    tb = gr.top_block()
    src = blocks.vector_source_c(items.astype(np.complex64).ravel().tolist(), False, 2, tags)
    stamp = burst_time(cfg, RATE, START)
    loop = ideal_radio_loop(2, RATE, at=3 * PER + 4, lost=25)
    align = time_align(cfg, RATE, START)
    sink = blocks.vector_sink_c(2)
    tb.connect(src, stamp, loop, align, sink)
    tb.run()
    got = cb_tags(sink)
    out = np.array(sink.data()).reshape(-1, PER, 2)
    # blocks 6 (lost from item 4), 7 and 8 (the rest of the gap ends at item 9 of block 8)
    assert [cb for _, cb in got] == [3, 4, 5, 9, 10, 11, 12, 13, 14]
    assert np.array_equal(out.real[:, :, 0], np.repeat([[cb] for _, cb in got], PER, axis=1))
    assert align.blocks_lost == 3 and align.samples_lost == 25


@pytest.mark.parametrize("block_id", ["cfisac_time_align", "cfisac_burst_time"])
@pytest.mark.parametrize("num_ports", ["0", "1"])
def test_grc_ports_match_the_blocks(platform, block_id, num_ports):
    """The .block.yml's ports are the Python block's, for NR/NT ports and for one."""
    from gnuradio import cfisac

    fg = platform.make_flow_graph()
    cfg_block = fg.new_block("cfisac_config")
    cfg_block.params["id"].set_value("cfg")
    blk = fg.new_block(block_id)
    blk.params["id"].set_value("blk")
    blk.params["samp_rate"].set_value("1e6")
    blk.params["num_ports"].set_value(num_ports)
    for _ in range(3):
        fg.rewrite()
    assert blk.is_valid(), blk.get_error_messages()
    cfg = fg.namespace["cfg"]
    instance = eval(blk.templates.render("make"), {"cfisac": cfisac, "cfg": cfg})
    for grc_ports, py_ports in ((blk.sinks, instance.in_ports), (blk.sources, instance.out_ports)):
        streams = [p for p in grc_ports if p.domain == "stream"]
        assert len(streams) == len(py_ports)
        assert all(int(p.vlen) == q.vlen for p, q in zip(streams, py_ports))
    assert [p.key for p in blk.sources if p.domain == "message"] == (
        ["loss"] if block_id == "cfisac_time_align" else []
    )


def test_time_align_warns_once_when_no_rx_time_tag_comes():
    rate = 100.0  # a second of samples is 100 items
    tb = gr.top_block()
    align = time_align(CFG, rate, 0.0, num_ports=1)
    src = blocks.vector_source_c([0j] * (250 * MR), False, MR, [])
    sink = blocks.vector_sink_c(MR)
    tb.connect(src, align, sink)
    tb.run()
    assert align.untimed_warning and align.aligner.dropped_untimed == 250
    assert len(sink.data()) == 0 and align.error is None
