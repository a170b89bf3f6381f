"""GRC side of the coisac flowgraph (issue 14): the Coisac Config variable evaluates to the
flowgraph's stream config, and the ports GRC shows for the Coisac Source, Fusion and Metrics
Sink are the Python blocks' (dtype, vlen, order) for the paper's network and another one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pmt
import pytest
import yaml
from grc_helpers import check_shown_stream_ports, grc_block

from gr_cfisac.coisac import CoisacConfig
from gr_cfisac.coisac.network import coisac_config, stream_config

ROOT = Path(__file__).resolve().parents[1]
GRC_DIR = ROOT / "grc"
BLOCKS = ["cfisac_coisac_source", "cfisac_coisac_fusion", "cfisac_coisac_metrics_sink"]
#: two BSs with 2 x 3 arrays, 3 users, 40 echo samples
OTHER_NETWORK = {
    "K": "3",
    "array_shape": "(2, 3)",
    "bs_positions": "((236.0, 390.0, 6.0), (288.0, 400.0, 8.0))",
    "snapshots": "40",
    "power_dbm": "25.0",
}
#: GRC parameters of the Coisac Config that are not CoisacConfig fields of the same name
NOT_FIELDS = {"array_shape", "overrides"}


def coisac_grc_block(platform, block_id, network, **params):
    """A GRC block in a flowgraph with a Coisac Config variable 'cfg'."""
    return grc_block(platform, block_id, network, "cfisac_coisac_config", **params)


def test_the_config_variable_is_the_flowgraphs_stream_config(platform):
    fg, _ = coisac_grc_block(platform, "cfisac_coisac_source", {})
    assert fg.namespace["cfg"] == stream_config(CoisacConfig())
    fg, _ = coisac_grc_block(platform, "cfisac_coisac_source", OTHER_NETWORK)
    cfg = fg.namespace["cfg"]
    want = CoisacConfig(
        K=3, Lx=2, Ly=3, bs_positions=((236.0, 390.0, 6.0), (288.0, 400.0, 8.0)), power_dbm=25.0,
        snapshots=40,
    )  # fmt: skip
    assert coisac_config(cfg) == want and cfg == stream_config(want)
    assert (cfg.NT, cfg.NR, cfg.MT, cfg.K, cfg.tau) == (2, 2, 6, 3, 40)


def test_the_config_variables_defaults_are_the_scenarios():
    """Fails when CoisacConfig's defaults and the GRC Coisac Config's drift apart."""
    doc = yaml.safe_load((GRC_DIR / "cfisac_coisac_config.block.yml").read_text())
    defaults = {p["id"]: eval(p["default"]) for p in doc["parameters"]}
    fields = CoisacConfig().to_dict()
    assert tuple(defaults["array_shape"]) == (fields["Lx"], fields["Ly"])
    for pid, value in defaults.items():
        if pid in NOT_FIELDS:
            continue
        assert np.allclose(np.asarray(value, float), np.asarray(fields[pid], float)), pid


def check_ports(blk, instance, block_id):
    """The stream ports GRC shows are the block's, in order, and cover the ones it requires
    (hidden ones optional on both sides); message ports named in the yml are registered."""
    check_shown_stream_ports(blk, instance, block_id)
    for grc_ports, signature in ((blk.sinks, instance.input_signature()),
                                 (blk.sources, instance.output_signature())):  # fmt: skip
        shown = [p for p in grc_ports if p.domain == "stream" and not p.hidden]
        required = shown[: signature.min_streams()]  # what the block cannot run without
        assert not any(p.optional for p in required), f"{block_id}: a required port is optional"
    registered = pmt.to_python(instance.message_ports_out())
    for p in blk.sources:
        if p.domain == "message":
            assert p.key in registered, f"{block_id}: message port {p.key}"


@pytest.mark.parametrize("network", [{}, OTHER_NETWORK], ids=["paper", "other"])
@pytest.mark.parametrize("block_id", BLOCKS)
def test_grc_ports_match_the_io_signature(platform, block_id, network):
    from gnuradio import cfisac

    fg, blk = coisac_grc_block(platform, block_id, network)
    assert blk.is_valid(), blk.get_error_messages()
    instance = eval(blk.templates.render("make"), {"cfisac": cfisac, "cfg": fg.namespace["cfg"]})
    assert type(instance).__name__ == block_id.removeprefix("cfisac_")
    streams = [p for p in blk.sinks + blk.sources if p.domain == "stream"]
    assert len(streams) == len(instance.in_ports) + len(instance.out_ports), block_id
    check_ports(blk, instance, block_id)


@pytest.mark.parametrize(
    "block_id, params",
    [
        ("cfisac_coisac_fusion", {"echo_weights": "False"}),
        ("cfisac_coisac_fusion", {"n_peaks": "2", "association": '"prior"'}),
    ],
    ids=["no-echo-weights", "two-peaks-prior"],
)
def test_grc_ports_follow_the_parameters(platform, block_id, params):
    from gnuradio import cfisac

    fg, blk = coisac_grc_block(platform, block_id, OTHER_NETWORK, **params)
    instance = eval(blk.templates.render("make"), {"cfisac": cfisac, "cfg": fg.namespace["cfg"]})
    check_ports(blk, instance, block_id)
    shown = [p for p in blk.sinks if p.domain == "stream" and not p.hidden]
    NR = fg.namespace["cfg"].NR
    assert len(shown) == (NR + 1 if params.get("echo_weights") == "False" else 2 * NR + 1)


def test_a_cellfree_config_is_refused_with_the_fix(platform):
    """A coisac block given the cell-free CF-ISAC Config: GRC shows the block's own message."""
    from gnuradio import cfisac
    from gr_cfisac.config import SystemConfig

    fg = platform.make_flow_graph()
    fg.new_block("cfisac_config").params["id"].set_value("cfg")
    blk = fg.new_block("cfisac_coisac_source")
    blk.params["id"].set_value("blk")
    with pytest.raises(ValueError, match="not a coisac stream config.*stream_config"):
        eval(blk.templates.render("make"), {"cfisac": cfisac, "cfg": SystemConfig()})


def test_the_grc_precoder_takes_the_scenario_from_the_coisac_config(platform):
    """The CF-ISAC Precoder with Scenario coisac fed the Coisac Config precodes with the
    CoisacConfig inside it: the shipped LHGNN builds for the paper's network and is refused,
    naming the field, for another BS power."""
    from gnuradio import cfisac
    from gr_cfisac.models import resolve_model

    model = str(resolve_model("lhgnn_coisac.onnx"))
    params = {"algorithm": model, "scenario": "coisac", "msg_interval": "0"}
    fg, blk = coisac_grc_block(platform, "cfisac_precoder", {}, **params)
    instance = eval(blk.templates.render("make"), {"cfisac": cfisac, "cfg": fg.namespace["cfg"]})
    assert instance.design.spec.name == "lhgnn" and instance.design.spec.scenario == "coisac"
    check_ports(blk, instance, "cfisac_precoder")
    fg, blk = coisac_grc_block(platform, "cfisac_precoder", {"power_dbm": "25.0"}, **params)
    with pytest.raises(ValueError, match="power_dbm"):
        eval(blk.templates.render("make"), {"cfisac": cfisac, "cfg": fg.namespace["cfg"]})
