"""Soak test: the headless simulated chain runs for a set time while the process's RSS is sampled.

A long run must hold its memory flat (issue 17: RSS within 10 % over an hour once warmed up).
:func:`run_soak` builds the chain of ``cfisac_sim`` (:func:`gr_cfisac.blocks.build_chain`,
no block limit), runs it for ``seconds``, reads VmRSS from ``/proc/self/status`` every
``interval_s`` seconds and reports the series with the growth after warm-up (imports, MUSIC
grids, GNU Radio buffers and the metrics sink's ring buffer are allocated during warm-up):

    rss_start_mb   = median RSS of the first tenth (>= 3 samples) of the samples after warm-up
    rss_end_mb     = median RSS of the last tenth (>= 3 samples)
    growth_pct     = (rss_end_mb - rss_start_mb) / rss_start_mb x 100
    peak_pct       = (max RSS after warm-up - rss_start_mb) / rss_start_mb x 100
    slope_mb_per_h = least-squares slope of RSS over the samples after warm-up

Medians, because RSS swings by several percent from sample to sample (each work() call
allocates transient arrays of a few MB in 9 block threads, and the allocator returns them to
the system unevenly); a leak moves the medians, a swing does not.
``flat`` is ``growth_pct <= tolerance_pct``. Linux only (``/proc``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from .common import write_report


def rss_mb() -> float:
    """This process's resident set size in MiB (VmRSS of /proc/self/status)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("/proc/self/status has no VmRSS line: the soak test needs Linux")


def rss_growth(t_s: np.ndarray, rss: np.ndarray, warmup_s: float) -> dict[str, float]:
    """Growth of an RSS series after warm-up (module docstring); needs >= 6 samples after it."""
    t_s, rss = np.asarray(t_s, float), np.asarray(rss, float)
    after = t_s >= warmup_s
    if after.sum() < 6:
        raise ValueError(
            f"soak: {after.sum()} RSS sample(s) after the {warmup_s:g} s warm-up, 6 needed; run "
            "longer, sample more often (interval_s) or shorten warmup_s"
        )
    t, r = t_s[after], rss[after]
    edge = max(3, len(r) // 10)
    start, end = float(np.median(r[:edge])), float(np.median(r[-edge:]))
    return {
        "rss_start_mb": start,
        "rss_end_mb": end,
        "rss_max_after_warmup_mb": float(r.max()),
        "growth_pct": (end - start) / start * 100.0,
        "peak_pct": float((r.max() - start) / start * 100.0),
        "slope_mb_per_h": float(np.polyfit(t, r, 1)[0] * 3600.0),
        "samples_after_warmup": int(after.sum()),
    }


def run_soak(
    seconds: float,
    out_dir: str | Path | None = None,
    interval_s: float = 5.0,
    warmup_s: float | None = None,
    tolerance_pct: float = 10.0,
    seed: int = 1,
    cfg: Any = None,
) -> dict[str, Any]:
    """Run the simulated chain for ``seconds`` sampling RSS every ``interval_s``; return the
    report (and write ``out_dir/soak.json`` when ``out_dir`` is given).

    warmup_s: samples before it are not counted in the growth (default: 20 % of the run, at
    most 120 s). cfg: a SystemConfig (default: Table I).
    """
    from gnuradio import gr

    from ..blocks import build_chain
    from ..config import SystemConfig

    if not seconds > 0 or not interval_s > 0:
        raise ValueError(f"soak: seconds and interval_s must be > 0, got {seconds}, {interval_s}")
    warmup_s = min(0.2 * seconds, 120.0) if warmup_s is None else float(warmup_s)
    cfg = SystemConfig() if cfg is None else cfg
    tb = gr.top_block()
    chain = build_chain(tb, cfg, seed=seed, num_blocks=0, n_sources=0)  # MDL, as cfisac_sim
    samples: list[dict[str, float]] = []
    t0 = time.monotonic()
    tb.start()
    try:
        while True:
            t = time.monotonic() - t0
            samples.append(
                {
                    "t_s": round(t, 3),
                    "rss_mb": round(rss_mb(), 3),
                    "blocks": int(chain.metrics.blocks_done),
                }  # fmt: skip
            )
            if t >= seconds or chain.errors():
                break
            time.sleep(min(interval_s, max(seconds - t, 0.0)))
    finally:
        tb.stop()
        tb.wait()
    errors = {name: repr(exc) for name, exc in chain.errors().items()}
    if errors:
        raise RuntimeError(f"soak: the flowgraph stopped after {samples[-1]['t_s']} s: {errors}")
    growth = rss_growth(
        np.array([s["t_s"] for s in samples]), np.array([s["rss_mb"] for s in samples]), warmup_s
    )
    blocks = samples[-1]["blocks"]
    report = {
        "summary": {
            **growth,
            "flat": growth["growth_pct"] <= tolerance_pct,
            "tolerance_pct": tolerance_pct,
            "blocks": blocks,
            "blocks_per_s": blocks / samples[-1]["t_s"],
        },
        "seconds": seconds,
        "interval_s": interval_s,
        "warmup_s": warmup_s,
        "network": cfg.summary(),
        "metrics_history_blocks": chain.metrics.history,
        "samples": samples,
        "note": "RSS (VmRSS) of the process running the headless cfisac_sim chain "
        "(build_chain, ZF, sensing on, MUSIC by MDL); growth counts samples from warmup_s on.",
    }
    if out_dir is not None:
        write_report(Path(out_dir), "soak", report)
    return report


def run(out_dir: Path, quick: bool) -> dict[str, Any]:
    """Bench entry: 60 s quick, the 1-hour soak of issue 17 otherwise."""
    return run_soak(60.0 if quick else 3600.0, out_dir, interval_s=2.0 if quick else 10.0)
