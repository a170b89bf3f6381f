"""BLAS threads under control where blocks run (issue 16): gr_cfisac.blas and the blocks' use."""

import json
import os
import subprocess
import sys

import pytest

from gr_cfisac import blas

# a two-block chain run in a fresh process whose BLAS starts with 2 threads (OpenBLAS takes at
# most one per core); a probe inside the
# precoder block's work() reports what the libraries use while the flowgraph runs
PROBE = """
import json
from gnuradio import gr
from gr_cfisac import blas
from gr_cfisac.blocks import build_chain
from gr_cfisac.config import SystemConfig
before = blas.blas_threads()
tb = gr.top_block()
chain = build_chain(tb, SystemConfig(), num_blocks=2, with_sensing=False)
seen = {}
work = chain.precoder.process
def probe(cb, ins, outs):
    seen.update(blas.blas_threads())
    return work(cb, ins, outs)
chain.precoder.process = probe
tb.run()
assert not chain.errors(), chain.errors()
print(json.dumps({"before": before, "during": seen}))
"""


def _run_probe(setting: str | None, start: int = 2) -> dict:
    env = {k: v for k, v in os.environ.items() if k != blas.ENV_VAR}
    env["OPENBLAS_NUM_THREADS"] = str(start)
    if setting is not None:
        env[blas.ENV_VAR] = setting
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


multicore = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="BLAS runs 1 thread on 1 core")


@multicore
def test_flowgraph_blocks_run_single_threaded_blas_by_default():
    got = _run_probe(None)
    assert got["before"] and set(got["before"].values()) == {2}
    # every BLAS library (numpy's and any other loaded) is down to one thread while blocks run
    assert set(got["during"]) >= set(got["before"])
    assert set(got["during"].values()) == {1}


@multicore
def test_blas_threads_setting_and_opt_out():
    untouched = _run_probe("0")
    assert set(untouched["before"].values()) == {2}
    assert untouched["during"] == untouched["before"]
    # a count that is not the default is applied as it is
    raised = _run_probe("2", start=1)
    assert set(raised["before"].values()) == {1}
    assert set(raised["during"].values()) == {2}


@pytest.mark.parametrize(
    "text, expected", [("", 1), ("  ", 1), ("1", 1), ("4", 4), ("0", None), (" 2 ", 2)]
)
def test_configured_threads_reads_the_environment(text, expected):
    assert blas.configured_threads({blas.ENV_VAR: text}) == expected
    assert blas.configured_threads({}) == blas.DEFAULT_THREADS


@pytest.mark.parametrize("text", ["-1", "two", "1.5"])
def test_bad_setting_is_refused_naming_the_variable(text):
    with pytest.raises(ValueError, match=blas.ENV_VAR):
        blas.configured_threads({blas.ENV_VAR: text})


def test_bad_setting_fails_at_block_construction(monkeypatch):
    from gr_cfisac.blocks import pilot_estimator
    from gr_cfisac.config import SystemConfig

    monkeypatch.setenv(blas.ENV_VAR, "many")
    with pytest.raises(ValueError, match=blas.ENV_VAR):
        pilot_estimator(SystemConfig())


def test_restore_gives_back_the_original_limits():
    blas.restore()
    original = blas.blas_threads()
    assert blas.enter_block_thread(1) == 1
    assert set(blas.blas_threads().values()) == {1}
    blas.restore()
    assert blas.blas_threads() == original
    assert blas.enter_block_thread(0) is None  # the opt-out touches nothing
    assert blas.blas_threads() == original
