"""What a RAP side measured, for the terminal and as JSON: read back from its fix file (float32
items of layout.fix_layout) and, when it recorded one, the ground truth of its SigMF capture.

The hardware-in-the-loop RAP flowgraph calls :func:`report_run` after it stops (a GRC snippet),
whether it reached ``num_blocks`` or its head ended it because the TAP side had stopped.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..config import SystemConfig
from ..replay.report import finite_only
from .layout import fix_layout, truth_layout


def summarize_fixes(
    cfg: SystemConfig, fix_path: str | Path, capture: str | Path = ""
) -> dict[str, Any]:
    """Summary of a fix file: blocks, share with a fix, per-RAP share with a target angle, the
    median position and error radius; with a capture's truth, the position error (RMSE over
    blocks with a fix) and the miss rate."""
    layout = fix_layout(cfg)
    raw = np.fromfile(fix_path, dtype=np.float32) if Path(fix_path).exists() else np.zeros(0)
    items = raw[: raw.size - raw.size % layout.size].reshape(-1, layout.size)
    fix = layout.unpack(items)
    n = len(items)
    has_fix = np.all(np.isfinite(fix["pos"]), axis=-1)
    out: dict[str, Any] = {
        "fix_path": str(fix_path),
        "blocks": n,
        "blocks_with_fix": float(has_fix.mean()) if n else None,
        "target_found_per_rap": [float(v) for v in np.isfinite(fix["psi"]).mean(0)] if n else [],
        "median_position_m": [float(v) for v in np.median(fix["pos"][has_fix], 0)]
        if has_fix.any()
        else None,
        "median_error_radius_m": float(np.median(fix["error_radius"][has_fix]))
        if has_fix.any()
        else None,
    }
    target = _truth_positions(cfg, capture, n)
    if target is not None:
        err = np.linalg.norm(fix["pos"] - target, axis=-1)[has_fix]
        out["position_rmse_m"] = float(np.sqrt(np.mean(err**2))) if err.size else None
        out["position_median_error_m"] = float(np.median(err)) if err.size else None
        out["miss_rate"] = float(1 - has_fix.mean()) if n else None
    return out


def _truth_positions(cfg: SystemConfig, capture: str | Path, n: int) -> np.ndarray | None:
    """The true target position (n, 3) of the first n blocks of a capture's truth stream."""
    if not capture:
        return None
    from ..sigmf_io import SigMFError, read_capture

    path = Path(str(capture) + ".sigmf-collection")
    try:
        recs = read_capture(path, verify_checksum=False).by_kind("truth")
    except (SigMFError, OSError):
        return None
    if not recs:
        return None
    items = recs[0].samples().reshape(-1, truth_layout(cfg).size)
    if len(items) < n:
        return None
    return truth_layout(cfg).field(items[:n], "target_pos")


def format_summary(summary: dict[str, Any], ended: str = "") -> str:
    """The summary as a few lines for the terminal."""

    def num(x: Any, spec: str = ".2f") -> str:
        return "n/a" if x is None or not math.isfinite(x) else f"{x:{spec}}"

    lines = [f"RAP side: {summary['blocks']} coherence blocks{' (' + ended + ')' if ended else ''}"]
    if summary["blocks"]:
        lines.append(
            f"  fused fix in {num(100 * summary['blocks_with_fix'], '.0f')}% of blocks; target "
            "found per RAP: "
            + ", ".join(f"{num(100 * v, '.0f')}%" for v in summary["target_found_per_rap"])
        )
        if summary["median_position_m"] is not None:
            pos = ", ".join(num(v, ".1f") for v in summary["median_position_m"])
            lines.append(
                f"  median position ({pos}) m, median error radius "
                f"{num(summary['median_error_radius_m'])} m"
            )
        if "position_rmse_m" in summary:
            lines.append(
                f"  vs truth: position RMSE {num(summary['position_rmse_m'])} m over the blocks "
                f"with a fix, median {num(summary['position_median_error_m'])} m, miss rate "
                f"{num(100 * summary['miss_rate'], '.0f')}%"
            )
    lines.append(f"  fixes: {summary['fix_path']} (float32 fix items)")
    return "\n".join(lines)


def report_run(tb: Any, json_path: str = "") -> dict[str, Any]:
    """Print and write (``json_path``, default the fix path with .json) what a finished RAP
    flowgraph ``tb`` measured (its cfg, fix_path, capture, num_blocks and head)."""
    summary = summarize_fixes(tb.cfg, tb.fix_path, getattr(tb, "capture", ""))
    head = getattr(tb, "head", None)
    timed_out = bool(getattr(head, "timed_out", False))
    summary["asked_blocks"] = int(getattr(tb, "num_blocks", 0))
    summary["ended"] = "peer stopped (idle timeout)" if timed_out else "num_blocks reached"
    print(format_summary(summary, summary["ended"]), flush=True)
    path = Path(json_path or Path(tb.fix_path).with_suffix(".json"))
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(finite_only(summary), indent=2, allow_nan=False) + "\n")
    tmp.replace(path)
    print(f"  summary: {path}", flush=True)
    return summary
