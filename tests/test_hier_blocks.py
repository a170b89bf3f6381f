"""The TAP side and RAP side hier blocks: a flowgraph made of them computes what the blocks wired
one by one compute, their ports are DESIGN's, optional outputs may stay unconnected, messages
come through, and wiring by port name refuses names that do not exist."""

import numpy as np
import pmt
import pytest

from gnuradio import blocks, gr
from gr_cfisac.blocks import (
    build_chain,
    echo_channel,
    fusion,
    music_localizer,
    pilot_estimator,
    precoder,
    rap_side,
    scenario_source,
    tap_side,
    transmitter,
)
from gr_cfisac.blocks.qa import run_with_timeout
from gr_cfisac.blocks.wiring import SELF, Wiring, flatten
from gr_cfisac.config import SystemConfig
from gr_cfisac.layout import item_size

N_BLOCKS = 5
SMALL = SystemConfig(NT=3, NR=2, MT_shape=(1, 3), MR_shape=(2, 3), K=2, NC=2, tau_c=50, tau_p=2)


def _sink(port):
    make = blocks.vector_sink_f if port.dtype == np.float32 else blocks.vector_sink_c
    return make(port.vlen)


def _probe(tb, block, port):
    """A vector sink on ``block``'s output ``port`` (a Port of block.out_ports)."""
    sink = _sink(port)
    tb.connect((block, block.out_ports.index(port)), sink)
    return sink


def _data(sink, port):
    return np.asarray(sink.data(), port.dtype).reshape(-1, port.per_block, port.vlen)


def _cbs(sink):
    return [
        (t.offset, pmt.to_uint64(t.value))
        for t in sink.tags()
        if pmt.symbol_to_string(t.key) == "cb"
    ]


def block_by_block(cfg, seed):
    """The TAP side, echo channel and RAP side wired one block at a time by port index (the
    wiring build_chain had before the hier blocks); probes on every hier-block output."""
    tb = gr.top_block()
    NT, NR, K = cfg.NT, cfg.NR, cfg.K
    src = scenario_source(cfg, seed=seed, num_blocks=N_BLOCKS)
    est = pilot_estimator(cfg)
    pre = precoder(cfg, "zf", sensing_fraction=0.3, msg_interval=0)
    tx = transmitter(cfg, seed=seed + 1)
    echo = echo_channel(cfg, seed=seed + 3)
    music = music_localizer(cfg, n_sources=0, msg_interval=0)
    fus = fusion(cfg, msg_interval=0)
    for i in range(NT):
        tb.connect((src, i), (est, i))
        tb.connect((src, NT + i), (est, NT + i))
        tb.connect((est, i), (pre, i))
        tb.connect((pre, i), (tx, i))
        tb.connect((tx, i), (echo, i))
    tb.connect((src, 2 * NT + 1), (pre, NT))
    tb.connect((src, 2 * NT), (echo, NT))
    for j in range(NR):
        tb.connect((echo, j), (music, j))
        tb.connect((music, j), (fus, j))
    tb.connect((src, 2 * NT + 1), (fus, NR))
    probes = {p.name: (_probe(tb, tx, p), p) for p in tx.out_ports}  # tap0 .., symbols
    assert len(probes) == NT + 1 and K
    for name, block in (("truth", src), ("geometry", src), ("W", pre), ("fix", fus)):
        port = next(p for p in block.out_ports if p.name == name)
        probes[name] = (_probe(tb, block, port), port)
    for port in music.out_ports[:NR]:  # angles1 ..
        probes[port.name] = (_probe(tb, music, port), port)
    run_with_timeout(tb, 120)
    for b in (src, est, pre, tx, echo, music, fus):
        assert b.error is None, f"{b.name()}: {b.error}"
    return probes


def with_hier_blocks(cfg, seed, max_blocks):
    """tap_side -> echo channel -> rap_side, wired by port name, probes on their outputs."""
    tb = gr.top_block()
    tap = tap_side(
        cfg,
        seed=seed,
        num_blocks=N_BLOCKS,
        sensing_fraction=0.3,
        msg_interval=0,
        max_blocks=max_blocks,
    )
    rap = rap_side(cfg, n_sources=0, msg_interval=0, max_blocks=max_blocks)
    echo = echo_channel(cfg, seed=seed + 3)
    w = Wiring(tb, {"tap": tap, "echo": echo, "rap": rap})
    w.connect_by_name("tap", "echo")
    w.connect_by_name("echo", "rap")
    w.connect(("tap", "geometry"), ("rap", "geometry"))
    names = [f"tap{i}" for i in range(cfg.NT)] + ["symbols", "truth", "geometry", "W"]
    probes = {n: (_probe(tb, tap, p), p) for p in tap.out_ports for n in [p.name] if n in names}
    probes |= {p.name: (_probe(tb, rap, p), p) for p in rap.out_ports if "spectrum" not in p.name}
    run_with_timeout(tb, 120)
    assert tap.errors() == {} and rap.errors() == {} and echo.error is None
    return probes


@pytest.mark.parametrize("network", [SystemConfig(), SMALL], ids=["table1", "small"])
def test_hier_flowgraph_computes_what_the_blocks_one_by_one_compute(network):
    """Same seed, same per-block outputs, bit for bit, with the cb tags on every block; odd
    work() sizes inside the hier blocks change nothing."""
    ref = block_by_block(network, seed=4)
    odd = {"scenario": 2, "estimator": 3, "precoder": 1, "transmitter": 4, "music": 3, "fusion": 2}
    hier = with_hier_blocks(network, seed=4, max_blocks=odd)
    assert set(hier) == set(ref)
    for name, (sink, port) in ref.items():
        got_sink, got_port = hier[name]
        assert got_port == port, name
        want = _data(sink, port)
        assert want.shape[0] == N_BLOCKS, name
        np.testing.assert_array_equal(_data(got_sink, got_port), want, err_msg=name)
        assert _cbs(got_sink) == [(b * port.per_block, b) for b in range(N_BLOCKS)], name
    # the probes saw the chain working (fixes, a beamformer), not NaN or zeros throughout
    assert np.isfinite(_data(*hier["fix"])[:, 0, :3]).all(axis=1).sum() >= N_BLOCKS - 2
    assert np.abs(_data(*hier["W"])).max() > 0


@pytest.mark.parametrize("cfg", [SystemConfig(), SMALL], ids=["table1", "small"])
def test_ports_are_designs_items(cfg):
    """One port per TAP (complex64[MT], tau items per block) and per RAP (complex64[MR]),
    per-block data one item per block, in the layouts' sizes; GNU Radio's signature agrees."""
    tap, rap = tap_side(cfg), rap_side(cfg)
    c64, f32 = np.complex64, np.float32
    want_tap = (
        [(f"tap{i}", c64, cfg.MT, cfg.tau) for i in range(cfg.NT)]
        + [("symbols", c64, cfg.K + 1, cfg.tau)]
        + [(k, c64, item_size(cfg, k), 1) for k in ("truth", "geometry")]
        + [("W", c64, item_size(cfg, "precoder"), 1)]
        + [("active", f32, cfg.K, 1)]
        + [(f"pilots{i}", c64, cfg.MT, cfg.tau_p) for i in range(cfg.NT)]
        + [(f"stats{i}", c64, item_size(cfg, "stats"), 1) for i in range(cfg.NT)]
    )
    want_rap_in = [(f"rap{j + 1}", c64, cfg.MR, cfg.tau) for j in range(cfg.NR)] + [
        ("geometry", c64, item_size(cfg, "geometry"), 1)
    ]
    n_display = rap.music.az.size * rap.music.el.size
    want_rap_out = (
        [("fix", f32, item_size(cfg, "fix"), 1)]
        + [(f"angles{j + 1}", f32, item_size(cfg, "angles"), 1) for j in range(cfg.NR)]
        + [(f"spectrum{j + 1}", f32, n_display, 1) for j in range(cfg.NR)]
    )
    sides = (
        (tap.in_ports, [(f"data{k + 1}", c64, 1, cfg.tau) for k in range(cfg.K)]),
        (tap.out_ports, want_tap),
        (rap.in_ports, want_rap_in),
        (rap.out_ports, want_rap_out),
    )
    for ports, want in sides:
        assert [(p.name, p.dtype, p.vlen, p.per_block) for p in ports] == want
    for block in (tap, rap):
        for sig, ports in (
            (block.input_signature(), block.in_ports),
            (block.output_signature(), block.out_ports),
        ):
            assert sig.min_streams() == sig.max_streams() == len(ports)
            sizes = [np.dtype(p.dtype).itemsize * p.vlen for p in ports]
            assert list(sig.sizeof_stream_items()) == sizes


def test_optional_outputs_stay_unconnected_and_messages_come_through():
    """Only what the parts need connected (tap, symbols, truth, W; the fix): the flowgraph runs,
    and the mirrored message ports deliver the precoder's and fusion's messages."""
    cfg = SMALL
    tb = gr.top_block()
    tap = tap_side(cfg, num_blocks=3)  # msg_interval 1: a message every block
    rap = rap_side(cfg, n_sources=0)
    echo = echo_channel(cfg)
    w = Wiring(tb, {"tap": tap, "echo": echo, "rap": rap})
    w.connect_by_name("tap", "echo")
    w.connect_by_name("echo", "rap")
    w.connect(("tap", "geometry"), ("rap", "geometry"))
    for port in tap.out_ports:
        if port.name in ("symbols", "W"):
            tb.connect((tap, tap.out_ports.index(port)), blocks.null_sink(8 * port.vlen))
    fix = _probe(tb, rap, rap.out_ports[0])
    spectrum = _probe(tb, rap, next(p for p in rap.out_ports if p.name == "spectrum1"))
    debug = {name: blocks.message_debug() for name in ("beamformer", "position", "angles")}
    tb.msg_connect((tap, "beamformer"), (debug["beamformer"], "store"))
    tb.msg_connect((rap, "position"), (debug["position"], "store"))
    tb.msg_connect((rap, "angles"), (debug["angles"], "store"))
    run_with_timeout(tb, 60)
    assert tap.errors() == {} and rap.errors() == {}
    assert len(fix.data()) == 3 * rap.out_ports[0].vlen
    assert len(spectrum.data()) == 3 * rap.music.az.size * rap.music.el.size
    for name, d in debug.items():
        cbs = [pmt.to_python(pmt.dict_ref(d.get_message(i), pmt.intern("cb"), pmt.PMT_NIL))
               for i in range(d.num_messages())]  # fmt: skip
        assert cbs == [0, 1, 2], name


def test_user_data_inputs_reach_the_transmitter():
    """Connected data inputs are what the TAP side sends (its symbols output, x1 .. xK)."""
    cfg = SMALL
    tb = gr.top_block()
    tap = tap_side(cfg, num_blocks=2)
    rng = np.random.default_rng(3)
    data = (rng.standard_normal((cfg.K, 2 * cfg.tau)) + 1j).astype(np.complex64)
    for k in range(cfg.K):
        tb.connect(blocks.vector_source_c(data[k].tolist()), (tap, k))
    sinks = {}
    for o, port in enumerate(tap.out_ports):
        if port.name in ("symbols", "truth", "W") or port.name.startswith("tap"):
            sinks[port.name] = _sink(port)
            tb.connect((tap, o), sinks[port.name])
    run_with_timeout(tb, 60)
    assert tap.errors() == {}
    sent = np.asarray(sinks["symbols"].data(), np.complex64).reshape(-1, cfg.K + 1)
    np.testing.assert_array_equal(sent[:, 1:].T, data)


def test_wiring_names_what_is_wrong():
    cfg = SMALL
    tb = gr.top_block()
    tap, echo = tap_side(cfg), echo_channel(cfg)
    w = Wiring(tb, {"tap": tap, "echo": echo})
    with pytest.raises(ValueError, match=r"no output port 'tap9'.*'tap0'"):
        w.connect(("tap", "tap9"), ("echo", "tap0"))
    with pytest.raises(ValueError, match="no part 'rap'"):
        w.connect(("tap", "tap0"), ("rap", "rap1"))
    with pytest.raises(ValueError, match="no port name in common"):
        w.connect_by_name("echo", "tap")
    with pytest.raises(ValueError, match="names the graph itself"):
        Wiring(tb, {SELF: tap})
    assert w.edges == []  # nothing was connected by the refused calls
    with pytest.raises(ValueError, match=r"max_blocks names unknown blocks \['musik'\]"):
        build_chain(gr.top_block(), cfg, max_blocks={"musik": 3})


def test_build_chain_is_the_hier_blocks_wired_by_name(cfg):
    """build_chain's edges, the hier blocks expanded, are the chain's data flow: every input
    of every block fed once, from the output of the same name (the estimator's and fusion's
    inputs from inside the hier blocks); the chain's blocks are the parts."""
    chain = build_chain(gr.top_block(), cfg, num_blocks=1, n_sources=0)
    edges = flatten(chain.wiring)
    parts = {**chain.tap.parts, **chain.rap.parts, "downlink": chain.downlink}
    parts |= {"echo": chain.echo, "metrics": chain.metrics}
    fed = {}
    for e in edges:
        src, dst = parts[e.src].out_ports[e.src_port], parts[e.dst].in_ports[e.dst_port]
        assert src.name == dst.name, e
        assert (e.dst, e.dst_port) not in fed, f"{e.dst} input {dst.name} fed twice"
        fed[(e.dst, e.dst_port)] = e.src
    for name, block in parts.items():
        optional = {"transmitter": cfg.K}.get(name, 0)  # the user data inputs
        assert sum(d == name for d, _ in fed) == len(block.in_ports) - optional, name
    assert sorted(map(id, chain.blocks)) == sorted(map(id, parts.values()))
    assert chain.scenario is chain.tap.scenario and chain.fusion is chain.rap.fusion
