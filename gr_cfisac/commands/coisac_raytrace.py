"""``cfisac coisac-raytrace``: a coisac dataset of ray-traced realizations from a Sionna RT scene
(``gr_cfisac.coisac.raytrace_dataset.generate``), cached per solve so a rerun resumes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "ray-trace a coisac dataset from a shipped Sionna RT scene (optional [raytrace] extra)"
DESCRIPTION = """\
Places paper 003's three BSs (4x4 UPAs, 28 GHz) and K users in a scene that ships with
sionna-rt (simple_street_canyon: paper position - (262, 440, 0) m), traces the paths and writes
COUNT realizations of the channels F (B, N L, K) to OUT/dataset.npz with their statistics in
OUT/stats.json. Users without any path are redrawn; solves are cached in OUT/cache, so an
interrupted run picks up where it stopped. Needs `make setup-raytrace` (sionna-rt, libllvm19).
Cost: about 10 CPU-seconds per 100 realizations at the default settings.

Load it with gr_cfisac.coisac.raytrace_dataset.RaytracedDataset.load(OUT/dataset.npz);
.to_batch() gives the CoisacBatch the precoders and metrics take."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scene", default="simple_street_canyon", help="Sionna RT scene name")
    parser.add_argument(
        "--offset-m",
        type=float,
        nargs=3,
        default=None,
        metavar=("X", "Y", "Z"),
        help="paper position - offset = scene position (default: the scene's stated offset)",
    )
    parser.add_argument("--count", type=int, default=200, help="realizations to generate")
    parser.add_argument("--out", type=Path, default=Path("data/coisac_rt"), help="output folder")
    parser.add_argument("--chunk", type=int, default=100, help="realizations per solve")
    parser.add_argument("--max-depth", type=int, default=2, help="path solver's max depth")
    parser.add_argument("--samples", type=int, default=100_000, help="rays per BS")
    parser.add_argument("--solver-seed", type=int, default=1, help="path solver's seed")
    parser.add_argument("--seed", type=int, default=0, help="user placement seed")
    parser.add_argument("--redraw-tries", type=int, default=10, help="redraw rounds")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..coisac import CoisacConfig
    from ..coisac.raytrace import RaytraceSettings, RaytraceUnavailable
    from ..coisac.raytrace_dataset import generate

    settings = RaytraceSettings(
        scene=args.scene,
        offset_m=None if args.offset_m is None else tuple(args.offset_m),
        max_depth=args.max_depth,
        samples_per_src=args.samples,
        seed=args.solver_seed,
    )
    try:
        ds = generate(CoisacConfig(), args.count, settings, args.out / "cache", args.chunk,
                      args.seed, args.redraw_tries, not args.no_progress)  # fmt: skip
    except RaytraceUnavailable as exc:
        raise ValueError(str(exc)) from exc
    ds.save(args.out / "dataset.npz")
    stats = ds.statistics()
    (args.out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    print(json.dumps(stats, indent=1))
    print(f"wrote {args.out / 'dataset.npz'} ({ds.batch} realizations)")
    return 0
