"""Shared helpers for benchmarks: timing and JSON reports."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


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
    report = {"benchmark": name, "machine": platform.platform(),
              "python": platform.python_version(), "numpy": np.__version__, **report}
    path = out_dir / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2, default=float))
    tmp.replace(path)
    return path
