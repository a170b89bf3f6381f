"""System configuration: every dimension and physical parameter of the CF-ISAC network.

Dimensions follow Table I of the STCIB paper. Physical units (carrier, bandwidth, noise figure,
transmit powers, metres) live here and are turned into the normalized quantities of the
equations (unit noise at every receiver) in exactly one place: the properties ``rho``/``rho_p``
and the methods :meth:`SystemConfig.pathloss_gain` and :meth:`SystemConfig.reflection_gain`.

Why we derive rho: the paper quotes rho = 10 dB together with L0 = -40 dB, alpha = 3 and unit
noise, which would leave every received SNR near -80 dB. We therefore define

    rho   = P_TAP  / (k T B NF)      (transmit power over receiver noise power)
    rho_p = P_user / (k T B NF)      (users' pilot power, same noise)
    varsigma_dB(d) = L0 - 10 alpha log10(d / 1 m)

so that ``rho * varsigma`` is the received SNR of one antenna pair. The correlation matrices
are normalized to tr(R) = MT (the element area A is folded into R). Setting ``rho_db``
(and optionally ``rho_p_db``) selects the normalized textbook model instead: varsigma = 1 and
reflection amplitudes equal to the RCS standard deviation, with rho taken as given.

Defaults the paper leaves open (documented choices): a 50 m x 50 m area (a factory hall or
campus plaza) with APs on grids at 10 m facing down and users/target at 1.5 m; 3.5 GHz carrier,
20 MHz bandwidth, 9 dB noise figure (noise -92 dBm), -12 dBm per TAP (rho = 80 dB), 0 dBm user
pilots (rho_p = 92 dB), target RCS variance 20 m^2 (a vehicle) and 10 m^2 per clutter point.
With them, on the paper scene, ZF gives a median per-user SINR of ~19 dB and MRT ~11 dB, and
both give per-RAP median SCNRs of -6, -9, -13 and -14 dB (a few bps/Hz per user, 0.1-0.4 bps/Hz
per RAP before any sensing beam; tests/test_config.py keeps them there). The bistatic radar
equation loses ~d^-4, so the RAP nearest the target sees the strongest echo.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

BOLTZMANN = 1.380649e-23
SPEED_OF_LIGHT = 299_792_458.0


def db_to_linear(x_db: float | np.ndarray) -> float | np.ndarray:
    """Power ratio in dB to linear."""
    return 10.0 ** (np.asarray(x_db, dtype=float) / 10.0)


def linear_to_db(x: float | np.ndarray) -> float | np.ndarray:
    """Linear power ratio to dB."""
    return 10.0 * np.log10(x)


#: Upper bounds of the counts, and why: the chain has one GNU Radio port per AP and per user,
#: and GNU Radio buffers hold 2 x max_blocks whole coherence blocks on every port.
MAX_APS = 1024
MAX_USERS = 1024
MAX_CLUTTER = 1024
MAX_ARRAY_SIDE = 64
MAX_TAU_C = 100_000
#: Largest per-coherence-block array, in complex numbers: the sensing matrices G_t and G_c
#: (eq 16, NR (1+NC) MR NT MT) or the TAP-user correlation matrices (eq 1, NT K MT^2); 2**25
#: complex128 are 512 MiB per block, and the blocks batch up to 64 coherence blocks per call.
MAX_BLOCK_ELEMENTS = 2**25

_WHY_PORTS = "the chain has one GNU Radio port per AP, so a larger network cannot be built"
#: name -> (low, high, why): the counts, inclusive.
_COUNTS: dict[str, tuple[int, int, str]] = {
    "NT": (1, MAX_APS, _WHY_PORTS),
    "NR": (1, MAX_APS, _WHY_PORTS),
    "K": (1, MAX_USERS, "the chain has one GNU Radio port per user"),
    "NC": (0, MAX_CLUTTER, "every clutter point adds a sensing matrix G_c per RAP"),
    "tau_c": (2, MAX_TAU_C, "GNU Radio buffers hold 2 x max_blocks whole blocks on every port"),
    "tau_p": (1, MAX_TAU_C - 1, "pilots are part of the coherence block (tau_p < tau_c)"),
}
#: name -> (low, high, unit, why): every physical parameter, inclusive. The bounds are
#: generous (beyond any radio) and keep every derived quantity (10^(x/10), wavelength,
#: pathloss over the area) finite and non-zero in float64.
_RANGES: dict[str, tuple[float, float, str, str]] = {
    "carrier_hz": (1e6, 1e12, "Hz", "from HF radar to THz"),
    "bandwidth_hz": (1.0, 1e11, "Hz", "the noise power is k T B NF"),
    "noise_figure_db": (0.0, 50.0, "dB", "a receiver adds noise, 0 dB is ideal"),
    "noise_temperature_k": (1.0, 1e4, "K", "290 K is the standard"),
    "tap_power_dbm": (-100.0, 90.0, "dBm", "per-TAP transmit power, 90 dBm is 1 MW"),
    "pilot_power_dbm": (-100.0, 90.0, "dBm", "users' pilot power"),
    "pathloss_ref_db": (-200.0, 0.0, "dB", "the gain at 1 m of a passive channel is <= 0 dB"),
    "pathloss_exponent": (1.0, 10.0, "", "2 in free space, up to ~6 indoors"),
    "rcs_target_m2": (0.0, 1e6, "m^2", "radar cross-section variance"),
    "rcs_clutter_m2": (0.0, 1e6, "m^2", "radar cross-section variance"),
    "area_m": (1.0, 1e5, "m", "side of the square area"),
    "ap_height_m": (0.0, 1e4, "m", "heights above ground"),
    "user_height_m": (0.0, 1e4, "m", "heights above ground"),
    "target_height_m": (0.0, 1e4, "m", "heights above ground"),
    "min_distance_m": (1e-3, 1e5, "m", "users' and target's distance from every AP"),
    "rho_db": (-100.0, 200.0, "dB", "normalized transmit SNR (None: from the link budget)"),
    "rho_p_db": (-100.0, 200.0, "dB", "normalized pilot SNR (None: rho_db)"),
}
MAX_RICIAN_K = 1e4


def _is_number(value: Any) -> bool:
    """A real number, not a bool (JSON true would otherwise pass as 1)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, (bool, np.bool_)
    )


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _pair(name: str, value: Any, integer: bool = False) -> tuple:
    """A 2-sequence of numbers (rows, cols) or (low, high); ValueError naming the field."""
    try:
        items = tuple(value)
    except TypeError:
        items = ()
    ok = len(items) == 2 and not isinstance(value, str)
    ok = ok and all(_is_integer(x) if integer else _is_number(x) for x in items)
    if not ok:
        kind = "two integers (rows, cols)" if integer else "two numbers (low, high)"
        raise ValueError(
            f"SystemConfig.{name} must be {kind} (not booleans or strings), got {value!r}"
        )
    return tuple(int(x) if integer else float(x) for x in items)


def _count(name: str, value: Any) -> int:
    lo, hi, why = _COUNTS[name]
    if not _is_integer(value):
        raise ValueError(
            f"SystemConfig.{name} must be an integer (not a boolean or a float), got {value!r}"
        )
    if not lo <= value <= hi:
        raise ValueError(
            f"SystemConfig.{name} = {value!r} is outside [{lo}, {hi}] ({why}); set {name} "
            f"within that range"
        )
    return int(value)


def _physical(name: str, value: Any) -> float:
    lo, hi, unit, why = _RANGES[name]
    unit = f" {unit}" if unit else ""
    if not _is_number(value):
        raise ValueError(
            f"SystemConfig.{name} must be a number in{unit} (not a boolean or a string), "
            f"got {value!r}"
        )
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ValueError(
            f"SystemConfig.{name} = {value!r}{unit} is outside [{lo:g}, {hi:g}]{unit} ({why}); "
            f"set {name} within that range"
        )
    return float(value)


@dataclass(frozen=True)
class SystemConfig:
    """Dimensions, physical parameters and the normalized quantities derived from them.

    Array shapes are (rows, cols) of a URPA: MT = rows * cols (eqs 2-5).
    """

    # --- dimensions (Table I) ---
    NT: int = 8
    NR: int = 4
    MT_shape: tuple[int, int] = (2, 2)
    MR_shape: tuple[int, int] = (2, 2)
    K: int = 4
    NC: int = 2
    tau_c: int = 196
    tau_p: int = 4
    # --- radio ---
    carrier_hz: float = 3.5e9
    bandwidth_hz: float = 20e6
    noise_figure_db: float = 9.0
    noise_temperature_k: float = 290.0
    tap_power_dbm: float = -12.0
    pilot_power_dbm: float = 0.0
    # --- propagation (Section VII-B) ---
    pathloss_ref_db: float = -40.0
    pathloss_exponent: float = 3.0
    rician_k_range: tuple[float, float] = (1.0, 3.0)
    correlation: str = "isotropic"
    # --- scatterers: RCS variances sigma^2 of eq 16 (m^2) ---
    rcs_target_m2: float = 20.0
    rcs_clutter_m2: float = 10.0
    # --- area and heights (m) ---
    area_m: float = 50.0
    ap_height_m: float = 10.0
    user_height_m: float = 1.5
    target_height_m: float = 1.5
    min_distance_m: float = 5.0
    # --- normalized-model override ---
    rho_db: float | None = None
    rho_p_db: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "MT_shape", _pair("MT_shape", self.MT_shape, integer=True))
        object.__setattr__(self, "MR_shape", _pair("MR_shape", self.MR_shape, integer=True))
        object.__setattr__(self, "rician_k_range", _pair("rician_k_range", self.rician_k_range))
        for name, value in self._checked_numbers().items():
            object.__setattr__(self, name, value)
        self.validate()

    # ------------------------------------------------------------------ validation
    def _checked_numbers(self) -> dict[str, Any]:
        """Counts as ints and physical parameters as floats, each within its range (bools,
        strings and out-of-range values refused naming the field); None stays for rho_db/rho_p_db."""
        out: dict[str, Any] = {name: _count(name, getattr(self, name)) for name in _COUNTS}
        for name in _RANGES:
            value = getattr(self, name)
            optional = name in ("rho_db", "rho_p_db")
            out[name] = None if optional and value is None else _physical(name, value)
        return out

    def validate(self) -> None:
        """Raise ValueError naming the parameter and the fix for any value that cannot work.

        Every count and physical parameter has a range (``_COUNTS``, ``_RANGES``). K > NT MT
        stays legal (overloaded systems are studied): precoders that need K <= N refuse it
        themselves, and MUSIC refuses more sources than a RAP resolves when it is built.
        """
        self._checked_numbers()
        for name in ("MT_shape", "MR_shape"):
            shape = getattr(self, name)
            if len(shape) != 2 or not all(1 <= x <= MAX_ARRAY_SIDE for x in shape):
                raise ValueError(
                    f"SystemConfig.{name} must be (rows, cols) with both in [1, "
                    f"{MAX_ARRAY_SIDE}] (a {MAX_ARRAY_SIDE}x{MAX_ARRAY_SIDE} URPA has "
                    f"{MAX_ARRAY_SIDE**2} elements), got {shape!r}"
                )
        sensing = self.NR * (1 + self.NC) * self.MR * self.N
        comm = self.NT * self.K * self.MT**2
        for what, size, fields in (
            ("sensing matrices G_t, G_c (eq 16)", sensing, "NR, NC, MR_shape, NT or MT_shape"),
            ("TAP-user correlation matrices (eq 1)", comm, "NT, K or MT_shape"),
        ):
            if size > MAX_BLOCK_ELEMENTS:
                raise ValueError(
                    f"SystemConfig: the {what} hold {size:,} complex numbers per coherence "
                    f"block, over the limit {MAX_BLOCK_ELEMENTS:,} (512 MiB; the blocks batch up "
                    f"to 64 coherence blocks per call); lower {fields}"
                )
        if self.tau_p < self.K:
            raise ValueError(
                f"SystemConfig.tau_p={self.tau_p} < K={self.K}: orthogonal pilots need "
                f"tau_p >= K; raise tau_p or lower K"
            )
        if self.tau_c <= self.tau_p:
            raise ValueError(
                f"SystemConfig.tau_c={self.tau_c} must exceed tau_p={self.tau_p} to leave "
                "downlink symbols; raise tau_c"
            )
        lo, hi = self.rician_k_range
        if not 0 <= lo <= hi <= MAX_RICIAN_K:
            raise ValueError(
                f"SystemConfig.rician_k_range must be (low, high) with 0 <= low <= high <= "
                f"{MAX_RICIAN_K:g} (linear Rician K-factors), got {self.rician_k_range!r}"
            )
        if self.correlation not in ("isotropic", "uncorrelated"):
            raise ValueError(
                f"SystemConfig.correlation must be 'isotropic' or 'uncorrelated', "
                f"got {self.correlation!r}"
            )
        if self.ap_height_m <= max(self.user_height_m, self.target_height_m):
            raise ValueError(
                "SystemConfig.ap_height_m must exceed user_height_m and target_height_m: the "
                "arrays face down and see only what lies below them"
            )
        if self.rho_p_db is not None and self.rho_db is None:
            raise ValueError("SystemConfig.rho_p_db needs rho_db too (the normalized model)")

    # ------------------------------------------------------------------ derived sizes
    @property
    def MT(self) -> int:
        return self.MT_shape[0] * self.MT_shape[1]

    @property
    def MR(self) -> int:
        return self.MR_shape[0] * self.MR_shape[1]

    @property
    def N(self) -> int:
        """Total transmit antennas NT * MT (rows of F and W)."""
        return self.NT * self.MT

    @property
    def tau(self) -> int:
        """Downlink symbols per coherence block, tau_c - tau_p."""
        return self.tau_c - self.tau_p

    @property
    def kappa(self) -> float:
        """Pre-log factor of eqs 19 and 21, (tau_c - tau_p) / tau_c."""
        return self.tau / self.tau_c

    @property
    def wavelength_m(self) -> float:
        return SPEED_OF_LIGHT / self.carrier_hz

    # ------------------------------------------------------------------ normalization
    @property
    def normalized(self) -> bool:
        """True when rho_db is given: the textbook model with varsigma = 1."""
        return self.rho_db is not None

    @property
    def noise_power_w(self) -> float:
        """Receiver noise power k T B NF in watts."""
        return (
            BOLTZMANN
            * self.noise_temperature_k
            * self.bandwidth_hz
            * 10.0 ** (self.noise_figure_db / 10.0)
        )

    @property
    def rho(self) -> float:
        """Per-TAP transmit SNR (linear) of eq 23d: P_TAP / (k T B NF) or 10^(rho_db/10)."""
        if self.rho_db is not None:
            return 10.0 ** (self.rho_db / 10.0)
        return 10.0 ** ((self.tap_power_dbm - 30.0) / 10.0) / self.noise_power_w

    @property
    def rho_p(self) -> float:
        """Users' uplink pilot SNR (linear) of eq 6."""
        if self.rho_db is not None:
            return 10.0 ** ((self.rho_p_db if self.rho_p_db is not None else self.rho_db) / 10.0)
        return 10.0 ** ((self.pilot_power_dbm - 30.0) / 10.0) / self.noise_power_w

    @property
    def power_budget(self) -> float:
        """Total power of eq 23d, ||W||_F^2 <= rho * NT."""
        return self.rho * self.NT

    def pathloss_gain(self, distance_m: np.ndarray) -> np.ndarray:
        """Large-scale fading varsigma (linear): 10^((L0 - 10 alpha log10 d)/10), or 1 if normalized."""
        d = np.maximum(np.asarray(distance_m, dtype=float), 1.0)
        if self.normalized:
            return np.ones_like(d)
        return 10.0 ** ((self.pathloss_ref_db - 10.0 * self.pathloss_exponent * np.log10(d)) / 10.0)

    def reflection_gain(
        self, d_tx_m: np.ndarray, d_rx_m: np.ndarray, rcs_m2: float | np.ndarray
    ) -> np.ndarray:
        """Large-scale reflection amplitude |alpha_bar| of eq 16 (without the CN(0,1) factor).

        sqrt(lambda^2 sigma^2 / ((4 pi)^3 d_tx^2 d_rx^2)); sqrt(sigma^2) if normalized.
        """
        d_tx = np.maximum(np.asarray(d_tx_m, dtype=float), 1.0)
        d_rx = np.maximum(np.asarray(d_rx_m, dtype=float), 1.0)
        rcs = np.asarray(rcs_m2, dtype=float)
        if self.normalized:
            return np.sqrt(rcs) * np.ones(np.broadcast(d_tx, d_rx).shape)
        lam = self.wavelength_m
        return np.sqrt(lam**2 * rcs / ((4 * np.pi) ** 3 * d_tx**2 * d_rx**2))

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["MT_shape"] = list(self.MT_shape)
        d["MR_shape"] = list(self.MR_shape)
        d["rician_k_range"] = list(self.rician_k_range)
        return d

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SystemConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"SystemConfig: unknown field(s) {unknown}; valid fields are {sorted(known)}"
            )
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> SystemConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"SystemConfig.from_json: not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ValueError("SystemConfig.from_json: expected a JSON object")
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> SystemConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def summary(self) -> str:
        return (
            f"NT={self.NT} TAPs x MT={self.MT} {self.MT_shape}, NR={self.NR} RAPs x MR={self.MR} "
            f"{self.MR_shape}, K={self.K} users, NC={self.NC} clutter, tau_c={self.tau_c}, "
            f"tau_p={self.tau_p}, rho={10 * np.log10(self.rho):.1f} dB, "
            f"rho_p={10 * np.log10(self.rho_p):.1f} dB"
        )
