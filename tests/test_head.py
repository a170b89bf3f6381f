"""The aligned head (gr_cfisac.blocks.head): streams that joined a running source at different
points, some in the middle of a block, leave it aligned at the latest stream's first block,
exactly ``num_blocks`` blocks on every port, and the flowgraph ends although its source would
run forever. Its GRC definition matches the block for every preset."""

from __future__ import annotations

import types

import numpy as np
import pmt
import pytest

from gnuradio import blocks, gr
from gr_cfisac.blocks import head, scenario_source
from gr_cfisac.blocks._base import CB_KEY, CONFIG_KEY
from gr_cfisac.blocks.qa import cb_tags, run_with_timeout
from gr_cfisac.config import SystemConfig

N = 6


def _tags(sink, key) -> list[tuple[int, object]]:
    return [(t.offset, pmt.to_python(t.value)) for t in sink.tags() if pmt.eq(t.key, key)]


@pytest.fixture(scope="module")
def joined():
    """A scenario source that never ends; its truth joins the head at block 5, TAP 1's pilots
    in the middle of block 1, the geometry and TAP 2's pilots at block 0. Reference sinks see
    every output from block 0."""
    cfg = SystemConfig()
    NT, tau_p = cfg.NT, cfg.tau_p
    tb = gr.top_block()
    src = scenario_source(cfg, seed=3, num_blocks=0, max_blocks=3)
    hd = head(cfg, num_blocks=N, truth=True, geometry=True, tap_pilots=2, max_blocks=4)
    # head ports (sink order): truth, geometry, tap_pilots0, tap_pilots1
    feeds = [(2 * NT, 5), (2 * NT + 1, 0), (0, tau_p + 3), (1, 0)]
    refs, outs = [], []
    for port, ((src_port, skip), p) in enumerate(zip(feeds, hd.in_ports)):
        size = gr.sizeof_gr_complex * p.vlen
        tb.connect((src, src_port), blocks.skiphead(size, skip), (hd, port))
        refs.append(blocks.vector_sink_c(p.vlen))
        tb.connect((src, src_port), refs[-1])
        outs.append(blocks.vector_sink_c(p.vlen))
        tb.connect((hd, port), outs[-1])
    used = {src_port for src_port, _ in feeds}
    for o, p in enumerate(src.out_ports):
        if o not in used:
            tb.connect((src, o), blocks.null_sink(np.dtype(p.dtype).itemsize * p.vlen))
    run_with_timeout(tb, 120.0)
    assert src.error is None and hd.error is None
    return cfg, hd, refs, outs


def test_every_stream_starts_at_the_latest_first_block(joined):
    cfg, hd, refs, outs = joined
    assert hd.blocks_done == N
    assert "aligned them at coherence block 5" in hd.join_message
    for p, sink in zip(hd.in_ports, outs):
        per = p.per_block
        assert _tags(sink, CB_KEY) == [(k * per, 5 + k) for k in range(N)], p.name
        assert len(_tags(sink, CONFIG_KEY)) == 1 and _tags(sink, CONFIG_KEY)[0][0] == 0


def test_the_head_passes_exactly_num_blocks_of_the_streams_data(joined):
    cfg, hd, refs, outs = joined
    for p, ref, out in zip(hd.in_ports, refs, outs):
        per, vlen = p.per_block, p.vlen
        want = np.asarray(ref.data(), np.complex64).reshape(-1, vlen)[5 * per : (5 + N) * per]
        got = np.asarray(out.data(), np.complex64).reshape(-1, vlen)
        assert got.shape == (N * per, vlen), p.name
        np.testing.assert_array_equal(got, want)


def test_other_tags_pass_at_their_items(cfg):
    """A stream that joined two items into block 3: the partial block is dropped, a tag on an
    item of block 5 comes out at the same item of the passed blocks; cb and config are the
    head's own."""
    tau, M = cfg.tau, cfg.MR
    rng = np.random.default_rng(5)
    data = (rng.standard_normal((8 * tau, M)) + 0j).astype(np.complex64)
    start = 3 * tau + 2  # the stream's first item
    tags = [t for t in cb_tags(8, tau) if t.offset >= start]
    for t in tags:
        t.offset -= start
    extra = gr.tag_t()
    extra.offset, extra.key, extra.value = 5 * tau + 17 - start, pmt.intern("rx"), pmt.from_long(9)
    tb = gr.top_block()
    src = blocks.vector_source_c(data[start:].ravel().tolist(), False, M, [*tags, extra])
    hd = head(cfg, num_blocks=2, rap_echo=1)
    sink = blocks.vector_sink_c(M)
    tb.connect(src, hd, sink)
    run_with_timeout(tb, 60)
    assert hd.error is None and hd.blocks_done == 2
    assert _tags(sink, CB_KEY) == [(0, 4), (tau, 5)]
    assert _tags(sink, pmt.intern("rx")) == [(tau + 17, 9)]
    np.testing.assert_array_equal(
        np.asarray(sink.data(), np.complex64).reshape(-1, M), data[4 * tau : 6 * tau]
    )


def test_bad_parameters_are_refused(cfg):
    with pytest.raises(ValueError, match="at least one stream"):
        head(cfg, num_blocks=3)
    with pytest.raises(ValueError, match="rap_echo must be in 0..4"):
        head(cfg, rap_echo=5)
    with pytest.raises(ValueError, match="num_blocks must be >= 0"):
        head(cfg, rap_echo=1, num_blocks=-1)
    assert len(head(cfg, preset="rap_truth_geometry").in_ports) == cfg.NR + 2


@pytest.mark.parametrize("preset", ["rap", "rap_truth", "rap_truth_geometry", "replay", "all"])
def test_grc_ports_match_the_block(preset, platform):
    from gnuradio import cfisac

    fg = platform.make_flow_graph()
    fg.new_block("cfisac_config").params["id"].set_value("cfg")
    blk = fg.new_block("cfisac_head")
    blk.params["id"].set_value("blk")
    blk.params["preset"].set_value(preset)
    blk.params["num_blocks"].set_value("7")
    for _ in range(3):
        fg.rewrite()
    make = blk.templates.render("make")
    top = types.SimpleNamespace(stop=lambda: None)  # the generated flowgraph's self
    instance = eval(make, {"cfisac": cfisac, "cfg": fg.namespace["cfg"], "self": top})
    assert instance.num_blocks == 7
    assert instance.on_idle is top.stop
    for grc_ports, py_ports in ((blk.sinks, instance.in_ports), (blk.sources, instance.out_ports)):
        streams = [p for p in grc_ports if p.domain == "stream"]
        shown = [p for p in streams if not p.hidden]
        assert all(p.optional for p in streams if p.hidden)
        assert len(shown) == len(py_ports), preset
        for gp, pp in zip(shown, py_ports):
            assert gp.dtype == "complex" and int(gp.vlen) == pp.vlen, pp.name
