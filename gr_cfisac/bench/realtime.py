"""Can the flowgraphs keep up with a radio? ``cfisac bench realtime`` (issue 16).

Coherence blocks per second, and the samples per second per antenna they stand for (blocks/s x
tau_c), of three parts of the network, each as a GNU Radio flowgraph
(:mod:`gr_cfisac.bench.realtime_graphs`):

- ``chain``: the headless simulated chain (build_chain, sensing on, ZF, MUSIC model order by
  MDL per block as cfisac_sim runs it),
- ``tap``: what a radio TAP runs, estimation + precoder + transmitter on recorded pilots
  (``tap_sim``: the tap_side hier block, its simulated scenario included),
- ``rap``: what a radio RAP runs, MUSIC + fusion (rap_side) on recorded echoes,

for the Table-I network and an NT x K sweep (tau_p = max(4, K): orthogonal pilots), with the
exponents of time per block ~ NT^a K^b fitted by least squares on the logs (the RAP side's
work does not depend on NT or K: its exponents show the noise of the machine); the peak RSS
of every run (the whole process's, reset before it, and its increase over the RSS the run
started from: memory earlier runs left behind counts in the first, not the second); and the
ratio of each flowgraph's time per block to its batched core twin's (the same blocks'
process() called directly, as many blocks per call as the flowgraph's max_blocks, one
thread; on two cores a flowgraph can pipeline and beat it). On Table-I
also the RAP side with 2x2 (MDL) and 4x4 (NC + 1 sources) arrays and MUSIC methods "fast"
and "esprit", and "esprit" with two threads sharing its calls (music_localizer workers; its
twin shares them the same way), the TAP side with the shipped STCIB models, and the TAP's latency from its
last pilot sample in to W out (p50/p99, one block in flight; ``process_mean_us`` is the
estimator's and precoder's own share, the rest is GNU Radio's hand-offs between threads).

Goals (1 MS/s per antenna = 1e6 / tau_c blocks/s, 5,102 at tau_c = 196): RAP side at or above
it with 2x2 and 4x4 RAPs (its fastest method); TAP side at or above it with ZF and with the
fast STCIB; every flowgraph within 1.2x its core twin's time per block. Each is a boolean of
this run's measurements. Speeds are best of ``repeats`` runs, flowgraph and twin interleaved
(the machine is shared and noisy).

Blocks per call: every block's max_blocks, 64 by default (the blocks' own default; a block
that keeps up with its source is called with what has arrived, one that falls behind with up
to max_blocks: its capacity is its rate at max_blocks, and a call's worth of blocks, max_blocks
/ rate, is the delay the backlog adds). ``CFISAC_BLOCKS_PER_CALL=256 cfisac bench realtime``
measures another setting (reported as ``batch_blocks_per_call``); the TAP latency runs one
block in flight whatever it is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import SystemConfig
from .common import write_report

#: the radio rate the goals are set at: samples per second per antenna
RADIO_RATE_HZ = 1e6
#: a flowgraph may cost at most this many times its core twin's time per block
RATIO_GOAL = 1.2
#: the environment variable that sets the blocks' max_blocks (Plan.blocks_per_call)
BLOCKS_PER_CALL_ENV = "CFISAC_BLOCKS_PER_CALL"
#: blocks per call unless set: the cfisac blocks' own default max_blocks
DEFAULT_BLOCKS_PER_CALL = 64
#: shipped STCIB models the TAP side runs (the fast one is the goal's)
STCIB_FAST, STCIB = "stcib_joint_fast", "stcib_joint"


@dataclass(frozen=True)
class Plan:
    """What one run measures: the (NT, K) sweep, coherence blocks per run, repeats (best
    of), the Table-I RAP methods and STCIB models, blocks per latency run, the blocks'
    max_blocks (coherence blocks per work() call at most; the twins' batch), and the
    music_localizer workers of the Table-I RAPs' extra "esprit" runs (threads sharing its
    calls; :func:`rap_variant`)."""

    sizes: tuple[tuple[int, int], ...]
    chain_blocks: int
    side_blocks: int
    latency_blocks: int
    repeats: int
    rap_methods: tuple[str, ...] = ("fast", "esprit")
    stcib_models: tuple[str, ...] = (STCIB_FAST, STCIB)
    blocks_per_call: int = DEFAULT_BLOCKS_PER_CALL
    rap_workers: tuple[int, ...] = (2,)

    def __post_init__(self) -> None:
        if isinstance(self.blocks_per_call, bool) or int(self.blocks_per_call) < 1:
            raise ValueError(
                f"blocks_per_call must be an integer >= 1, got {self.blocks_per_call!r}"
            )

    def blocks(self, part: str) -> int:
        """Coherence blocks per run of ``part``: the plan's at the default blocks per call,
        scaled with blocks_per_call above that (as many calls per run: the steady-state rate
        needs calls after the first)."""
        n = self.chain_blocks if part == "chain" else self.side_blocks
        return n * max(1, -(-self.blocks_per_call // DEFAULT_BLOCKS_PER_CALL))


PLANS: dict[str, Plan] = {
    "full": Plan(tuple((nt, k) for nt in (4, 8, 16, 32) for k in (4, 8, 16)), 640, 3200, 400, 3),
    "quick": Plan(((4, 4), (8, 4), (16, 4), (8, 8)), 256, 1024, 150, 2),
    # the test's: a few dozen blocks per run
    "smoke": Plan(((4, 4), (8, 4), (4, 8)), 32, 64, 12, 1, ("esprit",), (STCIB_FAST,)),
}


def network(NT: int = 8, K: int = 4, MR_shape: tuple[int, int] = (2, 2)) -> SystemConfig:
    """Table-I with NT TAPs, K users (tau_p = max(4, K)) and MR_shape RAP arrays."""
    return SystemConfig(NT=NT, K=K, tau_p=max(4, K), MR_shape=MR_shape)


def goal_blocks_per_s(cfg: SystemConfig) -> float:
    """Coherence blocks per second of RADIO_RATE_HZ samples per antenna."""
    return RADIO_RATE_HZ / cfg.tau_c


def fit_power_law(x: Mapping[str, Sequence[float]], y: Sequence[float]) -> dict[str, Any]:
    """Least squares of log y = log c + sum_i a_i log x_i: the exponents a_i by name, c, and
    R^2 of the fit on the logs. ValueError for non-positive values or too few distinct points."""
    y = np.asarray(y, dtype=float)
    names = list(x)
    cols = [np.asarray(x[n], dtype=float) for n in names]
    if any(c.shape != y.shape for c in cols) or y.ndim != 1:
        raise ValueError(f"fit_power_law: every x and y must be 1-D of the same length {y.shape}")
    if np.any(y <= 0) or any(np.any(c <= 0) for c in cols):
        raise ValueError("fit_power_law: x and y must be positive (they are fitted on logs)")
    A = np.column_stack([np.ones_like(y)] + [np.log(c) for c in cols])
    if np.linalg.matrix_rank(A) < A.shape[1]:
        raise ValueError(
            f"fit_power_law: {len(y)} points cannot separate the exponents of {names}: vary "
            "each factor on its own (e.g. two NT at one K and two K at one NT)"
        )
    coef, *_ = np.linalg.lstsq(A, np.log(y), rcond=None)
    resid = np.log(y) - A @ coef
    total = np.sum((np.log(y) - np.log(y).mean()) ** 2)
    r2 = 1.0 - float(resid @ resid) / total if total > 0 else 1.0
    return {
        "exponents": {n: float(a) for n, a in zip(names, coef[1:])},
        "coefficient": float(np.exp(coef[0])),
        "r2": r2,
        "points": int(len(y)),
    }


def _feeds(stages, items: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The recorded items the stages read and do not make (what the flowgraph's sources
    replay)."""
    made = {p.name for s in stages for p in s.block.out_ports[: s.outputs]}
    read = {p.name for s in stages for p in s.block.in_ports}
    return {k: items[k] for k in sorted(read - made) if k in items}


def measure(part: str, cfg: SystemConfig, n_blocks: int, repeats: int,
            items: dict[str, np.ndarray] | None = None, batch: int = DEFAULT_BLOCKS_PER_CALL,
            **kw: Any) -> dict[str, Any]:  # fmt: skip
    """A part's flowgraph and its core twin on n_blocks blocks, ``batch`` blocks per call at
    most, best of ``repeats`` each (interleaved): blocks/s, samples/s per antenna, peak RSS,
    flowgraph/core time ratio."""
    from . import realtime_graphs as rg

    best: dict[str, dict[str, Any]] = {}
    for _ in range(repeats):
        stages = rg.twin_stages(part, cfg, batch=batch, **kw)
        feeds = _feeds(stages, items) if part in ("tap", "rap") else None
        runs = {
            "core": rg.timed(lambda s=stages, f=feeds: rg.run_twin(s, n_blocks, f, batch)),
            "flowgraph": rg.timed(
                lambda: rg.run_graph(
                    rg.build(part, cfg, n_blocks, items, batch=batch, **kw), n_blocks, batch=batch
                )
            ),
        }
        for key, run in runs.items():
            if key not in best or run["blocks_per_s"] > best[key]["blocks_per_s"]:
                best[key] = run
    fg, core = best["flowgraph"], best["core"]
    return {
        "blocks_per_s": fg["blocks_per_s"],
        "samples_per_s_per_antenna": fg["blocks_per_s"] * cfg.tau_c,
        "core_blocks_per_s": core["blocks_per_s"],
        "flowgraph_over_core": core["blocks_per_s"] / fg["blocks_per_s"],
        "peak_rss_mb": fg["peak_rss_mb"],
        "peak_rss_increase_mb": fg["peak_rss_increase_mb"],
        "flowgraph": fg,
        "core": core,
    }


def _size_key(NT: int, K: int) -> str:
    return f"NT={NT},K={K}"


def sweep(plan: Plan) -> dict[str, Any]:
    """Every part at every (NT, K) of the plan, and the fitted exponents per part."""
    from . import realtime_graphs as rg

    rows: dict[str, Any] = {}
    for NT, K in plan.sizes:
        cfg = network(NT, K)
        items = rg.recorded_items(cfg)
        row: dict[str, Any] = {"NT": NT, "K": K, "tau_p": cfg.tau_p}
        for part in rg.PARTS:
            row[part] = measure(part, cfg, plan.blocks(part), plan.repeats, items,
                                plan.blocks_per_call)  # fmt: skip
            print(f"  {_size_key(NT, K):12s} {part:8s} {row[part]['blocks_per_s']:9.1f} blocks/s"
                  f"  core {row[part]['core_blocks_per_s']:9.1f}")  # fmt: skip
        rows[_size_key(NT, K)] = row
    fits: dict[str, Any] = {}
    NTs = [r["NT"] for r in rows.values()]
    Ks = [r["K"] for r in rows.values()]
    for part in rg.PARTS:
        fits[part] = {}
        for side, key in (("flowgraph", "blocks_per_s"), ("core", "core_blocks_per_s")):
            t = [1.0 / r[part][key] for r in rows.values()]
            try:
                fits[part][side] = fit_power_law({"NT": NTs, "K": Ks}, t)
            except ValueError as exc:
                fits[part][side] = {"error": str(exc)}
    return {"sizes": rows, "fits": fits}


def table1(plan: Plan) -> dict[str, Any]:
    """Table-I: the RAP side with 2x2 and 4x4 arrays per MUSIC method, the TAP side with ZF
    and the shipped STCIB models, and the TAP latency of each precoder."""
    from ..models import shipped_models_dir
    from ..music import identifiable
    from . import realtime_graphs as rg

    out: dict[str, Any] = {"rap": {}, "tap": {}, "latency": {}}
    for shape in ((2, 2), (4, 4)):
        cfg = network(MR_shape=shape)
        n_sources = cfg.NC + 1 if identifiable(cfg.NC + 1, *shape) else 0
        items = rg.recorded_items(cfg)
        key = f"{shape[0]}x{shape[1]}"
        out["rap"][key] = {"n_sources": n_sources or "MDL per block"}
        variants = [(m, 1) for m in plan.rap_methods] + [("esprit", w) for w in plan.rap_workers]
        for method, workers in variants:
            row = measure("rap", cfg, plan.blocks("rap"), plan.repeats, items,
                          plan.blocks_per_call, n_sources=n_sources, method=method,
                          workers=workers)  # fmt: skip
            label = rap_variant(method, workers)
            out["rap"][key][label] = row
            print(f"  Table-I RAP {key} {label:17s} {row['blocks_per_s']:9.1f} blocks/s")
    cfg = network()
    items = rg.recorded_items(cfg)
    models = shipped_models_dir()
    algorithms = {"zf": "zf"}
    for name in plan.stcib_models:
        path = models / f"{name}.onnx"
        if path.exists():
            algorithms[name] = str(path)
        else:
            out["tap"][name] = {"skipped": f"{path} is missing"}
    for label, algorithm in algorithms.items():
        row = measure("tap", cfg, plan.blocks("tap"), plan.repeats, items, plan.blocks_per_call,
                      algorithm=algorithm)  # fmt: skip
        out["tap"][label] = row
        timing = rg.tap_latency(cfg, items, algorithm, plan.latency_blocks)
        lat = timing["latency_s"]
        out["latency"][label] = {
            "blocks": int(lat.size),
            "p50_us": float(np.percentile(lat, 50) * 1e6),
            "p99_us": float(np.percentile(lat, 99) * 1e6),
            "mean_us": float(lat.mean() * 1e6),
            "max_us": float(lat.max() * 1e6),
            "process_mean_us": float(timing["process_s"] * 1e6),
        }
        print(f"  Table-I TAP {label:17s} {row['blocks_per_s']:9.1f} blocks/s, latency p50 "
              f"{out['latency'][label]['p50_us']:.0f} us p99 {out['latency'][label]['p99_us']:.0f} us")  # fmt: skip
    return out


def rap_variant(method: str, workers: int = 1) -> str:
    """The Table-I RAP runs' label: the MUSIC method, and its threads where more than one."""
    return method if workers == 1 else f"{method}, {workers} threads"


def goals(report: dict[str, Any]) -> dict[str, Any]:
    """The issue's goals as booleans of this run's measurements, with the numbers behind them."""
    goal = report["goal_blocks_per_s"]
    t1, sizes = report["table1"], report["sweep"]["sizes"]
    table1_key = _size_key(8, 4)
    out: dict[str, Any] = {"goal_blocks_per_s": goal}
    if table1_key in sizes:
        row = sizes[table1_key]
        for part in ("chain", "tap", "tap_sim", "rap"):
            out[f"{part}_table1_blocks_per_s"] = row[part]["blocks_per_s"]
            out[f"{part}_table1_samples_per_s_per_antenna"] = row[part]["samples_per_s_per_antenna"]
    rap = {k: {m: r["blocks_per_s"] for m, r in v.items() if isinstance(r, dict)}
           for k, v in t1["rap"].items()}  # fmt: skip
    out["rap_side_blocks_per_s"] = rap
    for key, rates in rap.items():
        method = max(rates, key=rates.get)
        out[f"rap_side_{key}_fastest_method"] = method
        out[f"goal_rap_side_{key}_met"] = bool(rates[method] >= goal)
    tap = {k: r["blocks_per_s"] for k, r in t1["tap"].items() if "blocks_per_s" in r}
    out["tap_side_blocks_per_s"] = tap
    for label, key in (("zf", "zf"), ("stcib_fast", STCIB_FAST), ("stcib", STCIB)):
        out[f"goal_tap_side_{label}_met"] = bool(tap[key] >= goal) if key in tap else None
    out["tap_latency_us"] = {k: {"p50": v["p50_us"], "p99": v["p99_us"]}
                             for k, v in t1["latency"].items()}  # fmt: skip
    ratios: dict[str, float] = {}
    for size, row in sizes.items():
        for part in ("chain", "tap", "tap_sim", "rap"):
            ratios[f"{part} {size}"] = row[part]["flowgraph_over_core"]
    for key, v in t1["rap"].items():
        for m, r in v.items():
            if isinstance(r, dict):
                ratios[f"rap {key} {m}"] = r["flowgraph_over_core"]
    for k, r in t1["tap"].items():
        if "flowgraph_over_core" in r:
            ratios[f"tap {k}"] = r["flowgraph_over_core"]
    out["flowgraph_over_core"] = ratios
    worst = max(ratios, key=ratios.get)
    out["worst_flowgraph_over_core"] = {"run": worst, "ratio": ratios[worst]}
    out["goal_flowgraph_within_1.2x_core_met"] = bool(ratios[worst] <= RATIO_GOAL)
    out["exponents"] = {
        part: {side: f.get("exponents") for side, f in fits.items()}
        for part, fits in report["sweep"]["fits"].items()
    }
    out["peak_rss_mb"] = max(_found(report, "peak_rss_mb"))
    out["peak_rss_increase_mb"] = max(_found(report, "peak_rss_increase_mb"))
    return out


def _found(node: Any, key: str) -> list[float]:
    """Every value of ``key`` in a nested report."""
    if isinstance(node, dict):
        found = [float(node[key])] if key in node else []
        return found + [p for v in node.values() for p in _found(v, key)]
    return []


def blocks_per_call_setting(plan: Plan) -> Plan:
    """``plan`` with the environment's CFISAC_BLOCKS_PER_CALL (when set) as blocks_per_call."""
    text = os.environ.get(BLOCKS_PER_CALL_ENV, "").strip()
    if not text:
        return plan
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(
            f"{BLOCKS_PER_CALL_ENV}={text!r}: set it to a whole number of coherence blocks "
            f"per work() call >= 1 (e.g. 256), or unset it for the default "
            f"{DEFAULT_BLOCKS_PER_CALL}"
        )
    return replace(plan, blocks_per_call=value)


def run(out_dir: Path, quick: bool, plan: Plan | None = None) -> dict[str, Any]:
    """Measure (``plan``: PLANS["quick"] or PLANS["full"] by default, blocks per call from
    CFISAC_BLOCKS_PER_CALL when set), write bench/realtime.json and bench/realtime.png;
    returns the report."""
    from .realtime_graphs import POOL
    from .realtime_plots import plot_realtime

    plan = blocks_per_call_setting(plan or PLANS["quick" if quick else "full"])
    out_dir = Path(out_dir)
    report: dict[str, Any] = {
        "plan": asdict(plan),
        "network": network().summary(),
        "radio_rate_samples_per_s_per_antenna": RADIO_RATE_HZ,
        "goal_blocks_per_s": goal_blocks_per_s(network()),
        "batch_blocks_per_call": plan.blocks_per_call,
        "recorded_pool_blocks": POOL,
        "sweep": sweep(plan),
        "table1": table1(plan),
        "notes": __doc__,
    }
    report["summary"] = goals(report)
    plot_realtime(report, out_dir / "realtime.png")
    write_report(out_dir, "realtime", report)
    return report
