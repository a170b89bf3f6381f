"""``cfisac evaluate`` compares what the precoder registry holds (issue 11): --algorithms names are
checked against the registry, a family registered at run time joins the table with its own
defaults, models are refused for another --scenario, and the line-up's built-in rows are the
same numbers as the core functions they wrap."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gr_cfisac.cli import main
from gr_cfisac.config import SystemConfig
from gr_cfisac.precoding import mrt, registry, wmmse, zf
from gr_cfisac.precoding.lineup import designer, entry, parse_names
from gr_cfisac.precoding.registry import Family, PrecoderResult
from gr_cfisac.scenario import draw_realizations

pytest.importorskip("onnxruntime")

MODEL = Path(__file__).resolve().parents[1] / "models" / "stcib_joint.onnx"


def _half_mrt(spec, cfg):
    """A toy family: MRT user beams at a fraction of the budget, no sensing beam."""

    def design(r):
        users = mrt(r.F_hat, spec.params["share"] * cfg.power_budget)
        return PrecoderResult(np.concatenate([np.zeros_like(users[..., :1]), users], axis=-1))

    return design


@pytest.fixture
def toy(monkeypatch):
    """A family registered for this test only."""
    registry.families()  # the built-ins first
    family = Family("half_mrt", _half_mrt, "MRT at part of the power", {"share": 0.5},
                    frozenset({"estimates"}))  # fmt: skip
    monkeypatch.setitem(registry._FAMILIES, family.name, family)
    return family


def _json(capsys, *argv) -> dict:
    assert main(["evaluate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_family_registered_at_run_time_appears_in_the_table(toy, capsys):
    argv = ["--algorithms", "zf,half_mrt", "--size", "12"]
    assert main(["evaluate", str(MODEL), *argv]) == 0
    table = capsys.readouterr().out
    rows = [line.split()[0] for line in table.splitlines()]
    assert "half_mrt" in rows and "ZF" in rows and "stcib_joint" in rows
    report = _json(capsys, str(MODEL), *argv)
    assert report["precoders"]["half_mrt"] == {"name": "half_mrt", "scenario": "cellfree",
                                               "params": {"share": 0.5}}  # fmt: skip
    # half the power: every row is scored, and its power ratio says so
    assert report["baselines"]["half_mrt"]["max_power_ratio"] == pytest.approx(0.5)
    assert report["baselines"]["half_mrt"]["realizations"] == 12


def test_algorithms_are_checked_against_the_registry(capsys):
    assert main(["evaluate", str(MODEL), "--algorithms", "zf,magic", "--size", "4"]) == 2
    err = capsys.readouterr().err
    assert "unknown precoder 'magic'; registered families:" in err and "wmmse" in err
    assert main(["evaluate", "--algorithms", "zf,,wmmse", "--size", "4"]) == 2
    assert "without empty ones" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"\['zf'\] given twice"):
        parse_names("zf,wmmse,zf")


def test_without_a_model_the_registry_families_compare_on_the_recipe_defaults(capsys):
    report = _json(capsys, "--algorithms", "zf,wmmse,optimize,models/stcib_joint.onnx",
                   "--size", "6", "--optimizer-size", "2")  # fmt: skip
    assert report["model"] == str(MODEL) or report["model"].endswith("stcib_joint.onnx")
    assert set(report["baselines"]) == {"ZF", "WMMSE", "optimizer"}
    assert report["baselines"]["optimizer"]["realizations"] == 2
    report = _json(capsys, "--algorithms", "zf,mrt", "--size", "6")
    assert report["model"] is None and set(report["baselines"]) == {"ZF", "MRT"}
    assert report["regime"] == "joint" and report["scenario"] == "cellfree"


def test_a_model_of_another_scenario_is_refused(tmp_path, capsys):
    shutil.copy(MODEL, tmp_path / MODEL.name)
    card = json.loads(MODEL.with_suffix(".json").read_text())
    (tmp_path / "stcib_joint.json").write_text(json.dumps({**card, "scenario": "mu_miso"}))
    assert main(["evaluate", str(tmp_path / MODEL.name), "--size", "4"]) == 2
    assert "trained for scenario 'mu_miso' (card field `scenario`)" in capsys.readouterr().err


def test_the_line_up_rows_are_the_core_precoders():
    """What evaluate compares under ZF / WMMSE is the core zf / wmmse (no sensing beam): the
    numbers of the hard-coded comparison it replaces."""
    cfg = SystemConfig()
    real = draw_realizations(cfg, 5, 3)
    ctx = {"sensing_beam": "none", "regime": "joint", "eta": 0.4}
    for name, fn in (("zf", zf), ("wmmse", wmmse)):
        W = designer(entry(name, "cellfree", ctx).spec, cfg)(real)
        assert np.all(W[..., 0] == 0)
        np.testing.assert_allclose(W[..., 1:], fn(real.F_hat, cfg.power_budget), rtol=1e-12,
                                   atol=1e-12 * np.sqrt(cfg.power_budget))  # fmt: skip
    spec = entry("optimize", "cellfree", {**ctx, "comm_threshold": 3.0}).spec
    assert spec.params == {"regime": "joint", "eta": 0.4, "threshold": None}
    spec = entry("optimize", "cellfree", {**ctx, "regime": "sc", "comm_threshold": 3.0}).spec
    assert spec.params["threshold"] == 3.0


def test_the_benchmarks_line_ups_come_from_the_registry(toy):
    """A family registered at run time joins both precoder benchmarks with its defaults; the
    built-in rows keep their labels (user beams only for the MU-MISO families)."""
    from gr_cfisac.bench import core, precoders

    for line_up in (core.line_up(), precoders.line_up()):
        assert line_up["half_mrt"] == registry.PrecoderSpec("half_mrt")
        assert line_up["ZF"].params == {"sensing_beam": "none"}
        assert {"MRT", "ZF", "RZF", "WMMSE", "half_mrt"} <= set(line_up)
        assert "remote" not in line_up and "onnx" not in line_up
    assert precoders.line_up()["optimizer (best)"].params["quality"] == "best"
    assert precoders.line_up()["STCIB (ONNX)"].name == "onnx"


def test_the_core_benchmark_runs_a_registered_family(toy, tmp_path):
    from gr_cfisac.bench import core

    real = draw_realizations(SystemConfig(), 4, 5)
    table = core.precoders(real, tmp_path, quick=True)
    assert table["half_mrt"]["max_power_ratio"] == pytest.approx(0.5)
    assert (
        table["MRT"]["objective"] < table["ZF + null-space target beam (best split)"]["objective"]
    )
