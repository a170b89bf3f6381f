"""Every registry family that serves the cell-free scenario in one table (issue 15): eq 23a
objective, sum rates, feasibility and runtime on the same Table-I realizations."""

from __future__ import annotations

from ...config import SystemConfig
from ...precoding.lineup import designer
from ...precoding.registry import PrecoderSpec, families
from ...scenario import draw_realizations
from ..figure import Figure, Trend
from ..run import IN_PROCESS, Run
from .common import MODELS, model_path


def lineup_cellfree(ccpa: bool = True) -> dict[str, PrecoderSpec]:
    """Every registry family that serves the cell-free scenario on its defaults, the shipped
    cell-free models (STCIB joint, CNN, the l2o cell-free model) and, if asked, CCPA."""
    from ...precoding.lineup import every_family

    known = families()
    specs = {n: PrecoderSpec(n, "cellfree", {}) for n in every_family()
             if "cellfree" in known[n].scenarios}  # fmt: skip
    specs["optimize (best)"] = PrecoderSpec("optimize", "cellfree", {"eta": 0.4, "quality": "best"})
    specs["optimize"] = PrecoderSpec("optimize", "cellfree", {"eta": 0.4, "quality": "fast"})
    for name in ("stcib_joint", "cnn_joint"):
        specs[name] = PrecoderSpec("onnx", "cellfree", {"path": model_path(name)})
    l2o = MODELS / "l2o" / "l2o_cellfree.onnx"
    if "l2o" in known and l2o.is_file():
        specs["l2o_cellfree"] = PrecoderSpec("l2o", "cellfree", {"path": str(l2o)})
    if ccpa and "ccpa" in known:
        specs["ccpa"] = PrecoderSpec("ccpa", "cellfree", {"eta": 0.4})
    return specs


def families_table(
    draws: int = 100, ccpa_draws: int = 2, seed: int = 20, run: Run = IN_PROCESS
) -> Figure:
    """Every registry family that serves the cell-free scenario on the SAME Table-I realizations:
    eq 23a objective (eta = 0.4) on the true channels and realized echoes, sum rates, Table III's
    feasibility (SC at 3 bps/Hz, CC at 0.5) and seconds per realization (batched, this process;
    ``run`` is not used). CCPA runs on the first ``ccpa_draws`` only."""
    from ...evaluation import compare, summarize

    cfg = SystemConfig()
    real = draw_realizations(cfg, draws, seed)
    specs = lineup_cellfree(ccpa_draws > 0)
    designers = {name: designer(spec, cfg) for name, spec in specs.items()}
    found = compare([real], designers, eta=0.4, limits={"ccpa": ccpa_draws})
    rows = []
    for name, (parts, seconds) in found.items():
        s = summarize(parts, 3.0, 0.5)
        rows.append({
            "family": name, "realizations": len(parts["objective"]),
            "objective": s["objective"], "sum_rc": s["sum_rc"], "sum_rs": s["sum_rs"],
            "feasible_sc_3": s["feasibility_sc"]["rate"],
            "feasible_cc_0.5": s["feasibility_cc_realized"]["rate"],
            "max_power_ratio": s["max_power_ratio"], "ms_per_realization": 1e3 * seconds,
            # every family on the realizations CCPA also saw, so its objective compares
            "objective_first_ccpa": float(parts["objective"][: max(ccpa_draws, 1)].mean()),
        })  # fmt: skip
    by = {r["family"]: r for r in rows}
    best = by["optimize (best)"]["objective"]
    trends = [
        Trend(
            "STCIB reaches nearly the iterative optimizers' objective at a tiny fraction of "
            "their time",
            "STCIB slightly outperforms CCPA/ALM-MO at ~1e-3 of their runtime",
            f"stcib_joint {by['stcib_joint']['objective'] / best:.1%} of the optimizer's "
            f"(best) objective at {by['stcib_joint']['ms_per_realization']:.3f} ms vs "
            f"{by['optimize']['ms_per_realization']:.1f} ms (fast)",
            by["stcib_joint"]["objective"] >= 0.95 * best,
            "our optimizer (L-BFGS on the power sphere) is a stronger reference than the "
            "paper's ALM-MO, so STCIB sits just below it rather than above",
        ),
        Trend(
            "STCIB above the CNN",
            "STCIB beats CNN in every design",
            f"{by['stcib_joint']['objective']:.3f} vs {by['cnn_joint']['objective']:.3f}",
            by["stcib_joint"]["objective"] > by["cnn_joint"]["objective"],
        ),
    ]
    return Figure(
        "families", "Every registry family on the cell-free scenario (Table I, eta = 0.4)", rows,
        kind="bar", x="family", y=("objective",), ylabel="eq 23a objective", trends=trends,
        deviations=["not a figure of the paper: the cross-family table of issue 15",
                    f"ccpa on the first {ccpa_draws} realizations (~1 min each here); "
                    "objective_first_ccpa is every family's objective on those same ones"],
        meta={"draws": draws, "ccpa_draws": ccpa_draws, "seed": seed},
    )  # fmt: skip
