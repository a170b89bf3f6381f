"""The scenario names the precoder registry knows: the union of its families' ``scenarios``
(DESIGN.md, "Precoder families and scenarios"), and the check every user-facing ``scenario``
parameter goes through (CLI ``--scenario``, GRC, specs). numpy only."""

from __future__ import annotations

from .cards import DEFAULT_SCENARIO
from .registry import families

__all__ = ["DEFAULT_SCENARIO", "check_scenario", "known_scenarios"]


def known_scenarios() -> tuple[str, ...]:
    """Every scenario some registered family serves, the default (cellfree) first."""
    names = {s for family in families().values() for s in family.scenarios}
    return tuple(sorted(names, key=lambda s: (s != DEFAULT_SCENARIO, s)))


def check_scenario(scenario: object, parameter: str = "scenario") -> str:
    """``scenario`` if the registry knows it, else ValueError naming ``parameter`` and listing
    the known scenarios."""
    known = known_scenarios()
    if not isinstance(scenario, str) or scenario not in known:
        raise ValueError(
            f"unknown scenario {scenario!r} ({parameter}); the precoder registry knows "
            f"{', '.join(known)} (a family serves a scenario when it lists it in its scenarios)"
        )
    return scenario
