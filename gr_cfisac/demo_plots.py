"""The demo's figures, each built by a function that returns the matplotlib Figure (tests look
at its artists) and written by :func:`write_all`:

- ``rates.png``: per user the measured rate next to eq 19, per RAP the measured sensing rate
  next to eq 21 (means over the blocks, bars side by side, one colour per method, numbers on
  the bars);
- ``map.png``: top view (metres) of the TAPs, RAPs, users, target and clutter, the fused target
  estimates and the position-error bound's 1-sigma ellipse around the target (inset zoom);
- ``music_spectrum.png``: eq 42 at RAP 1 for the last block, azimuth padded past +-180 deg
  (the spectrum is 360-deg periodic in psi) so no marker sits on the edge.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .demo import Run

#: one colour per method, the same in every figure
COLOURS = {"measured": "tab:blue", "formula": "tab:orange"}
#: azimuth axis of the spectrum plot, degrees: past +-180 so markers at psi = 180 stay inside
AZ_PAD_DEG = 10.0


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _bars(ax, labels: list[str], measured: np.ndarray, formula: np.ndarray, eq: str, fmt: str):
    """Measured and formula bars side by side per label, values written on the bars."""
    x = np.arange(len(labels))
    w = 0.38
    for dx, values, name, label in (
        (-w / 2, measured, "measured", "measured (samples)"),
        (w / 2, formula, "formula", f"{eq} (same realizations)"),
    ):
        bars = ax.bar(x + dx, values, w, color=COLOURS[name], label=label)
        ax.bar_label(bars, fmt=fmt, padding=2, fontsize=8)
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1.3 * max(np.max(measured), np.max(formula)))
    ax.legend(loc="upper center", ncol=2, fontsize=8)
    ax.grid(axis="y", alpha=0.3)


def rates_figure(results: dict[str, np.ndarray], title: str = "") -> Figure:
    """Per-user rate vs eq 19 and per-RAP sensing rate vs eq 21 (metrics_sink.results())."""
    plt = _pyplot()
    K, NR = results["rate"].shape[1], results["sensing_rate"].shape[1]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2), width_ratios=[K, NR])
    _bars(
        a1,
        [f"user {k + 1}" for k in range(K)],
        results["rate"].mean(0),
        results["rate_formula"].mean(0),
        "eq 19",
        "%.2f",
    )
    a1.set(ylabel="rate (bps/Hz)", title="(a) communication rate per user")
    _bars(
        a2,
        [f"RAP {j + 1}" for j in range(NR)],
        results["sensing_rate"].mean(0),
        results["sensing_rate_formula"].mean(0),
        "eq 21",
        "%.3f",
    )
    a2.set(ylabel="sensing rate (bps/Hz)", title="(b) sensing rate per RAP")
    n = len(results["cb"])
    fig.suptitle(f"{title}mean over {n} coherence blocks".strip(), fontsize=10)
    fig.tight_layout()
    return fig


def _ellipse(cov: np.ndarray, center: np.ndarray, **kw):
    """The 1-sigma ellipse of a 2x2 covariance (m^2) around ``center`` (x, y)."""
    from matplotlib.patches import Ellipse

    lam, vec = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(vec[1, 1], vec[0, 1]))
    w, h = 2 * np.sqrt(np.maximum(lam[::-1], 0))
    return Ellipse(tuple(center), w, h, angle=angle, **kw)


def map_figure(
    tap_pos: np.ndarray,
    rap_pos: np.ndarray,
    user_pos: np.ndarray,
    target_pos: np.ndarray,
    clutter_pos: np.ndarray,
    estimates: np.ndarray,
    peb_cov: np.ndarray,
    title: str = "",
) -> Figure:
    """Top view (x, y metres) of the network; ``estimates`` (B, 3) fused target positions (NaN:
    no fix), ``peb_cov`` (2, 2) m^2 the position bound's covariance (NaN: not identifiable).
    An inset zooms on the target with the estimates and the bound's 1-sigma ellipse."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 7))
    est = estimates[np.all(np.isfinite(estimates), axis=1)]
    t = np.asarray(target_pos)[:2]

    def scene(a, with_labels: bool) -> None:
        def lab(text: str) -> str:
            return text if with_labels else "_nolegend_"

        a.scatter(*tap_pos[:, :2].T, marker="^", s=70, c="tab:green", label=lab("TAP"))
        a.scatter(*rap_pos[:, :2].T, marker="s", s=60, c="tab:purple", label=lab("RAP"))
        a.scatter(*user_pos[:, :2].T, marker="o", s=45, c="tab:gray", label=lab("user"))
        a.scatter(*clutter_pos[:, :2].T, marker="x", s=80, c="black", label=lab("clutter"))
        if len(est):
            a.scatter(
                *est[:, :2].T,
                marker=".",
                s=12,
                c="tab:blue",
                alpha=0.6,
                label=lab(f"fused estimate ({len(est)} blocks)"),
            )
        a.scatter(
            *t,
            marker="*",
            s=220 if with_labels else 90,
            c="tab:red",
            edgecolors="k",
            linewidths=0.5,
            zorder=5,
            label=lab("target (true)"),
        )
        if np.all(np.isfinite(peb_cov)):
            a.add_patch(
                _ellipse(
                    peb_cov,
                    t,
                    fill=False,
                    ec="tab:red",
                    lw=2,
                    zorder=6,
                    label=lab(f"PEB ellipse (1 sigma, PEB {np.sqrt(np.trace(peb_cov)):.2f} m)"),
                )
            )

    scene(ax, True)
    for i, p in enumerate(tap_pos):
        ax.annotate(f"T{i + 1}", p[:2], xytext=(5, 5), textcoords="offset points", fontsize=8)
    for j, p in enumerate(rap_pos):
        ax.annotate(f"R{j + 1}", p[:2], xytext=(5, -11), textcoords="offset points", fontsize=8)
    for k, p in enumerate(user_pos):
        ax.annotate(f"U{k + 1}", p[:2], xytext=(5, 5), textcoords="offset points", fontsize=8)
    ax.set(xlabel="x (m)", ylabel="y (m)", aspect="equal", title=title or "network, top view")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    # the bound and the estimates are far below the map's scale: zoom on the target
    spread = np.abs(est[:, :2] - t).max() if len(est) else 0.0
    sigma = np.sqrt(np.max(np.linalg.eigvalsh(peb_cov))) if np.all(np.isfinite(peb_cov)) else 0
    half = float(np.clip(max(1.2 * spread, 3 * sigma, 0.5), 0.5, 5.0))
    inset = ax.inset_axes([1.04, 0.02, 0.45, 0.45])
    scene(inset, False)
    inset.set(xlim=(t[0] - half, t[0] + half), ylim=(t[1] - half, t[1] + half), aspect="equal")
    inset.set_title(f"around the target (+-{half:.1f} m)", fontsize=8)
    inset.tick_params(labelsize=7)
    inset.grid(alpha=0.3)
    ax.indicate_inset_zoom(inset, edgecolor="0.4")
    fig.tight_layout()
    return fig


def spectrum_figure(
    Y: np.ndarray,
    shape: tuple[int, int],
    n_sources: int,
    target: tuple[float, float],
    clutter: tuple[np.ndarray, np.ndarray],
    title: str = "",
) -> Figure:
    """Eq 42 of snapshots Y (MR, tau) on a rows x cols URPA over azimuth -190..190 deg and
    elevation 0..90 deg, with the true target and clutter directions (canonical, radians)."""
    from .music import sample_covariance, spectrum

    plt = _pyplot()
    az = np.radians(np.arange(-180 - AZ_PAD_DEG, 180 + AZ_PAD_DEG + 0.5, 1.0))
    el = np.radians(np.arange(0, 90.5, 0.5))
    S = spectrum(sample_covariance(Y.astype(complex)), *shape, n_sources, az, el)
    fig, ax = plt.subplots(figsize=(8.5, 4.5))
    im = ax.pcolormesh(
        np.degrees(az),
        np.degrees(el),
        10 * np.log10(S / S.max()).T,
        shading="auto",
        vmin=-30,
        vmax=0,
        cmap="viridis",
    )
    fig.colorbar(im, ax=ax, label="MUSIC spectrum (dB below peak)")
    for x in (-180, 180):
        ax.axvline(x, color="w", lw=0.6, ls=":")
    lo, hi = np.degrees(az[0]), np.degrees(az[-1])
    for (psi, theta), style, label in (
        (target, dict(marker="+", color="r", ms=14), "target (true)"),
        (clutter, dict(marker="x", color="w", ms=10), "clutter (true)"),
    ):
        psi = np.degrees(np.atleast_1d(psi))
        theta = np.degrees(np.atleast_1d(theta))
        # each direction wherever it shows on the padded axis (psi and psi -+ 360)
        x = np.concatenate([psi, psi - 360, psi + 360])
        y = np.tile(theta, 3)
        shown = (x >= lo) & (x <= hi)
        ax.plot(x[shown], y[shown], ls="none", mew=2, label=label, **style)
    ax.set(
        xlabel="azimuth psi (deg; +-180 is one direction, dotted)",
        ylabel="elevation theta (deg)",
        xlim=(lo, hi),
        title=title,
    )
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def write_all(small: Run, big: Run, out: Path) -> list[Path]:
    """rates.png (the Table-I run), map.png and music_spectrum.png (the 4x4-RAP run) in ``out``."""
    from .arrays import canonical_angles
    from .geometry import ap_positions

    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, name: str) -> None:
        fig.savefig(out / name, dpi=120, bbox_inches="tight")
        plt.close(fig)
        written.append(out / name)

    save(rates_figure(small.tb.metrics.results(), "Table-I network, "), "rates.png")
    cfg, t = big.cfg, big.truth
    taps, raps = ap_positions(cfg)
    rows, cols = cfg.MR_shape
    save(
        map_figure(
            taps,
            raps,
            t["user_pos"][-1],
            t["target_pos"][-1],
            t["clutter_pos"][-1],
            big.fix["pos"],
            big.position_bound(),
            f"fused target estimates with {rows}x{cols} RAPs, top view",
        ),
        "map.png",
    )
    sg = big.sg
    target = canonical_angles(sg.psi_t[-1, 0], sg.theta_t[-1, 0])
    clutter = canonical_angles(sg.psi_c[-1, 0], sg.theta_c[-1, 0])
    save(
        spectrum_figure(
            big.Y,
            cfg.MR_shape,
            cfg.NC + 1,
            target,
            clutter,
            f"2D MUSIC spectrum (eq 42), RAP 1 ({rows}x{cols}), last block",
        ),
        "music_spectrum.png",
    )
    return written
