"""The client: :class:`RemotePrecoder` calls a :class:`PrecoderService` like a local precoder."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from ..channels import SensingGeometry
from ..config import SystemConfig
from ..pmt_messages import MalformedMessage
from .curve import apply_client_curve
from .endpoints import SocketOwner, check_address
from .geometry import geometry_fields
from .protocol import MAX_BATCH
from .wire import MAX_FRAME_BYTES, MAX_WIRE_BYTES, decode_message, encode_message


class RemotePrecoder(SocketOwner):
    """Client of a :class:`PrecoderService`, called like a local precoder plus ``cb``:
    ``W = remote(F_hat, cb=cb, geometry=sg)`` -> W (B, N, K+1) complex128 (column 0 the sensing
    beam, whatever the service runs), or None when
    the service is unreachable, too slow (``timeout_ms``), restarted mid-request, or answered
    with an error or a malformed reply. It never raises for those: :attr:`status` says what
    happened (``"ok"``, ``"timeout: ..."``, ``"unreachable: ..."``, ``"server error: ..."``,
    ``"malformed reply: ..."``) and :attr:`counts` tallies outcomes, for the block to report.
    Bad arguments (wrong shapes, more than MAX_BATCH blocks, a request over MAX_FRAME_BYTES)
    are programming errors and raise ValueError. Requests and replies travel on one DEALER
    connection to the service's ROUTER, so replies reach this client only. With ``server_key``
    (the service's public ``.key`` file) the connection is CURVE-encrypted and authenticated
    with the key pair in ``client_key`` (this client's ``.key_secret``; None: a fresh pair,
    which only a service admitting any client accepts). Only the first
    call waits (up to ``timeout_ms``) for a service to connect; while it stays unreachable the
    next calls return at once, and the first after it is back is served.

    ``geometry`` (a SensingGeometry) is what the service's family needs besides the
    estimates (a target beam, the varpi-averaged grams; a request without it is answered with
    an error naming the missing fields); ``sensing`` tokens (B, 1+NC, N) suit target-aware ONNX
    models; ``active`` (B, K) is the active-user mask. In the ``remote`` precoder family
    (:class:`gr_cfisac.service.design.RemoteDesign`)::

        W = self.client(F_hat, cb=cbs, geometry=sg)
        if W is None:
            W = self.fallback(realization).W     # the local family meanwhile
    """

    def __init__(
        self,
        address: str,
        cfg: SystemConfig,
        timeout_ms: int = 500,
        *,
        server_key: str | Path | None = None,
        client_key: str | Path | None = None,
        context: zmq.Context | None = None,
    ) -> None:
        check_address(address, "address")
        if not (isinstance(timeout_ms, (int, float)) and timeout_ms > 0):
            raise ValueError(f"timeout_ms must be > 0, got {timeout_ms!r}")
        if client_key is not None and server_key is None:
            raise ValueError("client_key needs server_key (the service's public .key file)")
        self.cfg = cfg
        self.address = address
        self.curve = server_key is not None
        self.timeout_ms = float(timeout_ms)
        self.client_id = f"{socket.gethostname()[:24]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.seq = 0
        self.status = "idle"
        self.counts: Counter[str] = Counter()
        self.last_model: str | None = None
        self._ctx = context or zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.DEALER)
        try:
            if server_key is not None:
                apply_client_curve(self._sock, server_key, client_key)
        except Exception:
            self._sock.close(0)
            raise
        # an unguessable routing id: a peer cannot connect under this client's id to take
        # replies meant for it (ids ZeroMQ picks itself start with a zero byte and count up)
        self._sock.setsockopt(zmq.ROUTING_ID, b"c" + uuid.uuid4().bytes)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.RECONNECT_IVL, 20)  # find a (re)started service quickly
        self._sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
        self._sock.setsockopt(zmq.IMMEDIATE, 1)  # no queueing for a service that is not there
        self._sock.setsockopt(zmq.SNDHWM, 4)
        self._sock.setsockopt(zmq.MAXMSGSIZE, MAX_WIRE_BYTES)
        self._sock.connect(address)

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
        geometry: SensingGeometry | None = None,
        active: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """W (B, N, K+1) for estimates F_hat (B, N, K) of blocks ``cb`` (first index, or (B,)
        indices), with the sensing ``geometry`` of those blocks (see the class doc)."""
        cfg = self.cfg
        F = np.asarray(F_hat)
        if F.ndim == 2:
            F = F[None]
        if F.ndim != 3 or F.shape[1:] != (cfg.N, cfg.K):
            raise ValueError(f"F_hat must be (B, N={cfg.N}, K={cfg.K}), got {np.shape(F_hat)}")
        if F.shape[0] > MAX_BATCH:
            raise ValueError(f"F_hat has {F.shape[0]} blocks; send at most {MAX_BATCH} per call")
        cbs = np.atleast_1d(np.asarray(0 if cb is None else cb, dtype=np.int64))
        if cbs.size not in (1, F.shape[0]):
            raise ValueError(f"cb must be one index or {F.shape[0]} indices, got {cbs.size}")
        if active is not None:
            active = np.asarray(active)
            if active.shape != (F.shape[0], cfg.K):
                raise ValueError(f"active must be (B={F.shape[0]}, K={cfg.K}), got {active.shape}")
        self.seq += 1
        frame = encode_message(
            int(cbs[0]),
            F_hat=F.astype(np.complex64),
            cbs=cbs if cbs.size > 1 else None,
            power=None if power is None else float(power),
            noise=float(noise),
            sensing=None if sensing is None else np.asarray(sensing, dtype=np.complex64),
            active=None if active is None else active.astype(np.int64),
            client=self.client_id,
            seq=self.seq,
            **({} if geometry is None else geometry_fields(geometry)),
        )
        if len(frame) > MAX_FRAME_BYTES:
            raise ValueError(
                f"a request of {F.shape[0]} blocks is {len(frame)} bytes, over the service's "
                f"{MAX_FRAME_BYTES}-byte frame limit; send at most "
                f"{max(1, F.shape[0] * MAX_FRAME_BYTES // len(frame))} blocks per call"
            )
        reply = self._exchange(frame, self.seq)
        if reply is None:
            return None
        W = reply.get("W")
        want = (F.shape[0], cfg.N, cfg.K + 1)
        if not isinstance(W, np.ndarray) or W.shape != want or not np.all(np.isfinite(W)):
            return self._fail(
                "malformed reply",
                f"W {getattr(W, 'shape', None)} is not (B={want[0]}, N={want[1]}, K+1={want[2]}) "
                "finite",
            )
        self.status = "ok"
        self.counts["ok"] += 1
        self.last_model = reply.get("model")
        return W.astype(np.complex128)

    def ping(self) -> dict[str, Any] | None:
        """The service's pong (model, spec, needs, N, K, served) or None (see :attr:`status`)."""
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
            if not self._sock.poll(wait, zmq.POLLOUT):
                raise zmq.Again()
            self._sock.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            hint = " (or CURVE refused this client: check server_key and client_key)"
            return self._fail(
                "unreachable",
                f"no service connected at {self.address}{hint if self.curve else ''}",
            )
        except zmq.ZMQError as exc:
            return self._fail("unreachable", str(exc))
        malformed = None
        while (left := deadline - time.monotonic()) > 0:
            if not self._sock.poll(max(1, int(left * 1000))):
                continue
            try:
                frames = self._sock.recv_multipart(zmq.NOBLOCK)
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
                self._sock.recv_multipart(zmq.NOBLOCK)
                self.counts["stale_reply"] += 1
            except zmq.Again:
                return

    def _fail(self, kind: str, detail: str) -> None:
        self.status = f"{kind}: {detail}"
        self.counts[kind.replace(" ", "_")] += 1
        return None

    def close(self) -> None:
        self._sock.close(0)
