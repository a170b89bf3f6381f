"""bench/lhgnn.png: Figs. 7-10 analogues of paper 003 from the lhgnn bench's report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .lhgnn_models import RESCALED

COLOURS = {
    "LHGNN, paper": "tab:orange",
    "LHGNN": "tab:red",
    "Homo GNN": "tab:blue",
    "naive CNN": "tab:green",
    "SCA": "k",
}


def colour(method: str) -> str:
    return next((c for k, c in COLOURS.items() if method.startswith(k)), "tab:gray")


def curves(ax: Any, rows: list[dict[str, Any]], x: str, y: str) -> None:
    """One line per method of rows (x, y); a learned model's native point and its rescaled
    points (other powers) form one dashed line with the native point starred."""
    lines: dict[str, list[tuple[float, float, bool]]] = {}
    for r in rows:
        base = r["method"].replace(RESCALED, "")
        lines.setdefault(base, []).append((r[x], r[y], r.get("native", True)))
    for method, pts in lines.items():
        pts.sort()
        if pts and pts[-1][0] == float("inf"):  # clean CSI (SNR = inf) drawn as a level
            ax.axhline(pts[-1][1], color=colour(method), lw=0.8, ls=":")
            pts = pts[:-1]
        rescaled = not all(p[2] for p in pts)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "--" if rescaled else "-",
                marker="s" if method == "SCA" else "o", ms=4, color=colour(method),
                label=method + (" (rescaled off P0)" if rescaled else ""))  # fmt: skip
        if rescaled:
            native = [p for p in pts if p[2]]
            ax.plot([p[0] for p in native], [p[1] for p in native], "*", ms=11,
                    color=colour(method))  # fmt: skip


def plot(report: dict[str, Any], path: Path) -> None:
    """2 x 2 panels: rate vs power, SPEB vs power, rate vs CSI SNR, rate vs position error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = report["power_sweep"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    curves(axes[0, 0], sweep["rows"], "power_dbm", "sum_rate")
    axes[0, 0].set(xlabel="per-BS power (dBm); star: the model at its trained power", ylabel="sum rate (bps/Hz)",
                   title=f"Fig. 7: rate vs power (SCA: {sweep['n_sca']} real./power)")  # fmt: skip
    curves(axes[0, 1], sweep["rows"], "power_dbm", "speb_m2")
    gam = sorted((p["power_dbm"], p["gamma_m2"]) for p in sweep["points"])
    axes[0, 1].plot([g[0] for g in gam], [g[1] for g in gam], "k:", label="gamma (SCA mean)")
    axes[0, 1].set(xlabel="per-BS power (dBm)", ylabel="mean SPEB (m^2)", yscale="log",
                   title="Fig. 8: SPEB vs power")  # fmt: skip
    csi, pos = report["csi"], report["position"]
    curves(axes[1, 0], csi["rows"], "snr_db", "sum_rate")
    axes[1, 0].set(xlabel="CSI SNR (dB); dotted: perfect CSI", ylabel="sum rate (bps/Hz)",
                   title="Fig. 9: rate vs CSI SNR (20 dBm)")  # fmt: skip
    curves(axes[1, 1], pos["rows"], "dt_m", "sum_rate")
    axes[1, 1].set(xlabel="target position error dt (m)", ylabel="sum rate (bps/Hz)",
                   title="Fig. 10: rate vs position error (20 dBm)")  # fmt: skip
    for ax in axes.flat:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
