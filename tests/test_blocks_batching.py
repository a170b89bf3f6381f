"""Whole coherence blocks per work() call (issue 16): a block takes every block ready on its
inputs (up to max_blocks) in one call. GNU Radio halves noutput_items from the output space
(768, 384, ..., 48, 24, ...) until forecast is met; a forecast asking for noutput_items'
worth of blocks handed fusion 48 of the 64 blocks MUSIC had just produced, then 12, 3, 1
(five calls per MUSIC call instead of one)."""

from gr_cfisac.bench import realtime_graphs as rg
from gr_cfisac.bench.realtime import network


def test_rap_side_blocks_take_every_ready_block_in_one_call():
    cfg = network(MR_shape=(2, 2))
    items = rg.recorded_items(cfg, n=16)
    n = 384
    graph = rg.build("rap", cfg, n, items, n_sources=0, method="esprit")
    rg.run_graph(graph, n)
    music, fuse = graph.parts
    assert music.blocks_done == fuse.blocks_done == n
    # fusion's inputs fill only when MUSIC produces (a batch at a time): it takes each batch
    # in one call (the old forecast needed ~5 calls per batch)
    assert fuse.calls <= music.calls + 2, (fuse.calls, music.calls)
    assert fuse.blocks_done / fuse.calls >= 0.75 * music.blocks_done / music.calls
