"""The precoder as a ZeroMQ service, and its client :class:`RemotePrecoder`.

Wire format: one ZeroMQ frame per message, a PMT dict serialized with ``pmt.serialize_str`` —
exactly what GNU Radio's ``zeromq.push_msg_sink`` sends and ``zeromq.pull_msg_source`` /
``zeromq.sub_msg_source`` receive — in the cfisac message convention of
:mod:`gr_cfisac.pmt_messages`: ``cb`` (uint64), complex arrays as c32vectors flattened in C
order, real arrays as f64vectors, integer arrays as s64vectors, with their shapes in a ``shape``
dict (field -> s64vector), scalars as PMT numbers, strings as symbols.

Sockets (the service binds, peers connect; 127.0.0.1 unless another address is given):

- requests: PULL at ``address`` (default tcp://127.0.0.1:5560). A stock ``push_msg_sink``
  with ``bind=False`` pointed there, or a :class:`RemotePrecoder`, sends to it.
- replies: PUSH (default) or PUB at ``reply_address`` (default: the request port + 1). A stock
  ``pull_msg_source`` (PUSH) or ``sub_msg_source`` (PUB) connects. PUSH hands each reply to one
  connected peer (use it with one consumer); with PUB every peer sees every reply and keeps its
  own by ``client``/``seq``/``cb``.

Request fields: ``F_hat`` complex (N, K) for one block or (B, N, K) for B blocks (required);
``cb`` uint64 (echoed; the first block), ``cbs`` int array (B,) (echoed), ``power`` (default the
config's rho*NT), ``noise`` (default 1), ``sensing`` complex (1+NC, N) or (B, 1+NC, N) for
target-aware models, ``client`` symbol and ``seq`` integer (echoed, to match replies),
``type``: ``precode`` (default) or ``ping``. Reply: ``status`` ``ok`` or ``error``, ``W`` complex
with the request's batch layout and K+1 columns (ISAC, column 0 the sensing beam) or K (a
MU-MISO precoder), ``error`` (text, on error), ``model``, ``elapsed_us`` and the echoed fields.

Robustness: every frame is checked structurally before ``pmt.deserialize_str`` sees it (the
deserializer trusts lengths in the frame and recurses per dict entry, so a hostile 20-byte
frame could ask it for gigabytes or blow its stack); malformed requests are counted, answered
with an error when they can be routed, and never stop the server.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pmt
import zmq

from .config import SystemConfig
from .pmt_messages import MalformedMessage, from_pmt, to_pmt

log = logging.getLogger("gr_cfisac.service")

DEFAULT_ADDRESS = "tcp://127.0.0.1:5560"
#: Largest frame accepted (a Table-I request of 1024 blocks is ~1 MB).
MAX_FRAME_BYTES = 16 * 1024 * 1024
MAX_BATCH = 4096
#: How long a PUSH reply waits for a consumer to (re)connect before it is dropped.
REPLY_WAIT_MS = 50
MAX_DEPTH = 64
MAX_NODES = 4096
CLASSICAL = ("mrt", "zf", "rzf", "wmmse")


# ----------------------------------------------------------------------------- frame check

# PMT serialization tags (gnuradio-runtime/lib/pmt/pmt_serial_tags.h)
_FIXED = {0x00: 0, 0x01: 0, 0x06: 0, 0x03: 4, 0x04: 8, 0x05: 16, 0x0B: 8, 0x0D: 8}
_SYMBOL, _PAIR, _VECTOR, _DICT, _UVECTOR, _TUPLE = 0x02, 0x07, 0x08, 0x09, 0x0A, 0x0C
#: uniform vector element sizes by type index: u8 s8 u16 s16 u32 s32 u64 s64 f32 f64 c32 c64
_UV_SIZE = (1, 1, 2, 2, 4, 4, 8, 8, 4, 8, 8, 16)


def check_frame(frame: bytes, max_bytes: int = MAX_FRAME_BYTES) -> None:
    """Raise MalformedMessage unless ``frame`` is exactly one well-formed serialized PMT whose
    every declared length fits in the frame, nested at most MAX_DEPTH deep with at most
    MAX_NODES objects (what makes ``pmt.deserialize_str`` safe to call on it)."""
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise MalformedMessage(f"frame must be bytes, got {type(frame).__name__}")
    buf = bytes(frame)
    if not buf:
        raise MalformedMessage("empty frame")
    if len(buf) > max_bytes:
        raise MalformedMessage(f"frame of {len(buf)} bytes exceeds the {max_bytes} limit")
    nodes = [0]
    end = _walk(buf, 0, 0, nodes)
    if end != len(buf):
        raise MalformedMessage(f"{len(buf) - end} trailing bytes after the PMT")


def _need(buf: bytes, pos: int, n: int) -> None:
    if pos + n > len(buf):
        raise MalformedMessage(
            f"truncated PMT: needs {n} bytes at offset {pos}, has {len(buf) - pos}"
        )


def _walk(buf: bytes, pos: int, depth: int, nodes: list[int]) -> int:
    """Offset after the PMT starting at ``pos`` (mirrors pmt::deserialize)."""
    nodes[0] += 1
    if depth > MAX_DEPTH or nodes[0] > MAX_NODES:
        raise MalformedMessage("PMT nests too deep or has too many elements")
    _need(buf, pos, 1)
    tag = buf[pos]
    pos += 1
    if tag in _FIXED:
        _need(buf, pos, _FIXED[tag])
        return pos + _FIXED[tag]
    if tag == _SYMBOL:
        _need(buf, pos, 2)
        (n,) = struct.unpack_from(">H", buf, pos)
        if n > 1024:
            raise MalformedMessage("symbol longer than 1024 bytes")
        _need(buf, pos + 2, n)
        return pos + 2 + n
    if tag in (_PAIR, _DICT):
        pos = _walk(buf, pos, depth + 1, nodes)  # car
        while True:
            _need(buf, pos, 1)
            nxt = buf[pos]
            if nxt == _PAIR:  # the deserializer loops here without recursing
                pos = _walk(buf, pos + 1, depth + 1, nodes)
                continue
            if nxt == 0x06:
                return pos + 1
            depth += 1  # any other cdr is parsed recursively (a dict's next entry)
            return _walk(buf, pos, depth, nodes)
    if tag in (_VECTOR, _TUPLE):
        _need(buf, pos, 4)
        (n,) = struct.unpack_from(">I", buf, pos)
        pos += 4
        if n > len(buf) - pos:  # every element takes at least one byte
            raise MalformedMessage(f"vector of {n} elements in {len(buf) - pos} bytes")
        if tag == _TUPLE and n == 0:
            raise MalformedMessage("empty tuple")
        for _ in range(n):
            pos = _walk(buf, pos, depth + 1, nodes)
        return pos
    if tag == _UVECTOR:
        _need(buf, pos, 6)
        utag = buf[pos]
        (n,) = struct.unpack_from(">I", buf, pos + 1)
        npad = buf[pos + 5]
        pos += 6 + npad
        if utag >= len(_UV_SIZE):
            raise MalformedMessage(f"unknown uniform vector type {utag}")
        _need(buf, pos, n * _UV_SIZE[utag])
        return pos + n * _UV_SIZE[utag]
    raise MalformedMessage(f"unknown PMT tag 0x{tag:02x} at offset {pos - 1}")


# ----------------------------------------------------------------------------- messages


def encode_message(cb: int | None = None, **fields: Any) -> bytes:
    """Serialized PMT dict in the cfisac message convention (see module doc)."""
    return pmt.serialize_str(to_pmt(cb, **fields))


def decode_message(frame: bytes) -> dict[str, Any]:
    """Checked inverse of :func:`encode_message`: {name: value} with arrays reshaped.
    Raises MalformedMessage for anything else (never another exception)."""
    check_frame(frame)
    try:
        msg = pmt.deserialize_str(bytes(frame))
    except Exception as exc:  # noqa: BLE001 (the C++ deserializer's errors are RuntimeErrors)
        raise MalformedMessage(f"not a serialized PMT ({exc})") from None
    return from_pmt(msg)


# ----------------------------------------------------------------------------- models


@dataclass
class Model:
    """A precoder the service runs: ``precode(F_hat (B,N,K), power, noise, sensing) -> W``."""

    name: str
    precode: Callable[[np.ndarray, float, float, Any], np.ndarray]
    columns: int  # K+1 (ISAC, sensing beam first) or K (MU-MISO user beams)


def load_model(model: str, cfg: SystemConfig, threshold: float | None = None) -> Model:
    """An ``.onnx`` file (hosted by gr_cfisac.precoding.onnx, card checked against ``cfg``;
    ``threshold`` (bps/Hz) is what a threshold-conditioned model is asked for) or a classical
    precoder name (mrt, zf, rzf, wmmse: MU-MISO beams (B, N, K))."""
    if model.endswith(".onnx"):
        from .precoding.onnx import load_precoder

        host = load_precoder(Path(model), cfg)
        name = Path(model).name
        if getattr(host, "threshold_input", False):
            lo, hi = host.threshold_range or (0.0, float("inf"))
            if threshold is None or not lo <= threshold <= hi:
                raise ValueError(
                    f"{name} is threshold-conditioned: give a threshold in its trained range "
                    f"{lo:g}..{hi:g} bps/Hz (cfisac serve --threshold), got {threshold}"
                )
        elif threshold is not None:
            raise ValueError(f"{name} is not threshold-conditioned; drop the threshold")
        return Model(
            name,
            lambda F_hat, power, noise, sensing: host(F_hat, sensing=sensing, threshold=threshold),
            cfg.K + 1,
        )
    if threshold is not None:
        raise ValueError(f"a threshold applies to threshold-conditioned .onnx models, not {model}")
    name = model.lower()
    if name not in CLASSICAL:
        raise ValueError(
            f"model must be an .onnx file or one of {', '.join(CLASSICAL)}, got {model!r}"
        )
    from . import precoding

    fn = getattr(precoding, name)
    return Model(name, lambda F_hat, power, noise, sensing: fn(F_hat, power, noise), cfg.K)


# ----------------------------------------------------------------------------- server


def reply_address_for(address: str) -> str:
    """The default reply endpoint: tcp port + 1, or ``<path>.reply`` for ipc/inproc."""
    check_address(address, "address")
    if address.startswith("tcp://"):
        host, port = address[6:].rsplit(":", 1)
        return f"tcp://{host}:{int(port) + 1}"
    return address + ".reply"


def check_address(address: str, name: str) -> None:
    """ValueError unless ``address`` is tcp://HOST:PORT, ipc://PATH or inproc://NAME."""
    ok = isinstance(address, str) and (
        address.startswith(("ipc://", "inproc://"))
        or (
            address.startswith("tcp://")
            and ":" in address[6:]
            and address.rsplit(":", 1)[1].isdigit()
        )
    )
    if not ok:
        raise ValueError(
            f"{name} must be tcp://HOST:PORT, ipc://PATH or inproc://NAME, got {address!r}"
        )


class PrecoderService:
    """Serve one :class:`Model` for one SystemConfig over PULL (requests) / PUSH or PUB
    (replies). :meth:`handle` turns any frame into a reply (or None) and never raises;
    :meth:`serve` loops until ``stop`` is set or ``max_requests`` were handled."""

    def __init__(
        self,
        model: Model | str,
        cfg: SystemConfig,
        address: str = DEFAULT_ADDRESS,
        reply_address: str | None = None,
        reply_pattern: str = "push",
        context: zmq.Context | None = None,
        threshold: float | None = None,
    ) -> None:
        if reply_pattern not in ("push", "pub"):
            raise ValueError(f"reply_pattern must be 'push' or 'pub', got {reply_pattern!r}")
        self.cfg = cfg
        self.model = load_model(model, cfg, threshold) if isinstance(model, str) else model
        self.address = address
        self.reply_address = reply_address or reply_address_for(address)
        check_address(self.reply_address, "reply_address")
        self.reply_pattern = reply_pattern
        self.stats: Counter[str] = Counter()
        self._last_drop = -1e9
        self._ctx = context or zmq.Context.instance()
        self._req = self._ctx.socket(zmq.PULL)
        self._rep = self._ctx.socket(zmq.PUSH if reply_pattern == "push" else zmq.PUB)
        for s in (self._req, self._rep):
            s.setsockopt(zmq.LINGER, 0)
        self._req.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
        self._rep.setsockopt(zmq.SNDHWM, 1000)
        try:
            self._req.bind(address)
            self._rep.bind(self.reply_address)
        except zmq.ZMQError as exc:
            self.close()
            raise ValueError(
                f"cannot bind {address} / {self.reply_address} ({exc}); is another service "
                "running there? choose another --address"
            ) from None
        self.closed = False

    # --- one request
    def handle(self, frame: bytes | list[bytes]) -> bytes | None:
        """The reply frame for one request frame (None if it cannot be routed back)."""
        t0 = time.perf_counter()
        try:
            if isinstance(frame, list):
                if len(frame) != 1:
                    raise MalformedMessage(f"expected one frame, got {len(frame)}")
                frame = frame[0]
            request = decode_message(frame)
        except MalformedMessage as exc:
            self._count_malformed(str(exc))
            return None
        except Exception as exc:  # noqa: BLE001 (the server must survive any input)
            self._count_malformed(f"{type(exc).__name__}: {exc}")
            return None
        echo = _echo_fields(request)
        try:
            if request.get("type", "precode") == "ping":
                self.stats["ping"] += 1
                return encode_message(
                    echo.pop("cb", None),
                    status="ok",
                    type="pong",
                    model=self.model.name,
                    N=self.cfg.N,
                    K=self.cfg.K,
                    served=self.stats["ok"],
                    **echo,
                )
            W, two_d = self._precode(request)
            self.stats["ok"] += 1
            return encode_message(
                echo.pop("cb", None),
                status="ok",
                W=W[0] if two_d else W,
                model=self.model.name,
                elapsed_us=1e6 * (time.perf_counter() - t0),
                **echo,
            )
        except MalformedMessage as exc:
            self._count_malformed(str(exc))
            message = f"bad request: {exc}"
        except Exception as exc:  # noqa: BLE001 (a failing model must not stop the service)
            self.stats["model_error"] += 1
            log.warning("precoder %s failed: %s", self.model.name, exc)
            message = f"precoder failed: {type(exc).__name__}: {exc}"
        try:
            return encode_message(
                echo.pop("cb", None),
                status="error",
                error=message[:500],
                model=self.model.name,
                **echo,
            )
        except Exception:  # noqa: BLE001
            return None

    def _count_malformed(self, why: str) -> None:
        self.stats["malformed"] += 1
        n = self.stats["malformed"]
        if n <= 5 or n % 1000 == 0:
            log.warning("malformed request #%d: %s", n, why)

    def _precode(self, req: dict[str, Any]) -> tuple[np.ndarray, bool]:
        cfg = self.cfg
        if req.get("type", "precode") != "precode":
            raise MalformedMessage(f"unknown request type {req.get('type')!r} (precode or ping)")
        F = req.get("F_hat")
        if not isinstance(F, np.ndarray) or not np.iscomplexobj(F):
            raise MalformedMessage("needs F_hat: complex channel estimates (N, K) or (B, N, K)")
        two_d = F.ndim == 2
        if two_d:
            F = F[None]
        if F.ndim != 3 or F.shape[1:] != (cfg.N, cfg.K):
            raise MalformedMessage(
                f"F_hat has shape {F.shape}; this service's configuration needs (B, N={cfg.N}, "
                f"K={cfg.K}) (declare it in the message's 'shape' dict)"
            )
        if not 1 <= F.shape[0] <= MAX_BATCH:
            raise MalformedMessage(f"batch of {F.shape[0]} blocks; send 1..{MAX_BATCH}")
        if not np.all(np.isfinite(F)):
            raise MalformedMessage("F_hat contains NaN or inf")
        power = _positive(req.get("power", cfg.power_budget), "power")
        noise = _positive(req.get("noise", 1.0), "noise")
        sensing = req.get("sensing")
        if sensing is not None:
            if not isinstance(sensing, np.ndarray) or not np.iscomplexobj(sensing):
                raise MalformedMessage("sensing must be complex tokens (1+NC, N) or (B, 1+NC, N)")
            if sensing.shape[-2:] != (1 + cfg.NC, cfg.N) or not np.all(np.isfinite(sensing)):
                raise MalformedMessage(
                    f"sensing has shape {sensing.shape}; needs (B, 1+NC={1 + cfg.NC}, N={cfg.N})"
                )
        W = np.asarray(self.model.precode(F.astype(np.complex128), power, noise, sensing))
        if W.shape != (F.shape[0], cfg.N, self.model.columns):
            raise RuntimeError(f"model returned shape {W.shape}")
        return W, two_d

    # --- the loop
    def serve(
        self,
        stop: threading.Event | None = None,
        max_requests: int | None = None,
        poll_ms: int = 100,
        report_every_s: float | None = None,
    ) -> Counter[str]:
        """Answer requests until ``stop`` is set or ``max_requests`` frames were handled."""
        handled = 0
        last_report = time.monotonic()
        while not (stop is not None and stop.is_set()):
            if max_requests is not None and handled >= max_requests:
                break
            if report_every_s and time.monotonic() - last_report > report_every_s:
                log.info("service %s: %s", self.model.name, dict(self.stats))
                last_report = time.monotonic()
            try:
                if not self._req.poll(poll_ms):
                    continue
                frames = self._req.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                continue
            except zmq.ZMQError as exc:
                if self.closed or exc.errno == zmq.ETERM:
                    break
                raise
            handled += 1
            self.stats["received"] += 1
            reply = self.handle(frames)
            if reply is None:
                continue
            try:
                # a peer that has just connected its request socket may still be connecting
                # its reply socket: wait a little for it rather than drop the reply at once
                # (at most once a second, so a flood nobody listens to is not slowed down)
                patient = time.monotonic() - self._last_drop > 1.0
                wait = REPLY_WAIT_MS if patient and self.reply_pattern == "push" else 0
                if not self._rep.poll(wait, zmq.POLLOUT):
                    raise zmq.Again()
                self._rep.send(reply, zmq.NOBLOCK)
            except zmq.Again:
                self.stats["undeliverable"] += 1  # no peer on the reply socket, or it is full
                self._last_drop = time.monotonic()
        return self.stats

    def close(self) -> None:
        self.closed = True
        for s in (getattr(self, "_req", None), getattr(self, "_rep", None)):
            if s is not None:
                s.close(0)

    def __enter__(self) -> PrecoderService:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MalformedMessage(f"{name} must be a number, got {type(value).__name__}")
    if not (np.isfinite(value) and value > 0):
        raise MalformedMessage(f"{name} must be finite and > 0, got {value}")
    return float(value)


def _echo_fields(req: dict[str, Any]) -> dict[str, Any]:
    """cb, cbs, client, seq of a request, if they have the right types (to route replies)."""
    out: dict[str, Any] = {}
    cb = req.get("cb")
    if isinstance(cb, int) and not isinstance(cb, bool) and 0 <= cb < 2**64:
        out["cb"] = cb
    cbs = req.get("cbs")
    if (
        isinstance(cbs, np.ndarray)
        and cbs.dtype.kind in "iu"
        and cbs.ndim == 1
        and cbs.size <= MAX_BATCH
    ):
        out["cbs"] = cbs
    client = req.get("client")
    if isinstance(client, str) and 0 < len(client) <= 64:
        out["client"] = client
    seq = req.get("seq")
    if isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq < 2**62:
        out["seq"] = seq
    return out


# ----------------------------------------------------------------------------- client


class RemotePrecoder:
    """Client of a :class:`PrecoderService`, called like a local precoder plus ``cb``:
    ``W = remote(F_hat, power, noise, cb=cb)`` -> W (B, N, K or K+1) complex128, or None when
    the service is unreachable, too slow (``timeout_ms``), restarted mid-request, or answered
    with an error or a malformed reply. It never raises for those: :attr:`status` says what
    happened (``"ok"``, ``"timeout: ..."``, ``"unreachable: ..."``, ``"server error: ..."``,
    ``"malformed reply: ..."``) and :attr:`counts` tallies outcomes, for the block to report.
    Bad arguments (wrong shapes) are programming errors and raise ValueError. Only the first
    call waits (up to ``timeout_ms``) for a service to connect; while it stays unreachable the
    next calls return at once, and the first after it is back is served.

    In a block's remote mode::

        W = self.remote(F_hat, cb=cbs)
        if W is None:
            W = self.fallback(F_hat)            # e.g. a local MRT, or the last good W
            self.report(self.remote.status)
    """

    def __init__(
        self,
        address: str,
        cfg: SystemConfig,
        timeout_ms: int = 500,
        *,
        reply_address: str | None = None,
        reply_pattern: str = "push",
        context: zmq.Context | None = None,
    ) -> None:
        check_address(address, "address")
        if reply_pattern not in ("push", "pub"):
            raise ValueError(f"reply_pattern must be 'push' or 'pub', got {reply_pattern!r}")
        if not (isinstance(timeout_ms, (int, float)) and timeout_ms > 0):
            raise ValueError(f"timeout_ms must be > 0, got {timeout_ms!r}")
        self.cfg = cfg
        self.address = address
        self.reply_address = reply_address or reply_address_for(address)
        check_address(self.reply_address, "reply_address")
        self.timeout_ms = float(timeout_ms)
        self.client_id = f"{socket.gethostname()[:24]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.seq = 0
        self.status = "idle"
        self.counts: Counter[str] = Counter()
        self.last_model: str | None = None
        self._ctx = context or zmq.Context.instance()
        self._push = self._ctx.socket(zmq.PUSH)
        self._push.setsockopt(zmq.LINGER, 0)
        self._push.setsockopt(zmq.IMMEDIATE, 1)  # no queueing for a service that is not there
        self._push.setsockopt(zmq.SNDHWM, 4)
        self._push.setsockopt(zmq.RECONNECT_IVL, 20)  # find a (re)started service quickly
        self._push.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        self._push.connect(address)
        self._pull = self._ctx.socket(zmq.PULL if reply_pattern == "push" else zmq.SUB)
        self._pull.setsockopt(zmq.LINGER, 0)
        self._pull.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)
        self._pull.setsockopt(zmq.RECONNECT_IVL, 20)
        self._pull.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        if reply_pattern == "pub":
            self._pull.setsockopt(zmq.SUBSCRIBE, b"")
        self._pull.connect(self.reply_address)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def __call__(
        self,
        F_hat: np.ndarray,
        power: float | None = None,
        noise: float = 1.0,
        *,
        cb: int | np.ndarray = 0,
        sensing: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """W for estimates F_hat (B, N, K) of blocks ``cb`` (first index, or (B,) indices)."""
        cfg = self.cfg
        F = np.asarray(F_hat)
        if F.ndim == 2:
            F = F[None]
        if F.ndim != 3 or F.shape[1:] != (cfg.N, cfg.K):
            raise ValueError(f"F_hat must be (B, N={cfg.N}, K={cfg.K}), got {np.shape(F_hat)}")
        cbs = np.atleast_1d(np.asarray(cb, dtype=np.int64))
        if cbs.size not in (1, F.shape[0]):
            raise ValueError(f"cb must be one index or {F.shape[0]} indices, got {cbs.size}")
        self.seq += 1
        frame = encode_message(
            int(cbs[0]),
            F_hat=F.astype(np.complex64),
            cbs=cbs if cbs.size > 1 else None,
            power=None if power is None else float(power),
            noise=float(noise),
            sensing=None if sensing is None else np.asarray(sensing, dtype=np.complex64),
            client=self.client_id,
            seq=self.seq,
        )
        reply = self._exchange(frame, self.seq)
        if reply is None:
            return None
        W = reply.get("W")
        want_rows = (F.shape[0], cfg.N)
        if (
            not isinstance(W, np.ndarray)
            or W.ndim != 3
            or W.shape[:2] != want_rows
            or W.shape[2] not in (cfg.K, cfg.K + 1)
            or not np.all(np.isfinite(W))
        ):
            return self._fail(
                "malformed reply",
                f"W {getattr(W, 'shape', None)} is not "
                f"(B={F.shape[0]}, N={cfg.N}, K or K+1) finite",
            )
        self.status = "ok"
        self.counts["ok"] += 1
        self.last_model = reply.get("model")
        return W.astype(np.complex128)

    def ping(self) -> dict[str, Any] | None:
        """The service's pong (model, N, K, served) or None (see :attr:`status`)."""
        self.seq += 1
        reply = self._exchange(
            encode_message(None, type="ping", client=self.client_id, seq=self.seq), self.seq
        )
        if reply is not None:
            self.status = "ok"
        return reply

    def _exchange(self, frame: bytes, seq: int) -> dict[str, Any] | None:
        self._drain()
        deadline = time.monotonic() + self.timeout_ms / 1000.0
        # with IMMEDIATE the socket is writable only once a service is connected; ZeroMQ
        # reconnects in the background, so once the service is known to be gone each call
        # looks without waiting (a block falling back stays fast) and finds it when it is back
        wait = 0 if self.status.startswith("unreachable") else max(1, int(self.timeout_ms))
        try:
            if not self._push.poll(wait, zmq.POLLOUT):
                raise zmq.Again()
            self._push.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            return self._fail("unreachable", f"no service connected at {self.address}")
        except zmq.ZMQError as exc:
            return self._fail("unreachable", str(exc))
        malformed = None
        while (left := deadline - time.monotonic()) > 0:
            if not self._pull.poll(max(1, int(left * 1000))):
                continue
            try:
                frames = self._pull.recv_multipart(zmq.NOBLOCK)
                reply = decode_message(frames[0]) if len(frames) == 1 else None
            except zmq.Again:
                continue
            except MalformedMessage as exc:
                malformed = str(exc)
                self.counts["malformed_reply"] += 1
                continue
            if reply is None:
                malformed = "multi-frame reply"
                continue
            if reply.get("client") != self.client_id or reply.get("seq") != seq:
                self.counts["stale_reply"] += 1  # a late answer to an earlier request
                continue
            if reply.get("status") != "ok":
                return self._fail("server error", str(reply.get("error", "no error text")))
            return reply
        if malformed is not None:
            return self._fail("malformed reply", malformed)
        return self._fail("timeout", f"no reply from {self.address} within {self.timeout_ms:g} ms")

    def _drain(self) -> None:
        """Drop replies left over from requests that timed out."""
        while True:
            try:
                self._pull.recv_multipart(zmq.NOBLOCK)
                self.counts["stale_reply"] += 1
            except zmq.Again:
                return

    def _fail(self, kind: str, detail: str) -> None:
        self.status = f"{kind}: {detail}"
        self.counts[kind.replace(" ", "_")] += 1
        return None

    def close(self) -> None:
        self._push.close(0)
        self._pull.close(0)

    def __enter__(self) -> RemotePrecoder:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
