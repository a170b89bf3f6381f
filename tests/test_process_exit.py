"""gr_cfisac.blocks.process_exit: the templates' clean end of process."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gr_cfisac.blocks.process_exit import join_threads

ROOT = Path(__file__).resolve().parents[1]


def test_join_threads_waits_for_a_thread_that_ends_and_names_one_that_does_not():
    done = threading.Event()
    short = threading.Thread(target=time.sleep, args=(0.2,), daemon=True, name="short")
    stuck = threading.Thread(target=done.wait, daemon=True, name="stuck")
    short.start()
    stuck.start()
    t0 = time.monotonic()
    left = join_threads(0.8)
    assert not short.is_alive()  # joined, not abandoned
    # (threads other tests of this process left behind may be named too)
    assert "stuck" in left and "short" not in left and time.monotonic() - t0 < 5.0
    done.set()
    stuck.join()
    assert "stuck" not in join_threads(0.5)
    with pytest.raises(ValueError, match="timeout_s"):
        join_threads(-1.0)


@pytest.mark.parametrize("template", ["sim", "radio_tap", "radio_rap", "hil_tap", "hil_rap"])
def test_every_no_gui_template_reports_crashes_and_joins_its_threads_last(template):
    """GRC's no-GUI main() stops and waits for the flowgraph in its signal handler while its
    own interruptible wait still polls a daemon waiter thread, then exits: each template joins
    the threads after every other stop snippet, and enables the crash report first."""
    text = (ROOT / "flowgraphs" / f"cfisac_{template}.py").read_text()
    after_stop = text.split("def snippets_main_after_stop(tb):\n", 1)[1].split("\n\n", 1)[0]
    assert after_stop.strip().splitlines()[-1].strip() == "snipfcn_join_threads(tb)"
    init = text.split("def snippets_init_before_blocks(tb):\n", 1)[1].split("\n\n", 1)[0]
    assert init.strip().splitlines()[0].strip() == "snipfcn_crash_report(tb)"
    # a signal only stops the flowgraph, from right after the start (stop_on_signal)
    after_start = text.split("def snippets_main_after_start(tb):\n", 1)[1].split("\n\n", 1)[0]
    assert "snipfcn_stop_on_signal(tb)" in after_start
    main = text.split("def main(", 1)[1]
    assert "    tb.start()\n    snippets_main_after_start(tb)\n" in main


def test_a_signal_only_stops_the_flowgraph_and_main_ends_through_its_one_wait():
    """As GRC's no-GUI main(): its handler (stop, wait, exit) replaced after the start; on
    SIGTERM the flowgraph stops, main's own wait returns and what follows it runs."""
    code = (
        "import signal, sys\n"
        "from gnuradio import blocks, gr\n"
        "from gr_cfisac.blocks.process_exit import stop_on_signal\n"
        "tb = gr.top_block()\n"
        "tb.connect(blocks.null_source(8), blocks.throttle(8, 1e5), blocks.null_sink(8))\n"
        "def grc_handler(sig=None, frame=None):\n"
        "    tb.stop(); tb.wait(); print('grc handler', flush=True); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, grc_handler)\n"
        "tb.start()\n"
        "stop_on_signal(tb)\n"
        "print('running', flush=True)\n"
        "tb.wait()\n"
        "print('after the wait', flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout.readline().strip() == "running"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "after the wait" in out and "grc handler" not in out


def test_a_crash_prints_every_threads_python_stack():
    code = (
        "import ctypes, threading\n"
        "from gr_cfisac.blocks.process_exit import report_crashes\n"
        "report_crashes()\n"
        "def crash(): ctypes.string_at(0)\n"
        "t = threading.Thread(target=crash, name='worker'); t.start(); t.join()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "Fatal Python error" in done.stderr and "crash" in done.stderr
