"""Per-antenna calibration of the RAPs' receive chains: complex gain and delay corrections, their
file, their estimation from a capture of one source in a known direction, and their application
to a stream (issue 18).

Model: a receive chain m of a RAP scales and delays what its antenna sees,

    x_m(t) = g_m * y_m(t - tau_m)                     (y: the ideal snapshots of eq 41's model)

(cable lengths, filters and LO phases of separate radios), which breaks eq 2's steering vector
and with it MUSIC (eq 42). The correction is its inverse up to one complex factor and one delay
common to all antennas of the RAP (neither changes the MUSIC spectrum):

    y_m(t) ~ gain_m * x_m(t - delay_m),      delay_m = max_k tau_k - tau_m >= 0, samples

File (JSON; ``docs/testbed.md``): ``{"format": "cfisac-calibration", "version": 1,
"MR_shape": [rows, cols], "raps": [{"rap": j (1-based), "gain": [[re, im] x MR],
"delay_samples": [MR numbers], ...}], ...}``; an ``.npz`` with arrays ``gain`` (NR, MR) complex
and ``delay_samples`` (NR, MR) is read too. A RAP the file does not list is not corrected.

Estimation (:func:`estimate`) from blocks Y (B, MR, tau) dominated by one source at (psi,
theta): the delays from the phase slope of each antenna's cross-spectrum with antenna 0
(:func:`estimate_delays`; a wideband source is needed: the TAP side's Gaussian sensing stream
is one), then the gains from the
principal eigenvector u of the delay-corrected covariance, u ~ g * a(psi, theta) (eq 2), so
gain = a / u normalized (antenna 0's phase zero, mean |gain|^2 = 1). numpy only.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .arrays import steering

FORMAT, VERSION = "cfisac-calibration", 1
#: half-length (samples) of the fractional-delay filters: the correction's latency
DELAY_HALF_TAPS = 8


@dataclass(frozen=True)
class RapCalibration:
    """Corrections of one RAP: ``gain`` (MR,) complex to multiply by, ``delay_samples`` (MR,)
    >= 0 to delay by, and what they were estimated from (``info``)."""

    rap: int
    gain: np.ndarray
    delay_samples: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def is_identity(self) -> bool:
        return bool(np.allclose(self.gain, 1.0) and np.allclose(self.delay_samples, 0.0))


@dataclass(frozen=True)
class Calibration:
    """Corrections for the RAPs of a network with ``MR_shape`` arrays (:func:`load`/:func:`save`)."""

    MR_shape: tuple[int, int]
    raps: dict[int, RapCalibration]
    info: dict[str, Any] = field(default_factory=dict)

    def for_rap(self, rap: int) -> RapCalibration:
        """RAP ``rap``'s corrections (1-based), identity if the file does not list it."""
        M = self.MR_shape[0] * self.MR_shape[1]
        return self.raps.get(rap, RapCalibration(rap, np.ones(M, complex), np.zeros(M)))


def _fail(path: Path | str, what: str) -> ValueError:
    return ValueError(
        f"calibration file {path}: {what}; write it with `cfisac calibrate CAPTURE --direction "
        "PSI,THETA` or follow docs/testbed.md"
    )


def _vector(path, name: str, value: Any, M: int, kind: str) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if kind == "complex":
        if arr.shape != (M, 2):
            raise _fail(path, f"{name} must be {M} [re, im] pairs, got shape {arr.shape}")
        arr = arr[:, 0] + 1j * arr[:, 1]
    elif arr.shape != (M,):
        raise _fail(path, f"{name} must be {M} numbers, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise _fail(path, f"{name} holds non-finite values")
    return arr


def _check(path, rap: int, gain: np.ndarray, delay: np.ndarray) -> None:
    if np.any(np.abs(gain) == 0):
        raise _fail(path, f"RAP {rap}: a gain of 0 would silence an antenna")
    if np.any(delay < 0):
        raise _fail(path, f"RAP {rap}: delay_samples must be >= 0 (delays to add)")


def load(path: str | Path, MR_shape: tuple[int, int] | None = None) -> Calibration:
    """Read a calibration file (.json or .npz); ``MR_shape`` given: it must match."""
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "no such file")
    if path.suffix == ".npz":
        cal = _load_npz(path, MR_shape)
    else:
        try:
            doc = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _fail(path, f"not readable JSON ({exc})") from None
        cal = _from_doc(path, doc)
    if MR_shape is not None and tuple(cal.MR_shape) != tuple(MR_shape):
        raise _fail(
            path, f"made for {cal.MR_shape} RAP arrays, the flowgraph's are {tuple(MR_shape)}"
        )
    return cal


def _from_doc(path: Path, doc: Any) -> Calibration:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _fail(path, f"not a {FORMAT} document (its 'format' field)")
    if doc.get("version") != VERSION:
        raise _fail(path, f"version {doc.get('version')!r}, this gr-cfisac reads {VERSION}")
    shape = doc.get("MR_shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(int(s) > 0 for s in shape)):
        raise _fail(path, "MR_shape must be [rows, cols]")
    M = int(shape[0]) * int(shape[1])
    raps: dict[int, RapCalibration] = {}
    if not isinstance(doc.get("raps"), list):
        raise _fail(path, "'raps' must be a list")
    for entry in doc["raps"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("rap"), int):
            raise _fail(path, "every entry of 'raps' needs 'rap' (1-based RAP index)")
        j = entry["rap"]
        if j < 1 or j in raps:
            raise _fail(path, f"RAP {j} is listed twice or is not >= 1")
        gain = _vector(path, f"RAP {j} gain", entry.get("gain"), M, "complex")
        delay = _vector(path, f"RAP {j} delay_samples", entry.get("delay_samples", [0] * M), M, "")
        _check(path, j, gain, delay)
        info = {k: v for k, v in entry.items() if k not in ("rap", "gain", "delay_samples")}
        raps[j] = RapCalibration(j, gain, delay, info)
    info = {k: v for k, v in doc.items() if k not in ("format", "version", "MR_shape", "raps")}
    return Calibration((int(shape[0]), int(shape[1])), raps, info)


def _load_npz(path: Path, MR_shape: tuple[int, int] | None) -> Calibration:
    try:
        with np.load(path) as z:
            gain, delay = np.asarray(z["gain"]), np.asarray(z.get("delay_samples", 0.0))
            shape = tuple(int(s) for s in z["MR_shape"]) if "MR_shape" in z else MR_shape
    except (OSError, KeyError, ValueError) as exc:
        raise _fail(path, f"needs arrays gain (NR, MR) and delay_samples ({exc})") from None
    if shape is None or gain.ndim != 2 or gain.shape[1] != shape[0] * shape[1]:
        raise _fail(path, f"gain must be (NR, MR) for MR_shape {shape}, got {gain.shape}")
    delay = np.broadcast_to(delay, gain.shape).astype(float)
    raps = {}
    for j in range(gain.shape[0]):
        _check(path, j + 1, gain[j], delay[j])
        raps[j + 1] = RapCalibration(j + 1, gain[j].astype(complex), delay[j].copy())
    return Calibration((shape[0], shape[1]), raps)


def save(cal: Calibration, path: str | Path) -> Path:
    """Write ``cal`` as the JSON calibration file."""
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "MR_shape": list(cal.MR_shape),
        **cal.info,
        "raps": [
            {
                "rap": r.rap,
                "gain": [[float(g.real), float(g.imag)] for g in r.gain],
                "delay_samples": [float(d) for d in r.delay_samples],
                **r.info,
            }
            for r in sorted(cal.raps.values(), key=lambda r: r.rap)
        ],
    }
    path = Path(path)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


# ---------------------------------------------------------------------- estimation
def estimate_delays(Y: np.ndarray, max_lag: int = 32, band: float = 0.4) -> np.ndarray:
    """Delay of every antenna relative to antenna 0 (samples), from blocks Y (B, M, tau).

    The cross-correlations with antenna 0 at lags |l| <= L (L = min(max_lag, tau/4)), summed
    over the blocks and divided by the tau - |l| products each lag has (unbiased: a block's
    edges would otherwise pull the delay towards 0), give the cross-spectra
    S_m(f) ~ g_m g_0^* P(f) exp(-j 2 pi f tau_m); tau_m is the phase step between adjacent
    frequencies summed over |f| < ``band`` (cycles/sample, inside a radio's passband).
    Unambiguous for |tau_m| < L.
    """
    Y = np.asarray(Y)
    B, M, n = Y.shape
    L = max(1, min(int(max_lag), n // 4))
    X = np.fft.fft(Y, 2 * n, axis=-1)  # zero-padded: linear correlations
    r = np.fft.ifft(X * np.conj(X[:, :1]), axis=-1).sum(axis=0)  # (M, 2n), lag l at l mod 2n
    lags = np.arange(-L, L + 1)
    r = r[:, lags % (2 * n)] / (B * (n - np.abs(lags)))
    K = 256
    f = np.arange(K) / K - 0.5
    f = f[np.abs(f) < band]
    S = r @ np.exp(-2j * np.pi * np.outer(lags, f))  # (M, len(f))
    step = np.sum(S[:, 1:] * np.conj(S[:, :-1]), axis=-1)
    return -np.angle(step) * K / (2 * np.pi)


def delayed_covariance(Y: np.ndarray, delay: np.ndarray) -> np.ndarray:
    """Sample covariance (M, M) of blocks Y (B, M, tau) after delaying antenna m by delay[m]
    samples (a linear phase per frequency; Parseval: (1/(B n^2)) sum_b,f X X^H)."""
    Y = np.asarray(Y)
    B, M, n = Y.shape
    f = np.fft.fftfreq(n)
    X = np.fft.fft(Y, axis=-1) * np.exp(-2j * np.pi * f[None, None, :] * delay[None, :, None])
    return np.einsum("bmf,bkf->mk", X, np.conj(X)) / (B * n * n)


def estimate(
    Y: np.ndarray,
    psi: float,
    theta: float,
    rows: int,
    cols: int,
    delays: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Corrections (gain (M,), delay_samples (M,)) for one RAP from blocks Y (B, M, tau) of one
    dominant source at (psi, theta) radians (see the module docstring)."""
    Y = np.asarray(Y)
    M = rows * cols
    if Y.ndim != 3 or Y.shape[1] != M:
        raise ValueError(f"calibration: blocks must be (B, {M}, tau) for a {rows}x{cols} RAP")
    if Y.shape[0] < 1 or Y.shape[2] < 2:
        raise ValueError("calibration: the capture holds no whole coherence block")
    tau = estimate_delays(Y) if delays else np.zeros(M)
    delay = tau.max() - tau
    R = delayed_covariance(Y, delay)
    w, V = np.linalg.eigh(R)
    u = V[:, -1]
    a = steering(psi, theta, rows, cols)
    gain = a / u
    gain = gain * np.exp(-1j * np.angle(gain[0]))
    gain = gain / np.sqrt(np.mean(np.abs(gain) ** 2))
    return gain, delay


def dominance(Y: np.ndarray) -> float:
    """Largest over second-largest eigenvalue of the sample covariance of blocks Y (B, M, tau)
    (how much one source dominates the capture; calibration needs it well above 1)."""
    Y = np.asarray(Y)
    R = np.einsum("bmt,bkt->mk", Y, np.conj(Y)) / (Y.shape[0] * Y.shape[2])
    w = np.linalg.eigvalsh(R)
    return float(w[-1] / max(w[-2], 1e-300)) if len(w) > 1 else math.inf


# ---------------------------------------------------------------------- application
def delay_filters(delay: np.ndarray, half: int = DELAY_HALF_TAPS) -> np.ndarray:
    """Fractional-delay FIRs (M, L): antenna m delayed by ``half + delay[m]`` samples
    (Hann-windowed sinc; integer delays are exact impulses)."""
    delay = np.asarray(delay, dtype=float)
    length = 2 * half + 1 + int(math.ceil(delay.max(initial=0.0)))
    k = np.arange(length)[None, :] - (half + delay[:, None])
    window = np.where(np.abs(k) < half + 1, 0.5 * (1 + np.cos(np.pi * k / (half + 1))), 0.0)
    return np.sinc(k) * window


class Corrector:
    """Applies one RAP's corrections to its stream, chunk by chunk: ``x (n, M) -> y (n, M)``,
    ``y_m = gain_m * x_m`` delayed by ``delay_m`` (plus DELAY_HALF_TAPS samples of latency on
    every antenna when any delay is non-zero; none otherwise). ``reset()`` forgets the history
    (a break in the stream)."""

    def __init__(self, gain: np.ndarray, delay_samples: np.ndarray) -> None:
        self.gain = np.asarray(gain, dtype=np.complex64)
        delay = np.asarray(delay_samples, dtype=float)
        self.filters = None if np.allclose(delay, 0.0) else delay_filters(delay)
        self.M = self.gain.size
        self.reset()

    @property
    def latency(self) -> int:
        """Samples every antenna is delayed by besides its own correction."""
        return 0 if self.filters is None else DELAY_HALF_TAPS

    def reset(self) -> None:
        taps = 0 if self.filters is None else self.filters.shape[1] - 1
        self._history = np.zeros((taps, self.M), dtype=np.complex64)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.complex64)
        if self.filters is None:
            return x * self.gain
        full = np.concatenate([self._history, x])
        y = np.empty_like(x)
        for m in range(self.M):  # M antennas; each a vectorized convolution over the chunk
            y[:, m] = np.convolve(full[:, m], self.filters[m], mode="valid")
        if len(self._history):
            self._history = full[-len(self._history) :].copy()
        return y * self.gain
