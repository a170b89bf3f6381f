"""``run_points``: the project's one sweep runner (DESIGN.md: sweeps run on Dask, a local
cluster by default, an existing cluster by address).

``fn(point)`` is evaluated for every point; a point carries everything its result depends on,
its seed included (:func:`point_seeds`), so results do not depend on which worker ran it or
when. Points already in the cache are returned without calling ``fn``; the rest run where
``scheduler`` says (:mod:`.cluster`) and each result is written to the cache by this process
as soon as it arrives, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .cache import Cache, Record, as_record, point_key
from .cluster import Plan, connect, import_distributed, plan


def point_seeds(seed: int, count: int) -> list[int]:
    """``count`` independent seeds spawned from ``seed`` (numpy SeedSequence): one per point."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    children = np.random.SeedSequence(seed).spawn(count)
    return [int(c.generate_state(1, np.uint64)[0]) for c in children]


def call_point(fn: Callable[[Any], Any], point: Any) -> Record:
    """``fn(point)`` as a record (what a worker runs)."""
    return as_record(fn(point))


def function_name(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of ``fn``, the cache's name for it; ValueError where that name would
    not tell two functions apart (a lambda, a local function, a functools.partial)."""
    qual = getattr(fn, "__qualname__", None)
    if not isinstance(qual, str) or "<" in qual:
        raise ValueError(
            f"fn={fn!r}: a cached sweep needs a module-level function (its qualified name keys the "
            "cache); use one, or pass key= to name each point's cache entry yourself"
        )
    return f"{getattr(fn, '__module__', '')}.{qual}"


def _keys(
    fn: Callable[..., Any], points: Sequence[Any], version: str, key: Callable[[Any], str] | None
) -> list[str]:
    if key is not None:
        return [key(p) for p in points]
    name = function_name(fn)
    return [point_key(name, version, p) for p in points]


def run_points(
    fn: Callable[[Any], Any],
    points: Iterable[Any],
    *,
    scheduler: Any = None,
    workers: int | None = None,
    cache_dir: str | Path | None = None,
    version: str = "",
    key: Callable[[Any], str] | None = None,
    progress: bool = True,
    desc: str | None = None,
    connect_timeout: float = 10.0,
) -> list[Record]:
    """``[fn(p) for p in points]`` as records ({name: ndarray}), in the order of ``points``.

    scheduler: None / "local" (a LocalCluster, ``workers`` processes, default one per core;
    workers=1 runs in process), "sync" (in process), "tcp://HOST:PORT" (an existing Dask
    cluster) or a dask.distributed.Client. cache_dir: a folder of ``KEY.npz`` records (None: no
    cache); KEY is ``point_key(module.qualname of fn, version, point)`` unless ``key(point)``
    names it. Bump ``version`` when ``fn``'s results change. A point that raises stops the sweep
    with its exception (the points finished before it stay cached)."""
    points = list(points)
    where = plan(scheduler, workers)
    cache = None if cache_dir in (None, "") else Cache(cache_dir)
    keys = _keys(fn, points, version, key) if cache is not None else []
    results: list[Record | None] = [None] * len(points)
    if cache is not None:
        for i, k in enumerate(keys):
            results[i] = cache.load(k)
    todo = [i for i, r in enumerate(results) if r is None]
    if todo:
        label = desc or getattr(fn, "__name__", "sweep")
        with tqdm(total=len(points), initial=len(points) - len(todo), desc=label, unit="point",
                  disable=not progress, leave=False) as bar:  # fmt: skip

            def done(i: int, record: Record) -> None:
                results[i] = record
                if cache is not None:
                    cache.store(keys[i], record)
                bar.update(1)

            if where.kind == "local":
                where = Plan("local", min(where.workers, len(todo)))
            if where.kind == "sync" or (where.kind == "local" and where.workers == 1):
                _run_in_process(fn, points, todo, done, cache_dir)
            else:
                _run_on_dask(fn, points, todo, done, where, connect_timeout, cache_dir)
    return results  # type: ignore[return-value]


def _failed(exc: BaseException, i: int, n: int, cache_dir: Any) -> None:
    note = f"sweep point {i} (0-based, of {n}) failed" + (
        f"; finished points are cached in {cache_dir}: run again to resume" if cache_dir else ""
    )
    if hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note(note)


def _run_in_process(
    fn: Callable[[Any], Any],
    points: list[Any],
    todo: list[int],
    done: Callable[[int, Record], None],
    cache_dir: Any,
) -> None:
    for i in todo:
        try:
            record = call_point(fn, points[i])
        except Exception as exc:
            _failed(exc, i, len(points), cache_dir)
            raise
        done(i, record)


def _run_on_dask(
    fn: Callable[[Any], Any],
    points: list[Any],
    todo: list[int],
    done: Callable[[int, Record], None],
    where: Plan,
    connect_timeout: float,
    cache_dir: Any,
) -> None:
    dd = import_distributed()
    with connect(where, connect_timeout) as client:
        futures = {client.submit(call_point, fn, points[i], pure=False): i for i in todo}
        try:
            for future in dd.as_completed(futures):
                i = futures[future]
                try:
                    record = future.result()
                except Exception as exc:
                    _failed(exc, i, len(points), cache_dir)
                    raise
                done(i, record)
        finally:
            client.cancel([f for f in futures if not f.done()])
