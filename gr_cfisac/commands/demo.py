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
a model trained for another --scenario is refused. The flowgraph simulates the cellfree scenario."""

#: scenarios the simulation flowgraph simulates
DEMO_SCENARIOS = ("cellfree",)

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
        default="zf",
        help="precoder: a family of the precoder registry (mrt, zf, rzf, wmmse, optimize, ...) "
        "or a .onnx (default: %(default)s)",
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
            f"--scenario {args.scenario}: the demo's flowgraph simulates scenario(s) "
            f"{', '.join(DEMO_SCENARIOS)} only"
        )
    algorithm = args.algorithm
    if algorithm.endswith(".onnx"):
        algorithm = str(resolve_model(algorithm))
    check_precoder(algorithm, args.scenario)
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
