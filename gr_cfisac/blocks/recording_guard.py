"""Finishing open recordings when the host process is stopped, whatever script hosts them.

The first recording block created in the main thread installs handlers for SIGINT and SIGTERM
that chain to the handlers installed before them, plus an ``atexit`` hook:

- SIGINT (Ctrl-C) goes on to the previous handler (Python's raises KeyboardInterrupt, on
  which ``tb.wait()`` / ``tb.run()`` stop the flowgraph, and each sink finishes its capture in
  ``stop()``); a GRC script's own handler (``tb.stop(); tb.wait()``) does the same;
- SIGTERM with the default action finishes every open recording first, then ends the process
  by the same signal (exit status -15 as before, but the files are complete);
- a process that exits while still recording (an uncaught KeyboardInterrupt after
  ``tb.start()``) finishes them at exit.

Recordings finished this way are marked ``cfisac:interrupted`` with the signal's name. A
signal the host ignores (SIG_IGN) is left alone. Blocks register with :func:`register` while
they record and leave with :func:`unregister`; they implement ``finish(reason)``.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import weakref
from typing import Any, Protocol


class Finishable(Protocol):
    def finish(self, reason: str | None) -> Any: ...


_open: weakref.WeakSet = weakref.WeakSet()
_previous: dict[int, Any] = {}
_installed = False
#: Name of the signal that is stopping this process (None until one arrives).
received: str | None = None


def register(block: Finishable) -> None:
    """Finish ``block`` when the process is stopped by a signal or exits (see module doc)."""
    _install()
    _open.add(block)


def unregister(block: Finishable) -> None:
    _open.discard(block)


def stop_reason() -> str | None:
    """'stopped by SIGINT' once such a signal arrived, else None."""
    return None if received is None else f"stopped by {received}"


def finish_all(reason: str) -> None:
    """Finish every registered recording, marked interrupted (by the signal if one came)."""
    for block in list(_open):
        block.finish(stop_reason() or reason)


def _install() -> None:
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if previous in (signal.SIG_IGN, None):
            continue  # ignored by the host (or set outside Python): leave it so
        _previous[signum] = previous
        signal.signal(signum, _handler)
    atexit.register(finish_all, "the host process exited while recording")
    _installed = True


def _handler(signum: int, frame: Any) -> None:
    global received
    received = signal.Signals(signum).name
    previous = _previous.get(signum)
    if callable(previous):
        previous(signum, frame)
        return
    # the default action (terminate): finish the files first, then die of the same signal
    signal.signal(signum, signal.SIG_IGN)  # a second one waits for the files
    finish_all(f"stopped by {received}")
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
