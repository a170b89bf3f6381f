"""SigMF and ZeroMQ benchmark (issue 6): recording throughput against raw numpy files, and the
precoder service's round-trip latency and request rate over loopback TCP.

1. SigMF write: :class:`~gr_cfisac.sigmf_io.RecordingWriter` streaming a 4-channel cf32 capture
   in 1 MiB chunks (sha512 on the fly, fsync, validated metadata, atomic rename) against
   ``ndarray.tofile`` of the same array followed by fsync; MB/s and their ratio, same run.
2. SigMF read: :func:`~gr_cfisac.sigmf_io.read_recording` with the sha512 check plus a copy of
   every sample, and without the check, against ``numpy.fromfile``.
3. Service: ``cfisac serve zf`` in its own process on 127.0.0.1; a :class:`RemotePrecoder`
   sends one-block Table-I requests one at a time (latency: median and p99 of the round trip)
   and a raw PUSH/PULL pair keeps a window of requests in flight (requests per second).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from ..config import SystemConfig
from ..sigmf_io import RecordingWriter, read_recording
from .common import best_time, write_report

SIZES = {
    True: {"mb": 32, "latency": 300, "burst": 2000},
    False: {"mb": 256, "latency": 2000, "burst": 20000},
}
CHUNK_ITEMS = (1 << 20) // 32  # 1 MiB of 4-channel cf32 items


def _fsync_tofile(x: np.ndarray, path: Path) -> None:
    with open(path, "wb") as f:
        x.tofile(f)
        f.flush()
        os.fsync(f.fileno())


def _sigmf_write(x: np.ndarray, base: Path) -> None:
    with RecordingWriter(base, x.shape[1], overwrite=True, stream={"kind": "rap_echo"}) as w:
        for i in range(0, len(x), CHUNK_ITEMS):
            w.write(x[i : i + CHUNK_ITEMS])
        for b in range(0, len(x), 192):  # one cb annotation per Table-I block
            if b // 192 < 2000:
                w.mark_block(b, b // 192)


def storage(quick: bool, folder: Path) -> dict[str, Any]:
    mb = SIZES[quick]["mb"]
    rng = np.random.default_rng(0)
    n = mb * (1 << 20) // 32
    x = (rng.standard_normal((n, 4)) + 1j * rng.standard_normal((n, 4))).astype(np.complex64)
    size_mb = x.nbytes / 1e6
    raw = folder / "raw.c64"
    t_raw_w = best_time(lambda: _fsync_tofile(x, raw), repeat=3)
    t_raw_nosync = best_time(lambda: x.tofile(raw), repeat=3)
    t_sig_w = best_time(lambda: _sigmf_write(x, folder / "rec"), repeat=3)
    t_raw_r = best_time(lambda: np.fromfile(raw, dtype=np.complex64).reshape(-1, 4), repeat=3)
    t_sig_r = best_time(lambda: read_recording(folder / "rec").samples(), repeat=3)
    t_sig_r_nocheck = best_time(
        lambda: read_recording(folder / "rec", verify_checksum=False).samples(), repeat=3
    )
    assert np.array_equal(read_recording(folder / "rec").samples(), x)
    return {
        "size_mb": size_mb,
        "write_mb_s": {
            "sigmf": size_mb / t_sig_w,
            "numpy_tofile_fsync": size_mb / t_raw_w,
            "numpy_tofile_no_fsync": size_mb / t_raw_nosync,
        },
        "read_mb_s": {
            "sigmf_checked": size_mb / t_sig_r,
            "sigmf_unchecked": size_mb / t_sig_r_nocheck,
            "numpy_fromfile": size_mb / t_raw_r,
        },
        "write_ratio_sigmf_over_numpy": t_raw_w / t_sig_w,
        "read_ratio_checked_over_numpy": t_raw_r / t_sig_r,
        "read_ratio_unchecked_over_numpy": t_raw_r / t_sig_r_nocheck,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service(quick: bool) -> dict[str, Any]:
    from ..scenario import draw_realizations
    from ..service import RemotePrecoder, decode_message, encode_message, geometry_fields

    cfg = SystemConfig()
    address = f"tcp://127.0.0.1:{_free_port()}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gr_cfisac.cli",
            "serve",
            "zf",
            "--address",
            address,
            "--report-every",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    block = draw_realizations(cfg, 1, 1)  # the estimates and the geometry zf's sensing beam needs
    F, sg = block.F_hat, block.sensing
    try:
        remote = RemotePrecoder(address, cfg, timeout_ms=1000)
        deadline = time.monotonic() + 60
        while remote(F, geometry=sg) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"service did not start: {remote.status}")
        for _ in range(50):  # warm up
            remote(F, geometry=sg)
        lat = []
        for cb in range(SIZES[quick]["latency"]):
            t0 = time.perf_counter()
            W = remote(F, cb=cb, geometry=sg)
            lat.append(time.perf_counter() - t0)
            assert W is not None, remote.status
        remote.close()
        lat_us = 1e6 * np.array(lat)
        # throughput: keep up to `window` requests in flight on one raw DEALER socket
        ctx = zmq.Context.instance()
        push = pull = ctx.socket(zmq.DEALER)
        push.setsockopt(zmq.LINGER, 0)
        push.connect(address)
        frame = encode_message(0, F_hat=F.astype(np.complex64), **geometry_fields(sg))
        time.sleep(0.2)
        total, window, sent, got = SIZES[quick]["burst"], 64, 0, 0
        t0 = time.perf_counter()
        while got < total:
            while sent < total and sent - got < window:
                push.send(frame)
                sent += 1
            if pull.poll(5000):
                assert decode_message(pull.recv())["status"] == "ok"
                got += 1
            else:
                raise RuntimeError("service stopped answering")
        rate = total / (time.perf_counter() - t0)
        push.close(0)
    finally:
        proc.terminate()
        proc.wait(10)
    return {
        "model": "zf",
        "request": f"one Table-I block: F_hat ({cfg.N}, {cfg.K}) c32 + sensing geometry -> W "
        f"({cfg.N}, {cfg.K + 1})",
        "latency_us": {
            "median": float(np.median(lat_us)),
            "p99": float(np.percentile(lat_us, 99)),
            "min": float(lat_us.min()),
        },
        "requests_per_s_sequential": float(1e6 / np.mean(lat_us)),
        "requests_per_s_pipelined_window64": float(rate),
    }


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cfisac-io-") as tmp:
        disk = storage(quick, Path(tmp))
    svc = service(quick)
    summary = {
        "sigmf_write_mb_s": disk["write_mb_s"]["sigmf"],
        "numpy_write_mb_s": disk["write_mb_s"]["numpy_tofile_fsync"],
        "write_ratio": disk["write_ratio_sigmf_over_numpy"],
        "sigmf_read_mb_s_checked": disk["read_mb_s"]["sigmf_checked"],
        "numpy_read_mb_s": disk["read_mb_s"]["numpy_fromfile"],
        "read_ratio_checked": disk["read_ratio_checked_over_numpy"],
        "read_ratio_unchecked": disk["read_ratio_unchecked_over_numpy"],
        "service_latency_median_us": svc["latency_us"]["median"],
        "service_latency_p99_us": svc["latency_us"]["p99"],
        "service_requests_per_s": svc["requests_per_s_pipelined_window64"],
    }
    report = {"quick": quick, "storage": disk, "service": svc, "summary": summary}
    write_report(out_dir, "io", report)
    return report
