"""The server: :class:`PrecoderService` answers precode and ping requests with one Model, a
precoder of the registry, always with W (B, N, K+1), sensing beam first.

Routed requests arrive on a ROUTER socket: each reply goes back on the connection its request
came from (the ZeroMQ routing id), so no other peer can receive it. Requests from GNU Radio's
stock ``push_msg_sink`` may arrive on an optional PULL socket; their replies can only leave
unrouted (PUSH or PUB), so that path is held to loopback and announced with a warning.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from ..config import SystemConfig
from ..pmt_messages import MalformedMessage
from ..precoding.registry import Realization
from .curve import ServerCurve
from .endpoints import (
    DEFAULT_ADDRESS,
    SocketOwner,
    check_address,
    check_stock_endpoints,
    check_stock_reply_pattern,
    exposure_warning,
)
from .geometry import field_names
from .models import Model, load_model
from .protocol import (
    NonFiniteBeams,
    PrecodeRequest,
    check_beams,
    echo_fields,
    encode_reply,
    parse_precode,
)
from .wire import MAX_WIRE_BYTES, decode_message

log = logging.getLogger("gr_cfisac.service")

#: How long a stock PUSH reply waits for a consumer to (re)connect before it is dropped.
REPLY_WAIT_MS = 50
#: Frames a peer may have queued at the service (bounds what one peer can make it hold).
QUEUE_PER_PEER = 64


class PrecoderService(SocketOwner):
    """Serve one :class:`Model` for one SystemConfig: ``model`` is a Model, or a registry
    algorithm (family name or .onnx path) built with ``params`` for ``scenario`` (``threshold``:
    its threshold parameter). Requests on ROUTER at ``address``,
    each reply to its requester only; with ``stock_address`` (loopback only) also requests
    from stock ``push_msg_sink`` blocks, answered on ``stock_reply_pattern`` (``push``/``pub``)
    at ``stock_reply_address``. ``curve_secret`` (a ``.key_secret`` file) turns on CURVE for
    the ROUTER, admitting the client keys in ``curve_clients`` (a folder of ``.key`` files or
    one file; None: any client that has the server's public key). :meth:`handle` turns any
    frame into a reply and never raises; :meth:`serve` loops until ``stop`` is set or
    ``max_requests`` were handled. :attr:`warnings` lists what the operator must know."""

    def __init__(
        self,
        model: Model | str,
        cfg: SystemConfig,
        address: str = DEFAULT_ADDRESS,
        *,
        curve_secret: str | Path | None = None,
        curve_clients: str | Path | None = None,
        stock_address: str | None = None,
        stock_reply_address: str | None = None,
        stock_reply_pattern: str = "push",
        context: zmq.Context | None = None,
        threshold: float | None = None,
        scenario: str = "cellfree",
        params: dict[str, Any] | None = None,
    ) -> None:
        check_address(address, "address", bind=True)
        if curve_clients is not None and curve_secret is None:
            raise ValueError("curve_clients needs curve_secret (the server's .key_secret file)")
        curve = (
            None if curve_secret is None else ServerCurve.from_files(curve_secret, curve_clients)
        )
        if stock_address is not None:
            check_stock_reply_pattern(stock_reply_pattern)
            stock_reply_address = check_stock_endpoints(stock_address, stock_reply_address)
        self.cfg = cfg
        if isinstance(model, str):
            model = load_model(model, cfg, threshold, scenario=scenario, params=params)
        elif threshold is not None or params:
            raise ValueError(
                "threshold and params build a model from its name; give one or the other"
            )
        self.model = model
        self.curve = curve
        self.stock_reply_pattern = stock_reply_pattern
        self.stats: Counter[str] = Counter()
        self.closed = False
        self._last_drop = -1e9
        self._own_context = context is None and curve is not None  # one ZAP handler per context
        self._ctx = zmq.Context() if self._own_context else (context or zmq.Context.instance())
        self._auth = None
        self._stock_in: zmq.Socket | None = None
        self._stock_out: zmq.Socket | None = None
        self._router = self._ctx.socket(zmq.ROUTER)
        try:
            self._router.setsockopt(zmq.ROUTER_MANDATORY, 1)  # unroutable: an error, not a drop
            self._setup(self._router)
            if curve is not None:
                self._auth = curve.start_authenticator(self._ctx)
                curve.apply(self._router)
            self.address = self._bind(self._router, address)
            self.stock_address = self.stock_reply_address = None
            if stock_address is not None:
                self._stock_in = self._ctx.socket(zmq.PULL)
                self._setup(self._stock_in)
                self._stock_out = self._ctx.socket(
                    zmq.PUSH if stock_reply_pattern == "push" else zmq.PUB
                )
                self._stock_out.setsockopt(zmq.LINGER, 0)
                self._stock_out.setsockopt(zmq.SNDHWM, 1000)
                self.stock_address = self._bind(self._stock_in, stock_address)
                self.stock_reply_address = self._bind(self._stock_out, stock_reply_address)
        except Exception:
            self.close()
            raise
        self.warnings = self._warnings()
        for text in self.warnings:
            log.warning("%s", text)

    def _warnings(self) -> list[str]:
        """What the operator must know about how exposed this service is."""
        out = []
        exposed = exposure_warning(self.address, self.curve is not None)
        if exposed:
            out.append(exposed)
        if self.curve is not None and self.curve.clients is None:
            out.append(
                "CURVE admits any client that has the server's public key (encrypted, but "
                "not restricted); give --curve-clients to admit only known clients"
            )
        if self.stock_address is not None:
            push = self.stock_reply_pattern == "push"
            out.append(
                f"stock-block replies leave unrouted on {self.stock_reply_pattern.upper()} "
                f"{self.stock_reply_address}: any local process that connects there can "
                f"receive them{' (PUSH hands each to one of them)' if push else ''}; for "
                f"routed replies use RemotePrecoder or a DEALER/REQ peer on {self.address}"
            )
        return out

    @staticmethod
    def _setup(socket: zmq.Socket) -> None:
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.MAXMSGSIZE, MAX_WIRE_BYTES)
        socket.setsockopt(zmq.RCVHWM, QUEUE_PER_PEER)

    @staticmethod
    def _bind(socket: zmq.Socket, address: str) -> str:
        """Bind and return the bound endpoint (the port chosen for ``tcp://HOST:*``)."""
        try:
            socket.bind(address)
        except zmq.ZMQError as exc:
            raise ValueError(
                f"cannot bind {address} ({exc}); is another service running there? choose "
                "another --address"
            ) from None
        return socket.getsockopt(zmq.LAST_ENDPOINT).decode() if address.endswith(":*") else address

    # --- one request
    def handle(self, frame: bytes) -> bytes:
        """The reply frame for one request frame: ``ok`` with W, or ``error`` saying why."""
        t0 = time.perf_counter()
        echo: dict[str, Any] = {}
        try:
            request = decode_message(frame)
            echo = echo_fields(request)
            if request.get("type", "precode") == "ping":
                self.stats["ping"] += 1
                return encode_reply(
                    echo,
                    status="ok",
                    type="pong",
                    model=self.model.name,
                    spec=self.model.describe(),
                    needs=",".join(sorted(self.model.needs)),
                    N=self.cfg.N,
                    K=self.cfg.K,
                    served=self.stats["ok"],
                )
            W, two_d = self._precode(request)
            self.stats["ok"] += 1
            return encode_reply(
                echo,
                status="ok",
                W=W[0] if two_d else W,
                model=self.model.name,
                elapsed_us=1e6 * (time.perf_counter() - t0),
            )
        except MalformedMessage as exc:
            self._count_malformed(str(exc))
            message = f"bad request: {exc}"
        except NonFiniteBeams as exc:
            self.stats["bad_output"] += 1
            message = f"bad output: {exc}"
        except Exception as exc:  # noqa: BLE001 (a failing model must not stop the service)
            self.stats["model_error"] += 1
            log.warning("precoder %s failed: %s", self.model.name, exc)
            message = f"precoder failed: {type(exc).__name__}: {exc}"
        return self._error(echo, message)

    def _error(self, echo: dict[str, Any], message: str) -> bytes:
        try:
            return encode_reply(echo, status="error", error=message[:500], model=self.model.name)
        except Exception:  # noqa: BLE001 (echo fields were checked; this is the last resort)
            return encode_reply({}, status="error", error=message[:500])

    def _count_malformed(self, why: str) -> None:
        self.stats["malformed"] += 1
        n = self.stats["malformed"]
        if n <= 5 or n % 1000 == 0:
            log.warning("malformed request #%d: %s", n, why)

    def _precode(self, req: dict[str, Any]) -> tuple[np.ndarray, bool]:
        r = parse_precode(req, self.cfg)
        B = r.F.shape[0]
        with np.errstate(all="ignore"):  # overflow shows in W, which check_beams explains
            out = self.model.precode(self._realization(r, req))
        W = np.asarray(getattr(out, "W", out))
        if W.shape != (B, self.cfg.N, self.cfg.K + 1):
            raise RuntimeError(
                f"model returned W of shape {W.shape}, expected {(B, self.cfg.N, self.cfg.K + 1)}"
            )
        return check_beams(W, r, self.model.name), r.two_d

    def _realization(self, r: PrecodeRequest, req: dict[str, Any]) -> Realization:
        """What the precoder sees; MalformedMessage naming the fields its family needs."""
        sensing: Any = r.geometry
        if sensing is None and "sensing_geometry" in self.model.needs:
            if self.model.tokens and r.sensing is not None:
                sensing = r.sensing  # the ONNX host takes tokens or a SensingGeometry
            else:
                tokens = " (or the sensing tokens in 'sensing')" if self.model.tokens else ""
                raise MalformedMessage(
                    f"precoder {self.model.name} needs the sensing geometry: the request has no "
                    f"{', '.join(field_names(self.cfg))}{tokens} (every SensingGeometry array, "
                    "batch axis first)"
                )
        B = r.F.shape[0]
        cbs, cb = req.get("cbs"), req.get("cb")
        if isinstance(cbs, np.ndarray) and cbs.shape == (B,) and cbs.dtype.kind in "iu":
            blocks = cbs.astype(np.int64)
        elif isinstance(cb, int) and 0 <= cb < 2**62:
            blocks = cb + np.arange(B, dtype=np.int64)
        else:
            blocks = None
        return Realization(r.F.astype(np.complex128), sensing, r.active, blocks)

    # --- the loop
    def serve(
        self,
        stop: threading.Event | None = None,
        max_requests: int | None = None,
        poll_ms: int = 100,
        report_every_s: float | None = None,
    ) -> Counter[str]:
        """Answer requests until ``stop`` is set or ``max_requests`` frames were handled."""
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        if self._stock_in is not None:
            poller.register(self._stock_in, zmq.POLLIN)
        handled = 0
        last_report = time.monotonic()
        while not (stop is not None and stop.is_set()):
            if max_requests is not None and handled >= max_requests:
                break
            if report_every_s and time.monotonic() - last_report > report_every_s:
                log.info("service %s: %s", self.model.name, dict(self.stats))
                last_report = time.monotonic()
            try:
                ready = dict(poller.poll(poll_ms))
                if self._router in ready:
                    handled += self._serve_routed()
                if self._stock_in is not None and self._stock_in in ready:
                    handled += self._serve_stock()
            except zmq.ZMQError as exc:
                if self.closed or exc.errno == zmq.ETERM:
                    break
                raise
        return self.stats

    def _serve_routed(self) -> int:
        """One ROUTER request: [id, payload] (DEALER) or [id, b'', payload] (REQ)."""
        try:
            frames = self._router.recv_multipart(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return 0
        self.stats["received"] += 1
        envelope = [frames[0].bytes]
        body = frames[1:]
        if len(body) >= 2 and len(body[0]) == 0:  # a REQ peer's empty delimiter
            envelope.append(b"")
            body = body[1:]
        if len(body) == 1:
            reply = self.handle(body[0].buffer)
        else:
            self._count_malformed(f"{len(body)} payload frames")
            reply = self._error({}, f"bad request: expected one frame, got {len(body)}")
        try:
            self._router.send_multipart([*envelope, reply], zmq.NOBLOCK)
        except zmq.ZMQError:  # the requester left (EHOSTUNREACH) or stopped reading (EAGAIN)
            self.stats["undeliverable"] += 1
        return 1

    def _serve_stock(self) -> int:
        """One request from a stock push_msg_sink, answered unrouted on the stock reply socket."""
        assert self._stock_in is not None and self._stock_out is not None
        try:
            frames = self._stock_in.recv_multipart(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return 0
        self.stats["received"] += 1
        self.stats["stock"] += 1
        if len(frames) == 1:
            reply = self.handle(frames[0].buffer)
        else:
            self._count_malformed(f"{len(frames)} frames")
            reply = self._error({}, f"bad request: expected one frame, got {len(frames)}")
        try:
            # a stock peer that has just connected its request socket may still be connecting
            # its reply socket: wait a little for it rather than drop the reply at once
            # (at most once a second, so a flood nobody listens to is not slowed down)
            patient = time.monotonic() - self._last_drop > 1.0
            wait = REPLY_WAIT_MS if patient and self.stock_reply_pattern == "push" else 0
            if not self._stock_out.poll(wait, zmq.POLLOUT):
                raise zmq.Again()
            self._stock_out.send(reply, zmq.NOBLOCK)
        except zmq.Again:
            self.stats["undeliverable"] += 1  # no peer on the reply socket, or it is full
            self._last_drop = time.monotonic()
        return 1

    def close(self) -> None:
        self.closed = True
        for name in ("_router", "_stock_in", "_stock_out"):
            s = getattr(self, name, None)
            if s is not None:
                s.close(0)
        if getattr(self, "_auth", None) is not None:
            self._auth.stop()
            self._auth = None
        if getattr(self, "_own_context", False):
            self._ctx.term()
            self._own_context = False
