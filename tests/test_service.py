"""ZeroMQ precoder service (gr_cfisac.service): wire format, robustness, client failure modes,
and interoperation with GNU Radio's stock ZeroMQ message blocks. Loopback only, short timeouts."""

from __future__ import annotations

import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pmt
import pytest
import zmq

from gr_cfisac.config import SystemConfig
from gr_cfisac.precoding import mrt, zf
from gr_cfisac.service import (
    MAX_DEPTH,
    MalformedMessage,
    Model,
    PrecoderService,
    RemotePrecoder,
    check_frame,
    decode_message,
    encode_message,
    reply_address_for,
    to_pmt,
)

ROOT = Path(__file__).resolve().parents[1]


def _estimates(cfg: SystemConfig, batch: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((batch, cfg.N, cfg.K)) + 1j * rng.standard_normal((batch, cfg.N, cfg.K))
    return (1e-4 * F).astype(np.complex64).astype(np.complex128)  # what survives the wire


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture
def addr(tmp_path) -> str:
    return f"ipc://{tmp_path}/svc"


class Running:
    """A service answering in a background thread (stopped and closed on exit)."""

    def __init__(self, service: PrecoderService) -> None:
        self.service = service
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=service.serve, kwargs={"stop": self.stop, "poll_ms": 20}
        )

    def __enter__(self) -> PrecoderService:
        self.thread.start()
        return self.service

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(5)
        self.service.close()


# ----------------------------------------------------------------------------- wire format


def test_messages_round_trip_and_match_the_blocks_convention(cfg):
    F = _estimates(cfg, 3).astype(np.complex64)
    frame = encode_message(7, F_hat=F, cbs=np.arange(7, 10), power=2.5, client="c", seq=4)
    got = decode_message(frame)
    assert got["cb"] == 7 and got["client"] == "c" and got["seq"] == 4 and got["power"] == 2.5
    assert np.array_equal(got["F_hat"], F) and got["cbs"].tolist() == [7, 8, 9]
    messages = pytest.importorskip("gr_cfisac.blocks.messages")
    theirs = messages.decode(pmt.deserialize_str(frame))  # the blocks read ours ...
    assert np.array_equal(theirs["F_hat"], F) and theirs["cb"] == 7
    ours = decode_message(pmt.serialize_str(messages.encode(5, F_hat=F[0])))  # ... and we theirs
    assert ours["cb"] == 5 and np.array_equal(ours["F_hat"], F[0])


def test_frame_check_rejects_what_would_hurt_the_deserializer():
    huge_vector = bytes([0x0A, 0x0A]) + struct.pack(">I", 0x7FFFFFFF) + b"\x01\x00" + b"\x00" * 8
    huge_list = bytes([0x08]) + struct.pack(">I", 0xFFFFFFFF) + b"\x06" * 4
    deep = bytes([0x07]) * (MAX_DEPTH + 5) + b"\x06" * (2 * MAX_DEPTH + 10)
    sym = pmt.serialize_str(pmt.intern("x"))
    for frame, why in [
        (huge_vector, "truncated"),
        (huge_list, "elements in"),
        (deep, "too deep"),
        (sym + b"\x00", "trailing"),
        (b"", "empty"),
        (b"\x3b", "unknown PMT tag"),
        (bytes([0x0A, 0x20, 0, 0, 0, 0, 0]), "unknown uniform"),
    ]:
        with pytest.raises(MalformedMessage, match=why):
            check_frame(frame)
    check_frame(pmt.serialize_str(to_pmt(1, F_hat=np.ones((2, 2), np.complex64))))


def test_fuzzed_frames_only_ever_raise_malformed_message(cfg):
    base = [
        encode_message(3, F_hat=_estimates(cfg, 1).astype(np.complex64), client="a", seq=1),
        pmt.serialize_str(pmt.cons(pmt.intern("a"), pmt.make_vector(2, pmt.from_double(1.0)))),
    ]
    fuzz = np.random.default_rng(99)
    decoded = 0
    for i in range(3000):
        b = bytearray(base[i % 2])
        op = fuzz.integers(4)
        if op == 0:
            b = bytearray(fuzz.integers(0, 256, fuzz.integers(0, 80), dtype=np.uint8).tobytes())
        elif op == 1:
            for _ in range(fuzz.integers(1, 6)):
                b[fuzz.integers(len(b))] = fuzz.integers(256)
        elif op == 2:
            b = b[: fuzz.integers(len(b))]
        else:
            pos = fuzz.integers(len(b))
            b[pos : pos + 4] = b"\xff\xff\xff\x7f"
        try:
            decode_message(bytes(b))
            decoded += 1
        except MalformedMessage:
            pass
    assert 0 < decoded < 3000


# ----------------------------------------------------------------------------- the service


def test_handle_answers_good_requests_and_explains_bad_ones(cfg, addr):
    with PrecoderService("zf", cfg, addr) as svc:
        F = _estimates(cfg, 2)
        reply = decode_message(svc.handle(encode_message(11, F_hat=F.astype(np.complex64), seq=5)))
        assert reply["status"] == "ok" and reply["cb"] == 11 and reply["seq"] == 5
        assert _rel(reply["W"], zf(F, cfg.power_budget)) < 1e-6
        one = decode_message(svc.handle(encode_message(12, F_hat=F[0].astype(np.complex64))))
        assert one["W"].shape == (cfg.N, cfg.K)  # one block in, one block out (stock peers)
        bad = svc.handle(encode_message(13, F_hat=np.ones((3, 4), np.complex64)))
        err = decode_message(bad)
        assert err["status"] == "error" and err["cb"] == 13
        assert "needs (B, N=32, K=4)" in err["error"]
        nan = F.astype(np.complex64)
        nan[0, 0, 0] = np.nan
        assert "NaN" in decode_message(svc.handle(encode_message(1, F_hat=nan)))["error"]
        assert (
            "power must be"
            in decode_message(
                svc.handle(encode_message(1, F_hat=F.astype(np.complex64), power=-1.0))
            )["error"]
        )
        assert svc.handle(b"\x00\x01garbage") is None
        assert svc.stats["ok"] == 2 and svc.stats["malformed"] == 4


def test_remote_precoder_matches_the_local_precoder(cfg, addr):
    F = _estimates(cfg, 4)
    with Running(PrecoderService("mrt", cfg, addr)):
        with RemotePrecoder(addr, cfg, timeout_ms=2000) as remote:
            W = remote(F, cfg.power_budget, cb=np.arange(20, 24))
            assert remote.ok and remote.last_model == "mrt"
            assert W.shape == (4, cfg.N, cfg.K)
            assert _rel(W, mrt(F, cfg.power_budget)) < 1e-6
            assert remote.ping()["model"] == "mrt"
            with pytest.raises(ValueError, match="F_hat must be"):
                remote(F[:, :3])


def test_service_survives_10k_malformed_requests_then_serves(cfg, addr):
    rng = np.random.default_rng(5)
    good = encode_message(1, F_hat=_estimates(cfg, 1).astype(np.complex64))
    junk = [
        b"",
        b"\xff" * 7,
        encode_message(1, F_hat=np.ones((5, 5), np.complex64)),  # wrong shape
        encode_message(1, F_hat=np.ones(3)),  # real
        encode_message(1, other=np.ones(2)),  # no F_hat
        encode_message(1, F_hat=_estimates(cfg, 1).astype(np.complex64), power="high"),
        encode_message(1, F_hat=_estimates(cfg, 1).astype(np.complex64), type="reboot"),
        pmt.serialize_str(pmt.from_double(1.0)),  # not a dict
        bytes([0x0A, 0x0A]) + struct.pack(">I", 0x7FFFFFFF) + b"\x00",  # 16 GB c32vector
        bytes([0x09]) * 5000,  # dict recursion bomb
    ]
    ctx = zmq.Context.instance()
    with Running(PrecoderService("zf", cfg, addr)) as svc:
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 0)
        push.connect(addr)
        for i in range(10_000):
            frame = junk[i % len(junk)]
            if i % 7 == 0:  # damaged copies of a good request too
                b = bytearray(good)
                b[rng.integers(len(b))] ^= 0xFF
                b = b[: rng.integers(1, len(b))]
                frame = bytes(b)
            push.send(frame)
        deadline = time.monotonic() + 60  # PULL queues fairly across peers: drain the junk first
        while svc.stats["received"] < 10_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert svc.stats["received"] == 10_000
        with RemotePrecoder(addr, cfg, timeout_ms=20_000) as remote:
            for cb in range(3):
                W = remote(_estimates(cfg, 1, seed=cb), cb=cb)
                assert W is not None, remote.status
        push.close(0)
        assert svc.stats["received"] >= 10_003
        assert svc.stats["malformed"] >= 8_000
        assert svc.stats["ok"] == 3


def test_model_failure_is_reported_and_the_service_carries_on(cfg, addr):
    calls = []

    def flaky(F_hat, power, noise, sensing):
        calls.append(1)
        if len(calls) == 1:
            raise np.linalg.LinAlgError("singular matrix")
        return zf(F_hat, power, noise)

    with Running(PrecoderService(Model("flaky", flaky, cfg.K), cfg, addr)):
        with RemotePrecoder(addr, cfg, timeout_ms=2000) as remote:
            assert remote(_estimates(cfg, 1)) is None
            assert remote.status.startswith("server error: precoder failed: LinAlgError")
            assert remote(_estimates(cfg, 1)) is not None and remote.ok


def test_client_reports_an_absent_service_without_raising(cfg, addr):
    with RemotePrecoder(addr, cfg, timeout_ms=50) as remote:
        t0 = time.monotonic()
        assert remote(_estimates(cfg, 1)) is None
        assert remote.status.startswith("unreachable")
        assert time.monotonic() - t0 < 2
        assert remote.counts["unreachable"] == 1


def test_client_times_out_on_a_silent_service(cfg, addr):
    ctx = zmq.Context.instance()
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.bind(addr)
    push.bind(reply_address_for(addr))
    try:
        with RemotePrecoder(addr, cfg, timeout_ms=100) as remote:
            assert remote(_estimates(cfg, 1)) is None
            assert remote.status.startswith("timeout")
    finally:
        pull.close(0)
        push.close(0)


def test_client_rejects_malformed_and_stale_replies(cfg, addr):
    ctx = zmq.Context.instance()
    pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
    pull.bind(addr)
    push.bind(reply_address_for(addr))
    stop = threading.Event()

    def evil():  # answers garbage, then a stale reply, then a W of the wrong shape
        n = 0
        while not stop.is_set():
            if not pull.poll(20):
                continue
            req = decode_message(pull.recv())
            n += 1
            push.send(b"\x07garbage")
            push.send(
                encode_message(
                    req["cb"],
                    status="ok",
                    W=np.ones((1, cfg.N, cfg.K), np.complex64),
                    client=req["client"],
                    seq=req["seq"] - 1,
                )
            )
            if n > 1:
                push.send(
                    encode_message(
                        req["cb"],
                        status="ok",
                        W=np.ones((1, 3, 3), np.complex64),
                        client=req["client"],
                        seq=req["seq"],
                    )
                )

    t = threading.Thread(target=evil)
    t.start()
    try:
        with RemotePrecoder(addr, cfg, timeout_ms=300) as remote:
            assert remote(_estimates(cfg, 1)) is None
            assert remote.status.startswith("malformed reply")
            assert remote.counts["stale_reply"] >= 1
            assert remote(_estimates(cfg, 1)) is None
            assert remote.status.startswith("malformed reply: W (1, 3, 3)")
    finally:
        stop.set()
        t.join(5)
        pull.close(0)
        push.close(0)


def _until_ok(remote: RemotePrecoder, F: np.ndarray, seconds: float = 10) -> None:
    """Call until a reply comes (a client connecting while the service starts may miss one)."""
    deadline = time.monotonic() + seconds
    while remote(F) is None and time.monotonic() < deadline:
        pass
    assert remote.ok, remote.status


def test_client_recovers_after_the_service_restarts(cfg, addr):
    F = _estimates(cfg, 1)
    with RemotePrecoder(addr, cfg, timeout_ms=200) as remote:
        with Running(PrecoderService("zf", cfg, addr)):
            _until_ok(remote, F)
        assert remote(F) is None  # service gone: timeout or unreachable, no exception
        assert remote.status.startswith(("timeout", "unreachable"))
        with Running(PrecoderService("zf", cfg, addr)):
            _until_ok(remote, F)
            assert _rel(remote(F), zf(F, cfg.power_budget)) < 1e-6


def test_pub_reply_pattern_serves_several_clients(cfg, addr):
    with Running(PrecoderService("zf", cfg, addr, reply_pattern="pub")):
        with RemotePrecoder(addr, cfg, 2000, reply_pattern="pub") as a:
            with RemotePrecoder(addr, cfg, 2000, reply_pattern="pub") as b:
                a.ping()  # let the subscriptions settle (PUB drops until a SUB has joined)
                b.ping()
                Fa, Fb = _estimates(cfg, 1, 1), _estimates(cfg, 1, 2)
                assert _rel(a(Fa), zf(Fa, cfg.power_budget)) < 1e-6
                assert _rel(b(Fb), zf(Fb, cfg.power_budget)) < 1e-6


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_stock_gnuradio_message_blocks_talk_to_the_service(cfg):
    """push_msg_sink -> service -> pull_msg_source, every reply matched to its request by cb."""
    from gnuradio import blocks, gr, zeromq

    class Emitter(gr.basic_block):
        def __init__(self):
            gr.basic_block.__init__(self, "emitter", None, None)
            self.message_port_register_out(pmt.intern("out"))

        def send(self, msg):
            self.message_port_pub(pmt.intern("out"), msg)

    port = _free_tcp_port()
    addr = f"tcp://127.0.0.1:{port}"
    F = _estimates(cfg, 5)
    with Running(PrecoderService("zf", cfg, addr)):
        tb = gr.top_block()
        sink = zeromq.push_msg_sink(addr, 100, False)
        source = zeromq.pull_msg_source(reply_address_for(addr), 100, False)
        collector, emitter = blocks.message_debug(), Emitter()
        tb.msg_connect(emitter, "out", sink, "in")
        tb.msg_connect(source, "out", collector, "store")
        tb.start()
        try:
            time.sleep(0.3)  # let both stock sockets connect
            for cb in range(5):
                emitter.send(to_pmt(100 + cb, F_hat=F[cb].astype(np.complex64)))
            deadline = time.monotonic() + 10
            while collector.num_messages() < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            tb.stop()
            tb.wait()
    replies = {}
    from gr_cfisac.service import from_pmt

    for i in range(collector.num_messages()):
        r = from_pmt(collector.get_message(i))
        replies[r["cb"]] = r
    assert sorted(replies) == [100, 101, 102, 103, 104]
    for cb in range(5):
        assert replies[100 + cb]["status"] == "ok"
        assert _rel(replies[100 + cb]["W"], zf(F[cb : cb + 1], cfg.power_budget)[0]) < 1e-6


def test_cfisac_serve_command_serves_until_interrupted(cfg, tmp_path):
    addr = f"ipc://{tmp_path}/cli"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gr_cfisac.cli", "serve", "zf", "--address", addr],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with RemotePrecoder(addr, cfg, timeout_ms=500) as remote:
            _until_ok(remote, _estimates(cfg, 1), seconds=30)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert f"requests  PULL {addr}" in out and "stopped" in out and "'ok': " in out


def test_service_hosts_the_shipped_onnx_model(cfg, addr):
    model = ROOT / "models" / "stcib_joint.onnx"
    if not model.exists():
        pytest.skip("no shipped ONNX model")
    from gr_cfisac.precoding.onnx import load_precoder
    from gr_cfisac.scenario import draw_realizations

    F = draw_realizations(cfg, 3, 0).F_hat.astype(np.complex64).astype(np.complex128)
    with Running(PrecoderService(str(model), cfg, addr)):
        with RemotePrecoder(addr, cfg, timeout_ms=5000) as remote:
            _until_ok(remote, F)
            W = remote(F, cb=np.arange(3))
            assert remote.last_model == "stcib_joint.onnx"
    local = load_precoder(model, cfg)(F)
    assert W.shape == (3, cfg.N, cfg.K + 1)  # ISAC: the sensing beam first
    assert _rel(W, local) < 1e-6
    with pytest.raises(ValueError, match="card|differs|mismatch|NT"):
        PrecoderService(str(model), cfg.replace(NT=4), addr + "-other")


def test_client_does_not_wait_again_for_a_service_known_to_be_gone(cfg, addr):
    """A block falling back while its service is down must not pay the timeout on every call;
    ZeroMQ reconnects in the background and the next call after the restart is served."""
    F = _estimates(cfg, 1)
    with RemotePrecoder(addr, cfg, timeout_ms=1500) as remote:
        assert remote(F) is None and remote.status.startswith("unreachable")
        t0 = time.monotonic()
        for _ in range(5):
            assert remote(F) is None and remote.status.startswith("unreachable")
        assert time.monotonic() - t0 < 1.5  # five calls in less than one timeout
        assert remote.counts["unreachable"] == 6
        with Running(PrecoderService("zf", cfg, addr)):
            _until_ok(remote, F)


def test_threshold_conditioned_model_is_served_with_its_threshold(cfg, addr, monkeypatch):
    """A threshold-conditioned .onnx model needs the rate it is asked for: `cfisac serve
    --threshold` gives it (checked against the trained range at start, not per request)."""
    import gr_cfisac.precoding.onnx as host

    seen = []

    class Conditioned:
        threshold_input, threshold_range = True, (0.5, 5.0)

        def __call__(self, F_hat, sensing=None, threshold=None):
            seen.append(threshold)
            return np.concatenate([F_hat[..., :1], zf(F_hat, cfg.power_budget)], axis=-1)

    monkeypatch.setattr(host, "load_precoder", lambda path, cfg, threads=1: Conditioned())
    with pytest.raises(ValueError, match="threshold-conditioned: give a threshold .*0.5..5"):
        PrecoderService("sc_cond.onnx", cfg, addr)
    with pytest.raises(ValueError, match="threshold-conditioned"):
        PrecoderService("sc_cond.onnx", cfg, addr, threshold=7.0)
    with pytest.raises(ValueError, match="not zf"):
        PrecoderService("zf", cfg, addr, threshold=1.0)
    with Running(PrecoderService("sc_cond.onnx", cfg, addr, threshold=2.0)):
        with RemotePrecoder(addr, cfg, timeout_ms=2000) as remote:
            _until_ok(remote, _estimates(cfg, 2))
    assert seen and set(seen) == {2.0}
