"""The replay report as text for the terminal and as JSON."""

from __future__ import annotations

import json
import math
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


def finite_only(x: Any) -> Any:
    """The report with every non-finite number replaced by None (JSON null): a report never
    states NaN or infinity as a result."""
    if isinstance(x, dict):
        return {k: finite_only(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [finite_only(v) for v in x]
    if isinstance(x, np.ndarray | np.generic):
        return finite_only(_json_default(x))
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def to_json(report: dict[str, Any]) -> str:
    """The report as strict JSON (no NaN/Infinity tokens)."""
    return json.dumps(finite_only(report), indent=2, allow_nan=False) + "\n"


def num(x: Any, spec: str = ".2f", unit: str = "") -> str:
    """A number for the terminal, "n/a" where there is none (None or not finite)."""
    if x is None or not isinstance(x, int | float) or not math.isfinite(x):
        return "n/a"
    return f"{x:{spec}}{unit}"


def pct(x: Any) -> str:
    return "n/a" if x is None else num(100 * x, ".0f", "%")


def _blocks_line(blocks: dict[str, Any]) -> str | None:
    """'skipped 3 blocks (non finite 2, silent 1): cb 4, 9, 17' or None when none was."""
    bad = {k: v for k, v in blocks["counts"].items() if k != "ok" and v}
    if not bad:
        return None
    listed = ", ".join(str(c) for c in blocks["skipped_cbs"])
    more = " ..." if blocks["skipped_cbs_truncated"] else ""
    kinds = ", ".join(f"{k} {v}" for k, v in bad.items())
    return f"skipped {sum(bad.values())} blocks ({kinds}): cb {listed}{more}"


def format_report(report: dict[str, Any]) -> str:
    """The report as text for the terminal."""
    report = finite_only(report)
    lines = [
        f"capture   {report['capture']}",
        f"scenario  {report.get('scenario', 'cellfree')}",
        f"network   {report['config']}  (config from the {report['config_source']})",
        f"blocks    {report['blocks']} scored; streams "
        + ", ".join(f"{n} {k}" for k, n in report["streams"].items()),
    ]
    lines += ["", "channel estimation"]
    lines += _estimation_lines(report["estimation"])
    lines += ["", "sensing"]
    lines += _sensing_lines(report["sensing"])
    return "\n".join(lines)


def _estimation_lines(est: dict[str, Any]) -> list[str]:
    if "skipped" in est:
        return [f"  skipped: {est['skipped']}"]
    lines = [f"  estimator                {est['estimator']}"]
    skipped = _blocks_line(est["blocks"]) if "blocks" in est else None
    if skipped:
        lines.append(f"  {skipped}")
    if "scored" in est:
        lines.append(f"  {est['scored']}")
    if "nmse_mmse_db" in est:
        lines.append(
            f"  NMSE MMSE (eq 8)         {num(est['nmse_mmse_db'], '7.2f')} dB "
            f"(predicted by eqs 10-11: {num(est['nmse_mmse_predicted_db'])} dB)"
        )
    if "nmse_ls_db" in est:
        lines.append(f"  NMSE LS                  {num(est['nmse_ls_db'], '7.2f')} dB")
    if "live_estimates_max_rel_diff" in est:
        lines.append(
            f"  vs the live estimates    max rel. diff {num(est['live_estimates_max_rel_diff'], '.2e')}"
        )
    return lines


def _sensing_lines(sen: dict[str, Any]) -> list[str]:
    if "skipped" in sen:
        return [f"  skipped: {sen['skipped']}"]
    lines = [
        f"  MUSIC {sen['music']['method']}, sources {sen['music']['sources']}; target "
        f"picked by {sen['association']}; RAP positions from the {sen['rap_geometry']}"
    ]
    lines += [f"  warning: {w}" for w in sen.get("warnings", [])]
    for j, rap in enumerate(sen["per_rap"]):
        lines.append(
            f"  RAP{j + 1}: noise {num(rap['noise_power_db'], '6.1f')} dB (noise-subspace "
            f"eigenvalues), echo {num(rap['echo_to_noise_db'], '6.1f')} dB above it"
        )
        blocks = rap.get("blocks")
        if blocks:
            ok, total = blocks["counts"].get("ok", 0), sum(blocks["counts"].values())
            lines.append(f"    valid MUSIC blocks {ok} of {total}")
            skipped = _blocks_line(blocks)
            if skipped:
                lines.append(f"    {skipped}")
        if "miss_rate" in rap:
            lines.append(
                f"    target (eq 43): miss rate {pct(rap['miss_rate'])} of valid blocks; over the "
                f"blocks where it was found (gated): RMSE {num(rap['rmse_deg'], '.2f', ' deg')}, "
                f"median {num(rap['median_error_deg'], '.2f', ' deg')}, "
                f"within 2 deg {pct(rap['within_2deg'])}"
            )
        if "target" in rap:
            t = rap["target"]
            where = (
                f"median psi {num(t['median_psi_deg'], '.1f')}, theta "
                f"{num(t['median_theta_deg'], '.1f')} deg"
                if "median_psi_deg" in t
                else "never found"
            )
            lines.append(f"    target picked in {pct(t['picked'])} of valid blocks: {where}")
        sources = rap.get("sources") or []
        if sources:
            lines.append("    sources seen (psi, theta deg; share of valid blocks; spread):")
            for s in sources:
                lines.append(
                    f"      {s['psi_deg']:7.1f} {s['theta_deg']:6.1f}   "
                    f"{pct(s['share']):>4}   {num(s['spread_deg'], '.2f', ' deg')}"
                )
        if rap.get("sporadic_peaks"):
            lines.append(f"    {rap['sporadic_peaks']} sporadic peaks (no steady source)")
    f = sen.get("fused", {})
    if "skipped" in f:
        lines.append(f"  fused position: none ({f['skipped']})")
    elif f:
        text = f"  fused position: fix in {pct(f['blocks_with_fix'])} of blocks"
        if f.get("rmse_m") is not None:
            text += f", RMSE {num(f['rmse_m'])} m, median error {num(f['median_error_m'])} m"
        elif f.get("median_position_m") is not None:
            text += ", median position " + ", ".join(num(v, ".1f") for v in f["median_position_m"])
            text += " m"
        lines.append(text)
    if "scored" in sen:
        lines.append(f"  {sen['scored']}")
    return lines
