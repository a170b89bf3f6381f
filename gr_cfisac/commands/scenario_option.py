"""``--scenario``, shared by the commands that build precoders (demo, evaluate, bench): a name the
precoder registry knows (:func:`gr_cfisac.precoding.scenarios.known_scenarios`), checked when
the command line is parsed so a typo fails before any work, listing the known ones."""

from __future__ import annotations

import argparse

DEFAULT = "cellfree"

#: the built-in scenarios whose network is not a SystemConfig's, and where their precoders run
ELSEWHERE = {
    "coisac": "its flowgraph (cfisac demo --scenario coisac) and cfisac bench lhgnn",
    "pos1": "the numerical core and cfisac bench teacher-student",
    "pos2": "the numerical core and cfisac bench teacher-student",
    "mu_miso": "the numerical core and cfisac bench l2o",
}


def require_cellfree_network(scenario: str, what: str) -> None:
    """ValueError for a built-in scenario on another network than a SystemConfig's (ELSEWHERE),
    saying where its precoders run; ``what`` starts the sentence (e.g. "cfisac serve answers
    requests of")."""
    if scenario in ELSEWHERE:
        raise ValueError(
            f"--scenario {scenario}: {what} a cell-free network (a SystemConfig); {scenario}'s "
            f"network is another, and its precoders run in {ELSEWHERE[scenario]}"
        )


def scenario_name(text: str) -> str:
    """argparse type: a known scenario name, else an error listing the known ones."""
    from ..precoding.scenarios import check_scenario

    try:
        return check_scenario(text, "--scenario")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_scenario_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--scenario`` (default cellfree); ``what`` says what it selects for this command."""
    parser.add_argument(
        "--scenario",
        type=scenario_name,
        default=DEFAULT,
        help=f"scenario {what}: one the precoder registry knows (its families' scenarios; an "
        "unknown name lists them) (default: %(default)s)",
    )
