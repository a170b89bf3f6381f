"""The tables ``cfisac demo --scenario coisac`` prints from the coisac metrics sink's summary
(gr_cfisac.blocks.coisac_metrics): per user the SINR and eq 4's rate measured from the samples
next to eq 3, per BS the echo's SCNR and the target-angle error, and the localization table:
the fused position's RMSE next to sqrt(mean SPEB) (exact form, and eq 20's receive-angle form)
and their ratio. numpy only."""

from __future__ import annotations

from typing import Any

import numpy as np


def _db(x: float) -> str:
    return f"{10 * np.log10(x):7.1f}" if x > 0 else "   -inf"


def format_report(s: dict[str, Any], tau: int, seconds: float) -> str:
    """The demo's text for a coisac_metrics_sink ``summary()`` ``s`` of a run with ``tau``
    echo samples per block that took ``seconds``."""
    lines = [
        f"per user over {s['blocks']} blocks (eq 4: log2(1 + SINR), unit noise):",
        "  user  SINR dB measured  eq 3   rate measured  eq 4 (bps/Hz)",
    ]
    for k, (a, b, ra, rb) in enumerate(
        zip(s["sinr_db"], s["sinr_formula_db"], s["rate_eq4"], s["rate_eq4_formula"]), 1
    ):
        lines.append(f"  {k:4d}  {a:16.1f}  {b:5.1f}   {ra:13.2f}  {rb:5.2f}")
    lines.append(
        f"  sum rate {s['sum_rate_eq4']:.2f} bps/Hz measured, {s['sum_rate_eq4_formula']:.2f} "
        "by eq 3 on the same blocks"
    )
    lines += ["", "per BS (its own echo; MUSIC with one source on its UPA):"]
    lines.append("  BS  SCNR dB measured  formula   angle RMSE deg")
    for n, (a, b, e) in enumerate(zip(s["scnr_db"], s["scnr_formula_db"], s["angle_rmse"]), 1):
        lines.append(f"  {n:2d}  {a:16.1f}  {b:7.1f}   {np.degrees(e):14.2f}")
    lines += [
        "",
        f"localization of the fused position (3D, {tau} echo samples per block):",
        f"  fused position RMSE           {s['position_rmse_m']:10.3f} m   (misses "
        f"{s['position_miss_rate']:.0%})",
        f"  sqrt(mean SPEB), exact        {s['speb_rms_m']:10.3f} m   (mean SPEB "
        f"{s['speb_mean_m2']:.3g} m^2)",
        f"  sqrt(mean SPEB), eq 20's form {s['speb_eq20_rms_m']:10.3f} m   (receive angles only)",
        f"  RMSE / sqrt(mean SPEB)        {s['rmse_over_speb']:10.2f}",
        f"  ({seconds:.1f} s, {1e3 * seconds / max(s['blocks'], 1):.1f} ms per block)",
    ]
    if s["rmse_over_speb"] > 3:
        lines.append(
            "  a ratio far above 1: the echoes are below MUSIC's threshold SNR (a 4x4 UPA and "
            f"{tau} samples need roughly -23 dB per antenna), where the SPEB, a Cramer-Rao "
            "bound, is not attained; with 10-20 dB more power per BS the median error reaches "
            "it (docs/coisac.md)"
        )
    return "\n".join(lines)
