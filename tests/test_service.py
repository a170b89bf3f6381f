"""ZeroMQ precoder service (gr_cfisac.service): wire format, robustness, client failure modes,
and interoperation with GNU Radio's stock ZeroMQ message blocks. Loopback only, short timeouts.
The service runs registry precoders and answers W (B, N, K+1); tests of serving any family,
the geometry field and the refusals are in test_service_registry.py."""

from __future__ import annotations

import shutil
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
from service_helpers import local, request, scene, take

from gr_cfisac.config import SystemConfig
from gr_cfisac.models import shipped_models_dir
from gr_cfisac.precoding.registry import Realization
from gr_cfisac.service import (
    MAX_DEPTH,
    MalformedMessage,
    Model,
    PrecoderService,
    RemotePrecoder,
    check_frame,
    decode_message,
    encode_message,
    geometry_fields,
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
        F, sg = scene(cfg, 2)
        reply = decode_message(svc.handle(request(11, F, sg, seq=5)))
        assert reply["status"] == "ok" and reply["cb"] == 11 and reply["seq"] == 5
        assert _rel(reply["W"], local("zf", cfg, F, sg)) < 1e-6
        one = decode_message(svc.handle(request(12, F[:1], sg=take(sg, 0))))
        assert one["W"].shape == (1, cfg.N, cfg.K + 1)
        flat = {k: v[0] for k, v in geometry_fields(take(sg, 0)).items()}
        one = decode_message(
            svc.handle(encode_message(12, F_hat=F[0].astype(np.complex64), **flat))
        )
        assert one["W"].shape == (cfg.N, cfg.K + 1)  # one block in, one block out (stock peers)
        bad = svc.handle(encode_message(13, F_hat=np.ones((3, 4), np.complex64)))
        err = decode_message(bad)
        assert err["status"] == "error" and err["cb"] == 13
        assert "needs (B, N=32, K=4)" in err["error"]
        nan = F.copy()
        nan[0, 0, 0] = np.nan
        assert "NaN" in decode_message(svc.handle(request(1, nan, sg)))["error"]
        assert "power must be" in decode_message(svc.handle(request(1, F, sg, power=-1.0)))["error"]
        other = decode_message(svc.handle(request(1, F, sg, power=2 * cfg.power_budget)))
        assert "power" in other["error"] and "differs from this service's" in other["error"]
        assert (
            decode_message(svc.handle(request(1, F, sg, power=cfg.power_budget)))["W"] is not None
        )
        garbage = decode_message(svc.handle(b"\x00\x01garbage"))  # answered, not silence
        assert garbage["status"] == "error" and "bad request" in garbage["error"]
        assert svc.stats["ok"] == 4 and svc.stats["malformed"] == 5


def test_remote_precoder_matches_the_local_precoder(cfg, addr):
    F, sg = scene(cfg, 4)
    with Running(PrecoderService("mrt", cfg, addr)):
        with RemotePrecoder(addr, cfg, timeout_ms=2000) as remote:
            W = remote(F, cfg.power_budget, cb=np.arange(20, 24), geometry=sg)
            assert remote.ok and remote.last_model == "mrt"
            assert W.shape == (4, cfg.N, cfg.K + 1)  # always the ISAC layout, sensing beam first
            assert _rel(W, local("mrt", cfg, F, sg)) < 1e-6
            assert remote.ping()["model"] == "mrt"
            with pytest.raises(ValueError, match="F_hat must be"):
                remote(F[:, :3])


def test_stock_path_survives_malformed_requests_then_serves(cfg, addr):
    """2,000 malformed frames from a stock-style PUSH peer (the routed path is fuzzed in
    test_service_fuzz.py); the routed client is served afterwards."""
    rng = np.random.default_rng(5)
    F, sg = scene(cfg, 3)
    good = request(1, F[:1], take(sg, 0))
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
    stock = addr + "-stock"
    with Running(PrecoderService("zf", cfg, addr, stock_address=stock)) as svc:
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 0)
        push.connect(stock)
        for i in range(2_000):
            frame = junk[i % len(junk)]
            if i % 7 == 0:  # damaged copies of a good request too
                b = bytearray(good)
                b[rng.integers(len(b))] ^= 0xFF
                b = b[: rng.integers(1, len(b))]
                frame = bytes(b)
            push.send(frame)
        deadline = time.monotonic() + 60
        while svc.stats["received"] < 2_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert svc.stats["received"] == svc.stats["stock"] == 2_000
        with RemotePrecoder(addr, cfg, timeout_ms=5_000) as remote:
            for cb in range(3):
                W = remote(F[cb : cb + 1], cb=cb, geometry=take(sg, cb))
                assert W is not None, remote.status
        push.close(0)
        assert svc.stats["malformed"] >= 1_600
        assert svc.stats["ok"] == 3


def test_model_failure_is_reported_and_the_service_carries_on(cfg, addr):
    calls = []

    def flaky(r: Realization) -> np.ndarray:  # a Model needing the estimates only
        calls.append(1)
        if len(calls) == 1:
            raise np.linalg.LinAlgError("singular matrix")
        return np.ones((r.F_hat.shape[0], cfg.N, cfg.K + 1), complex)

    with Running(PrecoderService(Model("flaky", flaky), cfg, addr)):
        with RemotePrecoder(addr, cfg, timeout_ms=2000) as remote:
            assert remote(_estimates(cfg, 1)) is None
            assert remote.status.startswith("server error: precoder failed: LinAlgError")
            assert remote(_estimates(cfg, 1)) is not None and remote.ok


def test_client_reports_an_absent_service_without_raising(cfg, addr):
    with RemotePrecoder(addr, cfg, timeout_ms=50) as remote:
        t0 = time.monotonic()
        assert remote(_estimates(cfg, 1)) is None
        assert remote.status.startswith("unreachable")
        assert time.monotonic() - t0 < 30  # the 50 ms timeout ends the call: no hang
        assert remote.counts["unreachable"] == 1


def test_client_times_out_on_a_silent_service(cfg, addr):
    router = zmq.Context.instance().socket(zmq.ROUTER)
    router.bind(addr)
    try:
        with RemotePrecoder(addr, cfg, timeout_ms=100) as remote:
            assert remote(_estimates(cfg, 1)) is None
            assert remote.status.startswith("timeout")
    finally:
        router.close(0)


def test_client_rejects_malformed_and_stale_replies(cfg, addr):
    router = zmq.Context.instance().socket(zmq.ROUTER)
    router.bind(addr)
    stop = threading.Event()

    def evil():  # answers garbage, then a stale reply, then a W of the wrong shape
        n = 0
        while not stop.is_set():
            if not router.poll(20):
                continue
            peer, frame = router.recv_multipart()
            req = decode_message(frame)
            n += 1
            router.send_multipart([peer, b"\x07garbage"])
            stale = encode_message(
                req["cb"],
                status="ok",
                W=np.ones((1, cfg.N, cfg.K), np.complex64),
                client=req["client"],
                seq=req["seq"] - 1,
            )
            router.send_multipart([peer, stale])
            if n > 1:
                wrong = encode_message(
                    req["cb"],
                    status="ok",
                    W=np.ones((1, 3, 3), np.complex64),
                    client=req["client"],
                    seq=req["seq"],
                )
                router.send_multipart([peer, wrong])

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
        router.close(0)


def _until_ok(remote: RemotePrecoder, F: np.ndarray, sg=None, seconds: float = 10) -> None:
    """Call until a reply comes (a client connecting while the service starts may miss one)."""
    deadline = time.monotonic() + seconds
    while remote(F, geometry=sg) is None and time.monotonic() < deadline:
        pass
    assert remote.ok, remote.status


def test_client_recovers_after_the_service_restarts(cfg, addr):
    F, sg = scene(cfg, 1)
    with RemotePrecoder(addr, cfg, timeout_ms=200) as remote:
        with Running(PrecoderService("zf", cfg, addr)):
            _until_ok(remote, F, sg)
        assert remote(F, geometry=sg) is None  # service gone: timeout or unreachable
        assert remote.status.startswith(("timeout", "unreachable"))
        with Running(PrecoderService("zf", cfg, addr)):
            _until_ok(remote, F, sg)
            assert _rel(remote(F, geometry=sg), local("zf", cfg, F, sg)) < 1e-6


def test_replies_reach_only_their_requester(cfg):
    """Issue 17 (a): the old PUSH reply socket gave any local process that connected to it
    every second reply. Now a rogue PULL/SUB at port + 1 and a rogue DEALER/PULL/SUB on the
    service's own port receive nothing, and two clients each get all of their own replies."""
    ctx = zmq.Context.instance()
    addr = f"tcp://127.0.0.1:{_free_tcp_port()}"
    rogues = []
    for kind, where in [
        (zmq.PULL, reply_address_for(addr)),
        (zmq.SUB, reply_address_for(addr)),
        (zmq.DEALER, addr),
        (zmq.PULL, addr),
        (zmq.SUB, addr),
    ]:
        s = ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        if kind == zmq.SUB:
            s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect(where)
        rogues.append(s)
    try:
        F, sg = scene(cfg, 100)
        W = local("zf", cfg, F, sg)
        with Running(PrecoderService("zf", cfg, addr)) as svc:
            with RemotePrecoder(addr, cfg, 2000) as a, RemotePrecoder(addr, cfg, 2000) as b:
                for i in range(50):
                    ia, ib = 2 * i, 2 * i + 1
                    Wa = a(F[ia : ia + 1], cb=i, geometry=take(sg, ia))
                    Wb = b(F[ib : ib + 1], cb=i, geometry=take(sg, ib))
                    assert _rel(Wa, W[ia : ia + 1]) < 1e-6, a.status
                    assert _rel(Wb, W[ib : ib + 1]) < 1e-6, b.status
                assert a.counts == {"ok": 50} and b.counts == {"ok": 50}
            assert svc.stats["ok"] == 100
        assert sum(r.poll(0) for r in rogues) == 0  # not one reply reached a rogue
    finally:
        for r in rogues:
            r.close(0)


def test_req_peers_are_answered_on_their_own_connection(cfg, addr):
    """Any REQ socket (a script, another language) is a routed client too."""
    with Running(PrecoderService("zf", cfg, addr)):
        req = zmq.Context.instance().socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.connect(addr)
        try:
            req.send(encode_message(9, type="ping", seq=1))
            assert req.poll(5000)
            assert decode_message(req.recv())["type"] == "pong"
        finally:
            req.close(0)


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

    stock = f"tcp://127.0.0.1:{_free_tcp_port()}"
    F, sg = scene(cfg, 5)
    with Running(PrecoderService("zf", cfg, "tcp://127.0.0.1:*", stock_address=stock)) as svc:
        assert svc.stock_reply_address == reply_address_for(stock)
        assert any("unrouted" in w for w in svc.warnings)
        tb = gr.top_block()
        sink = zeromq.push_msg_sink(stock, 100, False)
        source = zeromq.pull_msg_source(svc.stock_reply_address, 100, False)
        collector, emitter = blocks.message_debug(), Emitter()
        tb.msg_connect(emitter, "out", sink, "in")
        tb.msg_connect(source, "out", collector, "store")
        tb.start()
        try:
            time.sleep(0.3)  # let both stock sockets connect
            for cb in range(5):  # one block each: 2-D F_hat, geometry without the batch axis
                geometry = {k: v[0] for k, v in geometry_fields(take(sg, cb)).items()}
                emitter.send(to_pmt(100 + cb, F_hat=F[cb].astype(np.complex64), **geometry))
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
        assert replies[100 + cb]["W"].shape == (cfg.N, cfg.K + 1)
        assert _rel(replies[100 + cb]["W"], local("zf", cfg, F, sg)[cb]) < 1e-6


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
            _until_ok(remote, *scene(cfg, 1), seconds=30)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert f"requests  ROUTER {addr} (CURVE off" in out and "stopped" in out and "'ok': " in out
    assert "WARNING" not in out  # ipc stays on this host


def test_service_hosts_the_shipped_onnx_model(cfg, addr):
    model = ROOT / "models" / "stcib_joint.onnx"
    if not model.exists():
        pytest.skip("no shipped ONNX model")
    from gr_cfisac.channels import sensing_tokens
    from gr_cfisac.precoding.onnx import load_precoder

    F, sg = scene(cfg, 3)
    with Running(PrecoderService(str(model), cfg, addr)):
        with RemotePrecoder(addr, cfg, timeout_ms=5000) as remote:
            _until_ok(remote, F, sg)
            W = remote(F, cb=np.arange(3), geometry=sg)
            assert remote.last_model == "stcib_joint.onnx"
            tokens = remote(F, cb=np.arange(3), sensing=sensing_tokens(sg))  # the old field
            assert remote.ok, remote.status
            assert remote(F) is None and "needs the sensing geometry" in remote.status
            assert "(or the sensing tokens in 'sensing')" in remote.status
    want = load_precoder(model, cfg)(F, sensing=sg)
    assert W.shape == (3, cfg.N, cfg.K + 1)  # ISAC: the sensing beam first
    assert _rel(W, want) < 1e-6 and _rel(tokens, want) < 1e-5
    with pytest.raises(ValueError, match="card|differs|mismatch|NT"):
        PrecoderService(str(model), cfg.replace(NT=4), addr + "-other")


def test_client_does_not_wait_again_for_a_service_known_to_be_gone(cfg, addr):
    """A block falling back while its service is down must not pay the timeout on every call;
    ZeroMQ reconnects in the background and the next call after the restart is served."""
    F, sg = scene(cfg, 1)
    with RemotePrecoder(addr, cfg, timeout_ms=4000) as remote:
        assert remote(F, geometry=sg) is None and remote.status.startswith("unreachable")
        t0 = time.monotonic()
        for _ in range(5):
            assert remote(F, geometry=sg) is None and remote.status.startswith("unreachable")
        assert time.monotonic() - t0 < 4.0  # five calls in less than one timeout: none waited
        assert remote.counts["unreachable"] == 6
        with Running(PrecoderService("zf", cfg, addr)):
            _until_ok(remote, F, sg)


def test_threshold_conditioned_model_is_served_with_its_threshold(cfg, addr, monkeypatch, tmp_path):
    """A threshold-conditioned .onnx model needs the rate it is asked for: `cfisac serve
    --threshold` (its threshold parameter) gives it, checked against the trained range at
    start, not per request."""
    import gr_cfisac.precoding.onnx as host

    seen = []

    class Conditioned:
        threshold_input, threshold_range = True, (0.5, 5.0)

        def __call__(self, F_hat, sensing=None, threshold=None):
            seen.append(threshold)
            return np.ones(F_hat.shape[:2] + (cfg.K + 1,), np.complex64)

    model = tmp_path / "sc_cond.onnx"
    model.write_bytes(b"")  # the family checks the file exists; the host is faked
    shutil.copy(shipped_models_dir() / "stcib_cc_cond.json", model.with_suffix(".json"))
    monkeypatch.setattr(host, "load_precoder", lambda path, cfg, *args, **kw: Conditioned())
    with pytest.raises(ValueError, match="threshold-conditioned: set threshold .*0.5..5"):
        PrecoderService(str(model), cfg, addr)
    with pytest.raises(ValueError, match="threshold-conditioned"):
        PrecoderService(str(model), cfg, addr, threshold=7.0)
    with pytest.raises(ValueError, match=r"'zf': unknown parameter\(s\) \['threshold'\]"):
        PrecoderService("zf", cfg, addr, threshold=1.0)
    with pytest.raises(ValueError, match="threshold given twice"):
        PrecoderService(str(model), cfg, addr, threshold=2.0, params={"threshold": 3.0})
    with Running(PrecoderService(str(model), cfg, addr, threshold=2.0)):
        with RemotePrecoder(addr, cfg, timeout_ms=2000) as remote:
            _until_ok(remote, *scene(cfg, 2))
    assert seen and set(seen) == {2.0}


# ----------------------------------------------------------------------------- issue 17 (b)-(d)


def _reply(svc: PrecoderService, F: np.ndarray, **fields) -> dict:
    return decode_message(svc.handle(pmt.serialize_str(_c64_request(F, **fields))))


def _c64_request(F: np.ndarray, **fields) -> pmt.pmt_t:
    """A request whose F_hat travels as a c64vector (full float64 range, as a peer may send)."""
    msg = to_pmt(1, **fields)
    shape = pmt.dict_add(
        pmt.dict_ref(msg, pmt.intern("shape"), pmt.make_dict()),
        pmt.intern("F_hat"),
        pmt.init_s64vector(F.ndim, list(F.shape)),
    )
    msg = pmt.dict_add(msg, pmt.intern("F_hat"), pmt.init_c64vector(F.size, F.ravel().tolist()))
    return pmt.dict_add(msg, pmt.intern("shape"), shape)


@pytest.mark.parametrize("name", ["mrt", "zf", "rzf", "wmmse"])
def test_extreme_estimates_never_give_an_ok_non_finite_beam(cfg, addr, name):
    """Issue 17 (b): F_hat near the float limits, or all zeros, gave NaN W with status ok."""
    F, sg = scene(cfg, 2)
    geometry = geometry_fields(sg)
    with PrecoderService(name, cfg, addr) as svc:
        zero = _reply(svc, np.zeros_like(F), **geometry)
        assert zero["status"] == "error" and "all zeros in block 0, 1" in zero["error"]
        unit = F / np.abs(F).max()
        for peak in (3.4e38, 1e307, 1e-300, 1e-320):  # float32 max, float64 limits
            r = _reply(svc, unit * peak, **geometry)
            assert r["status"] in ("ok", "error")
            if r["status"] == "ok":
                assert np.isfinite(r["W"]).all()
            else:
                assert r["error"].startswith(("bad output: precoder", "precoder failed:"))
        assert svc.stats["bad_output"] + svc.stats["model_error"] + svc.stats["ok"] == 4


def test_a_model_returning_nan_or_too_large_beams_is_answered_with_an_error(cfg, addr):
    def broken(r: Realization) -> np.ndarray:
        W = np.ones((r.F_hat.shape[0], cfg.N, cfg.K + 1), complex)
        W[-1, 0, 0] = np.nan
        return W

    with PrecoderService(Model("broken", broken), cfg, addr) as svc:
        r = _reply(svc, _estimates(cfg, 3))
    assert r["status"] == "error" and "W" not in r
    assert r["error"].startswith("bad output: precoder broken gave a non-finite W in block 2")
    huge = Model("huge", lambda r: np.full((r.F_hat.shape[0], cfg.N, cfg.K + 1), 1e300 + 0j))
    with PrecoderService(huge, cfg, addr) as svc:
        r = _reply(svc, _estimates(cfg, 1))
    assert r["status"] == "error" and "exceeds complex64's range" in r["error"]
    narrow = Model("narrow", lambda r: np.ones((r.F_hat.shape[0], cfg.N, cfg.K), complex))
    with PrecoderService(narrow, cfg, addr) as svc:  # K columns: not the ISAC layout
        r = _reply(svc, _estimates(cfg, 1))
    assert r["status"] == "error" and "expected (1, 32, 5)" in r["error"]


def test_an_oversized_frame_is_answered_and_the_frames_behind_it_are_served(cfg, addr):
    """Issue 17 (d): a 50 MB frame used to disconnect its sender and drop what it had queued."""
    dealer = zmq.Context.instance().socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    F, sg = scene(cfg, 2)
    good = [request(cb, F[cb - 1 : cb], take(sg, cb - 1)) for cb in (1, 2)]
    with Running(PrecoderService("zf", cfg, addr)):
        dealer.connect(addr)
        dealer.send(good[0])
        dealer.send(b"\x09" * (50 * 2**20))
        dealer.send(good[1])
        replies = []
        while len(replies) < 3 and dealer.poll(10_000):
            replies.append(decode_message(dealer.recv()))
    dealer.close(0)
    assert [r["status"] for r in replies] == ["ok", "error", "ok"]
    assert "exceeds the 16777216-byte limit" in replies[1]["error"]
    assert [replies[0]["cb"], replies[2]["cb"]] == [1, 2]


def test_client_refuses_a_request_over_the_frame_limit(cfg, addr, monkeypatch):
    import gr_cfisac.service.client as client

    monkeypatch.setattr(client, "MAX_FRAME_BYTES", 20_000)
    with RemotePrecoder(addr, cfg, timeout_ms=50) as remote:
        with pytest.raises(ValueError, match=r"20000-byte frame limit; send at most 1\d blocks"):
            remote(_estimates(cfg, 64))
        assert remote.counts == {}  # nothing was sent


def test_exposure_is_warned_and_stock_replies_stay_on_loopback(cfg, addr):
    """Issue 17 (c): binding beyond loopback without CURVE is warned; the unrouted stock reply
    path is refused beyond loopback."""
    from gr_cfisac.service import exposure_warning, is_local

    for a in ("tcp://127.0.0.1:5560", "tcp://127.3.2.1:1", "tcp://[::1]:1", "tcp://localhost:1"):
        assert is_local(a) and exposure_warning(a, curve=False) is None
    for a in ("tcp://*:5560", "tcp://0.0.0.0:5560", "tcp://10.0.0.7:5560", "tcp://eth0:5560"):
        assert not is_local(a)
        assert "CURVE is off" in exposure_warning(a, curve=False)
        assert exposure_warning(a, curve=True) is None
    assert is_local("ipc:///tmp/x") and is_local("inproc://x")
    for stock in ("tcp://*:5562", "tcp://0.0.0.0:5562"):
        with pytest.raises(ValueError, match="not on loopback"):
            PrecoderService("zf", cfg, addr, stock_address=stock)
    with pytest.raises(ValueError, match="stock_reply_address tcp://10.1.1.1:9 is not on loopback"):
        PrecoderService(
            "zf", cfg, addr, stock_address=addr + "-s", stock_reply_address="tcp://10.1.1.1:9"
        )
    with PrecoderService("zf", cfg, addr) as svc:
        assert svc.warnings == []


@pytest.fixture
def keys(tmp_path):
    from gr_cfisac.service import keygen

    server = keygen(tmp_path / "server", "server")
    good = keygen(tmp_path / "clients", "tap1")
    bad = keygen(tmp_path / "other", "intruder")
    return {"server": server, "good": good, "bad": bad, "clients": tmp_path / "clients"}


def test_curve_admits_only_listed_clients(cfg, addr, keys):
    """Issue 17 (c): CURVE with the server's keys from files and the admitted clients' public
    keys from a folder; unknown keys and plain clients are not served."""
    F, sg = scene(cfg, 1)
    svc = PrecoderService(
        "zf", cfg, addr, curve_secret=keys["server"][1], curve_clients=keys["clients"]
    )
    with Running(svc):
        assert svc.curve is not None and svc.warnings == []
        with RemotePrecoder(
            addr, cfg, 3000, server_key=keys["server"][0], client_key=keys["good"][1]
        ) as ok:
            assert _rel(ok(F, geometry=sg), local("zf", cfg, F, sg)) < 1e-6, ok.status
        for kwargs in (
            {"server_key": keys["server"][0], "client_key": keys["bad"][1]},
            {"server_key": keys["server"][0]},  # a fresh key pair
            {},  # no CURVE at all
        ):
            with RemotePrecoder(addr, cfg, 300, **kwargs) as refused:
                assert refused(F, geometry=sg) is None
                assert refused.status.startswith("unreachable"), refused.status
                if kwargs:
                    assert "CURVE refused this client" in refused.status
        assert svc.stats["received"] == 1


def test_curve_without_a_client_list_admits_any_key_and_says_so(cfg, addr, keys):
    with Running(PrecoderService("zf", cfg, addr, curve_secret=keys["server"][1])) as svc:
        assert any("admits any client" in w for w in svc.warnings)
        with RemotePrecoder(addr, cfg, 3000, server_key=keys["server"][0]) as remote:
            F, sg = scene(cfg, 1)
            assert remote(F, geometry=sg) is not None, remote.status


def test_curve_key_files_are_checked(cfg, addr, keys, tmp_path):
    from gr_cfisac.service import keygen

    with pytest.raises(ValueError, match="exists; choose another"):
        keygen(tmp_path / "server", "server")
    with pytest.raises(ValueError, match="holds no secret key"):
        PrecoderService("zf", cfg, addr, curve_secret=keys["server"][0])
    with pytest.raises(ValueError, match="no such key file"):
        RemotePrecoder(addr, cfg, server_key=tmp_path / "missing.key")
    (tmp_path / "junk.key").write_text("hello\n")
    with pytest.raises(ValueError, match="junk.key: not a ZeroMQ key file"):
        RemotePrecoder(addr, cfg, server_key=tmp_path / "junk.key")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no \\*.key files"):
        PrecoderService(
            "zf", cfg, addr, curve_secret=keys["server"][1], curve_clients=tmp_path / "empty"
        )
    assert oct(keys["server"][1].stat().st_mode & 0o777) == "0o600"


def test_cfisac_serve_keygen_writes_a_key_pair(tmp_path, capsys):
    from gr_cfisac.cli import main

    assert main(["serve", "--keygen", str(tmp_path / "k"), "--key-name", "tap2"]) == 0
    assert (tmp_path / "k" / "tap2.key").is_file() and (
        tmp_path / "k" / "tap2.key_secret"
    ).is_file()
    assert "keep it private" in capsys.readouterr().out
    assert main(["serve"]) == 2  # no ALGORITHM and no --keygen
    assert "ALGORITHM is required" in capsys.readouterr().err


def test_precoder_block_remote_mode_takes_curve_key_files(cfg, addr, keys):
    """The Precoder block's remote_server_key / remote_client_key reach its RemotePrecoder."""
    from gr_cfisac.blocks.precoder import resolve_precoder

    F, sg = scene(cfg, 1)
    svc = PrecoderService(
        "zf", cfg, addr, curve_secret=keys["server"][1], curve_clients=keys["clients"]
    )
    with Running(svc):
        design = resolve_precoder(
            "remote",
            cfg,
            remote_address=addr,
            remote_timeout_ms=3000,
            remote_server_key=str(keys["server"][0]),
            remote_client_key=str(keys["good"][1]),
        )
        client = design.design.client  # the registry precoder's RemoteDesign
        try:
            assert client.curve
            W = design(Realization(F, sg)).W
            assert design.status == "ok" and svc.stats["ok"] == 1
            assert _rel(W, local("zf", cfg, F, sg)) < 1e-6, design.status
        finally:
            client.close()


def test_grc_precoder_passes_curve_keys_only_when_given(platform):
    """GRC's make line names the key files when they are set, and is unchanged otherwise."""
    fg = platform.make_flow_graph()
    block = fg.new_block("cfisac_precoder")
    block.params["config"].set_value("cfg")
    block.rewrite()
    assert "remote_server_key" not in block.templates.render("make")
    block.params["remote_server_key"].set_value("/keys/server.key")
    block.params["remote_client_key"].set_value("/keys/tap1.key_secret")
    block.rewrite()
    make = block.templates.render("make")
    assert "remote_server_key='/keys/server.key'" in make
    assert "remote_client_key='/keys/tap1.key_secret'" in make


def test_cfisac_serve_warns_about_the_stock_path_on_stderr(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "gr_cfisac.cli",
            "serve",
            "zf",
            "--address",
            f"ipc://{tmp_path}/routed",
            "--stock-address",
            f"ipc://{tmp_path}/stock",
            "--max-requests",
            "0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"stock replies PUSH ipc://{tmp_path}/stock.reply" in proc.stdout
    assert "WARNING: stock-block replies leave unrouted" in proc.stderr
    refused = subprocess.run(
        [sys.executable, "-m", "gr_cfisac.cli", "serve", "zf", "--stock-address", "tcp://*:5999"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "is not on loopback" in refused.stderr
