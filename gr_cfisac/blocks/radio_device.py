"""Opening and setting up the radios of the radio templates (UHD or SoapySDR), one clear error
when they cannot be, and the settings the radio source and sink share.

``RadioSettings`` is what a template's parameters say about the radio: driver (``uhd``,
``soapy``, or ``file`` / ``zeromq`` to run without radios), device arguments, sample rate,
carrier, gain, antenna, clock and time sources and how the radio's time is set (``sync``).
:func:`open_uhd` / :func:`open_soapy` build GNU Radio's ``uhd.usrp_source/sink`` or
``soapy.source/sink`` with them; a radio that does not answer raises :class:`RadioError` (a
ValueError) naming ``device_args`` and the fix. :func:`one_line_errors` makes a generated
flowgraph print such an error as one line instead of a traceback.

Time (``sync``, docs/testbed.md): ``pc_clock_next_pps`` sets every radio's time to the host's
clock (whole seconds) at the next PPS edge — hosts with NTP/GPS-disciplined clocks and a shared
PPS then agree on radio time to the sample; ``pps`` sets it to 0 at the next PPS (one host:
all its radios agree); ``now`` sets it to the host's clock without PPS (one radio, coarse);
``none`` leaves it.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

from ..timing import RadioTime, block_start_time, check_rate, samples_since

DRIVERS = ("uhd", "soapy", "file", "zeromq")
SYNCS = ("pc_clock_next_pps", "pps", "now", "none")
#: seconds between building a receiver and the first block boundary it starts streaming at
START_LEAD_S = 1.0


class RadioError(ValueError):
    """A radio could not be opened or set up as asked (names the parameter and the fix)."""


@dataclass(frozen=True)
class RadioSettings:
    """A radio template's radio parameters (see the module docstring)."""

    driver: str = "uhd"
    device_args: str = ""
    samp_rate: float = 1e6
    center_freq: float = 3.5e9
    gain: float = 0.0
    antenna: str = ""
    clock_source: str = ""
    time_source: str = ""
    sync: str = "pc_clock_next_pps"

    def __post_init__(self) -> None:
        if self.driver not in DRIVERS:
            raise ValueError(f"radio: driver must be one of {DRIVERS}, got {self.driver!r}")
        if self.sync not in SYNCS:
            raise ValueError(f"radio: sync must be one of {SYNCS}, got {self.sync!r}")
        check_rate(self.samp_rate)
        if not (math.isfinite(self.center_freq) and self.center_freq >= 0):
            raise ValueError(f"radio: center_freq must be >= 0 Hz, got {self.center_freq!r}")


def parse_indices(text: str, name: str, default: list[int], lo: int, hi: int) -> list[int]:
    """A comma-separated list of integers in [lo, hi] ('' gives ``default``), no repeats."""
    text = str(text).strip().strip("[]()")
    if not text:
        return list(default)
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"radio: {name} must be integers like 0,1,2, got {text!r}") from None
    if len(set(values)) != len(values) or not all(lo <= v <= hi for v in values):
        raise ValueError(f"radio: {name} must be distinct integers in {lo}..{hi}, got {text!r}")
    return values


def _refused(settings: RadioSettings, exc: Exception) -> RadioError:
    first = " ".join(str(exc).split())[:300]
    find = "uhd_find_devices" if settings.driver == "uhd" else "SoapySDRUtil --find"
    return RadioError(
        f"no {settings.driver} radio answers to device_args={settings.device_args!r} ({first}); "
        f"check the address ({find}), the cable and power, and that no other program holds "
        "the radio, or run without radios (driver file or zeromq)"
    )


def one_line_errors(prog: str) -> None:
    """Make this process print an uncaught RadioError (or another ValueError raised in
    gr-cfisac) as one line ``PROG: error: ...`` instead of a traceback; the exit status stays
    1 (a generated flowgraph's snippet calls this before its blocks are built)."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        if isinstance(value, ValueError) and "gr_cfisac" in _origin(tb):
            print(f"{prog}: error: {value}", file=sys.stderr)
            return
        previous(kind, value, tb)

    sys.excepthook = hook


def _origin(tb) -> str:
    """The module the innermost frame of a traceback belongs to."""
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return "" if tb is None else str(tb.tb_frame.f_globals.get("__name__", ""))


# ---------------------------------------------------------------------- UHD
def open_uhd(settings: RadioSettings, channels: list[int], transmit: bool):
    """A ``uhd.usrp_sink`` (``transmit``) or ``uhd.usrp_source`` streaming ``channels`` (the
    device's channel numbers, in the order of the block's ports), set up and time-synced."""
    from gnuradio import uhd

    args = uhd.stream_args(cpu_format="fc32", channels=list(channels))
    make = uhd.usrp_sink if transmit else uhd.usrp_source
    try:
        usrp = make(settings.device_args, args)
    except RuntimeError as exc:
        raise _refused(settings, exc) from None
    try:
        if settings.clock_source:
            usrp.set_clock_source(settings.clock_source, uhd.ALL_MBOARDS)
        if settings.time_source:
            usrp.set_time_source(settings.time_source, uhd.ALL_MBOARDS)
        usrp.set_samp_rate(settings.samp_rate)
        for k in range(len(channels)):
            usrp.set_center_freq(settings.center_freq, k)
            usrp.set_gain(settings.gain, k)
            if settings.antenna:
                usrp.set_antenna(settings.antenna, k)
    except RuntimeError as exc:
        raise RadioError(
            f"the {settings.driver} radio at device_args={settings.device_args!r} refused a "
            f"setting ({' '.join(str(exc).split())[:300]}): check clock_source, time_source, "
            "center_freq, gain and antenna against what it supports"
        ) from None
    actual = usrp.get_samp_rate()
    if abs(actual - settings.samp_rate) > 1e-6 * settings.samp_rate:
        raise RadioError(
            f"samp_rate={settings.samp_rate:g}: the radio runs at {actual:g} S/s instead; choose "
            "a rate its master clock divides (the same on every host)"
        )
    sync_uhd(usrp, settings.sync)
    return usrp


def sync_uhd(usrp, sync: str) -> None:
    """Set the radio's time as ``sync`` says (module docstring)."""
    from gnuradio import uhd

    if sync == "pps":
        usrp.set_time_unknown_pps(uhd.time_spec(0.0))
    elif sync == "now":
        usrp.set_time_now(uhd.time_spec(time.time()), uhd.ALL_MBOARDS)
    elif sync == "pc_clock_next_pps":
        last = usrp.get_time_last_pps().get_real_secs()
        deadline = time.monotonic() + 1.5
        while usrp.get_time_last_pps().get_real_secs() == last:
            if time.monotonic() > deadline:
                raise RadioError(
                    "sync=pc_clock_next_pps: no PPS edge reached the radio within 1.5 s; "
                    "connect the PPS (and set time_source external or gpsdo) or use sync now"
                )
            time.sleep(0.05)
        usrp.set_time_next_pps(uhd.time_spec(int(time.time()) + 1.0))
        time.sleep(1.0)


def start_on_grid(usrp, start: RadioTime, per: int, rate: float) -> RadioTime:
    """Make a UHD receiver start streaming at the first block boundary of the grid at least
    START_LEAD_S after its current time (every channel, every device at the same sample)."""
    from gnuradio import uhd

    now = usrp.get_time_now()
    now_t = RadioTime.of((int(now.get_full_secs()), float(now.get_frac_secs())))
    lead = now_t.plus_samples(int(math.ceil(START_LEAD_S * rate)), rate)
    k = max(0, -(-samples_since(start, lead, rate) // per))
    t = block_start_time(k, start, per, rate)
    usrp.set_start_time(uhd.time_spec(int(t.secs), float(t.frac)))
    return t


# ---------------------------------------------------------------------- SoapySDR
def open_soapy(settings: RadioSettings, nchan: int, transmit: bool):
    """A ``soapy.sink`` or ``soapy.source`` with channels 0 .. nchan-1, set up. gr-soapy 3.10
    puts no time tags on its stream and ignores tx_time: see docs/testbed.md."""
    from gnuradio import soapy

    make = soapy.sink if transmit else soapy.source
    try:
        radio = make(settings.device_args, "fc32", nchan, "", "", [""], [""])
    except RuntimeError as exc:
        raise _refused(settings, exc) from None
    try:
        for k in range(nchan):
            radio.set_sample_rate(k, settings.samp_rate)
            radio.set_frequency(k, settings.center_freq)
            radio.set_gain(k, settings.gain)
            if settings.antenna:
                radio.set_antenna(k, settings.antenna)
    except RuntimeError as exc:
        raise RadioError(
            f"the soapy radio at device_args={settings.device_args!r} refused a setting "
            f"({' '.join(str(exc).split())[:300]}): check center_freq, gain and antenna"
        ) from None
    return radio
