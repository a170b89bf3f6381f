"""``cfisac demo``: run the simulation flowgraph twice (Table-I 2x2 RAPs, then 4x4) and print what
it measured next to the core's formulas (:mod:`gr_cfisac.demo`), with figures
(:mod:`gr_cfisac.demo_plots`) and optional SigMF captures."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .scenario_option import add_scenario_argument

HELP = "run the CF-ISAC flowgraph on simulated samples and report what it measured"
DESCRIPTION = """\
Runs the simulation flowgraph (flowgraphs/cfisac_sim.grc: scenario, MMSE estimation, precoder,
transmitter, channels, MUSIC, fusion, metrics) on the Table-I network and prints, per user, the
SINR and rate measured from the samples next to eqs 19-20, per RAP the SCNR and sensing rate
next to eqs 21-22, and the localization error (miss rate, ungated and gated RMSE) next to its
bound; then the same scene with 4x4 RAPs (Table I's 2x2 RAPs cannot identify a target and two
clutter points). Figures go to --out; --capture DIR records both runs for cfisac replay.
--algorithm takes a shipped learned precoder by its file name (stcib_joint.onnx) from any folder;
a model trained for another --scenario is refused. --scenario coisac runs paper 003's network
instead (gr_cfisac/flowgraphs/coisac_sim.py: the LHGNN by default, downlink, echoes at every BS,
MUSIC per BS, fusion) and prints the per-user rates and the fused position's RMSE next to the
SPEB of the beams sent (docs/coisac.md)."""

#: scenarios the simulation flowgraphs simulate
DEMO_SCENARIOS = ("cellfree", "coisac")
#: --algorithm when not given, per scenario
DEFAULT_ALGORITHMS = {"cellfree": "zf", "coisac": "lhgnn_coisac.onnx"}

#: capture names under --capture DIR, per run
CAPTURE_NAMES = {(2, 2): "demo_rap2x2", (4, 4): "demo_rap4x4"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--blocks", type=int, default=300, help="coherence blocks per run (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="seed of the scenario (default: %(default)s)"
    )
    parser.add_argument(
        "--algorithm",
        default=None,
        help="precoder: a family of the precoder registry (mrt, zf, rzf, wmmse, optimize, ...) "
        "or a .onnx (default: zf; lhgnn_coisac.onnx with --scenario coisac)",
    )
    add_scenario_argument(parser, "simulated and precoded for")
    parser.add_argument(
        "--sensing-fraction",
        type=float,
        default=0.3,
        help="power on the sensing beam (default: %(default)s)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("demo"), help="folder for the PNGs (default: %(default)s)"
    )
    parser.add_argument(
        "--capture",
        type=Path,
        default=None,
        metavar="DIR",
        help="record each run (RAP echoes, truth, geometry, TAP pilots and statistics) as a SigMF "
        f"capture DIR/{CAPTURE_NAMES[(2, 2)]}, DIR/{CAPTURE_NAMES[(4, 4)]} for cfisac replay "
        "(default: no recording)",
    )


def check_precoder(algorithm: str, scenario: str) -> None:
    """Before the flowgraph starts: the registry knows ``algorithm`` and serves ``scenario`` with
    it (a model's card must name that scenario). ValueError naming the problem."""
    from ..config import SystemConfig
    from ..precoding import registry

    spec = registry.spec_for(algorithm, scenario)
    family = registry.families().get(spec.name)
    if family is None or scenario not in family.scenarios:
        registry.make_precoder(spec, SystemConfig())  # raises, listing what there is
    if spec.name == "onnx":
        from ..precoding.onnx import check_scenario, load_card

        check_scenario(load_card(algorithm), scenario, Path(algorithm).name)


def run(args: argparse.Namespace) -> int:
    from .. import demo_plots
    from ..blocks.demo_run import run_flowgraph
    from ..demo import print_comm_and_sensing, print_localization
    from ..models import resolve_model

    if args.blocks < 2:
        raise ValueError(f"--blocks must be >= 2, got {args.blocks}")
    if args.scenario not in DEMO_SCENARIOS:
        raise ValueError(
            f"--scenario {args.scenario}: the demo's flowgraphs simulate scenario(s) "
            f"{', '.join(DEMO_SCENARIOS)} only"
        )
    if args.algorithm is None:
        args.algorithm = DEFAULT_ALGORITHMS[args.scenario]
    algorithm = args.algorithm.strip()
    if algorithm.endswith(".onnx"):  # a shipped model by its file name, from any folder
        algorithm = str(resolve_model(algorithm))
    if args.scenario == "coisac":
        return run_coisac(args, algorithm)
    try:
        check_precoder(algorithm, args.scenario)
    except ValueError as exc:
        raise ValueError(
            f"--algorithm {args.algorithm} with --scenario {args.scenario}: {exc}"
        ) from None
    settings = dict(
        blocks=args.blocks,
        seed=args.seed,
        algorithm=algorithm,
        sensing_fraction=args.sensing_fraction,
    )

    def capture(rap_shape: tuple[int, int]) -> Path | None:
        return None if args.capture is None else args.capture / CAPTURE_NAMES[rap_shape]

    t0 = time.perf_counter()
    small = run_flowgraph((2, 2), 0, capture=capture((2, 2)), **settings)
    print(f"gr-cfisac demo: {small.cfg.summary()}")
    print(
        f"precoder {args.algorithm} with {args.sensing_fraction:.0%} of the power on a "
        "null-space sensing beam; seed",
        args.seed,
        "\n",
    )
    print_comm_and_sensing(small)
    print_localization(small, "Table-I RAPs (2x2; target + 2 clutter = 3 sources)")
    if algorithm.endswith(".onnx"):  # a learned model's card fixes the Table-I RAP arrays
        print(f"\n(the 4x4-RAP run precodes with zf: {Path(algorithm).name} was trained for "
              "the Table-I 2x2 RAPs)")  # fmt: skip
        settings["algorithm"] = "zf"
    big = run_flowgraph((4, 4), small.cfg.NC + 1, capture=capture((4, 4)), **settings)
    print_localization(big, "the same scene with 4x4 RAPs")
    written = demo_plots.write_all(small, big, args.out)
    print(f"\nwrote {', '.join(str(p) for p in written)} ({time.perf_counter() - t0:.0f} s in all)")
    if args.capture is not None:
        print(f"recorded {small.capture} and {big.capture}; score them with")
        print(f"  cfisac replay {big.capture}")
        print(f"  cfisac replay {small.capture} --sources 0   (MDL: the 2x2 RAPs identify <= 2)")
    return 0


def run_coisac(args: argparse.Namespace, algorithm: str) -> int:
    """``--scenario coisac``: the coisac flowgraph for --blocks blocks with ``algorithm`` (the
    --algorithm family, or the path of its model), then its tables."""
    from ..coisac import CoisacConfig
    from ..coisac.demo_report import format_report
    from ..flowgraphs import coisac_sim

    if args.capture is not None:
        raise ValueError("--capture: the coisac flowgraph has no SigMF recorder; drop --capture")
    try:
        check_precoder(algorithm, "coisac")
    except ValueError as exc:
        raise ValueError(f"--algorithm {args.algorithm} with --scenario coisac: {exc}") from None
    cfg = CoisacConfig()
    tb, seconds = coisac_sim.run(cfg, args.blocks, args.seed, algorithm)
    print(f"gr-cfisac demo, scenario coisac (paper 003): N={cfg.N} BSs with {cfg.Lx}x{cfg.Ly} "
          f"UPAs, K={cfg.K} users, {cfg.power_dbm:g} dBm per BS at {cfg.carrier_hz / 1e9:g} GHz, "
          f"perfect CSI; precoder {args.algorithm}; seed {args.seed}\n")  # fmt: skip
    print(format_report(tb.metrics.summary(), tb.cfg.tau, seconds))
    return 0
