"""The lhgnn bench (paper 003, Figs. 7-10) and seed 003's reproduce figures on tiny sizes: the
SCA runs for real on a tiny 2 x 2-array scenario; with the shipped (full-size) models it is
replaced by a cheap stand-in where its minutes per realization forbid a unit test."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gr_cfisac.bench import lhgnn as bench
from gr_cfisac.bench import lhgnn_power
from gr_cfisac.coisac import CoisacConfig, CoisacScenario, power_from_dbm, sum_rate
from gr_cfisac.coisac.noise import noisy_csi, perturbed_steering
from gr_cfisac.precoding.convex import sca_speb
from gr_cfisac.precoding.registry import PrecoderResult

TINY = CoisacConfig(K=2, Lx=2, Ly=2)


@pytest.fixture(scope="module")
def hosts():
    found = bench.load_hosts()
    if "LHGNN" not in found:
        pytest.skip("models/lhgnn/lhgnn_coisac.onnx is not shipped")
    return found


def fake_sca(blocks, power_dbm, gamma_m2, run=None, settings=None):
    """The SCA's record shape at the cost of one SPEB: every BS's budget on the target beam."""
    cfg, n = blocks[0].cfg, len(blocks)
    scenes = [sca_speb.scenes_of(b, power_from_dbm(cfg, power_dbm))[0] for b in blocks]
    W = np.zeros((n, cfg.antennas, cfg.K + 1), complex)
    W[:, :, 0] = [sca_speb.target_beam(s) for s in scenes]
    speb = np.array([float(s.speb(w[:, :1])) for s, w in zip(scenes, W)])
    ones = np.ones(n)
    extras = {"sum_rate": 0 * ones, "speb": speb, "feasible": ones, "seconds": 60 * ones,
              "speb_met": (speb <= gamma_m2).astype(float), "rank_one_fraction": ones,
              "solved": ones}  # fmt: skip
    return PrecoderResult(W, extras)


def test_an_sca_realization_both_solvers_failed_is_left_out(hosts, monkeypatch):
    def one_failed(blocks, power_dbm, gamma_m2, run=None, settings=None):
        res = fake_sca(blocks, power_dbm, gamma_m2)
        ex = dict(res.extras)
        ex["sum_rate"] = np.array([5.0, -999.0])  # the failed one's numbers mean nothing
        ex["solved"], ex["feasible"] = np.array([1.0, 0.0]), np.array([1.0, 0.0])
        return PrecoderResult(res.W, ex)

    monkeypatch.setattr(lhgnn_power, "run_sca", one_failed)
    res = bench.power_sweep({"LHGNN": hosts["LHGNN"]}, (20.0,), 2, 4)
    (p,) = res["points"]
    assert (p["sca_solved"], p["sca_realizations"]) == (2 - 1, 2)
    sca = next(r for r in res["rows"] if r["method"] == "SCA")
    assert sca["realizations"] == 1 and sca["sum_rate"] == sca["sum_rate_shared"] == 5.0
    lh = next(r for r in res["rows"] if r["method"] == "LHGNN")
    first = bench.sca_blocks(bench.scenario_of(hosts), 1)[0]
    alone = float(
        sum_rate(first.F, bench.beams(hosts["LHGNN"], first.F_hat, first.sensing.aT_t))[0]
    )
    assert lh["sum_rate_shared"] == pytest.approx(alone)  # on the solved realization only


def test_noisy_csi_has_the_stated_error_power_and_perfect_csi_is_exact():
    F = CoisacScenario(CoisacConfig()).draw(64, rng=1).F
    rng = np.random.default_rng(0)
    assert np.array_equal(noisy_csi(F, 3, math.inf, rng), F)
    E = noisy_csi(F, 3, 10.0, rng) - F
    link = np.mean(np.abs(F.reshape(64, 3, 16, -1)) ** 2, axis=2)
    err = np.mean(np.abs(E.reshape(64, 3, 16, -1)) ** 2, axis=2)
    assert np.mean(err / link) == pytest.approx(0.1, rel=0.05)  # SNR 10 dB per link


def test_perturbed_steering_is_the_true_one_at_zero_error_and_moves_with_it():
    batch = CoisacScenario(CoisacConfig()).draw(8, rng=2)
    rng = np.random.default_rng(0)
    assert np.array_equal(perturbed_steering(batch, 0.0, rng), batch.sensing.aT_t)
    a = perturbed_steering(batch, 5.0, rng)
    assert np.allclose(np.abs(a), 1.0)  # unit-modulus elements
    corr = np.abs(np.sum(a.conj() * batch.sensing.aT_t, -1)) / a.shape[-1]
    assert np.all(corr < 1 - 1e-6) and np.all(corr > 0.0)
    with pytest.raises(ValueError, match="dt_m"):
        perturbed_steering(batch, -1.0, rng)
    with pytest.raises(ValueError, match="snr_db"):
        noisy_csi(batch.F, 3, float("nan"), rng)


def test_noisy_training_data_perturbs_the_inputs_only():
    torch = pytest.importorskip("torch")
    from gr_cfisac.train.lhgnn.trainer import Dataset

    cfg = CoisacConfig()
    clean = Dataset.draw(cfg, 6, 5, "cpu")
    noisy = Dataset.draw(cfg, 6, 5, "cpu", csi_snr_db=10.0, position_error_m=4.0)
    assert torch.equal(noisy.F, clean.F) and torch.equal(noisy.echo.a, clean.echo.a)
    assert not torch.equal(noisy.comm, clean.comm)
    assert not torch.equal(noisy.sensing, clean.sensing)
    again = Dataset.draw(cfg, 6, 5, "cpu", csi_snr_db=10.0, position_error_m=4.0)
    assert torch.equal(again.comm, noisy.comm)  # seeded


def test_rescaled_beams_speb_falls_as_one_over_power(hosts):
    host = hosts["LHGNN"]
    batch = CoisacScenario(bench.scenario_of(hosts)).draw(16, rng=3)
    F, a = batch.F_hat, batch.sensing.aT_t
    P0 = float(host.card["power"])
    native = bench.block_metrics(batch, bench.beams(host, F, a))
    same = bench.block_metrics(batch, bench.beams(host, F, a, P0))
    four = bench.block_metrics(batch, bench.beams(host, F, a, 4 * P0))
    assert np.allclose(same["speb"], native["speb"], rtol=1e-6)
    assert np.allclose(four["speb"], native["speb"] / 4, rtol=1e-6)  # SPEB ~ 1 / power
    assert np.all(four["rate"] >= native["rate"] - 1e-9)  # same SINR structure, less noise


def test_power_sweep_runs_the_sca_for_real_on_a_tiny_scenario():
    fast = sca_speb.Settings(max_iters=3, draws=5)
    res = bench.power_sweep({}, (15.0,), 1, 2, gamma_ref=1000.0, p0_dbm=20.0, cfg=TINY,
                            settings=fast)  # fmt: skip
    (p,) = res["points"]
    assert p["gamma_sca_m2"] == pytest.approx(1000.0 * 10**0.5)  # gamma_ref x P0 / P
    assert p["sca_feasible"] == 1  # a feasible strict SCA: mean SPEB <= its threshold
    assert 0 < p["gamma_m2"] <= p["gamma_sca_m2"] * (1 + 1e-3)
    (sca,) = res["rows"]
    assert sca["method"] == "SCA" and sca["realizations"] == 1
    assert sca["speb_m2"] == pytest.approx(p["gamma_m2"]) and sca["speb_satisfied_strict"] == 1
    assert res["sca_settings"]["max_iters"] == 3
    with pytest.raises(ValueError, match="p0_dbm"):
        bench.power_sweep({}, (20.0,), 1, 2, cfg=TINY)
    with pytest.raises(ValueError, match="n_sca"):
        bench.power_sweep({}, (20.0,), 0, 2, gamma_ref=1.0, p0_dbm=20.0, cfg=TINY)
    more = bench.sca_blocks(TINY, 3)  # realizations are reused by larger runs
    assert np.array_equal(more[0].F, bench.sca_blocks(TINY, 1)[0].F)


def test_power_sweep_with_models_native_at_p0_rescaled_elsewhere(hosts, monkeypatch):
    monkeypatch.setattr(lhgnn_power, "run_sca", fake_sca)
    res = bench.power_sweep(hosts, (14.0, 20.0, 26.0), 2, 12)
    methods = {(r["power_dbm"], r["method"]) for r in res["rows"]}
    for label in hosts:
        assert (20.0, label) in methods
        assert (14.0, label + bench.RESCALED) in methods and (14.0, label) not in methods
    lh = sorted((r["power_dbm"], r["speb_m2"]) for r in res["rows"]
                if r["method"] in ("LHGNN", "LHGNN" + bench.RESCALED))  # fmt: skip
    products = [s * 10 ** (p / 10) for p, s in lh]  # SPEB x power is constant
    assert np.allclose(products, products[0], rtol=1e-6)
    g = bench.goals(res, {"speedup_batch1": 2000.0})
    assert g["speedup_>=_1000"] is True
    assert isinstance(g["speb_satisfied_>=_0.95"], bool)


def test_noisier_csi_lowers_the_rate_of_a_fixed_model(hosts):
    one = {"LHGNN": hosts["LHGNN"]}
    res = bench.robustness_sweep(one, "snr_db", (-5.0, 10.0, math.inf), 48, fixed=0.0)
    rate = {r["snr_db"]: r["sum_rate"] for r in res["rows"]}
    assert rate[-5.0] < rate[10.0] < rate[math.inf]
    pos = bench.robustness_sweep(one, "dt_m", (0.0, 20.0), 48, fixed=math.inf)
    sat = {r["dt_m"]: r["speb_satisfied"] for r in pos["rows"]}
    assert sat[20.0] <= sat[0.0]  # a beam aimed 20 m off the target localizes it worse
    with pytest.raises(ValueError, match="axis"):
        bench.robustness_sweep(one, "power", (1.0,), 4)


def test_runtimes_report_per_realization_seconds(hosts):
    t = bench.runtimes({"LHGNN": hosts["LHGNN"]}, 8, 1, [30.0, 50.0])
    assert t["SCA"]["seconds"] == 40.0 and t["LHGNN"]["batch1_s"] > 0
    assert t["SCA"]["source"] == "recorded"
    assert t["speedup_batch1"] == pytest.approx(40.0 / t["LHGNN"]["batch1_s"])
    # timed in the same run: the speed-ups divide by those seconds, the recorded mean is kept
    t = bench.runtimes({"LHGNN": hosts["LHGNN"]}, 8, 1, [30.0, 50.0], [10.0, 14.0])
    assert t["SCA"]["seconds"] == 12.0 and t["SCA"]["source"] == "timed in this run"
    assert t["SCA"]["recorded_seconds_mean"] == 40.0 and t["SCA"]["timed_seconds"] == [10.0, 14.0]
    assert t["speedup_batch1"] == pytest.approx(12.0 / t["LHGNN"]["batch1_s"])
    assert t["speedup_batched"] == pytest.approx(12.0 / t["LHGNN"]["batched_s"])


def test_the_sca_is_timed_afresh_at_p0_on_its_first_realizations(hosts, monkeypatch):
    seen = []

    def spy(blocks, power_dbm, gamma_m2, run=None, settings=None):
        seen.append((len(blocks), power_dbm, gamma_m2, run.cache_dir))
        return fake_sca(blocks, power_dbm, gamma_m2)

    monkeypatch.setattr(lhgnn_power, "run_sca", spy)
    cfg = bench.scenario_of(hosts)
    assert bench.time_sca(cfg, 2, 20.0) == [60.0, 60.0]  # the stand-in's seconds
    assert seen == [(2, 20.0, pytest.approx(lhgnn_power.SCA_GAMMA_REF_M2), None)]  # no cache
    bench.time_sca(cfg, 1, 23.0)  # another P0: the SCA's threshold scales as 1 / P
    assert seen[-1][2] == pytest.approx(lhgnn_power.SCA_GAMMA_REF_M2 / 10**0.3)


def test_reproduce_figures_on_tiny_sizes(hosts, monkeypatch):
    from gr_cfisac.reproduce import lhgnn as rep

    assert rep.missing() == ""
    monkeypatch.setattr(lhgnn_power, "run_sca", fake_sca)
    small = {"powers": (17.0, 20.0), "n_sca": 1, "n_test": 6}
    f7, f8 = rep.fig7(**small), rep.fig8(**small)
    assert f7.series == "method" and {"SCA", "LHGNN"} <= {r["method"] for r in f7.rows}
    assert f7.trends and all(t.holds in (True, False, None) for t in f7.trends)
    assert f8.logy and f8.rows == f7.rows
    f9 = rep.fig9(snr_db=(0.0, 20.0), n=8)
    f10 = rep.fig10(dt_m=(0.0, 5.0), n=8)
    every = len(bench.load_hosts(noisy=True))  # the noisy-trained LHGNN too, when shipped
    assert len(f9.rows) == 2 * every and len(f10.rows) == 2 * every
    assert all(t.holds in (True, False, None) for t in f9.trends + f10.trends)
    rt = rep.runtime(**small, repeats=1)
    sca = next(r for r in rt.rows if r["method"] == "SCA")
    assert sca["seconds"] == 60.0  # the stand-in's seconds, timed in the run
    assert rt.meta["sca_timed_seconds"] == [60.0]
    plan = rep.figures(False)
    assert set(plan) == {"fig7", "fig8", "fig9", "fig10", "runtime"}


def test_ascent_rows_raise_the_lhgnn_rate_and_keep_its_threshold():
    hosts = bench.load_hosts()
    host = hosts[bench.PAPER_OUTPUT]  # the KKT-layer LHGNN leaves 5 steps little to gain
    cfg = bench.scenario_of(hosts)
    batch = CoisacScenario(cfg).draw(3, rng=5)
    blocks = bench.sca_blocks(cfg, 1)
    gamma = float(host.card["gamma_m2"])
    rows = bench.ascent_rows(host, batch, blocks, 20.0, gamma, n=3, steps=(5,))
    assert [r["method"] for r in rows] == [bench.ASCENT.format(5), bench.ASCENT_HEURISTIC.format(5)]
    plain = sum_rate(batch.F, bench.beams(host, batch.F_hat, batch.sensing.aT_t))
    refined = rows[0]
    assert refined["sum_rate"] > plain.mean() + 1.0
    assert refined["speb_satisfied"] == refined["speb_satisfied_strict"]
    assert all(s <= gamma * (1 + 1e-9) for s in refined["speb_shared_m2"])
    assert refined["seconds_batch1"] > 0 and refined["seconds_batched"] > 0
