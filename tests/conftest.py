import numpy as np
import pytest

from gr_cfisac.config import SystemConfig


@pytest.fixture
def cfg() -> SystemConfig:
    return SystemConfig()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def platform():
    """GNU Radio Companion's platform with our grc/*.block.yml loaded (built once per run)."""
    import os
    from pathlib import Path

    os.environ["GRC_BLOCKS_PATH"] = str(Path(__file__).resolve().parents[1] / "grc")
    from gnuradio.grc.core.platform import Platform

    from gnuradio import gr

    p = Platform(
        name="cfisac-tests",
        prefs=gr.prefs(),
        version=gr.version(),
        version_parts=(gr.major_version(), gr.api_version(), gr.minor_version()),
    )
    p.build_library()
    return p


def _ignored_and_blocked() -> tuple[int, int]:
    """SigIgn and this thread's SigBlk bit masks as the kernel sees them (C-level changes too)."""
    import threading
    from pathlib import Path

    status = Path(f"/proc/self/task/{threading.get_native_id()}/status").read_text()
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    return int(fields["SigIgn"], 16), int(fields["SigBlk"], 16)


@pytest.fixture(autouse=True)
def _signals_left_as_found():
    """A test that leaves pytest's main thread with SIGINT/SIGTERM ignored or blocked hands that
    to every later subprocess (both survive exec: Ctrl-C would never reach a recorder started
    afterwards). Fail that test, and put things back."""
    import signal

    watched = (signal.SIGINT, signal.SIGTERM)
    bits = sum(1 << (s - 1) for s in watched)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    handlers = {s: signal.getsignal(s) for s in watched}
    before = _ignored_and_blocked()
    yield
    after = _ignored_and_blocked()
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    for s in watched:
        if handlers[s] is not None:
            signal.signal(s, handlers[s])  # also undoes a C-level SIG_IGN
    ignored = [signal.Signals(s).name for s in watched if (after[0] & ~before[0]) >> (s - 1) & 1]
    blocked = [signal.Signals(s).name for s in watched if (after[1] & ~before[1]) >> (s - 1) & 1]
    assert not (after[0] & ~before[0] & bits) and not (after[1] & ~before[1] & bits), (
        f"this test left {ignored or ''} ignored / {blocked or ''} blocked in pytest's main "
        "thread (inherited by every later subprocess)"
    )
