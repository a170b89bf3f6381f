"""Shared helpers for benchmarks: timing, JSON reports, resumable optimizer runs."""

from __future__ import annotations

import hashlib
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..scenario import Realizations

#: realizations per cached optimizer chunk
OPTIMIZER_CHUNK = 50


def best_time(fn: Callable[[], Any], repeat: int = 5, number: int = 1) -> float:
    """Best wall time of ``number`` calls over ``repeat`` rounds, per call, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def write_report(out_dir: Path, name: str, report: dict[str, Any]) -> Path:
    """Write bench/NAME.json with the machine it ran on; returns the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": name,
        "machine": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        **report,
    }
    path = out_dir / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, default=float))
    tmp.replace(path)
    return path


def _optimizer_fingerprint(*parts: Any) -> str:
    """Cache key: the iterative optimizer's sources and the run's parameters."""
    src = b"".join(
        p.read_bytes()
        for p in sorted((Path(__file__).resolve().parents[1] / "precoding").glob("*.py"))
    )
    return hashlib.sha256(src + repr(parts).encode()).hexdigest()[:16]


def optimize_resumable(
    r: Realizations, cache: Path, label: str, seed: Any = None, **kw: Any
) -> tuple[np.ndarray, float, dict[str, np.ndarray]]:
    """precoding.optimize() on r in chunks of OPTIMIZER_CHUNK realizations (random starts seeded by
    the chunk's first index), with a tqdm bar and an on-disk chunk cache under ``cache``, so an
    interrupted benchmark resumes where it stopped. ``seed`` tells runs on different realizations
    apart in the cache key. Returns W, seconds per realization (solving time, cached chunks
    included) and optimize()'s info arrays."""
    from ..precoding import optimize

    key = _optimizer_fingerprint(label, r.batch, seed, sorted(kw.items()))
    Ws, infos, secs = [], [], 0.0
    chunks = range(0, r.batch, OPTIMIZER_CHUNK)
    for lo in tqdm(chunks, desc=f"optimizer: {label}", unit="chunk", leave=False):
        hi = min(r.batch, lo + OPTIMIZER_CHUNK)
        path = cache / f"{label}_{key}_{lo}.npz"
        if path.exists():
            z = np.load(path)
            W, sec = z["W"], float(z["seconds"])
            info = {k[5:]: z[k] for k in z.files if k.startswith("info_")}
        else:
            t0 = time.perf_counter()
            W, info = optimize(r.F_hat[lo:hi], r.Q_t[lo:hi], r.Q_c[lo:hi], r.cfg, rng=lo,
                               return_info=True, **kw)  # fmt: skip
            sec = time.perf_counter() - t0
            info.pop("time_s")
            cache.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, W=W, seconds=sec, **{f"info_{k}": v for k, v in info.items()})
            tmp.replace(path)  # a chunk is in the cache whole or not at all
        Ws.append(W)
        infos.append(info)
        secs += sec
    info = {k: np.concatenate([i[k] for i in infos]) for k in infos[0]}
    return np.concatenate(Ws), secs / r.batch, info
