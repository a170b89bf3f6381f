"""The replay report as text for the terminal and as JSON."""

from __future__ import annotations

from typing import Any

import numpy as np


def jsonable_vector(x: np.ndarray) -> list[float]:
    return [float(v) for v in np.ravel(x)]


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


def format_report(report: dict[str, Any]) -> str:
    """The report as text for the terminal."""
    lines = [
        f"capture   {report['capture']}",
        f"network   {report['config']}  (config from the {report['config_source']})",
        f"blocks    {report['blocks']} scored; streams "
        + ", ".join(f"{n} {k}" for k, n in report["streams"].items()),
    ]
    est = report["estimation"]
    lines.append("")
    lines.append("channel estimation")
    if "skipped" in est:
        lines.append(f"  skipped: {est['skipped']}")
    else:
        lines.append(f"  estimator                {est['estimator']}")
        if "scored" in est:
            lines.append(f"  {est['scored']}")
        if "nmse_mmse_db" in est:
            lines.append(
                f"  NMSE MMSE (eq 8)         {est['nmse_mmse_db']:7.2f} dB "
                f"(predicted by eqs 10-11: {est['nmse_mmse_predicted_db']:.2f} dB)"
            )
        if "nmse_ls_db" in est:
            lines.append(f"  NMSE LS                  {est['nmse_ls_db']:7.2f} dB")
        if "live_estimates_max_rel_diff" in est:
            lines.append(
                f"  vs the live estimates    max rel. diff {est['live_estimates_max_rel_diff']:.2e}"
            )
    sen = report["sensing"]
    lines.append("")
    lines.append("sensing")
    if "skipped" in sen:
        lines.append(f"  skipped: {sen['skipped']}")
        return "\n".join(lines)
    lines.append(
        f"  MUSIC {sen['music']['method']}, sources {sen['music']['sources']}; target "
        f"picked by {sen['association']}; RAP positions from the {sen['rap_geometry']}"
    )
    for j, rap in enumerate(sen["per_rap"]):
        text = (
            f"  RAP{j + 1}: noise {rap['noise_power_db']:6.1f} dB (noise-subspace "
            f"eigenvalues), echo {rap['echo_to_noise_db']:6.1f} dB above it"
        )
        if "rmse_deg" in rap:
            rmse = "n/a" if rap["rmse_deg"] is None else f"{rap['rmse_deg']:.2f} deg"
            text += (
                f"; eq-43 RMSE {rmse}, found {100 * rap['target_found']:.0f}%, "
                f"within 2 deg {100 * rap['within_2deg']:.0f}%"
            )
        elif "strongest_peak_median_deg" in rap:
            pk = rap["strongest_peak_median_deg"]
            text += f"; strongest peak (median) psi {pk['psi']:.1f}, theta {pk['theta']:.1f} deg"
        lines.append(text)
    if "fused" in sen:
        f = sen["fused"]
        text = f"  fused position: fix in {100 * f['blocks_with_fix']:.0f}% of blocks"
        if f.get("rmse_m") is not None:
            text += f", RMSE {f['rmse_m']:.2f} m, median error {f['median_error_m']:.2f} m"
        elif f.get("median_position_m") is not None:
            text += (
                ", median position " + ", ".join(f"{v:.1f}" for v in f["median_position_m"]) + " m"
            )
        lines.append(text)
    if "scored" in sen:
        lines.append(f"  {sen['scored']}")
    return "\n".join(lines)
