"""``cfisac bench``: run benchmarks (:mod:`gr_cfisac.bench`) and write bench/NAME.json reports
(``cfisac bench all`` runs every one)."""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import time
from pathlib import Path

from ..bench import BENCHMARKS
from .scenario_option import DEFAULT, add_scenario_argument

HELP = "run benchmarks and write JSON reports and plots under bench/"
DESCRIPTION = f"""\
Runs the named benchmarks ({", ".join(BENCHMARKS)}; "all" runs every one) and writes
bench/NAME.json with the figures as ratios measured in one run, and plots beside them.
--quick runs small sizes (a smoke run). --scenario picks the scenario of the benchmarks that
compare precoders (core, precoders: their line-up comes from the precoder registry); the others
run the cellfree network."""


#: the benchmarks whose run() takes a scheduler (their points go through the sweep runner)
SWEEPS = ("teacher-student", "ccpa", "lhgnn")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        help=f"benchmarks to run: all, or any of {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--out", type=Path, default=Path("bench"), help="report folder")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    add_scenario_argument(parser, "benchmarked (core and precoders)")
    parser.add_argument(
        "--scheduler",
        default=None,
        help=f"where the benchmarks that sweep ({', '.join(SWEEPS)}) run their points: "
        "'local' (a local Dask cluster, one worker per core), 'sync' (in process) or the "
        "tcp://HOST:PORT of a running Dask scheduler (docs/sweeps.md) (default: teacher-student "
        "local, ccpa and lhgnn in process)",
    )


def run(args: argparse.Namespace) -> int:
    names = list(BENCHMARKS) if "all" in args.names else args.names
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)} or all")
    modules = {name: importlib.import_module(BENCHMARKS[name]) for name in names}
    takes = {n for n, m in modules.items() if "scenario" in inspect.signature(m.run).parameters}
    if args.scenario != DEFAULT and set(names) - takes:
        raise ValueError(
            f"--scenario {args.scenario}: benchmark(s) {sorted(set(names) - takes)} run the "
            f"{DEFAULT} network only; run {sorted(takes) or 'core, precoders'} for other scenarios"
        )
    sweeps = {n for n, m in modules.items() if "scheduler" in inspect.signature(m.run).parameters}
    scheduler = getattr(args, "scheduler", None)
    if scheduler is not None and not sweeps:
        raise ValueError(
            f"--scheduler: benchmark(s) {names} run no sweep; it applies to the benchmarks "
            f"that sweep ({', '.join(SWEEPS)})"
        )
    for name, module in modules.items():
        t0 = time.perf_counter()
        print(f"== bench {name}")
        kwargs = {"scenario": args.scenario} if name in takes else {}
        if name in sweeps:
            kwargs["scheduler"] = scheduler
        report = module.run(args.out, args.quick, **kwargs)
        summary = report.get("summary", {})
        print(json.dumps(summary, indent=2, default=float))
        print(f"== bench {name}: {time.perf_counter() - t0:.1f} s -> {args.out / (name + '.json')}")
    return 0
