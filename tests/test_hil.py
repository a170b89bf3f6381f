"""The hardware-in-the-loop pair over loopback: flowgraphs/cfisac_hil_tap.py and
cfisac_hil_rap.py in two processes, linked by GNU Radio's ZeroMQ stream blocks with tags
passed. What the RAP side receives is what the TAP side sent (samples, cb and config tags), and
localization on the RAP side works exactly as it does in one process."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gnuradio import blocks, gr
from gr_cfisac.blocks import fusion, music_localizer
from gr_cfisac.blocks.layout import fix_layout
from gr_cfisac.blocks.sigmf_source import sigmf_source
from gr_cfisac.config import SystemConfig
from gr_cfisac.replay import score_capture
from gr_cfisac.sigmf_io import read_capture

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = 30


def _free_base_port(count: int) -> int:
    """A base port with ``count`` free consecutive ports on 127.0.0.1."""
    rng = np.random.default_rng()
    for _ in range(50):
        base = int(rng.integers(20000, 40000))
        socks = []
        try:
            for k in range(count):
                s = socket.socket()
                s.bind(("127.0.0.1", base + k))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free ports")


def _run_pair(tmp: Path, base: int, *tap_args: str) -> str:
    """Run the RAP side to completion and the TAP side until then; both must exit cleanly."""
    rap_cmd = [
        "flowgraphs/cfisac_hil_rap.py",
        "--num-blocks",
        str(BLOCKS),
        "--base-port",
        str(base),
        "--fix-path",
        str(tmp / "fix.f32"),
        "--capture",
        str(tmp / "rap"),
    ]
    tap_cmd = [
        "flowgraphs/cfisac_hil_tap.py",
        "--base-port",
        str(base),
        "--capture",
        str(tmp / "tap"),
        *tap_args,
    ]
    kw = {"cwd": ROOT, "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    rap = subprocess.Popen([sys.executable, *rap_cmd], **kw)
    tap = subprocess.Popen([sys.executable, *tap_cmd], **kw)
    try:
        rap_out, _ = rap.communicate(timeout=300)
        time.sleep(0.5)
        tap.send_signal(signal.SIGTERM)  # the TAP side streams until stopped
        tap_out, _ = tap.communicate(timeout=60)
    finally:
        rap.kill()
        tap.kill()
    assert rap.returncode == 0, rap_out[-3000:]
    assert tap.returncode == 0, tap_out[-3000:]
    return rap_out


@pytest.fixture(scope="module")
def hil(tmp_path_factory):
    cfg = SystemConfig()
    tmp = tmp_path_factory.mktemp("hil")
    (tmp / "rap_out.txt").write_text(_run_pair(tmp, _free_base_port(cfg.NR + 2)))
    return cfg, tmp


def test_rap_side_receives_exactly_what_the_tap_side_sent(hil):
    cfg, tmp = hil
    sent = read_capture(tmp / "tap.sigmf-collection")  # finished on SIGTERM: complete
    got = read_capture(tmp / "rap.sigmf-collection")
    assert [r.name.split("-")[1] for r in got.recordings] == [
        "rap_echo0",
        "rap_echo1",
        "rap_echo2",
        "rap_echo3",
        "truth0",
        "geometry0",
    ]
    for r_got in got.recordings:
        r_sent = next(
            r for r in sent.recordings if r.name.split("-")[1] == r_got.name.split("-")[1]
        )
        per = r_got.stream["items_per_block"]
        assert r_got.num_items == BLOCKS * per
        assert r_sent.num_items >= BLOCKS * per
        assert np.array_equal(r_got.samples(), r_sent.samples(0, BLOCKS * per))
        # cb tags crossed the link: same block indices at the same items
        assert [(b.start, b.cb) for b in r_got.blocks()] == [
            (b.start, b.cb) for b in r_sent.blocks()[:BLOCKS]
        ]
        # the truth annotations were rebuilt from the truth stream on both sides
        assert r_got.blocks()[3].truth == r_sent.blocks()[3].truth


def test_localization_over_the_link_matches_one_process(hil):
    cfg, tmp = hil
    fix = np.fromfile(tmp / "fix.f32", dtype=np.float32).reshape(BLOCKS, -1)
    # the same MUSIC + fusion in one process, fed from the TAP side's own recording
    tb = gr.top_block()
    src = sigmf_source(
        cfg, str(tmp / "tap.sigmf-collection"), preset="rap_truth_geometry", num_blocks=BLOCKS
    )
    # as the RAP side of the HIL template: MDL per block, ESPRIT-started refinement
    mus, fus = music_localizer(cfg, n_sources=0, method="esprit"), fusion(cfg)
    out = blocks.vector_sink_f(fix_layout(cfg).size)
    for j in range(cfg.NR):
        tb.connect((src, j), (mus, j))
        tb.connect((mus, j), (fus, j))
    tb.connect((src, cfg.NR + 1), (fus, cfg.NR))
    tb.connect((src, cfg.NR), blocks.null_sink(gr.sizeof_gr_complex * src.out_ports[cfg.NR].vlen))
    tb.connect(fus, out)
    tb.run()
    local = np.array(out.data(), dtype=np.float32).reshape(BLOCKS, -1)
    assert np.array_equal(np.isnan(local), np.isnan(fix))
    finite = np.isfinite(fix)
    np.testing.assert_allclose(fix[finite], local[finite], rtol=1e-6, atol=1e-6)


def test_localization_still_works_on_the_rap_side(hil):
    cfg, tmp = hil
    sen = score_capture(tmp / "rap.sigmf-collection", n_sources=0)["sensing"]
    fused = sen["fused"]
    # Table I's 2x2 RAPs with a 50% null-space sensing beam (the paper scene), MUSIC with the
    # model order from MDL (at most 2 sources are identifiable on 2x2): most blocks fix the
    # target, within a few metres in the median
    assert fused["blocks_with_fix"] >= 0.5
    assert fused["median_error_m"] < 6.0
    pos = fix_layout(cfg).field(np.fromfile(tmp / "fix.f32", np.float32).reshape(BLOCKS, -1), "pos")
    assert np.isfinite(pos[:, 0]).mean() == pytest.approx(fused["blocks_with_fix"])
    # the RAP side printed what it measured and wrote it as JSON
    summary = json.loads((tmp / "fix.json").read_text())
    assert summary["blocks"] == BLOCKS and summary["ended"] == "num_blocks reached"
    assert summary["blocks_with_fix"] == pytest.approx(fused["blocks_with_fix"])
    assert summary["position_median_error_m"] == pytest.approx(fused["median_error_m"], rel=1e-4)
    out = (tmp / "rap_out.txt").read_text()
    assert f"RAP side: {BLOCKS} coherence blocks (num_blocks reached)" in out
    assert "vs truth: position RMSE" in out


def test_hil_with_the_precoder_as_a_remote_service(hil, tmp_path):
    """TAP side with algorithm=remote and `cfisac serve zf` in a third process: the service
    designs every W (with the TAP flowgraph's 50 % sensing power as its parameter: the
    service's parameters decide its W), and the RAP side localizes as with the local ZF
    precoder."""
    from gr_cfisac.service import RemotePrecoder

    cfg, first = hil
    base = _free_base_port(cfg.NR + 4)
    service = f"tcp://127.0.0.1:{base + cfg.NR + 2}"
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gr_cfisac.cli",
            "serve",
            "zf",
            "--param",
            "sensing_fraction=0.5",
            "--address",
            service,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with RemotePrecoder(service, cfg, timeout_ms=500) as probe:  # wait until it serves
            deadline = time.monotonic() + 60
            while probe.ping() is None and time.monotonic() < deadline:
                pass
            assert probe.ok, probe.status
        _run_pair(tmp_path, base, "--algorithm", "remote", "--remote-address", service)
        serve.send_signal(signal.SIGINT)
        out, _ = serve.communicate(timeout=30)
    finally:
        serve.kill()
    served = int(out.split("'ok': ")[1].split(",")[0].split("}")[0])
    assert served >= BLOCKS // 64 + 1, out  # W came from the service (the fallback is ZF too)
    remote = np.fromfile(tmp_path / "fix.f32", np.float32).reshape(BLOCKS, -1)
    local = np.fromfile(first / "fix.f32", np.float32).reshape(BLOCKS, -1)
    pos_r, pos_l = (fix_layout(cfg).field(x, "pos") for x in (remote, local))
    both = np.isfinite(pos_r[:, 0]) & np.isfinite(pos_l[:, 0])
    assert both.mean() >= 0.5
    # W crosses the wire as complex64: the fixes agree to far better than a centimetre
    assert np.abs(pos_r[both] - pos_l[both]).max() < 1e-2


def test_a_rap_side_started_late_joins_the_running_streams(tmp_path):
    """A second RAP side started against a TAP side that is already streaming (the first RAP
    side took its blocks and left): each ZeroMQ stream reaches it from a different block (the
    small truth/geometry items are buffered further ahead than the snapshots, hundreds of blocks
    apart). Its head skips to the latest first block and says so; MUSIC, fusion and the capture
    get exactly num_blocks of the blocks the TAP side sent there, and the flowgraph ends."""
    cfg = SystemConfig()
    late_blocks = 20
    base = _free_base_port(cfg.NR + 2)
    kw = {"cwd": ROOT, "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    tap = subprocess.Popen(
        [
            sys.executable,
            "flowgraphs/cfisac_hil_tap.py",
            "--base-port",
            str(base),
            "--capture",
            str(tmp_path / "tap"),
        ],
        **kw,
    )

    def rap(num_blocks: int, name: str) -> str:
        args = ["--num-blocks", str(num_blocks), "--base-port", str(base)]
        args += ["--fix-path", str(tmp_path / f"{name}.f32"), "--capture", str(tmp_path / name)]
        # the RAP side ends by itself (a hang is a failure, not a wait for the TAP side)
        done = subprocess.run(
            [sys.executable, "flowgraphs/cfisac_hil_rap.py", *args], timeout=120, **kw
        )
        assert done.returncode == 0, done.stdout[-3000:]
        return done.stdout

    try:
        rap(10, "first")
        out = rap(late_blocks, "second")
        time.sleep(0.5)
        tap.send_signal(signal.SIGTERM)
        tap_out, _ = tap.communicate(timeout=60)
    finally:
        tap.kill()
    assert tap.returncode == 0, tap_out[-3000:]
    # one join, at the head: everything after it is aligned from its first item
    assert out.count("aligned them at coherence block") == 1, out
    assert "cfisac_head: inputs joined streams" in out and "Misaligned" not in out
    got = read_capture(tmp_path / "second.sigmf-collection")
    sent = read_capture(tmp_path / "tap.sigmf-collection")
    start = got.recordings[0].blocks()[0].cb
    assert start > 0
    assert len(got.recordings) == cfg.NR + 2
    for r_got in got.recordings:
        kind = r_got.name.split("-")[1]
        r_sent = next(r for r in sent.recordings if r.name.split("-")[1] == kind)
        per = r_got.stream["items_per_block"]
        # every stream starts at the same block, on its first item, with no gap
        assert r_got.num_items == late_blocks * per, kind
        assert [(b.start, b.cb) for b in r_got.blocks()] == [
            (k * per, start + k) for k in range(late_blocks)
        ], kind
        at = next(b.start for b in r_sent.blocks() if b.cb == start)
        assert np.array_equal(r_got.samples(), r_sent.samples(at, late_blocks * per)), kind
    fix = np.fromfile(tmp_path / "second.f32", np.float32).reshape(-1, fix_layout(cfg).size)
    assert len(fix) == late_blocks
    report = score_capture(tmp_path / "second.sigmf-collection", n_sources=0)
    assert report["sensing"]["fused"]["blocks_with_fix"] >= 0.5


def test_rap_side_ends_by_itself_when_the_tap_side_stops_first(tmp_path):
    """Issue 10 item 2: a TAP side with a finite --num-blocks stops sending; the RAP side asked
    for more blocks ends after its idle timeout (ZeroMQ has no end-of-stream), prints what it
    measured and writes the JSON summary, its capture finished."""
    cfg = SystemConfig()
    base = _free_base_port(cfg.NR + 2)
    kw = {"cwd": ROOT, "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
    rap_args = ["--num-blocks", "1000", "--base-port", str(base), "--idle-timeout", "2"]
    rap_args += ["--fix-path", str(tmp_path / "fix.f32"), "--capture", str(tmp_path / "rap")]
    rap = subprocess.Popen([sys.executable, "flowgraphs/cfisac_hil_rap.py", *rap_args], **kw)
    tap_args = ["--num-blocks", "12", "--base-port", str(base)]
    try:
        tap = subprocess.run(
            [sys.executable, "flowgraphs/cfisac_hil_tap.py", *tap_args], timeout=120, **kw
        )
        assert tap.returncode == 0, tap.stdout[-3000:]
        out, _ = rap.communicate(timeout=60)  # a hang here is the bug
    finally:
        rap.kill()
    assert rap.returncode == 0, out[-3000:]
    assert "the peer has stopped" in out, out[-3000:]
    summary = json.loads((tmp_path / "fix.json").read_text())
    assert summary["ended"] == "peer stopped (idle timeout)" and summary["asked_blocks"] == 1000
    assert 0 < summary["blocks"] <= 12
    assert f"RAP side: {summary['blocks']} coherence blocks (peer stopped" in out
    got = read_capture(tmp_path / "rap.sigmf-collection")  # finished, readable
    assert got.recordings[0].num_items == summary["blocks"] * cfg.tau
