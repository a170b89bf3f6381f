"""SigMF sink and source blocks on real top blocks: round trips with tags, replay of a live run
through estimation + MUSIC, looping, throttling, captures made by other tools, failures."""

from __future__ import annotations

import threading
import time

import numpy as np
import pmt
import pytest
import sigmf
from sigmf import sigmffile

from gnuradio import blocks, gr
from gr_cfisac.blocks import build_chain, music_localizer, pilot_estimator
from gr_cfisac.blocks._base import CB_KEY
from gr_cfisac.blocks.layout import angles_layout
from gr_cfisac.blocks.sigmf_sink import sigmf_sink
from gr_cfisac.blocks.sigmf_source import sigmf_source
from gr_cfisac.config import SystemConfig
from gr_cfisac.music import Validity
from gr_cfisac.sigmf_io import SigMFError, read_capture, read_recording


def _noise(rng, shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def _tagged_source(data: np.ndarray, per_block: int, first_cb: int, extra_tags):
    """A vector source with cb tags plus extra (offset, key, pmt value) tags."""
    flat = data.astype(np.complex64).ravel().tolist()
    all_tags = []
    for b in range(data.shape[0]):
        t = gr.tag_t()
        t.offset, t.key, t.value = b * per_block, CB_KEY, pmt.from_uint64(first_cb + b)
        all_tags.append(t)
    for offset, key, value in extra_tags:
        t = gr.tag_t()
        t.offset, t.key, t.value = offset, pmt.intern(key), value
        all_tags.append(t)
    return blocks.vector_source_c(flat, False, data.shape[-1], all_tags)


def _collect(tb, block, port, vlen):
    sink = blocks.vector_sink_c(vlen)
    tb.connect((block, port), sink)
    return sink


def test_sink_records_ports_and_tags_and_source_replays_them(cfg, rng, tmp_path):
    blocks_n, tau = 12, cfg.tau
    echo = [_noise(rng, (blocks_n, tau, cfg.MR)) for _ in range(2)]
    extra = [
        (5, "rx_time", pmt.make_tuple(pmt.from_uint64(7), pmt.from_double(0.25))),
        (tau + 3, "burst", pmt.intern("start")),
        (2 * tau, "gain_db", pmt.from_double(31.5)),
    ]
    tb = gr.top_block()
    sink = sigmf_sink(cfg, str(tmp_path / "cap"), rap_echo=2, max_blocks=5)
    tb.connect(_tagged_source(echo[0], tau, 40, extra), (sink, 0))
    tb.connect(_tagged_source(echo[1], tau, 40, []), (sink, 1))
    tb.run()
    assert sink.recording_error is None
    assert sink.collection_path == tmp_path / "cap.sigmf-collection"
    # the recordings: bit-exact, valid SigMF, blocks and tags as annotations
    capture = read_capture(sink.collection_path)
    recs = capture.by_kind("rap_echo")
    assert [r.stream["index"] for r in recs] == [0, 1]
    for j, rec in enumerate(recs):
        assert np.array_equal(rec.samples(), echo[j].reshape(-1, cfg.MR))
        assert [b.cb for b in rec.blocks()] == list(range(40, 40 + blocks_n))
        assert [b.start for b in rec.blocks()] == [b * tau for b in range(blocks_n)]
        handle = sigmffile.fromfile(str(rec.meta_path))
        handle.validate()
    tags = {t[1]: (t[0], t[2]) for t in recs[0].tags() if t[1] != "cb"}
    assert tags == {
        "rx_time": (5, [7, 0.25]),
        "burst": (tau + 3, "start"),
        "gain_db": (2 * tau, 31.5),
    }
    assert capture.config == cfg and capture.geometry["rap_pos_m"]
    # replay: same samples, the recorded cb values and the other tags at their offsets
    tb = gr.top_block()
    src = sigmf_source(cfg, str(sink.collection_path), max_blocks=3)
    outs = [_collect(tb, src, j, cfg.MR) for j in range(2)]
    tb.run()
    for j in range(2):
        assert np.array_equal(np.array(outs[j].data()).reshape(echo[j].shape), echo[j])
    got = outs[0].tags()
    cbs = [(t.offset, pmt.to_uint64(t.value)) for t in got if pmt.eq(t.key, CB_KEY)]
    assert cbs == [(b * tau, 40 + b) for b in range(blocks_n)]
    other = {
        pmt.symbol_to_string(t.key): (t.offset, t.value)
        for t in got
        if pmt.symbol_to_string(t.key) in ("rx_time", "burst", "gain_db")
    }
    for offset, key, value in extra:
        assert other[key][0] == offset and pmt.equal(other[key][1], value)
    assert any(pmt.symbol_to_string(t.key) == "cfisac_config" for t in got)


def _chain_with_sink(cfg: SystemConfig, path, num_blocks: int):
    """The live chain recording everything cfisac replay needs, plus the live estimates and
    MUSIC angles collected beside it."""
    tb = gr.top_block()
    ch = build_chain(
        tb, cfg, seed=3, num_blocks=num_blocks, max_blocks={"scenario": 7, "echo": 5, "music": 6}
    )
    NT, NR = cfg.NT, cfg.NR
    sink = sigmf_sink(cfg, str(path), preset="replay", max_blocks=9)
    for j in range(NR):
        tb.connect((ch.echo, j), (sink, j))
    tb.connect((ch.scenario, 2 * NT), (sink, NR))
    tb.connect((ch.scenario, 2 * NT + 1), (sink, NR + 1))
    for i in range(NT):
        tb.connect((ch.scenario, i), (sink, NR + 2 + i))
        tb.connect((ch.scenario, NT + i), (sink, NR + 2 + NT + i))
    est = [_collect(tb, ch.estimator, i, ch.estimator.out_ports[i].vlen) for i in range(NT)]
    ang = []
    for j in range(NR):
        s = blocks.vector_sink_f(ch.music.out_ports[j].vlen)
        tb.connect((ch.music, j), s)
        ang.append(s)
    tb.run()
    assert not ch.errors() and sink.recording_error is None
    return sink.collection_path, est, ang


def test_replay_through_estimation_and_music_reproduces_the_live_run(cfg, tmp_path):
    capture, est_live, ang_live = _chain_with_sink(cfg, tmp_path / "live", num_blocks=30)
    NT, NR = cfg.NT, cfg.NR
    tb = gr.top_block()
    src = sigmf_source(cfg, str(capture), max_blocks=11)
    kinds = [k for k, _ in src.kinds]
    est, mus = pilot_estimator(cfg, max_blocks=4), music_localizer(cfg, max_blocks=13)
    for i in range(NT):
        tb.connect((src, kinds.index("tap_pilots") + i), (est, i))
        tb.connect((src, kinds.index("stats") + i), (est, NT + i))
    for j in range(NR):
        tb.connect((src, j), (mus, j))
    for o, kind in enumerate(kinds):
        if kind in ("truth", "geometry"):
            tb.connect((src, o), blocks.null_sink(gr.sizeof_gr_complex * src.out_ports[o].vlen))
    est_replay = [_collect(tb, est, i, est.out_ports[i].vlen) for i in range(NT)]
    ang_replay = []
    for j in range(NR):
        s = blocks.vector_sink_f(mus.out_ports[j].vlen)
        tb.connect((mus, j), s)
        ang_replay.append(s)
    tb.run()
    for i in range(NT):
        live, replay = np.array(est_live[i].data()), np.array(est_replay[i].data())
        assert live.shape == replay.shape == (30 * est.out_ports[i].vlen,)
        assert np.abs(replay - live).max() <= 1e-6 * np.abs(live).max()
    # Table I's 2x2 RAPs with a target and two clutter points: not identifiable, so every block
    # says so and holds no peaks (no 1/eps spectrum values whose rounding differs between runs)
    layout = angles_layout(mus.n_peaks)
    for j in range(NR):
        live = layout.unpack(np.array(ang_live[j].data()).reshape(-1, layout.size))
        replay = layout.unpack(np.array(ang_replay[j].data()).reshape(-1, layout.size))
        assert np.all(live["validity"] == Validity.NOT_IDENTIFIABLE)
        assert np.array_equal(replay["validity"], live["validity"])
        for name in ("psi", "theta", "value"):
            assert np.all(np.isnan(live[name])) and np.all(np.isnan(replay[name]))


def test_replay_through_music_reproduces_the_live_angles_on_4x4_raps(tmp_path):
    """Where the scene is identifiable (4x4 RAPs: 13-dimensional noise subspace) the replayed
    MUSIC peaks are the live ones: same validity, angles within 1e-6 rad, the same values."""
    cfg = SystemConfig(MR_shape=(4, 4))
    capture, _, ang_live = _chain_with_sink(cfg, tmp_path / "live", num_blocks=12)
    tb = gr.top_block()
    src = sigmf_source(cfg, str(capture), max_blocks=5, preset="rap_truth_geometry")
    mus = music_localizer(cfg, max_blocks=7)
    for j in range(cfg.NR):
        tb.connect((src, j), (mus, j))
    for o, (kind, _) in enumerate(src.kinds):
        if kind in ("truth", "geometry"):
            tb.connect((src, o), blocks.null_sink(gr.sizeof_gr_complex * src.out_ports[o].vlen))
    sinks = [blocks.vector_sink_f(mus.out_ports[j].vlen) for j in range(cfg.NR)]
    for j, s in enumerate(sinks):
        tb.connect((mus, j), s)
    tb.run()
    layout = angles_layout(mus.n_peaks)
    for j in range(cfg.NR):
        live = layout.unpack(np.array(ang_live[j].data()).reshape(-1, layout.size))
        replay = layout.unpack(np.array(sinks[j].data()).reshape(-1, layout.size))
        assert live["validity"].shape == (12, 1)
        assert np.array_equal(replay["validity"], live["validity"])
        ok = live["validity"][:, 0] == Validity.OK
        assert ok.all()
        for name in ("psi", "theta"):
            assert np.array_equal(np.isnan(live[name]), np.isnan(replay[name]))
            fin = np.isfinite(live[name])
            assert np.abs(replay[name][fin] - live[name][fin]).max() <= 1e-6
        fin = np.isfinite(live["value"])
        assert np.allclose(replay["value"][fin], live["value"][fin], rtol=1e-4)


def _small_capture(cfg, rng, path, n_blocks=5, first_cb=0):
    data = _noise(rng, (n_blocks, cfg.tau, cfg.MR))
    tb = gr.top_block()
    sink = sigmf_sink(cfg, str(path), rap_echo=1)
    tb.connect(_tagged_source(data, cfg.tau, first_cb, []), sink)
    tb.run()
    return sink.collection_path, data


def test_source_loops_with_increasing_block_indices_and_can_stop_early(cfg, rng, tmp_path):
    capture, data = _small_capture(cfg, rng, tmp_path / "loop", n_blocks=4, first_cb=10)
    tb = gr.top_block()
    src = sigmf_source(cfg, str(capture), loop=True, max_blocks=3)
    head = blocks.head(gr.sizeof_gr_complex * cfg.MR, 11 * cfg.tau)
    out = blocks.vector_sink_c(cfg.MR)
    tb.connect(src, head, out)
    tb.run()
    got = np.array(out.data()).reshape(11, cfg.tau, cfg.MR)
    assert np.array_equal(got, data[np.arange(11) % 4])
    cbs = [pmt.to_uint64(t.value) for t in out.tags() if pmt.eq(t.key, CB_KEY)]
    assert cbs == [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
    tb = gr.top_block()
    out = blocks.vector_sink_c(cfg.MR)
    src = sigmf_source(cfg, str(capture), num_blocks=2)  # keep Python blocks referenced
    tb.connect(src, out)
    tb.run()
    assert len(out.data()) == 2 * cfg.tau * cfg.MR


def test_source_runs_with_only_its_leading_ports_connected(cfg, tmp_path):
    """GRC marks every group after the RAP echoes optional: a user replaying a capture with
    truth and geometry through MUSIC alone leaves them unconnected."""
    capture = _full_capture(cfg, tmp_path / "full")
    tb = gr.top_block()
    src = sigmf_source(cfg, str(capture), preset="rap_truth_geometry")
    assert [k for k, _ in src.kinds][cfg.NR :] == ["truth", "geometry"]
    outs = [_collect(tb, src, j, cfg.MR) for j in range(cfg.NR)]
    tb.run()
    assert src.error is None
    for out in outs:
        assert len(out.data()) == cfg.tau * cfg.MR  # the capture's one block


def test_source_throttles_to_the_requested_block_rate(cfg, rng, tmp_path):
    capture, _ = _small_capture(cfg, rng, tmp_path / "slow", n_blocks=6)
    tb = gr.top_block()
    src = sigmf_source(cfg, str(capture), blocks_per_second=40.0)
    tb.connect(src, blocks.vector_sink_c(cfg.MR))
    t0 = time.monotonic()
    tb.run()
    assert time.monotonic() - t0 >= 5 / 40.0 * 0.9  # 6 blocks: the last is due after 5/40 s


def test_source_refuses_mismatched_configs_and_missing_streams(cfg, rng, tmp_path):
    capture, _ = _small_capture(cfg, rng, tmp_path / "cap")
    with pytest.raises(ValueError, match="another SystemConfig: .*K=4 in the capture vs 3 here"):
        sigmf_source(cfg.replace(K=3, tau_p=4), str(capture))
    with pytest.raises(ValueError, match="has 0 tap_pilots recording"):
        sigmf_source(cfg, str(capture), tap_pilots=8)
    with pytest.raises(ValueError, match="no such SigMF"):
        sigmf_source(cfg, str(tmp_path / "nothing.sigmf-collection"))
    data = tmp_path / "cap-rap_echo0.sigmf-data"
    raw = bytearray(data.read_bytes())
    raw[10] ^= 1
    data.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="checksum mismatch"):
        sigmf_source(cfg, str(capture))


def test_plain_capture_from_another_tool_replays_given_a_config(cfg, rng, tmp_path):
    """cf32_le, 4 channels, written with the sigmf package, no cfisac: metadata, no cb."""
    x = _noise(rng, (3 * cfg.tau + 17, cfg.MR))
    x.tofile(tmp_path / "plain.sigmf-data")
    handle = sigmffile.SigMFFile(
        data_file=str(tmp_path / "plain.sigmf-data"),
        global_info={
            "core:datatype": "cf32_le",
            "core:num_channels": cfg.MR,
            "core:version": sigmf.__specification__,
        },
    )
    handle.add_capture(0)
    handle.tofile(str(tmp_path / "plain"))
    with pytest.raises(ValueError, match="no cfisac:config metadata; pass the SystemConfig"):
        sigmf_source(None, str(tmp_path / "plain.sigmf-meta"))
    tb = gr.top_block()
    src = sigmf_source(cfg, str(tmp_path / "plain.sigmf-meta"))
    mus = music_localizer(cfg, num_raps=1)
    angles = blocks.vector_sink_f(mus.out_ports[0].vlen)
    tb.connect(src, mus)
    tb.connect((mus, 0), angles)
    tb.run()
    assert len(angles.data()) == 3 * mus.out_ports[0].vlen  # 3 whole blocks, the rest dropped
    with pytest.raises(ValueError, match="has 4 channels; a tap_pilots port"):
        sigmf_source(
            cfg.replace(MT_shape=(1, 2)),
            str(tmp_path / "plain.sigmf-meta"),
            plain_kind="tap_pilots",
        )


def test_sink_write_failure_is_reported_and_the_flowgraph_carries_on(cfg, rng, tmp_path):
    data = _noise(rng, (8, cfg.tau, cfg.MR))
    tb = gr.top_block()
    sink = sigmf_sink(cfg, str(tmp_path / "full"), rap_echo=1, max_blocks=2)
    tb.connect(_tagged_source(data, cfg.tau, 0, []), sink)
    tb.start()
    tb.wait()  # a clean run first: the capture is finished
    assert read_capture(sink.collection_path).recordings[0].num_items == 8 * cfg.tau

    tb = gr.top_block()
    sink = sigmf_sink(cfg, str(tmp_path / "full2"), rap_echo=1, max_blocks=2)
    sink.open()  # create the writers now to break one of them

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def write(self, _):
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    sink.writers[0]._file = FullDisk(sink.writers[0]._file)
    tb.connect(_tagged_source(data, cfg.tau, 0, []), sink)
    tb.run()  # ends normally: the source ran out, the sink kept consuming
    assert "No space left on device" in sink.recording_error
    assert sink.collection_path is None and sink.error is None
    with pytest.raises(SigMFError, match="incomplete"):
        read_recording(tmp_path / "full2-rap_echo0")


# ----------------------------------------------------------------------------- GRC definitions


def _full_capture(cfg: SystemConfig, path):
    """One block of zeros in every stream kind the blocks know."""
    from gr_cfisac.blocks.sigmf_sink import KIND_ORDER, preset_counts, stream_kind
    from gr_cfisac.sigmf_io import CaptureWriter

    counts = preset_counts(cfg, "all")
    with CaptureWriter(path.parent, path.name, cfg) as cap:
        for kind in KIND_ORDER:
            spec = stream_kind(cfg, kind)
            for j in range(counts[kind]):
                stream = {"kind": kind, "index": j, "items_per_block": spec.per_block}
                w = cap.stream(f"{kind}{j}", spec.vlen, stream=stream)
                w.write(np.zeros((spec.per_block, spec.vlen), np.complex64))
                w.mark_block(0, 0)
    return cap.path


@pytest.mark.parametrize("preset", ["rap", "rap_truth", "rap_truth_geometry", "replay", "all"])
def test_grc_ports_match_the_blocks(preset, tmp_path, platform):
    from gnuradio import cfisac

    capture = _full_capture(SystemConfig(), tmp_path / "full")
    for block_id, path in (("cfisac_sigmf_sink", "captures/x"), ("cfisac_sigmf_source", capture)):
        fg = platform.make_flow_graph()
        cfg_block = fg.new_block("cfisac_config")
        cfg_block.params["id"].set_value("cfg")
        blk = fg.new_block(block_id)
        blk.params["id"].set_value("blk")
        blk.params["preset"].set_value(preset)  # enum options are bare names, no quotes
        blk.params["path"].set_value(repr(str(path)))
        for _ in range(3):
            fg.rewrite()
        cfg = fg.namespace["cfg"]
        make = blk.templates.render("make")
        assert f"preset='{preset}'" in make, make
        instance = eval(make, {"cfisac": cfisac, "cfg": cfg})
        grc_ports = blk.sinks if block_id.endswith("sink") else blk.sources
        py_ports = instance.in_ports if block_id.endswith("sink") else instance.out_ports
        shown = [p for p in grc_ports if p.domain == "stream" and not p.hidden]
        assert len(shown) == len(py_ports), f"{block_id} {preset}"
        for gp, pp in zip(shown, py_ports):
            assert gp.dtype == "complex" and int(gp.vlen) == pp.vlen, f"{block_id} {pp.name}"


def test_sink_stopped_by_an_error_leaves_the_capture_incomplete(cfg, rng, tmp_path):
    """Inputs from a block built for another network stop the sink at its first work(): the
    capture must say so, not pass for a finished recording of nothing."""
    data = _noise(rng, (4, cfg.tau, cfg.MR))
    other = cfg.replace(tau_c=cfg.tau_c + 1, tau_p=cfg.tau_p + 1)  # the same tau
    config_tag = (0, "cfisac_config", pmt.intern(other.to_json()))
    tb = gr.top_block()
    sink = sigmf_sink(cfg, str(tmp_path / "wrong"), rap_echo=1)
    tb.connect(_tagged_source(data, cfg.tau, 0, [config_tag]), sink)
    tb.run()
    assert "different SystemConfig" in str(sink.error)
    assert sink.collection_path is None
    with pytest.raises(SigMFError, match="incomplete .*sink stopped on an error"):
        read_recording(tmp_path / "wrong-rap_echo0")


def test_existing_capture_is_refused_up_front_and_never_hangs_the_flowgraph(cfg, rng, tmp_path):
    """Running a flowgraph twice with the same capture path: the sink says so when it is built;
    a capture that appears between building and starting is logged and the flowgraph runs on
    (an exception in start() would kill the block's thread and hang it)."""
    capture, data = _small_capture(cfg, rng, tmp_path / "run")
    with pytest.raises(ValueError, match="run.sigmf-collection exists; .*overwrite"):
        sigmf_sink(cfg, str(tmp_path / "run"), rap_echo=1)
    sigmf_sink(cfg, str(tmp_path / "run"), rap_echo=1, overwrite=True)  # allowed
    sink = sigmf_sink(cfg, str(tmp_path / "late"), rap_echo=1)
    _small_capture(cfg, rng, tmp_path / "late")  # another run took the name meanwhile
    tb = gr.top_block()
    tb.connect(_tagged_source(data, cfg.tau, 0, []), sink)
    tb.start()
    finished = threading.Event()
    threading.Thread(target=lambda: (tb.wait(), finished.set()), daemon=True).start()
    if not finished.wait(30):
        tb.stop()
        pytest.fail("the flowgraph hung")
    assert "cannot create the capture" in sink.recording_error and sink.blocks_done == len(data)
    assert read_capture(tmp_path / "late.sigmf-collection").recordings  # the other run's, intact
