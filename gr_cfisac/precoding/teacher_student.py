"""Registry family ``teacher_student``: paper 001's decentralized precoders, one ONNX model per
access point (exported by gr_cfisac.train.decentral.export), placement ``per_ap``.

AP l's model sees only AP l's own CSI: its channel estimates F_hat_l (B, M, N) and its steering
vector toward the target (``Realization.sensing.aT_t[:, l]``), as the rows of
gr_cfisac.decentral.csi_rows, and returns AP l's rows of W (B, M, N+1), sensing beam first, at
the AP's power (the card's ``power``). In the flowgraph each TAP's Precoder runs its own model, so
no channel estimate crosses the fronthaul; the whole-network call stacks the APs.

``path``: any member's .onnx; its card lists the set (``model_set.files``, in AP order). Every
card must agree on L, M, N, the file list and the scenario, and each file must serve the AP of
its position; the set must match the configuration (L = NT, M = MT, N = K; the power per AP).
Each refusal is a ValueError (CardError) naming the file and the field. numpy + onnxruntime.
Scenarios: pos1 / pos2 (gr_cfisac.decentral.PosConfig) and cellfree (SystemConfig: a card of a
cell-free model also records its ``system``, which every member and the configuration must
match; power per TAP rho; the shipped set is models/teacher_student/ts_cellfree_ap*.onnx).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from ..decentral import csi_rows, rows_to_beams
from .cards import (
    CELLFREE_NEEDS_SYSTEM,
    CardError,
    family_card_schema,
    onnx_card_section,
    read_card,
)
from .registry import Family, PrecoderResult, PrecoderSpec, Realization, register

SCENARIOS = ("pos1", "pos2", "cellfree")
#: card fields every member of a set must share
SHARED = ("model_set.L", "model_set.M", "model_set.N", "model_set.files", "scenario")

_COUNT = {"type": "integer", "minimum": 1}
#: JSON schema of a teacher_student (per-AP) model card
CARD_SCHEMA: dict[str, Any] = family_card_schema(
    "teacher_student",
    "gr-cfisac model card (decentralized teacher-student, paper 001, one AP)",
    required=["ap", "model_set", "power"],
    properties={
        "scenario": {"enum": list(SCENARIOS)},
        "ap": {"type": "integer", "minimum": 0},
        "model_set": {
            "type": "object",
            "required": ["L", "M", "N", "files"],
            "properties": {
                "L": _COUNT,
                "M": _COUNT,
                "N": _COUNT,
                "files": {"type": "array", "items": {"type": "string", "pattern": r"\.onnx$"}},
            },
        },
        "power": {"type": "number", "exclusiveMinimum": 0},
        "input_scale": {"type": "number", "exclusiveMinimum": 0},
        "scenario_config": {"type": "object"},
        "system": {"type": "object"},
        "architecture": {"type": "object", "required": ["arch"]},
        "onnx": onnx_card_section(["csi"], min_rank=3),
    },
    **CELLFREE_NEEDS_SYSTEM,
)


def _field(card: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        card = card[part]
    return card


class ModelSetHost:
    """The L per-AP ONNX models of a set with their cards (module docstring);
    :meth:`run` (ap, csi rows) -> AP ap's beam rows."""

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise ValueError(
                f"teacher_student model {path} does not exist (a member .onnx of the set, its "
                ".json card beside it)"
            )
        first = read_card(path.with_suffix(".json"), CARD_SCHEMA)
        files = list(first["model_set"]["files"])
        if len(files) != first["model_set"]["L"]:
            raise CardError(
                f"model card {path.with_suffix('.json')}: field model_set.files lists "
                f"{len(files)} files for L = {first['model_set']['L']} APs"
            )
        if path.name not in files or files.index(path.name) != first["ap"]:
            raise CardError(
                f"model card {path.with_suffix('.json')}: field ap = {first['ap']} but the set "
                f"lists {path.name} at position {files.index(path.name) if path.name in files else None} "
                "of model_set.files (AP order)"
            )
        self.cards, self.sessions = [], []
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        for l, name in enumerate(files):
            member = path.parent / name
            if not member.is_file():
                raise ValueError(
                    f"teacher_student set of {path.name}: AP {l}'s {member} is missing"
                )
            card = read_card(member.with_suffix(".json"), CARD_SCHEMA)
            for key in SHARED:
                if _field(card, key) != _field(first, key):
                    raise CardError(
                        f"model card {member.with_suffix('.json')}: field {key} = "
                        f"{_field(card, key)} disagrees with {path.name}'s {_field(first, key)}; "
                        "the files are not one model set"
                    )
            if card.get("system") != first.get("system"):
                raise CardError(
                    f"model card {member.with_suffix('.json')}: field system disagrees with "
                    f"{path.name}'s; the files are not one model set"
                )
            if card["ap"] != l:
                raise CardError(
                    f"model card {member.with_suffix('.json')}: field ap = {card['ap']} but "
                    f"{name} is listed for AP {l} in model_set.files (AP order)"
                )
            blob = member.read_bytes()
            if hashlib.sha256(blob).hexdigest() != card["sha256"]:
                raise CardError(
                    f"model card {member.with_suffix('.json')}: field sha256 does not match "
                    f"{name} (the file changed after export); re-export the model set"
                )
            self.cards.append(card)
            self.sessions.append(
                ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
            )
        ms = first["model_set"]
        self.L, self.M, self.N = int(ms["L"]), int(ms["M"]), int(ms["N"])
        self.scenario, self.path = first["scenario"], path

    def run(self, ap: int, csi: np.ndarray) -> np.ndarray:
        """AP ``ap``'s model on its csi rows (B, N+1, 2M) -> beam rows (B, N+1, 2M)."""
        return self.sessions[ap].run(["beamformer"], {"csi": csi.astype(np.float32)})[0]

    def check_config(self, scenario: str, cfg: Any) -> None:
        """ValueError naming the card field unless ``cfg`` is the set's configuration."""
        name = self.path.name
        if scenario != self.scenario:
            raise ValueError(
                f"{name} was trained for scenario {self.scenario!r} (its card's field scenario), "
                f"not {scenario!r}"
            )
        for field, attr in (("L", "NT"), ("M", "MT"), ("N", "K")):
            have = getattr(cfg, attr, None)
            if have != getattr(self, field):
                raise ValueError(
                    f"{name}: the model set has {field} = {getattr(self, field)} (card field "
                    f"model_set.{field}), the configuration has {field} = {have}"
                )
        system = self.cards[0].get("system")
        if system is not None and hasattr(cfg, "to_dict"):
            have = cfg.to_dict()
            for key in sorted(set(system) | set(have)):
                if system.get(key) != have.get(key):
                    raise ValueError(
                        f"{name}: the model set was trained for system.{key} = "
                        f"{system.get(key)!r} (card field system), the configuration has "
                        f"{have.get(key)!r}"
                    )
        power = float(getattr(cfg, "power", None) or getattr(cfg, "rho", 0.0))
        if not np.isclose(power, self.cards[0]["power"], rtol=1e-6):
            raise ValueError(
                f"{name}: the model set transmits {self.cards[0]['power']:g} per AP (card field "
                f"power), the configuration {power:g}"
            )


def _build_per_ap(spec: PrecoderSpec, cfg: Any):
    p = dict(spec.params)
    threads = p["threads"]
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    host = ModelSetHost(str(p["path"]), threads)
    host.check_config(spec.scenario, cfg)

    def design(ap: int, r: Realization) -> PrecoderResult:
        if not 0 <= ap < host.L:
            raise ValueError(f"teacher_student: AP index {ap} outside the set's 0..{host.L - 1}")
        F = np.asarray(r.F_hat)
        if F.shape[2] != host.N:
            raise ValueError(
                f"teacher_student: the models serve N = {host.N} users, got F_hat with K = "
                f"{F.shape[2]}"
            )
        if r.sensing is None:
            raise ValueError("teacher_student: needs the sensing geometry (Realization.sensing)")
        a_l = np.asarray(r.sensing.aT_t)[:, ap]
        rows = host.run(ap, csi_rows(F, a_l))
        return PrecoderResult(rows_to_beams(rows))

    return design


FAMILY = register(
    Family(
        "teacher_student",
        None,
        "paper 001's decentralized teacher-student precoders: one ONNX model per AP on its own "
        "CSI (no estimates on the fronthaul)",
        {"path": None, "threads": 1},
        frozenset({"estimates", "sensing_geometry", "own_ap_csi"}),
        placement="per_ap",
        scenarios=SCENARIOS,
        card_schema=CARD_SCHEMA,
        required=("path",),
        build_per_ap=_build_per_ap,
    )
)
