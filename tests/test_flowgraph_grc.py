"""GRC side: every .block.yml loads, every cfisac port's dtype/vlen matches the block's io
signature (for the default and a different network), and grcc compiles every flowgraph into
the Python committed beside it."""

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pmt
import pytest
from grc_helpers import DTYPES, check_shown_stream_ports, grc_block

ROOT = Path(__file__).resolve().parents[1]
GRC_DIR = ROOT / "grc"
FLOWGRAPHS = sorted((ROOT / "flowgraphs").glob("*.grc"))
GRCC = Path("/usr/bin/grcc")

#: blocks whose signature is checked here (SigMF blocks are tested by their own suite)
MINE = [
    "cfisac_scenario_source",
    "cfisac_pilot_estimator",
    "cfisac_precoder",
    "cfisac_transmitter",
    "cfisac_downlink_channel",
    "cfisac_echo_channel",
    "cfisac_music_localizer",
    "cfisac_fusion",
    "cfisac_metrics_sink",
    "cfisac_tap_side",
    "cfisac_rap_side",
]
OTHER_NETWORK = {
    "NT": "3",
    "NR": "2",
    "MT_shape": "(1, 3)",
    "MR_shape": "(2, 3)",
    "K": "2",
    "NC": "2",
    "tau_c": "50",
    "tau_p": "2",
}


def test_every_block_yml_loads(platform):
    ids = {p.stem.replace(".block", "") for p in GRC_DIR.glob("*.block.yml")}
    assert set(MINE) <= ids
    missing = sorted(i for i in ids if i not in platform.blocks)
    assert not missing, f"GRC could not load {missing}"
    for block_id in ids:
        assert platform.blocks[block_id].category[:1] == ["cfisac"], block_id


@pytest.mark.parametrize("network", [{}, OTHER_NETWORK], ids=["table1", "other"])
@pytest.mark.parametrize("block_id", MINE)
def test_grc_ports_match_the_io_signature(platform, block_id, network):
    from gnuradio import cfisac

    extra = {"display_step_deg": "7.0"} if block_id == "cfisac_music_localizer" else {}
    fg, blk = grc_block(platform, block_id, network, **extra)
    cfg = fg.namespace["cfg"]
    assert cfg.NT == int(network.get("NT", 8))
    instance = eval(blk.templates.render("make"), {"cfisac": cfisac, "cfg": cfg})
    for grc_ports, py_ports in ((blk.sinks, instance.in_ports), (blk.sources, instance.out_ports)):
        streams = [p for p in grc_ports if p.domain == "stream"]
        assert len(streams) == len(py_ports), f"{block_id}: port count"
        for gp, pp in zip(streams, py_ports):
            assert DTYPES[gp.dtype] == pp.dtype, f"{block_id} port {gp.key} ({pp.name})"
            assert int(gp.vlen) == pp.vlen, f"{block_id} port {gp.key} ({pp.name}) vlen"
    # message ports named in the yml exist on the block (a hier block's are its hier ports)
    registered = pmt.to_python(instance.message_ports_out())
    for p in blk.sources:
        if p.domain == "message":
            hier = hasattr(instance, "message_port_is_hier_out")
            assert p.key in registered or (
                hier and instance.message_port_is_hier_out(pmt.intern(p.key))
            ), p.key


#: parameters that change a block's ports (GRC hides or multiplies them)
PORT_VARIANTS = [
    ("cfisac_pilot_estimator", {"num_taps": "1", "method": '"ls"'}),
    ("cfisac_music_localizer", {"num_raps": "2", "n_peaks": "2", "n_sources": "0"}),
    ("cfisac_fusion", {"n_peaks": "2"}),
    ("cfisac_metrics_sink", {"with_sensing": "False"}),
    ("cfisac_transmitter", {"external_data": "True"}),
    ("cfisac_tap_side", {"external_data": "True", "uplink_outputs": "True"}),
    ("cfisac_rap_side", {"n_sources": "2"}),
    ("cfisac_rap_side", {"n_peaks": "2", "display_step_deg": "10.0"}),
]


@pytest.mark.parametrize(
    "block_id, params", PORT_VARIANTS, ids=[f"{b}-{'-'.join(p)}" for b, p in PORT_VARIANTS]
)
def test_grc_ports_follow_the_parameters(platform, block_id, params):
    """The ports GRC shows for non-default parameters are the block's, in order, and cover
    every port the block requires (hidden ones are optional on both sides)."""
    from gnuradio import cfisac

    fg, blk = grc_block(platform, block_id, OTHER_NETWORK, **params)
    for key, value in params.items():
        assert blk.params[key].get_value() == value, key
    cfg = fg.namespace["cfg"]
    instance = eval(blk.templates.render("make"), {"cfisac": cfisac, "cfg": cfg})
    check_shown_stream_ports(blk, instance, block_id)


#: the hier blocks, the blocks they wrap (a parameter belongs to the first that has it), and
#: their parameters of GRC's own (no block has them: port visibility)
HIER = {
    "cfisac_tap_side": (
        ["cfisac_scenario_source", "cfisac_pilot_estimator", "cfisac_precoder"]
        + ["cfisac_transmitter"],
        {"uplink_outputs"},
    ),
    "cfisac_rap_side": (["cfisac_music_localizer", "cfisac_fusion"], set()),
}


@pytest.mark.parametrize("hier_id", HIER)
def test_hier_block_parameters_mirror_the_blocks_they_wrap(hier_id):
    """Every parameter of a TAP/RAP Side block is one of the wrapped blocks' (same id, type,
    default, options) and reaches the Python block where the wrapped block's does (both make
    templates pass it; transmitter's external_data only shows ports)."""
    import yaml

    def params(block_id):
        doc = yaml.safe_load((GRC_DIR / f"{block_id}.block.yml").read_text())
        return {p["id"]: p for p in doc["parameters"]}, doc["templates"]["make"]

    def passes(make, pid):
        return f"${{{pid}}}" in make or f"{pid}()" in make

    wrapped, grc_only = HIER[hier_id]
    mine, make = params(hier_id)
    owners = [params(b) for b in wrapped]
    for pid, p in mine.items():
        if pid in grc_only:
            continue
        owner = next(((o[pid], m) for o, m in owners if pid in o), None)
        assert owner is not None, f"{hier_id}: {pid} is no parameter of {wrapped}"
        for key in ("dtype", "default", "options"):
            assert p.get(key) == owner[0].get(key), f"{hier_id}.{pid}: {key}"
        assert passes(make, pid) == passes(owner[1], pid), f"{hier_id}: make and {pid}"


def test_simulation_flowgraph_draws_build_chains_wiring():
    """cfisac_sim.grc connects its cfisac blocks exactly as build_chain does (the hier blocks'
    parts expanded): the builder replays the Python chain's wiring."""
    import yaml

    from gnuradio import gr
    from gr_cfisac.blocks import build_chain
    from gr_cfisac.blocks.wiring import flatten
    from gr_cfisac.config import SystemConfig

    chain = build_chain(gr.top_block(), SystemConfig(), num_blocks=1, n_sources=0)
    want = {(e.src, str(e.src_port), e.dst, str(e.dst_port)) for e in flatten(chain.wiring)}
    parts = {name for e in want for name in (e[0], e[2])}
    doc = yaml.safe_load((ROOT / "flowgraphs" / "cfisac_sim.grc").read_text())
    drawn = {tuple(c) for c in doc["connections"] if c[0] in parts and c[2] in parts}
    assert drawn == want
    ids = {b["name"]: b["id"] for b in doc["blocks"]}
    blocks = {**chain.tap.parts, **chain.rap.parts, "downlink": chain.downlink}
    blocks |= {"echo": chain.echo, "metrics": chain.metrics}
    assert {n: ids[n] for n in parts} == {n: b.name() for n, b in blocks.items()}


@pytest.mark.parametrize("grc_file", FLOWGRAPHS, ids=[f.stem for f in FLOWGRAPHS])
def test_grcc_regenerates_the_committed_python(grc_file, tmp_path):
    env = dict(os.environ, GRC_BLOCKS_PATH=str(GRC_DIR), QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, str(GRCC), "-o", str(tmp_path), str(grc_file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    generated = (tmp_path / (grc_file.stem + ".py")).read_text()
    committed = grc_file.with_suffix(".py").read_text()
    # grcc writes connections in set order, which varies from run to run
    assert Counter(generated.splitlines()) == Counter(committed.splitlines()), (
        f"{grc_file.name}: regenerate with grcc -o flowgraphs {grc_file.name}"
    )


def test_qt_flowgraph_builds_offscreen(tmp_path):
    """The QT flowgraph constructs (no window is shown) with every display connected."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    code = (
        "import sys; sys.path.insert(0, 'flowgraphs')\n"
        "from PyQt5 import Qt\n"
        "app = Qt.QApplication([])\n"
        "from cfisac_sim_qt import cfisac_sim_qt\n"
        "tb = cfisac_sim_qt(num_blocks=8, print_interval=0)\n"
        "tb.start(); tb.wait()\n"
        "print('blocks', tb.metrics.blocks_done, 'errors', [b for b in "
        "(tb.scenario, tb.music, tb.metrics) if b.error])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "blocks 8 errors []" in done.stdout


def test_qt_raster_shows_whole_music_spectra():
    """GNU Radio's time raster draws a row only when its update period has passed since the last
    one and drops the rows in between: a spectrum arriving as n_az rows at once keeps its rows
    on their azimuths only with a period of 0 and n_az x n_el cells."""
    import yaml

    from gr_cfisac.blocks.music_localizer import display_grid

    doc = yaml.safe_load((ROOT / "flowgraphs" / "cfisac_sim_qt.grc").read_text())
    params = {b["name"]: b["parameters"] for b in doc["blocks"]}
    step = float(params["music"]["display_step_deg"])
    az, el = display_grid(step)
    raster = params["spectrum_raster"]
    assert float(raster["update_time"]) == 0.0
    assert (int(raster["nrows"]), int(raster["ncols"])) == (az.size, el.size)
