"""How a flowgraph process started from a GRC template ends: a Python stack of every thread if
it crashes, and no Python thread of its own still running when the interpreter exits.

GRC's no-GUI ``main()`` stops the flowgraph from its SIGTERM/SIGINT handler, waits for it and
calls ``sys.exit`` while the interruptible wait it was in (gnuradio.gr.top_block waits in a
daemon thread and polls) may still be returning from GNU Radio's C++ wait: the interpreter then
finalizes under a thread that is about to take the GIL again. The templates call
:func:`join_threads` after the stop (a GRC ``main_after_stop`` snippet) and
:func:`report_crashes` before their blocks are built.

Worse, that handler's wait runs while main()'s own wait is still in GNU Radio's C++ wait (in
the daemon thread): two concurrent waits join the same scheduler threads, which crashed the
HIL TAP side with SIGSEGV once and hung it once (of many clean-clone CI runs). So the
templates replace the handler after the start (a ``main_after_start`` snippet,
:func:`stop_on_signal`): a signal only stops the flowgraph, main()'s one wait returns, and the
process ends through the ``main_after_stop`` snippets as when the flowgraph ends by itself.
"""

from __future__ import annotations

import faulthandler
import signal
import threading
import time


def report_crashes() -> None:
    """Print every thread's Python stack on stderr if the process crashes (faulthandler)."""
    if not faulthandler.is_enabled():
        faulthandler.enable(all_threads=True)


def join_threads(timeout_s: float = 2.0) -> list[str]:
    """Wait for every other thread Python started to end, ``timeout_s`` in all (a thread that
    never ends cannot hold the exit longer). -> the names of those still running."""
    if not timeout_s >= 0:
        raise ValueError(f"timeout_s must be >= 0 seconds, got {timeout_s}")
    deadline = time.monotonic() + timeout_s
    me, main = threading.current_thread(), threading.main_thread()
    # threads Python did not start (GNU Radio's block threads once they called a Python
    # block) are listed as dummies, always "alive", and cannot be joined
    others = [
        t
        for t in threading.enumerate()
        if t is not me and t is not main and not isinstance(t, threading._DummyThread)
    ]
    for t in others:
        t.join(max(0.0, deadline - time.monotonic()))
    return [t.name for t in others if t.is_alive()]


def stop_on_signal(tb) -> None:
    """SIGINT and SIGTERM stop the flowgraph ``tb`` and nothing more: the wait of GRC's no-GUI
    main() (run option "run") then returns and the process ends as when the flowgraph ends by
    itself (see the module). Call it after ``tb.start()``."""

    def stop(signum: int, frame) -> None:
        tb.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
