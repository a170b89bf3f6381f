"""Fuzzer of the precoder service (issue 17): seeded malformed frames against a real server on
127.0.0.1, with rogue sockets on its port and on the old reply port (port + 1).

Per run it asserts: every frame is answered exactly once (an error frame, not silence), no
reply reaches a rogue, no ``ok`` reply carries a non-finite or misshapen W (the ISAC layout
(N, K+1) per block), a legitimate client
interleaved with the fuzz gets every one of its replies, right, and the service still serves
afterwards. The quick mode runs in the normal test run; the long mode (``-m slow``, or
``CFISAC_FUZZ_FRAMES=N`` for N frames per model) is for ``make bench`` / manual runs and
prints the counts.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections import Counter

import numpy as np
import pmt
import pytest
import zmq

from gr_cfisac.channels import SensingGeometry
from gr_cfisac.config import SystemConfig
from gr_cfisac.precoding.registry import Realization, make_precoder, spec_for
from gr_cfisac.scenario import draw_realizations
from gr_cfisac.service import (
    MAX_FRAME_BYTES,
    MalformedMessage,
    PrecoderService,
    RemotePrecoder,
    decode_message,
    encode_message,
    geometry_fields,
    reply_address_for,
)

QUICK_FRAMES = 200  # per model, two models
LONG_FRAMES = int(os.environ.get("CFISAC_FUZZ_FRAMES", "0")) or 10_000
LEGIT_EVERY = 25  # a legitimate client's request after this many fuzz frames
WINDOW = 16  # fuzz frames in flight

F32_MAX = float(np.finfo(np.float32).max)
POOL = 8  # realizations whose sensing geometry the frames carry


def _take(sg: SensingGeometry, rows: np.ndarray) -> SensingGeometry:
    return SensingGeometry(**{f.name: getattr(sg, f.name)[rows] for f in dataclasses.fields(sg)})


def _estimates(cfg: SystemConfig, batch: int, rng: np.random.Generator) -> np.ndarray:
    F = rng.standard_normal((batch, cfg.N, cfg.K)) + 1j * rng.standard_normal((batch, cfg.N, cfg.K))
    return (1e-4 * F).astype(np.complex64)


def _raw(fields: dict[str, pmt.pmt_t], shapes: dict[str, list[int]] | None = None) -> bytes:
    """A PMT dict frame with exactly these PMT values (what a careless or hostile peer sends)."""
    msg = pmt.make_dict()
    for name, value in fields.items():
        msg = pmt.dict_add(msg, pmt.intern(name), value)
    if shapes:
        sd = pmt.make_dict()
        for name, dims in shapes.items():
            sd = pmt.dict_add(sd, pmt.intern(name), pmt.init_s64vector(len(dims), dims))
        msg = pmt.dict_add(msg, pmt.intern("shape"), sd)
    return pmt.serialize_str(msg)


def _c64(F: np.ndarray) -> pmt.pmt_t:
    return pmt.init_c64vector(F.size, F.ravel().astype(np.complex128).tolist())


class Mutator:
    """Seeded malformed-frame generator: each call returns (kind, frames to send as one
    multipart message)."""

    def __init__(self, cfg: SystemConfig, seed: int) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)
        self.sg = draw_realizations(cfg, POOL, seed).sensing
        self.kinds = [
            self.truncated,
            self.flipped,
            self.random_bytes,
            self.wrong_dtype,
            self.wrong_shape,
            self.huge_dims,
            self.non_finite,
            self.extreme_values,
            self.bad_scalars,
            self.bad_sensing,
            self.bad_geometry,
            self.length_lies,
            self.nesting_bomb,
            self.multipart,
        ]

    def geometry(self, batch: int) -> dict[str, np.ndarray]:
        """The geometry fields of ``batch`` blocks drawn from the pool."""
        return geometry_fields(_take(self.sg, self.rng.integers(0, POOL, batch)))

    def good(self, batch: int | None = None) -> bytes:
        b = int(batch or self.rng.integers(1, 4))
        return encode_message(
            int(self.rng.integers(0, 2**20)),
            F_hat=_estimates(self.cfg, b, self.rng),
            **self.geometry(b),
        )

    def raw(self, F_hat: pmt.pmt_t, dims: list[int], batch: int) -> bytes:
        """_raw with this F_hat and the geometry of ``batch`` blocks (so the precoder runs)."""
        geometry = self.geometry(batch)
        fields = {"F_hat": F_hat}
        for name, value in geometry.items():
            flat = value.ravel()
            fields[name] = (
                pmt.init_c32vector(flat.size, flat.tolist())
                if np.iscomplexobj(value)
                else pmt.init_f64vector(flat.size, flat.tolist())
            )
        return _raw(fields, {"F_hat": dims, **{k: list(v.shape) for k, v in geometry.items()}})

    def __call__(self) -> tuple[str, list[bytes]]:
        make = self.kinds[int(self.rng.integers(len(self.kinds)))]
        out = make()
        return make.__name__, out if isinstance(out, list) else [out]

    def truncated(self) -> bytes:
        g = self.good()
        return g[: int(self.rng.integers(0, len(g)))]

    def flipped(self) -> bytes:
        b = bytearray(self.good())
        for _ in range(int(self.rng.integers(1, 9))):
            b[int(self.rng.integers(len(b)))] = int(self.rng.integers(256))
        return bytes(b)

    def random_bytes(self) -> bytes:
        return self.rng.integers(0, 256, int(self.rng.integers(0, 300)), dtype=np.uint8).tobytes()

    def wrong_dtype(self) -> bytes:
        F = _estimates(self.cfg, 1, self.rng)
        n = F.size
        value = [
            pmt.init_f32vector(n, F.real.ravel().tolist()),
            pmt.init_f64vector(n, F.real.ravel().astype(float).tolist()),
            pmt.init_s64vector(n, [1] * n),
            pmt.init_u8vector(n, [1] * n),
            pmt.from_double(1.0),
            pmt.intern("F"),
            pmt.make_vector(3, pmt.PMT_NIL),
            pmt.PMT_T,
        ][int(self.rng.integers(8))]
        return _raw({"F_hat": value}, {"F_hat": [1, self.cfg.N, self.cfg.K]})

    def wrong_shape(self) -> bytes:
        # at most 40**4 c32 elements (20 MB): over MAX_FRAME_BYTES at times, never over
        # MAX_WIRE_BYTES (where ZeroMQ drops the connection, documented, unanswerable)
        dims = [int(d) for d in self.rng.integers(0, 41, int(self.rng.integers(1, 5)))]
        F = (self.rng.standard_normal(int(np.prod(dims))) * 1e-4).astype(np.complex64)
        return encode_message(1, F_hat=F.reshape(dims))

    def huge_dims(self) -> bytes:
        F = _estimates(self.cfg, 1, self.rng)
        N, K = self.cfg.N, self.cfg.K
        dims = [
            [2**31, N, K],
            [2**62, N, K],
            [-1, N, K],
            [0, N, K],
            [1, N * K],
            [1, 2**40, 0],
            [5000, N, K],
        ][int(self.rng.integers(7))]
        return _raw({"F_hat": pmt.init_c32vector(F.size, F.ravel().tolist())}, {"F_hat": dims})

    def non_finite(self) -> bytes:
        F = _estimates(self.cfg, int(self.rng.integers(1, 4)), self.rng).astype(np.complex128)
        idx = self.rng.integers(0, F.size, int(self.rng.integers(1, 5)))
        F.ravel()[idx] = self.rng.choice([np.nan, np.inf, -np.inf, complex(np.nan, 1)])
        as_c64 = bool(self.rng.integers(2))
        value = _c64(F) if as_c64 else pmt.init_c32vector(F.size, F.ravel().tolist())
        return self.raw(value, list(F.shape), F.shape[0])

    def extreme_values(self) -> bytes:
        F = _estimates(self.cfg, int(self.rng.integers(1, 4)), self.rng).astype(np.complex128)
        unit = F / np.abs(F).max()
        peak = self.rng.choice([F32_MAX, 0.99 * F32_MAX, 1e30, 1e150, 1e300, 1e-30, 1e-45, 1e-300])
        case = int(self.rng.integers(4))
        if case == 0:
            F = unit * peak
        elif case == 1:  # one block silent, others normal
            F[int(self.rng.integers(F.shape[0]))] = 0
        elif case == 2:  # one huge entry among normal ones
            F.ravel()[int(self.rng.integers(F.size))] = peak
        else:
            F[:] = 0
        as_c64 = peak > F32_MAX or peak < 1e-45 or bool(self.rng.integers(2))
        value = _c64(F) if as_c64 else pmt.init_c32vector(F.size, F.ravel().tolist())
        return self.raw(value, list(F.shape), F.shape[0])

    def bad_scalars(self) -> bytes:
        F = _estimates(self.cfg, 1, self.rng)
        bad = [0.0, -1.0, np.nan, np.inf, 1e308, 1e300, 1e-308, "high", True, 2**70]
        name = ["power", "noise", "cb", "seq", "client", "type", "cbs"][int(self.rng.integers(7))]
        value = bad[int(self.rng.integers(len(bad)))]
        if name == "client":
            value = "x" * int(self.rng.integers(0, 1000))
        if name == "cbs":
            value = self.rng.integers(-(2**62), 2**62, int(self.rng.integers(0, 5000)))
        try:
            return encode_message(None, F_hat=F, **{name: value}, **self.geometry(1))
        except Exception:  # noqa: BLE001 (a value our encoder refuses: send it raw)
            return _raw(
                {
                    "F_hat": pmt.init_c32vector(F.size, F.ravel().tolist()),
                    name: pmt.intern(repr(value)[:100]),
                },
                {"F_hat": list(F.shape)},
            )

    def bad_sensing(self) -> bytes:
        F = _estimates(self.cfg, 1, self.rng)
        rows = 1 + self.cfg.NC
        shape = [(1, rows, self.cfg.N), (rows, self.cfg.N), (1, rows + 1, self.cfg.N), (7,)][
            int(self.rng.integers(4))
        ]
        S = (self.rng.standard_normal(shape) * 1e-3).astype(np.complex64)
        if self.rng.integers(2):
            S.ravel()[0] = np.nan
        return encode_message(1, F_hat=F, sensing=S)

    def bad_geometry(self) -> bytes:
        """A geometry field missing, unknown, misshapen, of the wrong kind, NaN/inf, negative."""
        b = int(self.rng.integers(1, 4))
        F = _estimates(self.cfg, b, self.rng)
        geometry = self.geometry(b)
        names = sorted(geometry)
        name = names[int(self.rng.integers(len(names)))]
        case = int(self.rng.integers(7))
        if case == 0:
            del geometry[name]
        elif case == 1:
            geometry["geometry.rcs"] = np.ones(b)
        elif case == 2:  # another batch, or a per-block shape off by one
            shape = list(geometry[name].shape)
            shape[int(self.rng.integers(len(shape)))] += int(self.rng.choice([-1, 1]))
            geometry[name] = np.ones([max(d, 0) for d in shape], geometry[name].dtype)
        elif case == 3:
            value = geometry[name]
            geometry[name] = value.real if np.iscomplexobj(value) else value + 0j
        elif case == 4:
            geometry[name].ravel()[int(self.rng.integers(geometry[name].size))] = self.rng.choice(
                [np.nan, np.inf]
            )
        elif case == 5:
            geometry["geometry.amp_c"] = -geometry["geometry.amp_c"]
        else:
            geometry[name] = np.int64(1)  # a scalar
        return encode_message(1, F_hat=F, **geometry)

    def length_lies(self) -> bytes:
        b = bytearray(self.good())
        pos = int(self.rng.integers(len(b)))
        b[pos : pos + 4] = [b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x00\x00\x00\x00"][
            int(self.rng.integers(3))
        ]
        return bytes(b)

    def nesting_bomb(self) -> bytes:
        n = int(self.rng.integers(50, 20_000))
        return [bytes([0x09]) * n, bytes([0x07]) * n + b"\x06" * n, bytes([0x08, 0xFF, 0xFF])][
            int(self.rng.integers(3))
        ]

    def multipart(self) -> list[bytes]:
        parts = [self.good(1), b"", self.random_bytes()]
        self.rng.shuffle(parts)
        return parts[: int(self.rng.integers(2, 4))]


def _check_reply(frames: list[bytes], cfg: SystemConfig, tally: Counter[str]) -> None:
    try:
        reply = decode_message(frames[-1])
    except MalformedMessage:
        tally["undecodable_reply"] += 1
        return
    status = reply.get("status")
    tally[f"status_{status}"] += 1
    if status == "ok":
        W = reply.get("W")
        if not isinstance(W, np.ndarray) or not np.isfinite(W).all():
            tally["ok_non_finite_W"] += 1
        elif W.shape[-2:] != (cfg.N, cfg.K + 1):
            tally["ok_misshapen_W"] += 1
    elif not reply.get("error"):
        tally["error_without_text"] += 1


def fuzz(model: str, frames: int, seed: int, oversized: int = 1) -> Counter[str]:
    """Send ``frames`` mutated frames (plus ``oversized`` frames over MAX_FRAME_BYTES) to a
    fresh service of ``model``; the tally of what happened."""
    cfg = SystemConfig()
    ctx = zmq.Context.instance()
    tally: Counter[str] = Counter()
    mutate = Mutator(cfg, seed)
    # the legitimate client's blocks, and the registry's W for them computed here (the
    # geometry's complex arrays as they travel, complex64)
    drawn = draw_realizations(cfg, frames // LEGIT_EVERY + 3, seed + 1)
    legit_F = drawn.F_hat.astype(np.complex64).astype(complex)
    fields = {f.name: getattr(drawn.sensing, f.name) for f in dataclasses.fields(SensingGeometry)}
    legit_sg = SensingGeometry(
        **{
            k: v.astype(np.complex64).astype(complex) if np.iscomplexobj(v) else v
            for k, v in fields.items()
        }
    )
    legit_W = make_precoder(spec_for(model), cfg)(Realization(legit_F, legit_sg)).W
    served = 0
    svc = PrecoderService(model, cfg, "tcp://127.0.0.1:*")
    stop = threading.Event()
    server = threading.Thread(target=svc.serve, kwargs={"stop": stop, "poll_ms": 20})
    server.start()
    sockets = []
    try:
        addr = svc.address
        for kind, where in [
            (zmq.PULL, reply_address_for(addr)),
            (zmq.SUB, reply_address_for(addr)),
            (zmq.PULL, addr),
            (zmq.SUB, addr),
            (zmq.DEALER, addr),
        ]:
            rogue = ctx.socket(kind)
            if kind == zmq.SUB:
                rogue.setsockopt(zmq.SUBSCRIBE, b"")
            rogue.connect(where)
            sockets.append(rogue)
        rogues = list(sockets)
        dealer = ctx.socket(zmq.DEALER)
        dealer.connect(addr)
        sockets.append(dealer)
        legit = RemotePrecoder(addr, cfg, timeout_ms=10_000)
        plan = [mutate() for _ in range(frames)]
        for i in range(oversized):  # spread through the run
            plan.insert(
                (i + 1) * len(plan) // (oversized + 1),
                ("oversized", [b"\x09" * (MAX_FRAME_BYTES + 1)]),
            )
        sent = answered = 0
        for i, (kind, parts) in enumerate(plan):
            tally[f"kind_{kind}"] += 1
            dealer.send_multipart(parts)
            sent += 1
            while sent - answered >= WINDOW or (i == len(plan) - 1 and answered < sent):
                if not dealer.poll(10_000):
                    tally["unanswered"] += sent - answered
                    tally[f"unanswered_from_{plan[answered][0]}"] += 1  # replies come in order
                    answered = sent
                    break
                _check_reply(dealer.recv_multipart(), cfg, tally)
                answered += 1
            if i % LEGIT_EVERY == 0:
                rows = np.array([served])
                served += 1
                W = legit(legit_F[rows], cb=i, geometry=_take(legit_sg, rows))
                ok = W is not None and np.allclose(
                    W, legit_W[rows], rtol=1e-4, atol=1e-6 * np.abs(W).max()
                )
                tally["legit_ok" if ok else "legit_failed"] += 1
        tally["frames"] = sent
        tally["stolen"] = sum(r.poll(200) for r in rogues)
        rows = np.array([served, served + 1])
        after = legit(legit_F[rows], geometry=_take(legit_sg, rows))
        tally["served_after"] = int(after is not None and legit.ok)
        legit.close()
    finally:
        for s in sockets:
            s.close(0)
        stop.set()
        server.join(10)
        svc.close()
    tally.update({f"server_{k}": v for k, v in svc.stats.items()})
    return tally


def _assert_clean(t: Counter[str], total: int) -> None:
    assert t["stolen"] == 0, t
    assert t["ok_non_finite_W"] == 0 and t["ok_misshapen_W"] == 0, t
    assert t["unanswered"] == 0 and t["undecodable_reply"] == 0, t  # every frame answered
    assert t["status_ok"] + t["status_error"] == t["frames"] == total, t
    assert t["legit_failed"] == 0 and t["legit_ok"] >= total // LEGIT_EVERY, t
    assert t["served_after"] == 1, t
    assert t["status_error"] > t["frames"] // 2  # the mutations are mostly refused ...
    assert t["error_without_text"] == 0, t


@pytest.mark.parametrize("model, seed", [("mrt", 1), ("rzf", 2)])
def test_fuzzed_service_quick(model, seed):
    t = fuzz(model, QUICK_FRAMES, seed)
    _assert_clean(t, QUICK_FRAMES + 1)
    assert t["kind_extreme_values"] > 0 and t["kind_non_finite"] > 0 and t["kind_bad_geometry"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("model, seed", [("mrt", 11), ("rzf", 12), ("zf", 13)])
def test_fuzzed_service_long(model, seed):
    t = fuzz(model, LONG_FRAMES, seed, oversized=5)
    print(f"\nservice fuzz {model}: {dict(sorted(t.items()))}")
    _assert_clean(t, LONG_FRAMES + 5)
