"""The l2o bench's figures (bench/l2o.png, l2o_fig4.png, l2o_fig7.png, l2o_isac.png) from
its report's sections (:mod:`gr_cfisac.bench.l2o`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .l2o import METHODS, SNR_DB

COLOURS = {"model": "tab:red", "WMMSE": "tab:blue", "ascent": "tab:purple", "LMMSE": "tab:green",
           "ZF": "tab:orange", "MRT": "tab:gray"}  # fmt: skip


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f8, t2 = report["fig8"], report["table2"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    K = [r["K"] for r in f8["rows"]]
    for name in METHODS:
        ys = [np.nan if r[name] is None else r[name] for r in f8["rows"]]
        ax.plot(K, ys, "o-", ms=3, color=COLOURS[name], label=name)
    ax.axvline(f8["N"], color="k", lw=0.6, ls=":")
    ax.set(xlabel="users K", ylabel="sum rate (bps/Hz)",
           title=f"Fig. 8 analogue: N = {f8['N']}, {f8['snr_db']:g} dB")  # fmt: skip
    ax.legend(fontsize=8)
    times = t2["time_s"]
    labels = ["model", "WMMSE\n0.01 %", "WMMSE\ndefault"]
    values = [times["model"], times["wmmse_fastest"], times["wmmse_default_tol"]]
    bars = bx.bar(labels, values, color=[COLOURS["model"], COLOURS["WMMSE"], "lightsteelblue"])
    bx.bar_label(bars, labels=[f"{v * 1e3:.1f} ms" for v in values], fontsize=8)
    bx.set(yscale="log", ylabel="s per batch of 100",
           title=f"Table 2 analogue: {t2['K']}x{t2['N']}, x{t2['speedup_vs_wmmse_fastest']:.0f}")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_fig4(f4: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for c in f4["curves"]:
        label = f"Q_t = {c['Q_t']}"
        line = axes[0].plot(c["Q_i"], c["ratio_at_KN"], "o-", label=label)[0]
        axes[1].plot(c["Q_i"], c["mean_ratio"], "o-", color=line.get_color(), label=label)
    first = f4["curves"][0]
    axes[0].set(xlabel="inference ascent steps per layer Q_i", ylabel="sum rate / WMMSE",
                title=f"Fig. 4 analogue: K = {first['K']}, N = {first['N']}, {SNR_DB:g} dB")  # fmt: skip
    axes[1].set(xlabel="inference ascent steps per layer Q_i",
                title="mean over the validation stages")  # fmt: skip
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_fig7(f7: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.2))
    N = [r["N"] for r in f7["rows"]]
    styles = {"MT-SAO-lift": ("tab:red", "o-"), "MT-SAO": ("tab:brown", "s--"),
              "WMMSE": ("tab:blue", "o-"), "LMMSE": ("tab:green", "o-")}  # fmt: skip
    for name in [*f7["models"], "WMMSE", "LMMSE"]:
        colour, style = styles.get(name, ("k", "o-"))
        ax.plot(N, [r[name] for r in f7["rows"]], style, ms=3, color=colour, label=name)
    ax.set(xlabel="active antennas N", ylabel="sum rate (bps/Hz)",
           title=f"Fig. 7 analogue: K = {f7['K']}, {f7['snr_db']:g} dB")  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_isac(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
    g = [r["gamma_s_db"] for r in res["rows"]]
    names = [k for k in res["rows"][0] if k != "gamma_s_db"]
    for name in names:
        ax.plot(g, [r[name]["sum_rate"] for r in res["rows"]], "o-", label=name)
        bx.plot(g, [r[name]["feasible"] for r in res["rows"]], "o-", label=name)
    ax.set(xlabel="sensing SNR floor gamma_s (dB)", ylabel="sum rate (bps/Hz, infeasible = 0)",
           title="Fig. 10 analogue")  # fmt: skip
    bx.set(xlabel="sensing SNR floor gamma_s (dB)", ylabel="feasible fraction",
           title="Fig. 11 analogue", ylim=(0, 1.05))  # fmt: skip
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
