"""The end-to-end flowgraph: the generated cfisac_sim measures what the formulas predict on the
same realizations, MUSIC in the flowgraph is the core's MUSIC, tags stay aligned whatever the
work() sizes, and misconfiguration stops the flowgraph at start with a clear message."""

import sys
from pathlib import Path

import numpy as np
import pmt
import pytest

from gnuradio import blocks, gr
from gr_cfisac import music
from gr_cfisac.blocks import build_chain, downlink_channel, pilot_estimator, scenario_source
from gr_cfisac.blocks._base import ConfigMismatch, Misaligned
from gr_cfisac.blocks.layout import angles_layout
from gr_cfisac.blocks.qa import run_with_timeout
from gr_cfisac.config import SystemConfig

ROOT = Path(__file__).resolve().parents[1]
N_BLOCKS = 40


@pytest.fixture(scope="module")
def sim():
    """The grcc-generated flowgraph, with probes on the RAP streams and MUSIC outputs."""
    sys.path.insert(0, str(ROOT / "flowgraphs"))
    try:
        from cfisac_sim import cfisac_sim
    finally:
        sys.path.pop(0)
    tb = cfisac_sim(num_blocks=N_BLOCKS, seed=7, print_interval=0)
    cfg = tb.cfg
    rap = [blocks.vector_sink_c(cfg.MR) for _ in range(cfg.NR)]
    angles = [blocks.vector_sink_f(angles_layout(cfg.NC + 1).size) for _ in range(cfg.NR)]
    for j in range(cfg.NR):
        tb.connect((tb.echo, j), rap[j])
        tb.connect((tb.music, j), angles[j])
    run_with_timeout(tb)
    return tb, rap, angles


def test_flowgraph_ran_every_block_without_errors(sim):
    tb, *_ = sim
    for b in (
        tb.scenario,
        tb.estimator,
        tb.precoder,
        tb.transmitter,
        tb.downlink,
        tb.echo,
        tb.music,
        tb.fusion,
        tb.metrics,
    ):
        assert b.error is None, f"{b.name()}: {b.error}"
        assert b.blocks_done == N_BLOCKS, b.name()


def test_measured_sinr_matches_eq20_on_the_same_realizations(sim):
    tb, *_ = sim
    r = tb.metrics.results()
    np.testing.assert_array_equal(r["cb"], np.arange(N_BLOCKS))
    ratio = r["sinr"] / r["sinr_formula"]
    # per block the measurement has relative spread ~sqrt(2 / tau); averaged over the blocks
    # every user's must sit on eq 20, and all users together closer still
    sigma = np.sqrt(2 / tb.cfg.tau / N_BLOCKS)
    assert np.all(np.abs(ratio.mean(0) - 1) < 4 * sigma), ratio.mean(0)
    assert abs(ratio.mean() - 1) < 4 * sigma / np.sqrt(tb.cfg.K)
    assert np.all(np.abs(ratio - 1) < 0.6)
    s_ratio = r["scnr"] / r["scnr_formula"]
    assert abs(np.median(s_ratio) - 1) < 0.05
    assert np.all(r["rate_formula"] > 1)  # ZF on the Table-I network: a few bps/Hz per user


def test_music_in_the_flowgraph_is_the_core_function(sim):
    """The flowgraph's MUSIC is the core's, with the model order by MDL per block (its default:
    Table I's 2x2 RAPs cannot identify the target and both clutter points, NC + 1 = 3 sources,
    so assuming them would mark every block not identifiable)."""
    tb, rap, angles = sim
    cfg = tb.cfg
    assert tb.sources == 0 and tb.music.n_sources == 0
    layout = angles_layout(cfg.NC + 1)
    ok = 0
    for j in range(cfg.NR):
        Y = np.asarray(rap[j].data(), np.complex64).reshape(N_BLOCKS, cfg.tau, cfg.MR)
        want = music.estimate(np.swapaxes(Y, 1, 2).astype(complex), *cfg.MR_shape, None, cfg.NC + 1)
        got = layout.unpack(np.asarray(angles[j].data()).reshape(N_BLOCKS, -1))
        np.testing.assert_array_equal(got["validity"][:, 0], want.validity)
        np.testing.assert_array_equal(got["n_sources"][:, 0], want.n_sources)
        np.testing.assert_allclose(got["psi"], want.angles[..., 0], atol=2e-6)
        np.testing.assert_allclose(got["theta"], want.angles[..., 1], atol=2e-6)
        ok += int(np.sum(want.validity == music.Validity.OK))
    assert ok >= 0.8 * cfg.NR * N_BLOCKS  # MDL finds an identifiable order in most blocks


def test_no_capture_writes_nothing(sim, tmp_path, monkeypatch):
    """capture = "" (the default) is the recorder's documented off switch: the SigMF sink is in
    the flowgraph (GRC cannot remove a block by a parameter) and writes nothing."""
    tb, *_ = sim
    assert tb.capture == "" and tb.recorder.path is None
    assert tb.recorder.collection_path is None and tb.recorder.recording_error is None
    monkeypatch.chdir(tmp_path)
    sys.path.insert(0, str(ROOT / "flowgraphs"))
    try:
        from cfisac_sim import cfisac_sim
    finally:
        sys.path.pop(0)
    small = cfisac_sim(num_blocks=3, print_interval=0)
    run_with_timeout(small)
    assert small.recorder.blocks_done == 3 and small.recorder.collection_path is None
    assert list(tmp_path.iterdir()) == []


def chain_results(cfg, max_blocks, probes=False):
    tb = gr.top_block()
    chain = build_chain(tb, cfg, seed=3, num_blocks=30, max_blocks=max_blocks)
    sinks = {}
    if probes:  # vector sinks that record the cb tags of a few streams
        for name, block, port in (
            ("tap", chain.transmitter, 2),
            ("user", chain.downlink, 1),
            ("rap", chain.echo, 3),
            ("fix", chain.fusion, 0),
        ):
            p = block.out_ports[port]
            sink = (blocks.vector_sink_f if p.dtype == np.float32 else blocks.vector_sink_c)(p.vlen)
            tb.connect((block, port), sink)
            sinks[name] = (sink, p.per_block)
    run_with_timeout(tb)
    assert not chain.errors()
    return chain.metrics.results(), sinks


def test_tags_and_results_stay_aligned_with_odd_work_sizes(cfg):
    """Every block's output for block cb depends only on block cb's inputs: shuffling the
    work() boundaries (odd sizes, one block per call, many per call) changes nothing."""
    reference, _ = chain_results(cfg, 64)
    odd = {
        "scenario": 5,
        "estimator": 3,
        "precoder": 7,
        "transmitter": 1,
        "downlink": 9,
        "echo": 4,
        "music": 3,
        "fusion": 11,
        "metrics": 2,
    }
    shuffled, sinks = chain_results(cfg, odd, probes=True)
    assert set(shuffled) == set(reference)
    for key in reference:
        np.testing.assert_array_equal(shuffled[key], reference[key], err_msg=key)
    for name, (sink, per) in sinks.items():
        tags = [
            (t.offset, pmt.to_uint64(t.value))
            for t in sink.tags()
            if pmt.symbol_to_string(t.key) == "cb"
        ]
        assert tags == [(b * per, b) for b in range(30)], name


def test_config_mismatch_stops_the_flowgraph_at_start(cfg):
    tb = gr.top_block()
    source = scenario_source(cfg, num_blocks=0)  # would run forever
    # an estimator built for another coherence time has the same port sizes: only the
    # config tag can tell, at its first work() call
    est = pilot_estimator(cfg.replace(tau_c=100))
    for i in range(2 * cfg.NT):
        tb.connect((source, i), (est, i))
    for i in range(cfg.NT):
        tb.connect((est, i), blocks.null_sink(8 * cfg.K * cfg.MT))
    tb.connect((source, 2 * cfg.NT), blocks.null_sink(8 * source.truth.size))
    tb.connect((source, 2 * cfg.NT + 1), blocks.null_sink(8 * source.geometry.size))
    run_with_timeout(tb, 30)
    assert isinstance(est.error, ConfigMismatch)
    msg = str(est.error)
    assert "tau_c=196 upstream vs 100 here" in msg and "cfisac_scenario_source" in msg
    assert est.blocks_done == 0  # nothing was computed with the wrong config


def test_dimension_mismatch_is_refused_when_connecting(cfg):
    tb = gr.top_block()
    source = scenario_source(cfg, num_blocks=1)
    dl = downlink_channel(cfg.replace(K=3))
    with pytest.raises(ValueError, match="itemsize mismatch"):
        tb.connect((source, 2 * cfg.NT), (dl, cfg.NT))


def _second_downlink(tb, chain, cfg, truth):
    """A second downlink channel beside the chain's, its truth input from ``truth`` (a block
    fed by the scenario's truth output, or a source), with its user outputs collected."""
    dl = downlink_channel(cfg)
    for i in range(cfg.NT):
        tb.connect((chain.transmitter, i), (dl, i))
    if truth.input_signature().max_streams() == 0:
        tb.connect(truth, (dl, cfg.NT))
    else:
        tb.connect((chain.scenario, 2 * cfg.NT), truth, (dl, cfg.NT))
    sinks = [blocks.vector_sink_c() for _ in range(cfg.K)]
    for k in range(cfg.K):
        tb.connect((dl, k), sinks[k])
    return dl, sinks


def test_misaligned_streams_stop_the_flowgraph_with_a_message(cfg):
    tb = gr.top_block()
    chain = build_chain(tb, SystemConfig(), num_blocks=20, with_sensing=False)
    # a truth stream that loses coherence block 5 mid-stream
    cbs = [b for b in range(20) if b != 5]
    items = chain.scenario.draws.get(np.array(cbs))["truth"]
    tags = []
    for j, b in enumerate(cbs):
        t = gr.tag_t()
        t.offset, t.key, t.value = j, pmt.intern("cb"), pmt.from_uint64(b)
        tags.append(t)
    truth = blocks.vector_source_c(items.ravel().tolist(), False, items.shape[1], tags)
    dl, _ = _second_downlink(tb, chain, cfg, truth)
    run_with_timeout(tb, 30)
    assert isinstance(dl.error, Misaligned)
    assert "truth" in str(dl.error) and "misaligned" in str(dl.error)
    assert dl.blocks_done <= 5  # nothing computed from another block's data


def test_a_stream_joining_late_is_aligned(cfg):
    """A peer that joins a running stream (a ZeroMQ link to a flowgraph already streaming)
    starts its inputs at different blocks: the block skips the inputs that are behind and
    starts at the latest one's first block, saying so (tests/test_late_join.py: the rest)."""
    tb = gr.top_block()
    chain = build_chain(tb, SystemConfig(), num_blocks=20, with_sensing=False)
    late = blocks.skiphead(8 * chain.scenario.truth.size, 3)  # truth joins at block 3
    dl, sinks = _second_downlink(tb, chain, cfg, late)
    run_with_timeout(tb, 30)
    assert dl.error is None and dl.blocks_done == 17
    cbs = [
        (t.offset, pmt.to_uint64(t.value))
        for t in sinks[0].tags()
        if pmt.symbol_to_string(t.key) == "cb"
    ]
    assert cbs == [(k * cfg.tau, 3 + k) for k in range(17)]
    assert "aligned them at coherence block 3" in dl.join_message
    assert f"input 0 (tap0): 3 blocks ({3 * cfg.tau} items)" in dl.join_message
