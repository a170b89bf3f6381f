"""bench/lhgnn.png: Figs. 7-10 analogues of paper 003 from the lhgnn bench's report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLOURS = {"LHGNN": "tab:red", "Homo GNN": "tab:blue", "naive CNN": "tab:green", "SCA": "k"}


def colour(method: str) -> str:
    return next((c for k, c in COLOURS.items() if method.startswith(k)), "tab:gray")


def curves(ax: Any, rows: list[dict[str, Any]], x: str, y: str) -> None:
    """One line per method of rows (x, y)."""
    for method in dict.fromkeys(r["method"] for r in rows):
        pts = sorted((r[x], r[y]) for r in rows if r["method"] == method)
        xs = [p[0] if p[0] != float("inf") else None for p in pts]
        if None in xs:  # clean CSI (SNR = inf) drawn as a dashed level
            clean = pts[xs.index(None)][1]
            ax.axhline(clean, color=colour(method), lw=0.8, ls=":")
            pts = [p for p in pts if p[0] != float("inf")]
        style = "--" if "rescaled" in method else "-"
        marker = "s" if method == "SCA" else "o"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, marker=marker, ms=4,
                color=colour(method), label=method)  # fmt: skip


def plot(report: dict[str, Any], path: Path) -> None:
    """2 x 2 panels: rate vs power, SPEB vs power, rate vs CSI SNR, rate vs position error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = report["power_sweep"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    curves(axes[0, 0], sweep["rows"], "power_dbm", "sum_rate")
    axes[0, 0].set(xlabel="per-BS power (dBm)", ylabel="sum rate (bps/Hz)",
                   title=f"Fig. 7: rate vs power (SCA: {sweep['n_sca']} real./power)")  # fmt: skip
    curves(axes[0, 1], sweep["rows"], "power_dbm", "speb_m2")
    gam = sorted((p["power_dbm"], p["gamma_m2"]) for p in sweep["points"])
    axes[0, 1].plot([g[0] for g in gam], [g[1] for g in gam], "k:", label="gamma (SCA mean)")
    axes[0, 1].set(xlabel="per-BS power (dBm)", ylabel="mean SPEB (m^2)", yscale="log",
                   title="Fig. 8: SPEB vs power")  # fmt: skip
    csi, pos = report["csi"], report["position"]
    curves(axes[1, 0], csi["rows"], "snr_db", "sum_rate")
    axes[1, 0].set(xlabel="CSI SNR (dB); dotted: perfect CSI", ylabel="sum rate (bps/Hz)",
                   title="Fig. 9: rate vs CSI SNR (test-only)")  # fmt: skip
    curves(axes[1, 1], pos["rows"], "dt_m", "sum_rate")
    axes[1, 1].set(xlabel="target position error dt (m)", ylabel="sum rate (bps/Hz)",
                   title="Fig. 10: rate vs position error (test-only)")  # fmt: skip
    for ax in axes.flat:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
