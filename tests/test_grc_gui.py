"""The GUIs a user opens first: GNU Radio Companion starts (headless, under Xvfb) with the
[cfisac] blocks in its library and cfisac_sim.grc loaded without errors; the QT flowgraph's
window holds its three displays with axes that say what they show, and it is throttled."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GRC_DIR = ROOT / "grc"
FLOWGRAPHS = ROOT / "flowgraphs"
GRCC = Path("/usr/bin/grcc")
GRC = Path("/usr/bin/gnuradio-companion")
CFISAC_BLOCKS = sorted(p.name.removesuffix(".block.yml") for p in GRC_DIR.glob("*.block.yml"))

#: runs the installed gnuradio-companion script unchanged, with a GLib timer that reports, once
#: the main window is mapped and the flowgraph loaded, what the window shows, then quits GRC.
#: Gtk is imported only inside the timer: GRC's own start-up check must meet a missing Gtk first.
GRC_PROBE = r"""
import json, runpy, sys
from gi.repository import GLib
report, shot, grc, flowgraph = sys.argv[1:5]
drawn = []  # filled by the window's first draw after it is up

def probe():
    from gi.repository import Gdk, Gtk
    from gnuradio.grc.gui.BlockTreeWindow import KEY_INDEX
    wins = [w for w in Gtk.Window.list_toplevels() if type(w).__name__ == "MainWindow"]
    if not wins or not wins[0].get_mapped() or wins[0].current_page is None:
        return True  # not up yet: poll again
    win = wins[0]
    if not drawn:  # grab the window once it has drawn itself
        if not getattr(win, "probe_watch", None):
            win.probe_watch = win.connect_after("draw", lambda *_: drawn.append(True))
            win.queue_draw()
        return True
    Gdk.Display.get_default().sync()
    store = win.btwin.treestore

    def keys(it):
        out, child = [], store.iter_children(it)
        while child is not None:
            out += keys(child) if store.iter_has_child(child) else [store.get_value(child, KEY_INDEX)]
            child = store.iter_next(child)
        return out

    cat = win.btwin._categories.get(("cfisac",))
    fg = win.current_page.flow_graph
    alloc = win.get_allocation()
    Gdk.pixbuf_get_from_window(win.get_window(), 0, 0, alloc.width, alloc.height).savev(shot, "png", [], [])
    json.dump({
        "title": win.get_title(),
        "size": [alloc.width, alloc.height],
        "library": keys(cat) if cat is not None else [],
        "flowgraph_blocks": sorted(b.key for b in fg.blocks),
        "dummy_blocks": sorted(b.key for b in fg.blocks if b.is_dummy_block),
        "errors": [str(m) for _, m in fg.iter_error_messages()],
    }, open(report, "w"))
    win.app.quit()
    return False

GLib.timeout_add(200, probe)
sys.argv = ["gnuradio-companion", flowgraph]
runpy.run_path(grc, run_name="__main__")
"""


#: runs the generated QT flowgraph's main() unchanged, with a timer that reports what its window
#: shows once hold_s seconds have passed since its first coherence block, then stops it and quits
QT_PROBE = r"""
import json, sys, time
report, shot, hold_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
sys.argv = ["cfisac_sim_qt.py", *sys.argv[4:]]
sys.path.insert(0, "flowgraphs")
import cfisac_sim_qt as fg
from PyQt5 import Qt, Qwt
first = []  # when the first coherence block reached the metrics

def poll():
    tb = next(w for w in Qt.QApplication.topLevelWidgets() if isinstance(w, fg.cfisac_sim_qt))
    if not first and tb.metrics.blocks_done:
        first.append(time.monotonic())
    if not first or time.monotonic() < first[0] + hold_s:
        return Qt.QTimer.singleShot(100, poll)
    report_on(tb, time.monotonic() - started)

def report_on(tb, elapsed):
    blocks = tb.metrics.blocks_done
    displays = {}
    for name in ("constellation", "spectrum_raster", "rates_plot"):
        win = getattr(tb, f"_{name}_win")
        plot = next(fg.sip.cast(w, Qwt.QwtPlot) for w in win.findChildren(Qt.QWidget)
                    if w.metaObject().inherits(Qwt.QwtPlot.staticMetaObject))
        displays[name] = {
            "size": [win.width(), win.height()],
            "hint": [win.sizeHint().width(), win.sizeHint().height()],
            "visible": win.isVisible(),
            "titles": {axis: plot.axisTitle(getattr(Qwt.QwtPlot, axis)).text()
                       for axis in ("xBottom", "yLeft", "yRight")},
            # (title's length in pixels, its axis' length): a title longer than its axis is cut
            "fit": {axis: [
                Qt.QFontMetrics(plot.axisTitle(a).font()).horizontalAdvance(plot.axisTitle(a).text()),
                max(plot.axisWidget(a).width(), plot.axisWidget(a).height())]
                for axis, a in (("xBottom", Qwt.QwtPlot.xBottom), ("yRight", Qwt.QwtPlot.yRight))},
        }
    tb.grab().save(shot)
    scroll = tb.top_scroll
    json.dump({
        "window": [tb.width(), tb.height()],
        "scrollbars": [scroll.horizontalScrollBar().isVisible(), scroll.verticalScrollBar().isVisible()],
        "displays": displays,
        "blocks": blocks,
        "elapsed_s": elapsed,
    }, open(report, "w"))
    tb.stop()
    tb.wait()
    Qt.QApplication.quit()

exec_ = Qt.QApplication.exec_
def exec_then_poll(*_):
    Qt.QTimer.singleShot(100, poll)
    return exec_()
Qt.QApplication.exec_ = exec_then_poll
started = time.monotonic()
fg.main()
"""
#: coherence blocks the chain may have passed beyond the throttle's pace (one per call)
THROTTLE_BURST = 2


def start_xvfb(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    """An Xvfb server on a display it picks free itself (-displayfd); returns (process, DISPLAY)."""
    read_fd, write_fd = os.pipe()
    with (tmp_path / "xvfb.log").open("w") as log:
        xvfb = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write_fd),
                "-screen",
                "0",
                "1600x1000x24",
                "-nolisten",
                "tcp",
            ],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()  # Xvfb writes the number once it accepts clients
    if not number:
        xvfb.kill()
        raise AssertionError("Xvfb did not start: " + (tmp_path / "xvfb.log").read_text())
    return xvfb, f":{number}"


def stop(proc: subprocess.Popen) -> None:
    """End a process started by these tests and everything it started (its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the group has ended
    proc.wait()


def distinct_colours(png: Path) -> int:
    from PyQt5 import Qt

    img = Qt.QImage(str(png))
    assert not img.isNull(), png
    step = 4
    return len(
        {img.pixel(x, y) for x in range(0, img.width(), step) for y in range(0, img.height(), step)}
    )


@pytest.fixture
def display(tmp_path):
    """DISPLAY of an Xvfb server started for the test and ended after it."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (scripts/bootstrap.sh installs Debian's xvfb)")
    xvfb, name = start_xvfb(tmp_path)
    yield name
    stop(xvfb)


def run_probe(code: str, args: list[str], env: dict, timeout_s: float) -> str:
    """Run a probe script with the venv's Python in its own process group; its output."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stop(proc)
        out, _ = proc.communicate()
        out += f"\n(killed after {timeout_s} s)"
    finally:
        stop(proc)
    return out


@pytest.fixture
def gui_env(tmp_path):
    """Environment of a GUI run: a fresh HOME (no saved settings or block cache) and the
    repository's block definitions."""
    home = tmp_path / "home"
    home.mkdir()
    return dict(
        os.environ,
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        GRC_BLOCKS_PATH=str(GRC_DIR),
        NO_AT_BRIDGE="1",
    )


def test_grc_starts_headless_with_the_cfisac_blocks(tmp_path, gui_env, display):
    """The README's `gnuradio-companion flowgraphs/cfisac_sim.grc` opens its window (needs
    Debian's gir1.2-gtk-3.0: without it GRC dies with "Namespace Gtk not available"), the
    library lists every cfisac block and the flowgraph loads with no unknown block or error."""
    report, shot = tmp_path / "grc.json", tmp_path / "grc.png"
    env = dict(gui_env, DISPLAY=display)
    args = [str(report), str(shot), str(GRC), str(FLOWGRAPHS / "cfisac_sim.grc")]
    out = run_probe(GRC_PROBE, args, env, timeout_s=25)
    assert report.exists(), f"GNU Radio Companion did not come up:\n{out[-3000:]}"
    seen = json.loads(report.read_text())
    assert "Error while loading" not in out, out[-3000:]
    assert seen["title"].startswith("cfisac_sim.grc"), seen["title"]
    missing = sorted(set(CFISAC_BLOCKS) - set(seen["library"]))
    assert not missing, f"not under [cfisac] in GRC's library: {missing}"
    assert {"cfisac_scenario_source", "cfisac_music_localizer"} <= set(seen["flowgraph_blocks"])
    assert seen["dummy_blocks"] == [], seen["dummy_blocks"]
    assert seen["errors"] == [], seen["errors"]
    assert distinct_colours(shot) > 20, "the screenshot of GRC's window is blank"


def test_qt_window_holds_its_three_displays_with_axes_that_say_what_they_show(
    tmp_path, gui_env, display
):
    """The generated QT flowgraph, run as GRC runs it (its main()): the window shows the
    constellation, the MUSIC raster and the rates plot whole (GNU Radio's default, ~634x430,
    showed only the constellation and scroll bars), the rates plot counts coherence blocks
    (not "Time (sec)"), the raster's colour bar is the MUSIC spectrum (not "Intensity"), and
    the throttle paces the simulation at --blocks-per-s."""
    report, shot = tmp_path / "qt.json", tmp_path / "qt.png"
    env = dict(gui_env, DISPLAY=display, QT_QPA_PLATFORM="xcb")
    rate = 10.0
    args = [str(report), str(shot), "2", "--blocks-per-s", str(rate), "--print-interval", "0"]
    out = run_probe(QT_PROBE, args, env, timeout_s=25)
    assert report.exists(), f"the QT flowgraph did not come up:\n{out[-3000:]}"
    seen = json.loads(report.read_text())
    assert seen["scrollbars"] == [False, False], seen
    for name, shown in seen["displays"].items():
        assert shown["visible"], name
        assert all(s >= h for s, h in zip(shown["size"], shown["hint"])), (name, shown)
    assert seen["window"][0] >= 900 and seen["window"][1] >= 700, seen["window"]
    rates = seen["displays"]["rates_plot"]["titles"]
    assert rates["xBottom"].startswith("Coherence block"), rates
    assert rates["yLeft"] == "rate (bps/Hz)", rates
    raster = seen["displays"]["spectrum_raster"]["titles"]
    assert raster["yRight"] == "MUSIC spectrum (dB below peak)", raster
    assert raster["xBottom"] == "elevation (deg)", raster
    for name, axis in (("rates_plot", "xBottom"), ("spectrum_raster", "yRight")):
        title_px, axis_px = seen["displays"][name]["fit"][axis]
        assert title_px <= axis_px, f"{name}'s {axis} title is cut: {title_px} > {axis_px} px"
    # paced: unthrottled, the chain runs hundreds of blocks a second here
    assert 0 < seen["blocks"] <= rate * seen["elapsed_s"] + THROTTLE_BURST, seen
    assert distinct_colours(shot) > 50, "the screenshot of the QT window is blank"


def test_qt_flowgraph_has_a_throttle_so_grcc_does_not_warn(tmp_path):
    env = dict(os.environ, GRC_BLOCKS_PATH=str(GRC_DIR), QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, str(GRCC), "-o", str(tmp_path), str(FLOWGRAPHS / "cfisac_sim_qt.grc")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "flow control" not in done.stdout + done.stderr, done.stdout + done.stderr
