"""`cfisac evaluate`: the model beside ZF, WMMSE and the optimizer on the same held-out
realizations, as a readable table (with a caption saying what the optimizer row covers) or as
JSON for machines."""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from gr_cfisac import evaluation  # noqa: E402
from gr_cfisac.cli import main  # noqa: E402
from gr_cfisac.config import SystemConfig  # noqa: E402
from gr_cfisac.dataset import iter_realizations  # noqa: E402
from gr_cfisac.precoding import zf  # noqa: E402
from gr_cfisac.recipe import TrainConfig  # noqa: E402
from gr_cfisac.scenario import Realizations  # noqa: E402

MODEL = Path(__file__).resolve().parents[1] / "models" / "stcib_joint.onnx"
ARGS = ["evaluate", str(MODEL), "--size", "24", "--optimizer-size", "3"]


@pytest.fixture(scope="module")
def report():
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*ARGS, "--json"]) == 0
    return json.loads(out.getvalue())


def test_json_scores_baselines_on_the_models_realizations(report):
    card = json.loads(MODEL.with_suffix(".json").read_text())
    tcfg = TrainConfig.from_dict(card["training"]["config"])
    cfg = SystemConfig.from_dict(card["system"])
    real = Realizations.concatenate(list(iter_realizations(cfg, tcfg.data, "test", 24)))
    ours = evaluation.score(real, zf(real.F_hat, cfg.power_budget), tcfg.loss.eta)
    assert report["baselines"]["ZF"]["sum_rc"] == pytest.approx(ours["Rc"].sum(-1).mean())
    assert report["baselines"]["ZF"]["realizations"] == report["realizations"] == 24
    assert report["baselines"]["optimizer"]["realizations"] == 3
    assert report["model_on_optimizer_realizations"]["realizations"] == 3
    # the optimizer solves the model's own joint problem: it beats the comm-only baselines there
    assert report["baselines"]["optimizer"]["objective"] > report["baselines"]["WMMSE"]["objective"]
    for row in [report, *report["baselines"].values()]:
        assert row["seconds_per_realization_batched"] > 0
        assert row["max_power_ratio"] <= 1 + 1e-5


def test_table_prints_every_precoder_with_its_numbers(report, capsys):
    assert main(ARGS) == 0
    text = capsys.readouterr().out
    assert "first 3 realizations (--optimizer-size)" in " ".join(text.split())
    rows = {line.split("  ")[0].strip(): line.split() for line in text.splitlines()
            if line.startswith(("stcib_joint", "ZF", "WMMSE", "optimizer"))}  # fmt: skip
    assert set(rows) == {"stcib_joint (ONNX)", "ZF", "WMMSE", "optimizer",
                         "stcib_joint (ONNX), first 3"}  # fmt: skip
    header = next(line for line in text.splitlines() if line.startswith("precoder"))
    for column in ("objective", "sum Rc", "sum Rs", "SC feasible", "CC feasible", "ms/realization"):
        assert column in header
    named = {"stcib_joint (ONNX)": report, **report["baselines"],
             "stcib_joint (ONNX), first 3": report["model_on_optimizer_realizations"]}  # fmt: skip
    for name, row in named.items():
        cells = rows[name][-7:]
        assert cells[0] == str(row["realizations"])
        assert float(cells[1]) == pytest.approx(row["objective"], abs=5e-4)
        assert float(cells[3]) == pytest.approx(row["sum_rs"], abs=5e-4)


def test_optimizer_size_zero_leaves_the_optimizer_out(capsys):
    assert main(["evaluate", str(MODEL), "--size", "8", "--optimizer-size", "0"]) == 0
    text = capsys.readouterr().out
    assert "optimizer" not in text.split("precoder", 1)[1]
    assert main(["evaluate", str(MODEL), "--size", "8", "--optimizer-size", "-1"]) == 2


def test_format_table_aligns_columns():
    row = {"realizations": 5, "objective": 1.0, "sum_rc": 2.0, "sum_rs": 0.5,
           "feasibility_sc": {"rate": 1.0}, "feasibility_cc_realized": {"rate": 0.25},
           "seconds_per_realization_batched": 1e-3}  # fmt: skip
    lines = evaluation.format_table({"a": row, "longer name": row}, "caption").splitlines()
    assert lines[0] == "caption"
    body = [line for line in lines if line[:1] in "al"]
    assert len({len(line) for line in body}) == 1  # one width: columns line up
    assert body[-1].split()[-3:] == ["100.0%", "25.0%", "1.000"]
    assert np.isclose(float(body[-1].split()[-6]), 1.0)
