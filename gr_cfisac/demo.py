"""Run the cfisac_sim flowgraph and report what it measured next to the core's formulas.

Runs the grcc-generated ``flowgraphs/cfisac_sim.py`` (the whole chain of GNU Radio blocks) on
the Table-I network for a few hundred coherence blocks and prints, per user, the SINR and rate
measured from the received samples next to eq 20 on the same realizations, per RAP the SCNR
and sensing rate, and the MUSIC localization error next to its CRB. The Table-I RAPs (2 x 2)
see three sources (target and two clutter points), which the stochastic CRB cannot separate,
so a second run with 4 x 4 RAP arrays shows localization against finite bounds. Writes
``demo/music_spectrum.png`` and ``demo/rates.png``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import numpy as np

HELP = "run the CF-ISAC flowgraph on simulated samples and report what it measured"
DESCRIPTION = """\
Runs the simulation flowgraph (flowgraphs/cfisac_sim.py: scenario, MMSE estimation, precoder,
transmitter, channels, MUSIC, fusion, metrics) on the Table-I network and prints, per user, the
SINR and rate measured from the samples next to eqs 19-20, per RAP the SCNR and sensing rate
next to eqs 21-22, and the localization error next to its bound; then the same scene with 4x4
RAPs (Table I's 2x2 RAPs cannot identify a target and two clutter points). Plots go to --out."""

FLOWGRAPHS = Path(__file__).resolve().parents[1] / "flowgraphs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--blocks", type=int, default=300, help="coherence blocks per run")
    parser.add_argument("--seed", type=int, default=1, help="seed of the scenario")
    parser.add_argument(
        "--algorithm", default="zf", help="precoder: mrt, zf, rzf, wmmse, optimize or a .onnx"
    )
    parser.add_argument(
        "--sensing-fraction", type=float, default=0.3, help="power on the sensing beam"
    )
    parser.add_argument("--out", type=Path, default=Path("demo"), help="folder for the PNGs")


def _flowgraph_class():
    """The grcc-generated top block (flowgraphs/cfisac_sim.py)."""
    if not (FLOWGRAPHS / "cfisac_sim.py").exists():
        raise FileNotFoundError(
            f"{FLOWGRAPHS / 'cfisac_sim.py'} not found: run the demo from a source checkout "
            "(make demo), or regenerate it with grcc -o flowgraphs flowgraphs/cfisac_sim.grc"
        )
    sys.path.insert(0, str(FLOWGRAPHS))
    try:
        return importlib.import_module("cfisac_sim").cfisac_sim
    finally:
        sys.path.pop(0)


def _run(args: argparse.Namespace, rap_shape: tuple[int, int]):
    """One run of cfisac_sim; returns the top block and the RAP 1 samples of the last block."""
    from gnuradio import blocks

    tb = _flowgraph_class()(
        num_blocks=args.blocks,
        seed=args.seed,
        algorithm=args.algorithm,
        sensing_fraction=args.sensing_fraction,
        print_interval=0,
        rap_rows=rap_shape[0],
        rap_cols=rap_shape[1],
    )
    cfg = tb.cfg
    tail = blocks.keep_m_in_n(
        8 * cfg.MR, cfg.tau, cfg.tau * args.blocks, cfg.tau * (args.blocks - 1)
    )
    probe = blocks.vector_sink_c(cfg.MR)
    tb.connect((tb.echo, 0), tail, probe)
    t0 = time.perf_counter()
    tb.run()
    elapsed = time.perf_counter() - t0
    errors = {
        b.name(): b.error for b in (tb.scenario, tb.precoder, tb.music, tb.metrics) if b.error
    }
    if errors:
        raise RuntimeError(f"the flowgraph stopped: {errors}")
    Y = np.asarray(probe.data(), np.complex64).reshape(-1, cfg.tau, cfg.MR)[-1].T
    return tb, Y, elapsed


def _db(x: np.ndarray) -> np.ndarray:
    return 10 * np.log10(x)


def _print_comm_and_sensing(tb, elapsed: float) -> None:
    cfg, r = tb.cfg, tb.metrics.results()
    n = len(r["cb"])
    print(
        f"ran {n} coherence blocks through the GNU Radio chain in {elapsed:.1f} s "
        f"({n / elapsed:.0f} blocks/s)\n"
    )
    print("per user      SINR dB (measured | eq 20)   rate bps/Hz (measured | eq 19)")
    for k in range(cfg.K):
        print(
            f"  user {k + 1}        {_db(r['sinr'][:, k].mean()):6.2f} | {_db(r['sinr_formula'][:, k].mean()):6.2f}"
            f"              {r['rate'][:, k].mean():5.2f} | {r['rate_formula'][:, k].mean():5.2f}"
        )
    print(
        f"  sum rate                                   {r['rate'].sum(1).mean():5.2f} | "
        f"{r['rate_formula'].sum(1).mean():5.2f}\n"
    )
    print("per RAP       SCNR dB (measured | eq 22)   sensing rate bps/Hz (measured | eq 21)")
    for j in range(cfg.NR):
        print(
            f"  RAP {j + 1}         {_db(r['scnr'][:, j].mean()):6.2f} | {_db(r['scnr_formula'][:, j].mean()):6.2f}"
            f"              {r['sensing_rate'][:, j].mean():5.3f} | {r['sensing_rate_formula'][:, j].mean():5.3f}"
        )


def _print_localization(tb, label: str) -> None:
    s = tb.metrics.summary()
    rmse, crb = np.degrees(s["angle_rmse"]), np.degrees(s["angle_crb_rms"])
    print(
        f"\nlocalization, {label}: MUSIC angle RMSE (eq 43) per RAP next to the CRB, degrees"
        "\n(RMSE over the blocks where a peak fell within the fusion gate of the target)"
    )
    for j, (e, b) in enumerate(zip(rmse, crb)):
        bound = f"{b:7.3f}" if np.isfinite(b) else "    inf (not identifiable)"
        print(f"  RAP {j + 1}   RMSE {e:7.3f}   CRB {bound}")
    peb = s["peb_rms_m"]
    print(
        f"  fused position RMSE {s['position_rmse_m']:.3f} m (PEB "
        f"{f'{peb:.3f} m' if np.isfinite(peb) else 'inf'}), target missed in "
        f"{100 * s['position_miss_rate']:.0f}% of the blocks"
    )


def _plot_spectrum(tb, Y: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .arrays import canonical_angles
    from .music import sample_covariance, spectrum

    cfg = tb.cfg
    az = np.radians(np.arange(-180, 180.5, 1.0))
    el = np.radians(np.arange(0, 90.5, 0.5))
    S = spectrum(sample_covariance(Y.astype(complex)), *cfg.MR_shape, cfg.NC + 1, az, el)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    im = ax.pcolormesh(
        np.degrees(az),
        np.degrees(el),
        _db(S / S.max()).T,
        shading="auto",
        vmin=-30,
        vmax=0,
        cmap="viridis",
    )
    fig.colorbar(im, ax=ax, label="dB below peak")
    geo = tb.scenario.mobility.geometry(np.array([tb.scenario.blocks_done - 1]))
    from .channels import sensing_geometry

    sg = sensing_geometry(cfg, geo)
    pt, tt = canonical_angles(sg.psi_t[0, 0], sg.theta_t[0, 0])
    ax.plot(np.degrees(pt), np.degrees(tt), "r+", ms=14, mew=2, label="target")
    pc, tc = canonical_angles(sg.psi_c[0, 0], sg.theta_c[0, 0])
    ax.plot(np.degrees(pc), np.degrees(tc), "wx", ms=10, mew=2, label="clutter")
    ax.set(
        xlabel="azimuth psi (deg)",
        ylabel="elevation theta (deg)",
        title=f"2D MUSIC spectrum (eq 42), RAP 1 ({cfg.MR_shape[0]}x{cfg.MR_shape[1]}), last block",
    )
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_rates(tb, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg, r = tb.cfg, tb.metrics.results()
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for k in range(cfg.K):
        a1.plot(r["cb"], r["rate"][:, k], lw=0.8, label=f"user {k + 1}")
    a1.plot(r["cb"], r["rate_formula"].mean(1), "k--", lw=1, label="eq 19, mean over users")
    a1.set(ylabel="rate (bps/Hz)", title="Measured rates per coherence block")
    a1.legend(fontsize=8, ncol=3)
    for j in range(cfg.NR):
        a2.plot(r["cb"], r["sensing_rate"][:, j], lw=0.8, label=f"RAP {j + 1}")
    a2.set(xlabel="coherence block", ylabel="sensing rate (bps/Hz)")
    a2.legend(fontsize=8, ncol=4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    if args.blocks < 2:
        raise ValueError(f"--blocks must be >= 2, got {args.blocks}")
    t0 = time.perf_counter()
    tb, _, elapsed = _run(args, (2, 2))
    print(f"gr-cfisac demo: {tb.cfg.summary()}")
    print(
        f"precoder {args.algorithm} with {args.sensing_fraction:.0%} of the power on a "
        "null-space sensing beam; seed",
        args.seed,
        "\n",
    )
    _print_comm_and_sensing(tb, elapsed)
    _print_localization(tb, "Table-I RAPs (2x2, three sources)")
    big_args = args
    if args.algorithm.endswith(".onnx"):  # a learned model's card fixes the Table-I RAP arrays
        print(f"\n(the 4x4-RAP run precodes with zf: {Path(args.algorithm).name} was trained for "
              "the Table-I 2x2 RAPs)")  # fmt: skip
        big_args = argparse.Namespace(**{**vars(args), "algorithm": "zf"})
    big, Y, _ = _run(big_args, (4, 4))
    _print_localization(big, "the same scene with 4x4 RAPs")
    args.out.mkdir(parents=True, exist_ok=True)
    _plot_spectrum(big, Y, args.out / "music_spectrum.png")
    _plot_rates(tb, args.out / "rates.png")
    print(
        f"\nwrote {args.out / 'music_spectrum.png'} and {args.out / 'rates.png'} "
        f"({time.perf_counter() - t0:.0f} s in all)"
    )
    return 0
