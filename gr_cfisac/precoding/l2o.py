"""Registry family ``l2o``: an MT-SAO-lift model of paper 002 (variable K <= Km users and
N <= Nm antennas) hosted in ONNX Runtime. numpy + onnxruntime only.

The graph (``gr_cfisac.train.l2o.export``) takes the Km x Nm channel with user and antenna
masks and sigma^2; this family pads the core's F_hat (B, N, K) into it (the first N antennas and
the K users, the inactive ones of ``Realization.active`` masked) and returns DESIGN's layout
W (B, N, K+1): column 0 the sensing beam — zero, these models serve users only — and inactive
users' columns zero. Scenarios: ``mu_miso`` (paper 002's units: P = 1, sigma^2 = 1 / SNR within
the card's SNR range) and ``cellfree`` when the card says the model was trained on cell-free
channels (``"scenario": "cellfree"`` with its ``system``; N = NT MT, noise 1, power
``power_budget``: the channel goes in scaled by sqrt(power_budget) and W comes out scaled back).
A K above Km, an N above Nm or a mask that disagrees with the channel is a ValueError naming
the field.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np

from .cards import (
    CELLFREE_NEEDS_SYSTEM,
    MAX_CARD_BYTES,
    CardError,
    family_card_schema,
    onnx_card_section,
)
from .registry import Family, PrecoderResult, PrecoderSpec, Realization, register

#: the graph's inputs, in order
INPUTS = ("channel", "user_mask", "antenna_mask", "noise")
SCENARIOS = ("mu_miso", "cellfree")

#: JSON schema of an l2o model card (written by gr_cfisac.train.l2o.export)
CARD_SCHEMA: dict[str, Any] = family_card_schema(
    "l2o",
    "gr-cfisac model card (MT-SAO-lift, paper 002)",
    required=["dimensions", "snr_db_range"],
    properties={
        "scenario": {"enum": list(SCENARIOS)},
        "system": {"type": "object"},
        "dimensions": {
            "type": "object",
            "required": ["Km", "Nm"],
            "properties": {
                "Km": {"type": "integer", "minimum": 1},
                "Nm": {"type": "integer", "minimum": 1},
            },  # fmt: skip
        },
        "snr_db_range": {
            "type": "array",
            "items": {"type": "number"},
            "minItems": 2,
            "maxItems": 2,
        },  # fmt: skip
        "architecture": {
            "type": "object",
            "required": ["arch", "T", "Q_i"],
            "properties": {
                "arch": {"enum": ["mt-sao-lift", "mt-sao"]},
                "T": {"type": "integer", "minimum": 1},
                "Q_i": {"type": "integer", "minimum": 0},
            },
        },
        "onnx": onnx_card_section(INPUTS, min_rank=1),
    },
    **CELLFREE_NEEDS_SYSTEM,
)


def validate_l2o_card(card: Any, path: str | Path) -> None:
    """CardError naming ``path`` and the first bad field unless ``card`` follows CARD_SCHEMA."""
    if not isinstance(card, dict):
        raise CardError(f"model card {path}: must be a JSON object")
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(CARD_SCHEMA).iter_errors(card)
    )
    if error is not None:
        field = ".".join(str(p) for p in error.absolute_path) or "(card)"
        if error.validator == "required":
            missing = [k for k in error.validator_value if k not in error.instance]
            field, what = (
                (f"{field}.{missing[0]}" if error.absolute_path else missing[0]),
                "is missing",
            )
        else:
            what = error.message if len(error.message) < 200 else error.message[:200] + "..."
        raise CardError(f"model card {path}: field {field} {what}; re-export the model")


def read_l2o_card(path: str | Path) -> dict[str, Any]:
    """Parse and validate an l2o card (CardError naming the file and field)."""
    path = Path(path)
    if not path.is_file():
        raise CardError(f"model card {path} does not exist; it is NAME.json beside NAME.onnx")
    if path.stat().st_size > MAX_CARD_BYTES:
        raise CardError(f"model card {path} is over {MAX_CARD_BYTES:,} bytes: not a model card")
    try:
        card = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CardError(f"model card {path} is not valid JSON ({exc})") from None
    validate_l2o_card(card, path)
    return card


class L2OHost:
    """An l2o ONNX model with its card: :meth:`run` on the graph's own inputs, :meth:`precode`
    on the core's F_hat (B, N, K) with an optional active-user mask (module docstring)."""

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        import hashlib

        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(
                f"l2o model {self.path} does not exist (the .onnx with its .json card)"
            )
        self.card = read_l2o_card(self.path.with_suffix(".json"))
        digest = hashlib.sha256(self.path.read_bytes()).hexdigest()
        if digest != self.card["sha256"]:
            raise CardError(
                f"model card {self.path.with_suffix('.json')}: field sha256 does not match "
                f"{self.path.name} (the file changed after export); re-export the model"
            )
        self.Km = int(self.card["dimensions"]["Km"])
        self.Nm = int(self.card["dimensions"]["Nm"])
        self.snr_db_range = tuple(float(v) for v in self.card["snr_db_range"])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(self.path), opts, providers=["CPUExecutionProvider"]
        )

    def run(
        self, F: np.ndarray, users: np.ndarray, antennas: np.ndarray, noise: float | np.ndarray
    ) -> np.ndarray:
        """The graph on full inputs: F (B, Nm, Km) complex, masks users (B, Km) and antennas
        (B, Nm), sigma^2 scalar or (B,) -> W (B, Nm, Km) complex64, zero outside the masks."""
        F = np.asarray(F)
        B = F.shape[0] if F.ndim == 3 else 0
        if F.shape != (B, self.Nm, self.Km) or B == 0:
            raise ValueError(f"F must be (B, Nm={self.Nm}, Km={self.Km}), got {F.shape}")
        masks = {}
        for name, mask, size in (("users", users, self.Km), ("antennas", antennas, self.Nm)):
            mask = np.asarray(mask)
            if mask.shape != (B, size):
                raise ValueError(f"{name} mask must be (B={B}, {size}), got {mask.shape}")
            if not np.all((mask == 0) | (mask == 1)):
                raise ValueError(f"{name} mask must hold only 0/1 (or bool) values")
            masks[name] = mask.astype(np.float32)
        active = masks["antennas"][:, :, None] * masks["users"][:, None, :]
        silent = (np.abs(F * active) ** 2).sum(1) == 0  # (B, Km): active users with no channel
        bad = np.argwhere(silent & (masks["users"] > 0) & (masks["antennas"].sum(-1) > 0)[:, None])
        if bad.size:
            b, k = bad[0]
            raise ValueError(
                f"users mask disagrees with the channel: block {b} marks user {k} active but its "
                "channel on the active antennas is zero; mark it inactive"
            )
        noise = np.broadcast_to(np.asarray(noise, np.float32).reshape(-1, 1), (B, 1))
        if not np.all(noise > 0):
            raise ValueError("noise (sigma^2) must be positive")
        Ft = F.transpose(0, 2, 1)
        feed = {
            "channel": np.concatenate([Ft.real, Ft.imag], -1).astype(np.float32),
            "user_mask": masks["users"],
            "antenna_mask": masks["antennas"],
            "noise": np.ascontiguousarray(noise),
        }
        out = self.session.run(["beamformer"], feed)[0]
        W = out[..., : self.Nm] + 1j * out[..., self.Nm :]
        return W.transpose(0, 2, 1).astype(np.complex64)

    def check_size(self, K: int, N: int) -> None:
        if K > self.Km:
            raise ValueError(f"K={K} users exceed the model's Km={self.Km} ({self.path.name})")
        if N > self.Nm:
            raise ValueError(f"N={N} antennas exceed the model's Nm={self.Nm} ({self.path.name})")

    def precode(self, F_hat: np.ndarray, active: np.ndarray | None, noise: float) -> np.ndarray:
        """User beams W (B, N, K) for F_hat (B, N, K): the first N antennas and the K users
        (those ``active`` marks, (B, K)) of the model's Km x Nm."""
        F_hat = np.asarray(F_hat)
        if F_hat.ndim != 3:
            raise ValueError(f"F_hat must be (B, N, K), got shape {F_hat.shape}")
        B, N, K = F_hat.shape
        self.check_size(K, N)
        if active is None:
            active = np.ones((B, K), bool)
        active = np.asarray(active)
        if active.shape != (B, K):
            raise ValueError(f"active mask must be (B={B}, K={K}) like F_hat, got {active.shape}")
        if not np.all((active == 0) | (active == 1)):
            raise ValueError("active mask must hold only 0/1 (or bool) values")
        F = np.zeros((B, self.Nm, self.Km), complex)
        F[:, :N, :K] = F_hat
        users = np.zeros((B, self.Km), bool)
        users[:, :K] = active.astype(bool)
        antennas = np.zeros((B, self.Nm), bool)
        antennas[:, :N] = True
        return self.run(F, users, antennas, noise)[:, :N, :K]


def _check_config(host: L2OHost, scenario: str, cfg: Any) -> tuple[float, float]:
    """(noise, power) the model runs at for this scenario's config; ValueError naming the
    field that does not fit the card."""
    name = host.path.name
    trained = host.card["scenario"]
    if trained != scenario:
        raise ValueError(
            f"{name} was trained for scenario {trained!r} (its card's field scenario), not "
            f"{scenario!r}"
        )
    if scenario == "mu_miso":
        if not all(hasattr(cfg, a) for a in ("K", "N", "snr_db", "noise", "power")):
            raise ValueError(
                f"scenario 'mu_miso' needs a gr_cfisac.mumiso.MuMisoConfig, got {type(cfg).__name__}"
            )
        host.check_size(int(cfg.K), int(cfg.N))
        lo, hi = host.snr_db_range
        if not lo - 1e-9 <= float(cfg.snr_db) <= hi + 1e-9:
            raise ValueError(
                f"snr_db={cfg.snr_db} is outside {name}'s trained range {lo:g}..{hi:g} dB "
                "(its card's snr_db_range)"
            )
        return float(cfg.noise), float(cfg.power)
    if not hasattr(cfg, "to_dict") or not hasattr(cfg, "power_budget"):
        raise ValueError(f"scenario 'cellfree' needs a SystemConfig, got {type(cfg).__name__}")
    running = cfg.to_dict()
    for field, want in host.card["system"].items():
        if field != "extra" and field in running and running[field] != want:
            raise ValueError(
                f"{name} was trained on the cell-free system with {field}={want!r} (its card's "
                f"system.{field}); the running config has {field}={running[field]!r}"
            )
    host.check_size(int(cfg.K), int(cfg.N))
    return 1.0, float(cfg.power_budget)


def _build(spec: PrecoderSpec, cfg: Any):
    p = dict(spec.params)
    threads = p["threads"]
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    host = L2OHost(str(p["path"]), threads)
    noise, power = _check_config(host, spec.scenario, cfg)
    scale = math.sqrt(power)

    def design(r: Realization) -> PrecoderResult:
        users = host.precode(np.asarray(r.F_hat) * scale, r.active, noise) * scale
        B, N, _ = users.shape
        return PrecoderResult(np.concatenate([np.zeros((B, N, 1), users.dtype), users], axis=-1))

    return design


FAMILY = register(
    Family(
        "l2o",
        _build,
        "MT-SAO-lift learned optimizer (paper 002) in ONNX Runtime: any K <= Km users, "
        "N <= Nm antennas, users only (zero sensing beam)",
        {"path": None, "threads": 1},
        frozenset({"estimates"}),
        scenarios=SCENARIOS,
        card_schema=CARD_SCHEMA,
        fixed_k=False,
        required=("path",),
    )
)
