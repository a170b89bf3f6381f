"""The radio adapter blocks without radios: the Radio Source's file driver hands each received
RAP its antennas (silence for the others) with the recorded rx_time tags; the Radio Sink's file
driver writes the TAPs it sends, scaled; the Scene Follower gives the truth and geometry of
exactly the blocks its clock stream carries; parameters that cannot work are refused by name."""

import numpy as np
import pmt
import pytest

from gnuradio import blocks, gr
from gr_cfisac.blocks import radio_sink, radio_source, scenario_source, scene_follower
from gr_cfisac.blocks.radio_sink import auto_scale
from gr_cfisac.blocks.time_align import time_from_pmt, time_to_pmt
from gr_cfisac.config import SystemConfig
from gr_cfisac.timing import RadioTime

CFG = SystemConfig(NT=3, NR=3, MT_shape=(1, 2), MR_shape=(2, 2), K=2, NC=2, tau_c=12, tau_p=2)


def tag(offset, key, value):
    t = gr.tag_t()
    t.offset, t.key, t.value = offset, pmt.intern(key), value
    return t


def test_radio_source_file_driver_maps_antennas_to_raps(tmp_path):
    n, width = 50, 2 * CFG.MR  # RAPs 3 and 1 received, in that order
    x = (np.arange(n * width) + 1j).astype(np.complex64).reshape(n, width)
    t0 = RadioTime(7, 0.5)
    path = tmp_path / "radio.dat"
    tb = gr.top_block()
    src = blocks.vector_source_c(
        x.ravel().tolist(), False, width, [tag(0, "rx_time", time_to_pmt(t0))]
    )
    sink = blocks.file_meta_sink(
        gr.sizeof_gr_complex * width,
        str(path),
        1e6,
        1.0,
        blocks.GR_FILE_FLOAT,
        True,
        1 << 20,
        pmt.make_dict(),
        False,
    )
    tb.connect(src, sink)
    tb.run()
    sink.close()
    tb = gr.top_block()
    radio = radio_source(CFG, "file", source=str(path), raps="3,1")
    outs = [blocks.vector_sink_c(CFG.MR) for _ in range(CFG.NR)]
    for j, s in enumerate(outs):
        tb.connect((radio, j), s)
    tb.run()
    got = [np.array(s.data(), np.complex64).reshape(-1, CFG.MR) for s in outs]
    assert np.array_equal(got[2], x[:, : CFG.MR])  # RAP 3: the first MR antennas
    assert np.array_equal(got[0], x[:, CFG.MR :])  # RAP 1: the next
    assert got[1].shape == (n, CFG.MR) and not got[1].any()  # RAP 2: silence, same rate
    times = [
        time_from_pmt(t.value) for t in outs[2].tags() if pmt.symbol_to_string(t.key) == "rx_time"
    ]
    assert times and set(times) == {t0} and outs[2].tags()[0].offset == 0


def test_radio_source_refusals(tmp_path):
    with pytest.raises(ValueError, match="driver file needs source"):
        radio_source(CFG, "file")
    with pytest.raises(ValueError, match="not a readable GNU Radio metadata file"):
        radio_source(CFG, "file", source=str(tmp_path / "none.dat"))
    with pytest.raises(ValueError, match="raps must be distinct integers in 1..3"):
        radio_source(CFG, "zeromq", source="tcp://127.0.0.1:1", raps="0,1")
    with pytest.raises(ValueError, match="driver must be one of"):
        radio_source(CFG, "usrp")
    with pytest.raises(ValueError, match="sync must be one of"):
        radio_source(CFG, "zeromq", source="tcp://127.0.0.1:1", sync="gps")


def test_radio_sink_file_driver_writes_the_taps_it_sends_scaled(tmp_path, rng):
    n = 3 * CFG.tau
    x = [(rng.standard_normal((n, CFG.MT)) + 0j).astype(np.complex64) for _ in range(CFG.NT)]
    path = tmp_path / "tx.raw"
    tb = gr.top_block()
    radio = radio_sink(CFG, "file", sink=str(path), taps="2,0")
    for i in range(CFG.NT):
        tb.connect(blocks.vector_source_c(x[i].ravel().tolist(), False, CFG.MT), (radio, i))
    tb.run()
    del tb, radio  # closes the file
    got = np.fromfile(path, np.complex64).reshape(n, 2 * CFG.MT)
    want = np.concatenate([x[2], x[0]], axis=1) * auto_scale(CFG)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(ValueError, match="taps must be distinct integers in 0..2"):
        radio_sink(CFG, "file", sink=str(path), taps="3")
    with pytest.raises(ValueError, match="tx_scale"):
        radio_sink(CFG, "file", sink=str(path), tx_scale=-1)


def test_scene_follower_gives_the_blocks_its_clock_carries():
    cbs = [5, 6, 9, 40]
    per = CFG.tau
    data = np.zeros(len(cbs) * per * CFG.MR, np.complex64)
    tags = [tag(i * per, "cb", pmt.from_uint64(cb)) for i, cb in enumerate(cbs)]
    tb = gr.top_block()
    src = blocks.vector_source_c(data.tolist(), False, CFG.MR, tags)
    follow = scene_follower(CFG, seed=4)
    truth = blocks.vector_sink_c(follow.out_ports[0].vlen)
    geom = blocks.vector_sink_c(follow.out_ports[1].vlen)
    tb.connect(src, follow)
    tb.connect((follow, 0), truth)
    tb.connect((follow, 1), geom)
    tb.run()
    want = scenario_source(CFG, seed=4).draws.get(np.array(cbs))
    assert np.array_equal(
        np.array(truth.data()).reshape(len(cbs), -1), want["truth"].astype(np.complex64)
    )
    assert np.array_equal(
        np.array(geom.data()).reshape(len(cbs), -1), want["geometry"].astype(np.complex64)
    )
    got = [int(pmt.to_uint64(t.value)) for t in truth.tags() if pmt.symbol_to_string(t.key) == "cb"]
    assert got == cbs


@pytest.mark.parametrize(
    "block_id, ports",
    [
        ("cfisac_radio_source", ("sources", "NR", "MR")),
        ("cfisac_radio_sink", ("sinks", "NT", "MT")),
        ("cfisac_scene_follower", None),
    ],
)
def test_grc_ports(platform, block_id, ports):
    from gnuradio import cfisac

    fg = platform.make_flow_graph()
    cfg_block = fg.new_block("cfisac_config")
    cfg_block.params["id"].set_value("cfg")
    for k, v in {"NT": "3", "NR": "2", "MT_shape": "(1, 3)", "MR_shape": "(2, 3)"}.items():
        cfg_block.params[k].set_value(v)
    blk = fg.new_block(block_id)
    blk.params["id"].set_value("blk")
    if "samp_rate" in blk.params:
        blk.params["samp_rate"].set_value("1e6")
    for _ in range(3):
        fg.rewrite()
    assert blk.is_valid(), blk.get_error_messages()
    cfg = fg.namespace["cfg"]
    if ports is None:
        instance = eval(blk.templates.render("make"), {"cfisac": cfisac, "cfg": cfg})
        grc = [p for p in blk.sources if p.domain == "stream"]
        assert [int(p.vlen) for p in grc] == [p.vlen for p in instance.out_ports]
        assert [int(p.vlen) for p in blk.sinks] == [p.vlen for p in instance.in_ports]
        return
    side, count, vlen = ports
    grc = [p for p in getattr(blk, side) if p.domain == "stream"]
    assert len(grc) == getattr(cfg, count) and {int(p.vlen) for p in grc} == {getattr(cfg, vlen)}
