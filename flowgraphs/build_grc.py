"""Write the simulation flowgraphs of this folder (a maintainer's tool; the .grc files are what
users open).

    .venv/bin/python flowgraphs/build_grc.py            # rewrite cfisac_sim.grc, cfisac_sim_qt.grc
    GRC_BLOCKS_PATH=grc .venv/bin/python /usr/bin/grcc -o gr_cfisac/flowgraphs flowgraphs/cfisac_sim.grc
    GRC_BLOCKS_PATH=grc .venv/bin/python /usr/bin/grcc -o flowgraphs flowgraphs/cfisac_sim_qt.grc

cfisac_sim.py is package code (``cfisac demo`` runs it): grcc writes it into gr_cfisac/flowgraphs/,
and flowgraphs/cfisac_sim.py links there, so `grcc -o flowgraphs` and GRC's Generate write it too.

The blocks and wiring are the Python chain's (gr_cfisac.blocks.build_chain), through grc_parts.py,
which the hardware-in-the-loop pair shares.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from grc_parts import (
    NR,
    NT,
    Flowgraph,
    K,
    chain_edges,
    clean_exit,
    config,
    draw,
    echo_channel,
    localizer,
    out,
    parameters,
    recorder,
    reference_chain,
    seed,
    transmit_front_end,
)

from gr_cfisac.blocks.music_localizer import display_grid

HERE = Path(__file__).resolve().parent
#: the QT flowgraph displays the MUSIC spectrum of one coherence block in this many
SPECTRUM_EVERY = 8
#: coherence blocks per frame of the QT flowgraph's rates plot
RATE_FRAME = 100
#: what the QT flowgraph's generated main() runs before it starts (a Python Snippet, section
#: main_after_init; ``self`` is the top block): what GRC's block parameters cannot say. GNU
#: Radio sizes a QT flowgraph's window from its scroll area, which fits about one display; a
#: throttle passes all its input buffer holds at once (64 geometry items here: the buffer is
#: page-aligned) and then sleeps; its sinks have no parameter for the rates plot's x axis
#: ("Time (sec)") or the raster's colour bar ("Intensity").
QT_SETUP_SNIPPET = f"""\
# Size the window for all its displays, within the screen; a larger size the user saved stays.
want = self.top_widget.sizeHint().grownBy(self.top_scroll_layout.contentsMargins())
screen = Qt.QApplication.primaryScreen().availableSize()
self.resize(self.size().expandedTo(want).boundedTo(screen))
# One coherence block at a time through the throttle, so the displays move smoothly.
self.pace.set_max_noutput_items(1)
# Axis titles through Qwt (Debian's python3-pyqt5.qwt, which scripts/bootstrap.sh installs).
try:
    from PyQt5 import Qwt
except ImportError:
    print("PyQt5.Qwt is missing: the displays keep GNU Radio's axis titles", file=sys.stderr)
else:
    def qwt_plot(win):
        return next(sip.cast(w, Qwt.QwtPlot) for w in win.findChildren(Qt.QWidget)
                    if w.metaObject().inherits(Qwt.QwtPlot.staticMetaObject))
    def set_title(plot, axis, text, font):
        title = Qwt.QwtText(text)
        title.setFont(font)
        plot.setAxisTitle(axis, title)
    rates, raster = qwt_plot(self._rates_plot_win), qwt_plot(self._spectrum_raster_win)
    x, y, bar = Qwt.QwtPlot.xBottom, Qwt.QwtPlot.yLeft, Qwt.QwtPlot.yRight
    set_title(rates, x, "Coherence block (of the last {RATE_FRAME})", rates.axisTitle(y).font())
    # the colour bar is only as long as the raster is high: its title in its tick labels' font
    set_title(raster, bar, "MUSIC spectrum (dB below peak)", raster.axisWidget(bar).font())
"""


def chain(fg: Flowgraph, geometry: tuple[str, int] | None = None, **music_params: str) -> None:
    """The whole CF-ISAC chain with the cfisac blocks, wired as build_chain wires it, ids as
    used by the demo and tests; its blocks take the sensing geometry (one item per coherence
    block) from output ``geometry`` (default: the scenario's). MUSIC assumes ``sources``
    sources (0: MDL per block: Table I's 2x2 RAPs identify at most 2, not the target and both
    clutter points); the recorder writes what ``cfisac replay`` scores (RAP echoes, truth,
    geometry, TAP pilots and statistics) to ``capture``."""
    ref = reference_chain()
    config(fg, MR_shape="(rap_rows, rap_cols)")
    transmit_front_end(fg, user_speed_mps="user_speed_mps")
    fg.block(
        "downlink", "cfisac_downlink_channel", (1200, 120), config="cfg", seed=seed("downlink")
    )
    echo_channel(fg, (1200, 420))
    localizer(fg, (1500, 420), (1800, 420), n_sources="sources", **music_params)
    fg.block(
        "metrics",
        "cfisac_metrics_sink",
        (2100, 200),
        config="cfg",
        with_sensing="True",
        csv_path="csv_path",
        print_interval="print_interval",
    )
    scenario_geometry = ("scenario", out(ref.scenario, "geometry"))
    geometry = geometry or scenario_geometry
    draw(fg, chain_edges(), {scenario_geometry: geometry})
    # everything cfisac replay needs to rerun and score estimation and MUSIC
    uplink = [f"pilots{i}" for i in range(NT)] + [f"stats{i}" for i in range(NT)]
    recorder(
        fg,
        (1200, 700),
        "replay",
        [("echo", out(ref.echo, f"rap{j + 1}")) for j in range(NR)]
        + [("scenario", out(ref.scenario, "truth")), geometry]
        + [("scenario", out(ref.scenario, name)) for name in uplink],
    )


def common_parameters(fg: Flowgraph, num_blocks: str) -> None:
    """The parameters of both simulation flowgraphs; ``num_blocks`` is the default run length."""
    parameters(
        fg,
        [
            ("num_blocks", "intx", num_blocks, "Coherence blocks (0: forever)", 400),
            ("seed", "intx", "1", "Seed", 560),
            ("algorithm", "str", "zf", "Precoder (name or .onnx)", 680),
            ("sensing_fraction", "eng_float", "0.3", "Sensing power fraction", 860),
            ("user_speed_mps", "eng_float", "0", "User speed (m/s)", 1040),
            ("csv_path", "str", "", "Metrics CSV", 1200),
            ("print_interval", "intx", "100", "Print every N blocks", 1340),
            ("rap_rows", "intx", "2", "RAP array rows", 1500),
            ("rap_cols", "intx", "2", "RAP array columns", 1640),
            ("sources", "intx", "0", "MUSIC sources (0: MDL per block)", 1780),
            ("capture", "str", "", "Record for replay (folder/NAME, empty: off)", 1960),
        ],
    )


def headless() -> Flowgraph:
    fg = Flowgraph(
        "cfisac_sim",
        "CF-ISAC simulation (headless)",
        "no_gui",
        "The whole CF-ISAC chain on the Table-I network: uplink pilots, MMSE estimation, "
        "precoding, downlink, echoes, MUSIC, fusion and metrics; runs num_blocks coherence "
        "blocks and stops. No throttle: a batch run goes as fast as the CPU allows (grcc's "
        "flow-control warning is expected); cfisac_sim_qt paces its displays.",
    )
    common_parameters(fg, "300")
    chain(fg)
    clean_exit(fg, (8, 900))
    return fg


def with_gui() -> Flowgraph:
    fg = Flowgraph(
        "cfisac_sim_qt",
        "CF-ISAC simulation",
        "qt_gui",
        "The CF-ISAC chain with live displays: a user's equalized constellation, the MUSIC "
        "spectrum of RAP 1 and the measured rates over time, paced by a throttle at "
        "blocks_per_s coherence blocks per second.",
    )
    common_parameters(fg, "0")
    parameters(fg, [("blocks_per_s", "eng_float", "40", "Coherence blocks per second", 2160)])
    step = 4.0
    # the simulated source runs as fast as the CPU allows: a throttle on its geometry stream
    # (one item per coherence block), which the precoder, fusion and metrics wait for, paces
    # every display alike to what a person can watch
    fg.block(
        "pace",
        "blocks_throttle",
        (300, 80),
        type="complex",
        samples_per_second="blocks_per_s",
        vlen="cfisac.item_size(cfg, 'geometry')",
        ignoretag="True",
    )
    fg.connect("scenario", out(reference_chain().scenario, "geometry"), "pace", 0)
    chain(fg, geometry=("pace", 0), display_step_deg=str(step))
    az, el = display_grid(step)
    # one spectrum in SPECTRUM_EVERY blocks is plenty for the eye and spares the GUI thread
    fg.block(
        "spectrum_keep",
        "blocks_keep_one_in_n",
        (1800, 540),
        type="float",
        n=str(SPECTRUM_EVERY),
        vlen=f"cfisac.display_size({step})",
    )
    fg.block(
        "spectrum_stream",
        "blocks_vector_to_stream",
        (1800, 620),
        type="float",
        num_items=f"cfisac.display_size({step})",
        vlen="1",
    )
    fg.block(
        "spectrum_raster",
        "qtgui_time_raster_sink_x",
        (2100, 620),
        type="float",
        name='"MUSIC spectrum, RAP 1 (dB below its peak)"',
        ncols=str(el.size),
        nrows=str(az.size),
        x_label='"elevation (deg)"',
        x_start_value=str(float(np.degrees(el[0]))),
        x_end_value=str(float(np.degrees(el[-1]))),
        y_label='"azimuth (deg)"',
        # the raster draws the first row (azimuth -180) at the top
        y_start_value=str(float(np.degrees(az[-1]))),
        y_end_value=str(float(np.degrees(az[0]))),
        samp_rate="1",
        # the raster draws a row only if update_time has passed since the last one and drops
        # the others: with a period > 0 a spectrum's rows would land on the wrong azimuths
        update_time="0",
        grid="False",
        zmin="-30",
        zmax="0",
        gui_hint="(0, 1, 1, 1)",
        mult="[]",
        offset="[]",
    )
    fg.connect("music", out(reference_chain().music, "spectrum1"), "spectrum_keep", 0)
    fg.connect("spectrum_keep", 0, "spectrum_stream", 0)
    fg.connect("spectrum_stream", 0, "spectrum_raster", 0)
    fg.block(
        "rate_streams",
        "blocks_vector_to_streams",
        (2400, 200),
        type="float",
        num_streams=str(K + NR),
        vlen="1",
    )
    labels = [f"'user {k + 1}'" for k in range(K)] + [f"'RAP {j + 1}'" for j in range(NR)]
    time_params = {f"label{i + 1}": labels[i] for i in range(K + NR)}
    fg.block(
        "rates_plot",
        "qtgui_time_sink_x",
        (2700, 200),
        type="float",
        name='"Measured rates (bps/Hz) per coherence block"',
        nconnections=str(K + NR),
        size=str(RATE_FRAME),
        srate="1",
        autoscale="True",
        ymin="0",
        ymax="10",
        update_time="0.10",
        gui_hint="(1, 0, 1, 2)",
        legend="True",
        entags="False",
        ylabel='"rate (bps/Hz)"',
        **time_params,
    )
    fg.connect("metrics", out(reference_chain().metrics, "rates"), "rate_streams", 0)
    for i in range(K + NR):
        fg.connect("rate_streams", i, "rates_plot", i)
    fg.block(
        "constellation",
        "qtgui_const_sink_x",
        (2400, 420),
        type="complex",
        name='"User 1, equalized"',
        size="768",
        autoscale="False",
        xmin="-2",
        xmax="2",
        ymin="-2",
        ymax="2",
        nconnections="1",
        update_time="0.10",
        gui_hint="(0, 0, 1, 1)",
    )
    fg.connect("metrics", out(reference_chain().metrics, "equalized"), "constellation", 0)
    fg.block(
        "display_setup",
        "snippet",
        (8, 80),
        section="main_after_init",
        priority="0",
        code=QT_SETUP_SNIPPET,
    )
    return fg


if __name__ == "__main__":
    headless().write(HERE / "cfisac_sim.grc")
    with_gui().write(HERE / "cfisac_sim_qt.grc")
    print("wrote", HERE / "cfisac_sim.grc", HERE / "cfisac_sim_qt.grc")
