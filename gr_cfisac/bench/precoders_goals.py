"""Goals of the precoder benchmark (issue 5) as ratios measured in one run: which optimizer
setting the learned models' speed-ups are against (issue 16), each STCIB model's quality and
speed against it, and the report's summary of every goal."""

from __future__ import annotations

from typing import Any

from .precoders_settings import BASELINE_TOLERANCE, OPTIMIZER_SETTINGS


def optimizer_baseline(
    joint: dict[str, Any], own_objective: dict[str, float], reference: str = "optimizer (best)"
) -> dict[str, Any]:
    """The optimizer setting learned models' speed-ups are measured against: the fastest
    (batched time per realization) whose mean objective as the optimizer sees it
    (``own_objective``: estimates, varpi-averaged SCNR) is within BASELINE_TOLERANCE of the
    reference setting's on the same realizations; every setting's numbers beside it."""
    best = own_objective[reference]
    settings = {}
    for label, objective in own_objective.items():
        row = joint[label]
        settings[label] = {
            "quality": OPTIMIZER_SETTINGS.get(label),
            "objective_as_optimized": objective,
            "objective_as_optimized_over_reference": objective / best,
            "objective_realized_over_reference": row["objective"] / joint[reference]["objective"],
            "within_tolerance": bool(objective >= (1.0 - BASELINE_TOLERANCE) * best),
            "seconds_per_realization_batched": row["seconds_per_realization_batched"],
            "seconds_per_realization_batch1": row["seconds_per_realization_batch1"],
        }
    good = [label for label, s in settings.items() if s["within_tolerance"]]
    label = min(good, key=lambda lbl: settings[lbl]["seconds_per_realization_batched"])
    return {
        "label": label,
        "reference": reference,
        "tolerance": BASELINE_TOLERANCE,
        "criterion": "the fastest setting (batched) whose mean objective as the optimizer sees "
        f"it is within {100 * BASELINE_TOLERANCE:g} % of {reference}'s on the same "
        "realizations",
        "settings": settings,
    }


def speed_goals(
    st: dict[str, Any],
    opt: dict[str, Any],
    raw_us: float | None,
    prefix: str,
    reference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Quality goals of one STCIB model against the optimizer's ``reference`` setting (default
    ``opt``), speed-ups against ``opt`` (the baseline) and against the reference (keys
    prefixed)."""
    reference = opt if reference is None else reference
    st_sub = st["on_optimizer_subset"]["objective"]
    g: dict[str, Any] = {
        "stcib_over_optimizer_objective": st_sub / reference["objective"],
        "goal_97pct_of_optimizer_met": st_sub / reference["objective"] >= 0.97,
        "speedup_batch1": opt["seconds_per_realization_batch1"]
        / st["seconds_per_realization_batch1"],
        "speedup_batched": opt["seconds_per_realization_batched"]
        / st["seconds_per_realization_batched"],
        "speedup_batch1_vs_reference": reference["seconds_per_realization_batch1"]
        / st["seconds_per_realization_batch1"],
        "speedup_batched_vs_reference": reference["seconds_per_realization_batched"]
        / st["seconds_per_realization_batched"],
        "stcib_batch1_latency_us": 1e6 * st["seconds_per_realization_batch1"],
        "stcib_raw_session_latency_us": raw_us,
        "goal_latency_100us_met": raw_us is not None and raw_us <= 100.0,
    }
    g["goal_1000x_batch1_met"] = g["speedup_batch1"] >= 1000
    g["goal_500x_batched_met"] = g["speedup_batched"] >= 500
    return {prefix + k: v for k, v in g.items()}


def goals(report: dict[str, Any]) -> dict[str, Any]:
    """The issue's goals as measured ratios (None where a model is missing)."""
    j = report["joint"]
    base = report["optimizer_baseline"]
    st, cnn = j.get("STCIB (ONNX)"), j.get("CNN (ONNX)")
    opt, ref = j[base["label"]], j[base["reference"]]
    goals: dict[str, Any] = {"realizations": report["realizations"],
                             "optimizer_realizations": report["optimizer_realizations"],
                             "speedup_baseline": base["label"],
                             "speedup_baseline_criterion": base["criterion"]}  # fmt: skip
    for label, s in base["settings"].items():
        goals[f"objective_as_optimized_over_reference[{label}]"] = s[
            "objective_as_optimized_over_reference"
        ]
    for label, row in j.items():
        goals[f"objective[{label}]"] = round(row["objective"], 4)
    for prefix, label, name in (("", "STCIB (ONNX)", "stcib_joint"),
                                ("fast_", "STCIB fast (ONNX)", "stcib_joint_fast")):  # fmt: skip
        if j.get(label) is not None:
            raw = report["onnx_raw_latency_us"].get(name)
            goals.update(speed_goals(j[label], opt, raw, prefix, reference=ref))
    if st is not None:
        forms = report.get("export_forms", {}).get("stcib_joint", {})
        if "lean_speedup" in forms:
            goals["stcib_lean_over_traced_batch1_speedup"] = forms["lean_speedup"]
    if st is not None and cnn is not None:
        goals["stcib_over_cnn_objective"] = st["objective"] / cnn["objective"]
        goals["goal_10pct_above_cnn_met"] = st["objective"] / cnn["objective"] >= 1.10
    fast = j.get("STCIB fast (ONNX)")
    if fast is not None and cnn is not None:
        goals["fast_stcib_over_cnn_objective"] = fast["objective"] / cnn["objective"]
    cnn_zf = j.get("CNN, ZF head (ONNX)")
    if st is not None and cnn_zf is not None:
        goals["stcib_over_cnn_same_head_objective"] = st["objective"] / cnn_zf["objective"]
    for regime, key in (("sc", "feasibility_sc"), ("cc", "feasibility_cc_averaged")):
        row = report[regime].get("STCIB (ONNX)")
        if row is not None:
            goals[f"{regime}_feasibility"] = row[key]["rate"]
            goals[f"goal_{regime}_feasibility_985_met"] = row[key]["rate"] >= 0.985
    if report["cc"].get("STCIB (ONNX)") is not None:
        goals["cc_feasibility_realized_scnr"] = report["cc"]["STCIB (ONNX)"][
            "feasibility_cc_realized"
        ]["rate"]
    return goals
