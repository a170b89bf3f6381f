"""The server: :class:`PrecoderService` answers precode and ping requests with one Model."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

import numpy as np
import zmq

from ..config import SystemConfig
from ..pmt_messages import MalformedMessage
from .endpoints import DEFAULT_ADDRESS, SocketOwner, check_reply_pattern, reply_endpoint
from .models import Model, load_model
from .protocol import echo_fields, encode_reply, parse_precode
from .wire import MAX_FRAME_BYTES, decode_message

log = logging.getLogger("gr_cfisac.service")

#: How long a PUSH reply waits for a consumer to (re)connect before it is dropped.
REPLY_WAIT_MS = 50


class PrecoderService(SocketOwner):
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
        check_reply_pattern(reply_pattern)
        self.cfg = cfg
        self.model = load_model(model, cfg, threshold) if isinstance(model, str) else model
        self.address = address
        self.reply_address = reply_endpoint(address, reply_address)
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
        echo = echo_fields(request)
        try:
            if request.get("type", "precode") == "ping":
                self.stats["ping"] += 1
                return encode_reply(
                    echo,
                    status="ok",
                    type="pong",
                    model=self.model.name,
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
        except Exception as exc:  # noqa: BLE001 (a failing model must not stop the service)
            self.stats["model_error"] += 1
            log.warning("precoder %s failed: %s", self.model.name, exc)
            message = f"precoder failed: {type(exc).__name__}: {exc}"
        try:
            return encode_reply(echo, status="error", error=message[:500], model=self.model.name)
        except Exception:  # noqa: BLE001
            return None

    def _count_malformed(self, why: str) -> None:
        self.stats["malformed"] += 1
        n = self.stats["malformed"]
        if n <= 5 or n % 1000 == 0:
            log.warning("malformed request #%d: %s", n, why)

    def _precode(self, req: dict[str, Any]) -> tuple[np.ndarray, bool]:
        r = parse_precode(req, self.cfg)
        W = np.asarray(self.model.precode(r.F.astype(np.complex128), r.power, r.noise, r.sensing))
        if W.shape != (r.F.shape[0], self.cfg.N, self.model.columns):
            raise RuntimeError(f"model returned shape {W.shape}")
        return W, r.two_d

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
