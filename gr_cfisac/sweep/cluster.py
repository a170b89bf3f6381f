"""Where a sweep runs: in process, on a local Dask cluster, or on an existing one.

``scheduler`` is None or "local" (a ``LocalCluster`` of ``workers`` processes, one thread
each; ``workers`` defaults to the cores this process may use, and 1 runs in process),
"sync" (in process, no Dask: tests and debugging), an address "tcp://HOST:PORT" (also tls://,
ucx://, ws://, wss://) of a running Dask scheduler, or a ``dask.distributed.Client``.
dask is imported only when a cluster is needed.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_ADDRESS = re.compile(
    r"^(tcp|tls|ucx|ws|wss)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
    r":(\d{1,5})$"
)
FORMS = '"sync", "local", None, "tcp://HOST:PORT" or a dask.distributed.Client'


def default_workers() -> int:
    """Processes of a local cluster by default: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Plan:
    """``kind`` is "sync", "local", "address" or "client"; ``workers`` sizes a local cluster."""

    kind: str
    workers: int = 1
    address: str | None = None
    client: Any = None


def plan(scheduler: Any = None, workers: int | None = None) -> Plan:
    """Check ``scheduler`` and ``workers`` (ValueError naming the bad one) and say where to run."""
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ValueError(
            f"workers must be a positive integer or None (one per core), got {workers!r}"
        )
    if scheduler is None or scheduler in ("", "local"):
        n = default_workers() if workers is None else workers
        return Plan("sync") if n == 1 else Plan("local", n)
    if workers not in (None, 1):
        raise ValueError(
            f"workers={workers} sizes a local cluster; with scheduler={scheduler!r} leave workers "
            "unset (the cluster's own workers run the sweep)"
        )
    if isinstance(scheduler, str):
        if scheduler == "sync":
            return Plan("sync")
        m = _ADDRESS.match(scheduler.strip())
        if not m or not 0 < int(m.group(3)) < 65536:
            raise ValueError(
                f"scheduler={scheduler!r} is not a Dask scheduler address; use {FORMS} "
                "(e.g. scheduler='tcp://10.0.0.5:8786', the address `dask scheduler` prints)"
            )
        return Plan("address", address=scheduler.strip())
    if hasattr(scheduler, "submit") and hasattr(scheduler, "scheduler_info"):
        return Plan("client", client=scheduler)
    raise ValueError(f"scheduler must be {FORMS}, got a {type(scheduler).__name__}")


def import_distributed() -> Any:
    """The ``dask.distributed`` module, or ImportError saying how to install it."""
    try:
        import dask.distributed
    except ImportError:
        raise ImportError(
            "parallel sweeps run on Dask, which is not installed: pip install -e '.[sweep]' "
            "(or pass scheduler='sync' / workers=1 to run in process)"
        ) from None
    return dask.distributed


@contextmanager
def connect(where: Plan, connect_timeout: float = 10.0) -> Iterator[Any]:
    """A Dask client for ``where`` (not "sync"); a local cluster is closed on exit, an
    existing cluster is only disconnected from, a given client is left open."""
    if where.kind == "client":
        yield where.client
        return
    dd = import_distributed()
    if where.kind == "local":
        with dd.LocalCluster(
            n_workers=where.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # no dashboard; the scheduler's HTTP routes on a free local port, not 8787
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        ) as cluster, dd.Client(cluster) as client:  # fmt: skip
            yield client
        return
    if where.kind != "address":
        raise ValueError(f"connect: nothing to connect to for a {where.kind!r} plan")
    try:
        client = dd.Client(where.address, timeout=connect_timeout)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(
            f"scheduler={where.address!r}: no Dask scheduler answered within {connect_timeout} s "
            "(start one with `dask scheduler` and workers with `dask worker ADDRESS`, or leave "
            "scheduler unset for a local cluster)"
        ) from exc
    with client:
        yield client
