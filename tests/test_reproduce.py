"""cfisac reproduce: the seed-000 figure functions on tiny sizes (shapes, and trends the physics
guarantees), the CSI-error model, the Figure files, Dask = in process, resuming, the report."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from gr_cfisac.config import SystemConfig
from gr_cfisac.reproduce import Run, reproduce, stcib
from gr_cfisac.reproduce.figure import Figure, Trend, read_figure, write_figure
from gr_cfisac.reproduce.report import figure_section
from gr_cfisac.scenario import draw_realizations


def test_fig6_error_falls_with_pilot_length_and_has_one_row_per_point():
    fig = stcib.fig6(tau_ps=(4, 16, 64), Ks=(2, 4), draws=40, seed=1)
    assert [(r["K"], r["tau_p"]) for r in fig.rows] == [(K, t) for K in (2, 4) for t in (4, 16, 64)]
    for K in (2, 4):
        err = [r["nmse"] for r in fig.rows if r["K"] == K]
        # MMSE error with pilot SNR rho_p tau_p: 16x the pilots cut the NMSE by far more than 2x
        assert err[0] > 2 * err[1] > 4 * err[2]
    assert fig.trends[0].holds is True


def test_csi_error_model_has_the_papers_variance():
    real = draw_realizations(SystemConfig(), 200, 5)
    same = stcib.with_csi_error(real, 0.0, np.random.default_rng(0))
    np.testing.assert_array_equal(same.F_hat, real.F)
    noisy = stcib.with_csi_error(real, 0.3, np.random.default_rng(0))
    ratio = np.abs(noisy.F_hat - real.F) ** 2 / np.abs(real.F) ** 2
    assert abs(ratio.mean() - 0.3) < 0.01  # sigma_e^2 = chi |g|^2 per element
    with pytest.raises(ValueError, match="chi"):
        stcib.with_csi_error(real, 1.5, np.random.default_rng(0))


def test_fig14_rate_falls_with_csi_error():
    fig = stcib.fig14(chis=(0.0, 1.0), ricians=(1, 5), draws=40, seed=2)
    assert len(fig.rows) == 4
    for k in (1, 5):
        rate = {r["chi"]: r["sum_rc"] for r in fig.rows if r["rician"] == k}
        assert rate[1.0] < 0.9 * rate[0.0]
    assert fig.trends[0].holds is True


def test_table3_rows_and_feasibility_ranges():
    fig = stcib.table3(draws=20, seed=4)
    assert [(r["design"], r["threshold"]) for r in fig.rows] == [
        (d, t) for d, _, t, *_ in stcib.TABLE3
    ]
    for r in fig.rows:
        assert 0.0 <= r["feasibility"] <= 1.0 and 0.0 <= r["feasibility_known"] <= 1.0
        assert r["worst_violation"] >= r["mean_violation"] >= 0.0


def test_table2_joint_rows_more_weight_on_communication_localizes_worse():
    rows = [r for r in stcib.TABLE2 if r[0] in ("Joint 0.2", "Joint 0.4")]
    fig = stcib.table2(draws=6, seed=2, rows_=rows, ccpa_draws=0)
    by = {r["design"]: r for r in fig.rows}
    assert by["Joint 0.2"]["ccpa"] is None  # ccpa_draws=0: not run, not faked
    assert by["Joint 0.2"]["stcib"] is None  # no STCIB shipped at eta = 0.2
    assert by["Joint 0.4"]["stcib"] is not None and by["Joint 0.4"]["cnn"] is not None
    # MUSIC on 4x4 RAPs finds the paper-scene target to within a few degrees at eta = 0.2
    assert by["Joint 0.2"]["optimizer"] < 5.0


def test_figure_files_and_round_trip(tmp_path):
    fig = Figure(
        "figx", "a figure", [{"x": 1, "y": 2.0, "s": "a"}, {"x": 2, "y": float("nan"), "s": "a"}],
        x="x", y=("y",), series="s",
        trends=[Trend("y grows", "paper says so", "ours too", False, "because")],
    )  # fmt: skip
    paths = write_figure(fig, tmp_path)
    assert {p.suffix for p in paths.values()} == {".json", ".csv", ".png"}
    assert json.loads(paths["json"].read_text())["rows"][1]["y"] is None  # no NaN in JSON
    with paths["csv"].open() as f:
        assert list(csv.DictReader(f))[0] == {"x": "1", "y": "2.0", "s": "a"}
    back = read_figure(paths["json"])
    assert back.trends[0].why == "because" and back.holds() is False
    text = "\n".join(figure_section(back, ["figx.png"]))
    assert "does not hold: because" in text
    with pytest.raises(ValueError, match="column 'z'"):
        Figure("bad", "t", [{"x": 1}], x="z")


def test_points_on_a_dask_cluster_equal_the_in_process_run(tmp_path):
    kw = {"tau_ps": (4, 8), "Ks": (2,), "draws": 10, "seed": 3}
    local = stcib.fig6(**kw)
    cluster = stcib.fig6(**kw, run=Run("local", workers=2, cache_dir=tmp_path))
    assert cluster.rows == local.rows  # same seeds, same bits
    cached = sorted(tmp_path.glob("*.npz"))
    assert len(cached) == 2
    stamps = [p.stat().st_mtime_ns for p in cached]
    again = stcib.fig6(**kw, run=Run("sync", cache_dir=tmp_path))  # resumes from the cache
    assert again.rows == local.rows
    assert [p.stat().st_mtime_ns for p in cached] == stamps


def test_reproduce_refuses_unknown_papers_and_reports_missing_ones(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="paper must be one of"):
        reproduce(["nope"], tmp_path)
    from gr_cfisac.reproduce import lhgnn

    monkeypatch.setattr(lhgnn, "missing", lambda: "not built yet (test)")
    path = reproduce(["lhgnn"], tmp_path)
    text = path.read_text()
    assert "Not reproduced: not built yet (test)" in text and lhgnn.TITLE in text


def test_families_table_has_every_cellfree_family_on_the_same_realizations():
    from gr_cfisac.precoding.lineup import every_family
    from gr_cfisac.precoding.registry import families

    fig = stcib.families_table(draws=3, ccpa_draws=0, seed=1)
    names = {r["family"] for r in fig.rows}
    serving = {n for n in every_family() if "cellfree" in families()[n].scenarios}
    assert serving | {"stcib_joint", "cnn_joint", "optimize (best)"} <= names
    assert "ccpa" not in names  # ccpa_draws=0: not run
    for r in fig.rows:
        assert r["realizations"] == 3
        assert r["max_power_ratio"] <= 1 + 1e-6  # eq 23d for every family


def test_l2o_fig8_rows_per_user_count():
    from gr_cfisac.reproduce import l2o

    fig = l2o.fig8(per_k=3)
    assert [r["K"] for r in fig.rows] == list(range(1, len(fig.rows) + 1))
    assert {"model", "WMMSE", "LMMSE", "MRT"} <= set(fig.columns())
    # ZF exists only while it can null every user (K <= N)
    N = fig.meta["N"]
    assert all((r["ZF"] is None) == (r["K"] > N) for r in fig.rows)


def test_fig13_times_every_method_where_it_is_shipped():
    fig = stcib.fig13(Ks=(2, 4), shapes=((1, 1),), draws=2, ccpa_draws=0)
    assert [r["x"] for r in fig.rows] == ["K=2", "K=4", "1x1"]
    by = {r["x"]: r for r in fig.rows}
    # the learned models are timed only at the size they were trained for (K = 4, 2x2 TAPs)
    assert "stcib_s" in by["K=4"] and "stcib_s" not in by["K=2"] and "stcib_s" not in by["1x1"]
    assert all(r["optimizer_s"] > 0 and "ccpa_s" not in r for r in fig.rows)


def test_l2o_fig6_one_model_against_the_dedicated_ones():
    from gr_cfisac.bench import l2o as bench_l2o
    from gr_cfisac.reproduce import l2o

    if not bench_l2o.dedicated_hosts():
        pytest.fail("models/l2o/dt (the shipped dedicated models) is missing")
    fig = l2o.fig6(per_k=4)
    assert [r["K"] for r in fig.rows] == sorted(bench_l2o.DEDICATED)
    for r in fig.rows:
        assert r["N"] == 11 and r["mt_vs_dt"] == pytest.approx(r["MT-SAO-lift"] / r["DT-SAO-lift"])
        # nothing beats WMMSE by much: it is the converged reference of eq 3
        assert r["MT-SAO-lift"] <= 1.02 * r["WMMSE"] and r["DT-SAO-lift"] <= 1.02 * r["WMMSE"]


def test_l2o_fig4_one_curve_per_training_q_read_from_the_shipped_cards():
    import json

    from gr_cfisac.bench import l2o as bench_l2o
    from gr_cfisac.models import shipped_models_dir
    from gr_cfisac.reproduce import l2o

    if set(bench_l2o.qt_hosts()) != {0, 5}:
        pytest.fail("models/l2o/qt (the shipped Q_t = 0 and 5 models) is missing")
    fig = l2o.fig4()
    assert list(fig.y) == ["Q_t = 0", "Q_t = 5", "Q_t = 10"]
    card = json.loads((shipped_models_dir() / bench_l2o.QT_MODELS[5]).with_suffix(".json")
                      .read_text())  # fmt: skip
    assert card["architecture"]["Q_t"] == 5
    for row, sweep in zip(fig.rows, card["validation"]["q_sweep"], strict=True):
        assert row["Q_i"] == sweep["Q_i"]
        (at,) = [s["ratio"] for s in sweep["stages"] if (s["K"], s["N"]) == (16, 11)]
        assert row["Q_t = 5"] == at  # the (Km, 0.7 Nm) stage: the paper's (40, 28)
    assert len(fig.trends) == 3


@pytest.mark.slow
def test_teacher_student_fig16_student_vs_sdp():
    from gr_cfisac.reproduce import teacher_student

    fig = teacher_student.fig16(count=1, repeats=2)
    assert [r["method"] for r in fig.rows] == ["U-Net student (per AP)", "SDP + bisection"]
    assert fig.rows[0]["seconds"] < fig.rows[1]["seconds"]
