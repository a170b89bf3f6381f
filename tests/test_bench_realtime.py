"""bench realtime (issue 16): the exponent fit recovers known power laws; the core twin does the
flowgraph's work; the smallest run reports every part, size, fit and goal, its goals read from
its own numbers (no timing is asserted)."""

import json

import numpy as np
import pytest

from gr_cfisac.bench import BENCHMARKS
from gr_cfisac.bench.realtime import PLANS, fit_power_law, network


def _grid():
    NT, K = np.meshgrid([4.0, 8.0, 16.0, 32.0], [4.0, 8.0, 16.0])
    return NT.ravel(), K.ravel()


def test_fit_recovers_a_known_power_law():
    NT, K = _grid()
    exact = fit_power_law({"NT": NT, "K": K}, 2e-4 * NT**0.7 * K**0.4)
    assert exact["exponents"] == pytest.approx({"NT": 0.7, "K": 0.4}, abs=1e-9)
    assert exact["coefficient"] == pytest.approx(2e-4) and exact["r2"] == pytest.approx(1.0)
    assert exact["points"] == 12
    noise = np.exp(np.random.default_rng(3).normal(0.0, 0.03, NT.size))  # 3 % timing noise
    noisy = fit_power_law({"NT": NT, "K": K}, 5e-3 * NT**-0.2 * K**1.5 * noise)
    assert noisy["exponents"] == pytest.approx({"NT": -0.2, "K": 1.5}, abs=0.05)
    assert 0.95 < noisy["r2"] < 1.0
    flat = fit_power_law({"NT": NT}, np.full(NT.size, 1e-3))  # no growth: exponent 0
    assert flat["exponents"]["NT"] == pytest.approx(0.0, abs=1e-12)


def test_fit_refuses_what_it_cannot_separate():
    NT, K = _grid()
    with pytest.raises(ValueError, match="cannot separate"):
        fit_power_law({"NT": NT[:4], "K": K[:4]}, NT[:4])  # one K: its exponent is unknown
    with pytest.raises(ValueError, match="positive"):
        fit_power_law({"NT": NT, "K": K}, -NT)
    with pytest.raises(ValueError, match="same length"):
        fit_power_law({"NT": NT, "K": K[:3]}, NT)


def test_the_core_twin_does_the_flowgraphs_work():
    """The chain's twin (the blocks' process() called directly, 64 blocks a call) measures what
    the flowgraph measures on the same blocks: same seeds, same functions, same numbers."""
    from gr_cfisac.bench import realtime_graphs as rg

    cfg = network(4, 4)
    n = 40
    graph = rg.build("chain", cfg, n)
    rg.run_graph(graph, n)
    stages = rg.twin_stages("chain", cfg)
    rg.run_twin(stages, n)  # its warm-up batch is blocks 0..63, the same blocks
    fg, twin = graph.last.results(), stages[-1].block.results()
    rows = np.searchsorted(twin["cb"], fg["cb"])
    assert np.array_equal(twin["cb"][rows], fg["cb"]) and len(fg["cb"]) == n
    for key in ("sinr", "scnr", "sinr_formula", "peb", "position_error"):
        np.testing.assert_allclose(twin[key][rows], fg[key], rtol=1e-5, err_msg=key)


def test_the_smallest_run_reports_every_part_and_goal(tmp_path):
    from gr_cfisac.bench import realtime

    assert BENCHMARKS["realtime"] == "gr_cfisac.bench.realtime"
    plan = PLANS["smoke"]
    report = realtime.run(tmp_path, True, plan)
    on_disk = json.loads((tmp_path / "realtime.json").read_text())
    assert (tmp_path / "realtime.png").stat().st_size > 10_000
    assert on_disk["summary"] == json.loads(json.dumps(report["summary"], default=float))
    goal = on_disk["goal_blocks_per_s"]
    assert goal == pytest.approx(1e6 / 196)
    sizes = on_disk["sweep"]["sizes"]
    assert list(sizes) == [f"NT={nt},K={k}" for nt, k in plan.sizes]
    for row in sizes.values():
        assert row["tau_p"] == max(4, row["K"])
        for part in ("chain", "tap", "tap_sim", "rap"):
            r = row[part]
            assert r["blocks_per_s"] > 0 and r["core_blocks_per_s"] > 0
            assert r["samples_per_s_per_antenna"] == pytest.approx(196 * r["blocks_per_s"])
            assert r["flowgraph_over_core"] == pytest.approx(
                r["core_blocks_per_s"] / r["blocks_per_s"]
            )
            assert r["flowgraph"]["blocks"] == r["core"]["blocks"] > 0
            assert r["peak_rss_mb"] > 10
            assert r["peak_rss_increase_mb"] == pytest.approx(
                r["peak_rss_mb"] - r["flowgraph"]["rss_before_mb"]
            )
    for part, fits in on_disk["sweep"]["fits"].items():
        for side in ("flowgraph", "core"):
            assert set(fits[side]["exponents"]) == {"NT", "K"}, (part, side)
            assert np.isfinite(list(fits[side]["exponents"].values())).all()
    s = on_disk["summary"]
    t1 = on_disk["table1"]
    # every goal is a boolean read from the numbers beside it
    for key in ("2x2", "4x4"):
        rates = s["rap_side_blocks_per_s"][key]
        assert set(rates) == {
            *plan.rap_methods,
            *(f"esprit, {w} threads" for w in plan.rap_workers),
        }
        assert s[f"goal_rap_side_{key}_met"] is (max(rates.values()) >= goal)
    assert t1["rap"]["2x2"]["n_sources"] == "MDL per block" and t1["rap"]["4x4"]["n_sources"] == 3
    tap = s["tap_side_blocks_per_s"]
    assert set(tap) == {"zf", *plan.stcib_models}
    assert s["goal_tap_side_zf_met"] is (tap["zf"] >= goal)
    assert s["goal_tap_side_stcib_fast_met"] is (tap["stcib_joint_fast"] >= goal)
    assert s["goal_tap_side_stcib_met"] is None  # not in the smoke plan: not claimed
    worst = max(s["flowgraph_over_core"].values())
    assert s["worst_flowgraph_over_core"]["ratio"] == worst
    assert s["goal_flowgraph_within_1.2x_core_met"] is (worst <= 1.2)
    rap_runs = len(plan.rap_methods) + len(plan.rap_workers)
    assert len(s["flowgraph_over_core"]) == 4 * len(plan.sizes) + 2 * rap_runs + 2
    for alg, lat in t1["latency"].items():
        assert lat["blocks"] == plan.latency_blocks, alg
        assert 0 < lat["p50_us"] <= lat["p99_us"] <= lat["max_us"]
        assert lat["process_mean_us"] > 0
        assert s["tap_latency_us"][alg] == {"p50": lat["p50_us"], "p99": lat["p99_us"]}
    assert s["peak_rss_mb"] >= max(r["chain"]["peak_rss_mb"] for r in sizes.values())
    assert s["peak_rss_increase_mb"] >= max(
        r["rap"]["peak_rss_increase_mb"] for r in sizes.values()
    )


def test_blocks_per_call_sets_every_blocks_max_blocks_and_scales_the_runs(monkeypatch):
    from dataclasses import replace

    from gr_cfisac.bench import realtime
    from gr_cfisac.bench import realtime_graphs as rg

    plan = replace(PLANS["smoke"], blocks_per_call=256)
    assert (plan.blocks("chain"), plan.blocks("rap")) == (4 * 32, 4 * 64)
    assert PLANS["smoke"].blocks("chain") == 32  # the default: the plan's own counts
    cfg = network(4, 4)
    for part in rg.PARTS:
        stages = rg.twin_stages(part, cfg, batch=256)
        assert {s.block.max_blocks for s in stages} == {256}, part
    graph = rg.build("rap", cfg, 8, rg.recorded_items(cfg, n=8), batch=256)
    assert {b.max_blocks for b in graph.parts} == {256}
    monkeypatch.setenv(realtime.BLOCKS_PER_CALL_ENV, "128")
    assert realtime.blocks_per_call_setting(PLANS["smoke"]).blocks_per_call == 128
    for bad in ("0", "many"):
        monkeypatch.setenv(realtime.BLOCKS_PER_CALL_ENV, bad)
        with pytest.raises(ValueError, match="CFISAC_BLOCKS_PER_CALL"):
            realtime.blocks_per_call_setting(PLANS["smoke"])
    with pytest.raises(ValueError, match="blocks_per_call"):
        replace(PLANS["smoke"], blocks_per_call=0)
