"""The sweep runner (gr_cfisac.sweep): a real 2-worker LocalCluster gives bit-identical results
to the in-process run for the same per-point seeds (the same numpy code on the same inputs:
exact equality expected, asserted with assert_array_equal), results come back in the order of
the points, cached points are never recomputed (calls counted by marker files the function
writes, which works across processes), an interrupted sweep resumes, and bad input is named."""

import signal
import socket
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import pytest

from gr_cfisac.sweep import Cache, point_key, point_seeds, run_points

distributed = pytest.importorskip("dask.distributed")


def moments(point: dict) -> dict:
    """A small seeded numpy computation; leaves a marker file per call in point['log']."""
    time.sleep(point.get("sleep", 0.0))  # early points finish last on a cluster
    if point.get("fail") and Path(point["fail"]).exists() and point["index"] == 3:
        raise RuntimeError("point 3 fails while the flag file exists")
    if point.get("log"):
        Path(point["log"], f"{point['index']}-{uuid.uuid4().hex}").touch()
    x = np.random.default_rng(point["seed"]).standard_normal((200, 6))
    return {"mean": x.mean(0), "cov": np.cov(x.T), "index": point["index"]}


def calls(log: Path) -> list[int]:
    return sorted(int(p.name.split("-")[0]) for p in log.iterdir())


def settle_markers(log: Path, quiet_s: float = 2.0, limit_s: float = 60.0) -> None:
    """Wait until no new marker file has appeared in ``log`` for ``quiet_s`` seconds."""
    seen, since, start = len(list(log.iterdir())), time.monotonic(), time.monotonic()
    while time.monotonic() - since < quiet_s and time.monotonic() - start < limit_s:
        time.sleep(0.05)
        now = len(list(log.iterdir()))
        if now != seen:
            seen, since = now, time.monotonic()


def sweep(n: int, log: Path | None = None, fail: Path | None = None) -> list[dict]:
    pts = []
    for i, seed in enumerate(point_seeds(2024, n)):
        p = {"index": i, "seed": seed, "sleep": 0.05 * max(0, 3 - i)}
        if log is not None:
            p["log"] = str(log)
        if fail is not None:
            p["fail"] = str(fail)
        pts.append(p)
    return pts


@pytest.fixture(scope="module")
def client():
    """One real 2-process cluster for the module, always closed."""
    with distributed.LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    ) as cluster, distributed.Client(cluster) as c:  # fmt: skip
        yield c


def assert_same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert set(x) == set(y)
        for k in x:
            np.testing.assert_array_equal(x[k], y[k])  # same seeds: identical bits


def test_cluster_gives_the_in_process_results_in_the_order_of_the_points(client):
    pts = sweep(6)
    here = run_points(moments, pts, scheduler="sync", progress=False)
    there = run_points(moments, pts, scheduler=client, progress=False)
    assert [int(r["index"]) for r in there] == list(range(6))
    assert_same(here, there)
    assert not np.allclose(here[0]["mean"], here[1]["mean"])  # the seeds differ per point


def test_run_points_starts_and_closes_its_own_local_cluster():
    import psutil

    before = {p.pid for p in psutil.Process().children(recursive=True)}
    sigint = signal.getsignal(signal.SIGINT)
    pts = sweep(4)
    out = run_points(moments, pts, workers=2, progress=False)
    assert_same(out, run_points(moments, pts, workers=1, progress=False))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
        left = [p for p in left if "resource_tracker" not in " ".join(p.cmdline())]
        if not left:
            break
        time.sleep(0.1)
    assert not left, f"worker processes left running: {left}"
    assert signal.getsignal(signal.SIGINT) is sigint


def test_a_second_run_reads_the_cache_and_calls_nothing(client, tmp_path):
    log, cache = tmp_path / "log", tmp_path / "cache"
    log.mkdir()
    pts = sweep(5, log)
    first = run_points(moments, pts, scheduler=client, cache_dir=cache, progress=False)
    assert calls(log) == list(range(5))
    assert len(list(cache.glob("*.npz"))) == 5
    # all cached: no cluster is even contacted (nothing listens at this address)
    again = run_points(moments, pts, scheduler="tcp://127.0.0.1:9", cache_dir=cache, progress=False)
    assert calls(log) == list(range(5))
    assert_same(first, again)
    # a new version is a new key: computed again
    run_points(moments, pts[:1], scheduler="sync", cache_dir=cache, version="2", progress=False)
    assert calls(log) == [0, 0, 1, 2, 3, 4]


def test_an_interrupted_sweep_resumes_without_recomputing_finished_points(tmp_path):
    log, cache, flag = tmp_path / "log", tmp_path / "cache", tmp_path / "fail"
    log.mkdir()
    flag.touch()
    pts = sweep(6, log, flag)
    with pytest.raises(RuntimeError, match="point 3 fails") as info:
        run_points(moments, pts, scheduler="sync", cache_dir=cache, progress=False)
    if sys.version_info >= (3, 11):
        assert any("run again to resume" in n for n in info.value.__notes__)
    assert calls(log) == [0, 1, 2]
    assert not list(cache.glob(".*.tmp"))  # no half-written file
    flag.unlink()
    out = run_points(moments, pts, scheduler="sync", cache_dir=cache, progress=False)
    assert calls(log) == [0, 1, 2, 3, 4, 5]  # only the unfinished points ran again
    assert_same(out, run_points(moments, sweep(6), scheduler="sync", progress=False))


def test_an_interrupted_cluster_sweep_keeps_what_finished(client, tmp_path):
    log, cache, flag = tmp_path / "log", tmp_path / "cache", tmp_path / "fail"
    log.mkdir()
    flag.touch()
    pts = sweep(6, log, flag)
    with pytest.raises(RuntimeError, match="point 3 fails"):
        run_points(moments, pts, scheduler=client, cache_dir=cache, progress=False)
    cached = {
        i for i, p in enumerate(pts) if point_key(f"{__name__}.moments", "", p) in Cache(cache)
    }
    assert 3 not in cached
    # a point already running on the other worker when point 3 failed still finishes (Dask
    # cannot interrupt a running task; its result is dropped, not cached): let it finish
    # before the log is cleared, so only the resumed run's calls are counted
    settle_markers(log)
    flag.unlink()
    for p in log.iterdir():
        p.unlink()
    run_points(moments, pts, scheduler=client, cache_dir=cache, progress=False)
    assert set(calls(log)) == set(range(6)) - cached
    assert len(calls(log)) == 6 - len(cached)


@pytest.mark.parametrize(
    "scheduler", ["localhost:8786", "tcp://host", "tcp://host:99999", "http://h:80", "threads", 42]
)
def test_a_bad_scheduler_is_named(scheduler):
    with pytest.raises(ValueError, match="scheduler"):
        run_points(moments, sweep(1), scheduler=scheduler, progress=False)


@pytest.mark.parametrize("workers", [0, -2, 1.5, True, "2"])
def test_bad_workers_are_named(workers):
    with pytest.raises(ValueError, match="workers"):
        run_points(moments, sweep(1), workers=workers, progress=False)


def test_workers_with_another_scheduler_is_refused():
    with pytest.raises(ValueError, match="workers=4 sizes a local cluster"):
        run_points(moments, sweep(1), scheduler="sync", workers=4, progress=False)


def test_no_scheduler_at_the_address_is_a_clear_connection_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ConnectionError, match="no Dask scheduler answered"):
        run_points(moments, sweep(2), scheduler=f"tcp://127.0.0.1:{port}",
                   connect_timeout=0.5, progress=False)  # fmt: skip


def test_without_dask_a_cluster_run_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(ImportError, match=r"pip install -e '\.\[sweep\]'"):
        run_points(moments, sweep(2), workers=2, progress=False)
    # in process it needs no dask
    assert len(run_points(moments, sweep(2), scheduler="sync", progress=False)) == 2


def test_importing_the_runner_imports_no_dask_gnuradio_or_torch():
    code = (
        "import sys, gr_cfisac.sweep\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed', "
        "'gnuradio', 'torch'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_point_key_is_canonical_and_sensitive():
    a = np.arange(6.0).reshape(2, 3)
    base = point_key("m.f", "1", {"x": a, "k": 2, "s": "zf"})
    assert base == point_key("m.f", "1", {"s": "zf", "k": 2, "x": a.copy()})  # key order
    assert base == point_key("m.f", "1", {"x": a, "k": np.int64(2), "s": "zf"})
    for other in (
        point_key("m.g", "1", {"x": a, "k": 2, "s": "zf"}),
        point_key("m.f", "2", {"x": a, "k": 2, "s": "zf"}),
        point_key("m.f", "1", {"x": a.reshape(3, 2), "k": 2, "s": "zf"}),
        point_key("m.f", "1", {"x": a.astype(np.float32), "k": 2, "s": "zf"}),
        point_key("m.f", "1", {"x": a + 1e-12, "k": 2, "s": "zf"}),
        point_key("m.f", "1", {"x": a, "k": 2.0, "s": "zf"}),
    ):
        assert other != base
    with pytest.raises(ValueError, match="cannot hash a object"):
        point_key("m.f", "", {"x": object()})


def test_seeds_are_independent_of_the_point_count():
    assert point_seeds(7, 3) == point_seeds(7, 5)[:3]
    assert len(set(point_seeds(7, 100))) == 100


def test_cache_round_trip_and_a_corrupt_file_is_recomputed(tmp_path):
    cache = Cache(tmp_path)
    rec = {"W": np.ones((2, 3), complex), "rate": 1.5, "ok": True, "name": "zf", "file": 3}
    path = cache.store("abc", rec)
    got = cache.load("abc")
    assert got["W"].dtype == complex and got["rate"].shape == () and float(got["rate"]) == 1.5
    assert str(got["name"]) == "zf" and int(got["file"]) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["abc.npz"]
    path.write_bytes(path.read_bytes()[:20])  # a truncated file (not written by us)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert cache.load("abc") is None
    assert "unreadable cache file" in str(w[0].message)
    with pytest.raises(ValueError, match="cache key"):
        cache.path("../escape")


def test_results_must_be_records_and_cached_functions_must_be_named(tmp_path):
    with pytest.raises(ValueError, match="mapping of names"):
        run_points(lambda p: [1, 2], [0], scheduler="sync", progress=False)
    with pytest.raises(ValueError, match="module-level function"):
        run_points(lambda p: {"x": p}, [0], scheduler="sync", cache_dir=tmp_path, progress=False)
    out = run_points(lambda p: {"x": p}, [1, 2], scheduler="sync", cache_dir=tmp_path,
                     key=lambda p: f"p{p}", progress=False)  # fmt: skip
    assert [int(r["x"]) for r in out] == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p1.npz", "p2.npz"]


def test_bench_scheduler_option_is_checked_before_any_work(capsys):
    from gr_cfisac.cli import main

    assert (
        main(["bench", "teacher-student", "--scheduler", "cluster:1", "--out", "/nonexistent"]) == 2
    )
    assert "scheduler='cluster:1' is not a Dask scheduler address" in capsys.readouterr().err
    assert main(["bench", "core", "--scheduler", "sync"]) == 2
    assert "run no sweep" in capsys.readouterr().err
