"""Inputs that join streams already running (a ZeroMQ receiver started against a sender that
is already streaming) are aligned by the block before its first coherence block: the partial
block and the blocks before the latest input's first block are skipped, and the outputs are
those the same blocks give when their inputs are aligned from the start. After the start, a
dropped block is still an error. A block built with num_blocks=N processes N blocks counted
from the join."""

from __future__ import annotations

import numpy as np
import pmt
import pytest

from gnuradio import blocks, gr
from gr_cfisac.blocks import fusion, music_localizer
from gr_cfisac.blocks._base import CB_KEY, Misaligned
from gr_cfisac.blocks.chain import build_chain
from gr_cfisac.blocks.qa import run_with_timeout, source_for
from gr_cfisac.config import SystemConfig

BLOCKS = 12


def _cb(sink) -> list[tuple[int, int]]:
    """(offset, value) of the cb tags a vector sink saw."""
    return [(t.offset, pmt.to_uint64(t.value)) for t in sink.tags() if pmt.eq(t.key, CB_KEY)]


def _collect(tb: gr.top_block, block, port: int):
    p = block.out_ports[port]
    sink = blocks.vector_sink_f(p.vlen)
    tb.connect((block, port), sink)
    return sink


@pytest.fixture(scope="module")
def joined():
    """The simulated chain (its MUSIC and fusion aligned from the start) beside a second MUSIC
    whose RAP inputs join at different points, some in the middle of a block, and a second
    fusion whose geometry input joins later still."""
    cfg = SystemConfig(MR_shape=(4, 4))  # Table I's 2x2 RAPs cannot identify 3 sources
    tau, NR = cfg.tau, cfg.NR
    tb = gr.top_block()
    chain = build_chain(tb, cfg, num_blocks=BLOCKS, max_blocks={"music": 5, "fusion": 3})
    # RAP j's first item: block 0, the middle of block 2, block 1, the middle of block 3
    skips = [0, 2 * tau + 77, tau, 3 * tau + 5]
    late_music = music_localizer(cfg, msg_interval=0, max_blocks=3)
    for j in range(NR):
        skip = blocks.skiphead(gr.sizeof_gr_complex * cfg.MR, skips[j])
        tb.connect((chain.echo, j), skip, (late_music, j))
    late_fusion = fusion(cfg, msg_interval=0, max_blocks=2)
    geometry = chain.scenario.geometry.size
    geo_skip = blocks.skiphead(gr.sizeof_gr_complex * geometry, 6)  # joins at block 6
    for j in range(NR):
        tb.connect((late_music, j), (late_fusion, j))
    tb.connect((chain.scenario, 2 * cfg.NT + 1), geo_skip, (late_fusion, NR))
    ref = [_collect(tb, chain.music, j) for j in range(NR)] + [_collect(tb, chain.fusion, 0)]
    late = [_collect(tb, late_music, j) for j in range(NR)] + [_collect(tb, late_fusion, 0)]
    run_with_timeout(tb, 120.0)
    assert chain.errors() == {}
    assert late_music.error is None and late_fusion.error is None
    return cfg, chain, late_music, late_fusion, ref, late


def test_late_inputs_start_at_the_latest_inputs_first_block(joined):
    cfg, chain, late_music, late_fusion, ref, late = joined
    # MUSIC's inputs start at blocks 0, 3 (after a partial block 2), 1, 4 (after a partial 3)
    assert late_music.blocks_done == BLOCKS - 4
    for sink in late[: cfg.NR]:
        assert _cb(sink) == [(k, 4 + k) for k in range(BLOCKS - 4)]
    # fusion: MUSIC's outputs start at block 4, the geometry at block 6
    assert late_fusion.blocks_done == BLOCKS - 6
    assert _cb(late[-1]) == [(k, 6 + k) for k in range(BLOCKS - 6)]
    for sink in ref:
        assert _cb(sink) == [(k, k) for k in range(BLOCKS)]


def test_late_inputs_give_what_the_aligned_blocks_give(joined):
    cfg, chain, late_music, late_fusion, ref, late = joined
    for j in range(cfg.NR):
        p = late_music.out_ports[j]
        want = np.asarray(ref[j].data(), np.float32).reshape(BLOCKS, p.vlen)[4:]
        got = np.asarray(late[j].data(), np.float32).reshape(-1, p.vlen)
        np.testing.assert_array_equal(got, want)
    p = late_fusion.out_ports[0]
    want = np.asarray(ref[-1].data(), np.float32).reshape(BLOCKS, p.vlen)[6:]
    got = np.asarray(late[-1].data(), np.float32).reshape(-1, p.vlen)
    # the least-squares fix may round differently in another batch of blocks
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert np.isfinite(got).any()  # fixes, not only NaNs, were compared


def test_the_join_says_what_was_skipped(joined):
    cfg, chain, late_music, late_fusion, ref, late = joined
    tau, msg = cfg.tau, late_music.join_message
    assert "aligned them at coherence block 4" in msg
    assert f"input 0 (rap1): 4 blocks ({4 * tau} items)" in msg
    assert (
        f"input 1 (rap2): {tau - 77} items of a partial block + 1 block ({2 * tau - 77} items)"
        in msg
    )
    assert f"input 2 (rap3): 3 blocks ({3 * tau} items)" in msg
    assert f"input 3 (rap4): {tau - 5} items of a partial block ({tau - 5} items)" in msg
    # RAPs 2-4 joined after their producer's first item: their config was not compared
    assert late_music._untagged_config == [1, 2, 3]
    assert "inputs 1 (rap2), 2 (rap3), 3 (rap4)" in msg and "not compared" in msg
    assert late_fusion._untagged_config == [cfg.NR]  # the geometry; MUSIC's outputs were checked
    assert "input 4 (geometry): the" in late_fusion.join_message
    assert chain.music.join_message is None and chain.fusion.join_message is None


def _rap_sources(cfg: SystemConfig, first: list[tuple[int, list[int]]]):
    """Random RAP snapshots, one vector source per (partial items, block indices) pair: the
    partial items (no tag) come first, then one tagged block per index."""
    rng = np.random.default_rng(7)
    tau, M = cfg.tau, cfg.MR
    sources = []
    for partial, cbs in first:
        n = partial + len(cbs) * tau
        data = (rng.standard_normal((n, M)) + 1j * rng.standard_normal((n, M))).astype(np.complex64)
        tags = []
        for b, value in enumerate(cbs):
            t = gr.tag_t()
            t.offset, t.key, t.value = partial + b * tau, CB_KEY, pmt.from_uint64(value)
            tags.append(t)
        sources.append(blocks.vector_source_c(data.ravel().tolist(), False, M, tags))
    return sources


def test_a_block_dropped_after_the_start_is_still_an_error(cfg):
    """Input 2 joins in the middle of block 2 (aligned), then loses block 7 mid-stream."""
    tb = gr.top_block()
    music = music_localizer(cfg, num_raps=2, msg_interval=0, max_blocks=2)
    srcs = _rap_sources(cfg, [(0, list(range(12))), (50, [b for b in range(3, 12) if b != 7])])
    sinks = []
    for j, src in enumerate(srcs):
        tb.connect(src, (music, j))
        sinks.append(_collect(tb, music, j))
    run_with_timeout(tb, 60)
    assert isinstance(music.error, Misaligned)
    msg = str(music.error)
    assert "input 1 (rap2) is at coherence block 8 where input 0 (rap1) is at 7" in msg
    assert "dropped or repeated items" in msg
    assert music.blocks_done == 4  # blocks 3..6, nothing from another block's data
    assert [v for _, v in _cb(sinks[0])] == [3, 4, 5, 6]


def test_inputs_without_cb_tags_are_not_aligned(cfg):
    """An untagged input is taken as it comes (as before); the tagged one drops its partial
    block and the block indices come from it."""
    tau = cfg.tau
    tb = gr.top_block()
    music = music_localizer(cfg, num_raps=2, msg_interval=0)
    rng = np.random.default_rng(3)
    data = (rng.standard_normal((4, tau, cfg.MR)) + 0j).astype(np.complex64)
    untagged = source_for(data, tau, tagged=False)
    tagged = _rap_sources(cfg, [(30, [5, 6, 7])])[0]
    tb.connect(untagged, (music, 0))
    tb.connect(tagged, (music, 1))
    sinks = [_collect(tb, music, j) for j in range(2)]
    run_with_timeout(tb, 60)
    assert music.error is None
    assert music.blocks_done == 3
    assert [v for _, v in _cb(sinks[0])] == [5, 6, 7]


def test_num_blocks_counts_the_blocks_after_the_join(cfg, tmp_path):
    """MUSIC and a SigMF sink built with num_blocks=4, on inputs that join at block 0 and in
    the middle of block 2: both process blocks 3..6 exactly (MUSIC in calls of 3 + 1 blocks)
    and end, while their sources hold blocks up to 11."""
    from gr_cfisac.blocks import sigmf_sink
    from gr_cfisac.sigmf_io import read_capture

    tau = cfg.tau
    tb = gr.top_block()
    music = music_localizer(cfg, num_raps=2, msg_interval=0, max_blocks=3, num_blocks=4)
    sink = sigmf_sink(cfg, str(tmp_path / "cap"), rap_echo=2, num_blocks=4)
    srcs = _rap_sources(cfg, [(0, list(range(12))), (50, list(range(3, 12)))])
    raw = [blocks.vector_sink_c(cfg.MR) for _ in srcs]
    outs = []
    for j, src in enumerate(srcs):
        tb.connect(src, (music, j))
        tb.connect(src, (sink, j))
        tb.connect(src, raw[j])
        outs.append(_collect(tb, music, j))
    run_with_timeout(tb, 60)
    assert music.error is None and sink.error is None and sink.recording_error is None
    assert music.blocks_done == 4 and music.calls == 2
    for out in outs:
        assert _cb(out) == [(k, 3 + k) for k in range(4)]
    assert sink.blocks_done == 4
    skip = [3 * tau, 50]  # items before block 3 on each input
    for j, rec in enumerate(read_capture(tmp_path / "cap.sigmf-collection").recordings):
        assert [(b.start, b.cb) for b in rec.blocks()] == [(k * tau, 3 + k) for k in range(4)]
        sent = np.asarray(raw[j].data(), np.complex64).reshape(-1, cfg.MR)
        np.testing.assert_array_equal(rec.samples(), sent[skip[j] : skip[j] + 4 * tau])


def test_num_blocks_must_not_be_negative(cfg):
    with pytest.raises(ValueError, match="num_blocks must be >= 0"):
        fusion(cfg, num_blocks=-1)
