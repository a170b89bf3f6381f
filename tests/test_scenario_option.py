"""``scenario`` on the user-facing edges (issue 11): the CLI's --scenario (demo, evaluate, bench)
and the GRC Precoder block's Scenario options are the precoder registry's scenarios; an unknown
name is refused listing the known ones; the block passes it into the spec it builds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gr_cfisac import cli
from gr_cfisac.commands.scenario_option import DEFAULT
from gr_cfisac.config import SystemConfig
from gr_cfisac.precoding import registry
from gr_cfisac.precoding.scenarios import DEFAULT_SCENARIO, check_scenario, known_scenarios

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (["demo"], ["evaluate", "stcib_joint.onnx"], ["bench", "core"])


def test_known_scenarios_are_the_families_scenarios():
    union = {s for f in registry.families().values() for s in f.scenarios}
    assert set(known_scenarios()) == union and known_scenarios()[0] == DEFAULT_SCENARIO
    assert DEFAULT == DEFAULT_SCENARIO == registry.PrecoderSpec("x").scenario
    with pytest.raises(
        ValueError, match=r"unknown scenario 'bogus' \(scenario\); .* knows cellfree"
    ):
        check_scenario("bogus")


def test_grc_scenario_options_are_the_registry_scenarios():
    """Fails when grc/cfisac_precoder.block.yml and the registry disagree on the scenarios."""
    doc = yaml.safe_load((ROOT / "grc/cfisac_precoder.block.yml").read_text())
    param = next(p for p in doc["parameters"] if p["id"] == "scenario")
    offered = [o.strip('"') for o in param["options"]]
    assert sorted(offered) == sorted(known_scenarios())
    assert len(param["option_labels"]) == len(offered)
    assert param["default"].strip('"') == DEFAULT_SCENARIO
    assert "scenario=" in doc["templates"]["make"]


@pytest.mark.parametrize("argv", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_scenario_bogus_is_refused_listing_the_known_ones(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args([*argv, "--scenario", "bogus"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --scenario: unknown scenario 'bogus'" in err
    assert all(name in err for name in known_scenarios())
    args = cli.build_parser().parse_args(argv)
    assert args.scenario == DEFAULT_SCENARIO


def test_the_precoder_block_builds_its_spec_for_the_scenario(tmp_path):
    from gr_cfisac.blocks.precoder import resolve_precoder

    assert resolve_precoder("zf", SystemConfig()).spec.scenario == "cellfree"
    with pytest.raises(ValueError, match=r"precoder: precoder 'zf' serves scenario.*'mu_miso'"):
        resolve_precoder("zf", SystemConfig(), scenario="mu_miso")


def test_grc_renders_a_non_default_scenario(platform):
    """The generated Python names scenario= only when it is not the default (so the committed
    flowgraphs stay as grcc writes them)."""
    from test_flowgraph_grc import grc_block

    _, blk = grc_block(platform, "cfisac_precoder", {})
    assert "scenario=" not in blk.templates.render("make")
    _, blk = grc_block(platform, "cfisac_precoder", {}, scenario="pos1")
    assert "scenario='pos1'" in blk.templates.render("make")
