"""Where the points of a figure run and where they are kept: a thin wrapper of the project's
one sweep runner (:func:`gr_cfisac.sweep.run_points`) that every figure function takes, so the
tests run a figure in process and ``cfisac reproduce`` runs the same points on Dask with a
content-addressed cache (an interrupted run picks up the finished points)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..sweep import run_points

__all__ = ["IN_PROCESS", "Run"]


@dataclass(frozen=True)
class Run:
    """scheduler: "sync" (in process, the default), None/"local" (a local Dask cluster) or
    "tcp://HOST:PORT"; cache_dir: the points' cache (None: none); progress: tqdm bars."""

    scheduler: Any = "sync"
    workers: int | None = None
    cache_dir: Path | None = None
    progress: bool = False

    def map(
        self, fn: Callable[[dict[str, Any]], dict[str, Any]], points: Iterable[dict[str, Any]],
        version: str = "1", desc: str | None = None,
    ) -> list[dict[str, float]]:  # fmt: skip
        """``[fn(p) for p in points]`` with every value a float (records of scalars)."""
        records = run_points(
            fn, list(points), scheduler=self.scheduler, workers=self.workers,
            cache_dir=self.cache_dir, version=version, progress=self.progress, desc=desc,
        )  # fmt: skip
        return [{k: float(v) for k, v in r.items()} for r in records]

    def in_process(self) -> Run:
        """The same cache in this process (for timings, which must not share the cores)."""
        return Run("sync", None, self.cache_dir, self.progress)


#: the default of every figure function: in process, no cache, no progress bars
IN_PROCESS = Run()
