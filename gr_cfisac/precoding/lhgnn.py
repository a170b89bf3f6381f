"""Registry family ``lhgnn``: paper 003's LHGNN (or its Homo GNN / naive CNN baselines) for the
``coisac`` scenario, exported by ``gr_cfisac.train.lhgnn.export`` and hosted in ONNX Runtime.
numpy + onnxruntime only.

The graph takes node features (eqs 43-44): ``comm`` (B, N, K, 2L) float32, [Re h_{k,n},
Im h_{k,n}] of every BS-user link in the core's raw units (the card's ``input_scale`` =
sqrt(P_n) is applied inside), and ``sensing`` (B, N, 2L), [Re a_t, Im a_t] of every BS's
unit-modulus transmit steering vector toward the target (``SensingGeometry.aT_t``). Its output
``beamformer`` (B, K+1, 2 N L) is DESIGN's ISAC layout with the per-BS power of eq 50 for the
card's ``power_dbm``; :class:`LHGNNHost` returns W (B, N L, K+1), W[..., 0] the sensing beam.
The GNNs take any K <= the card's K (the graph is size-agnostic; trained for the card's K);
the CNN only the card's K. A K above it, or shapes that do not fit, is a ValueError naming the
field. Central placement: needs the estimates and the sensing geometry.

``ascent_steps`` > 0 refines the model's beams by that many steps of the SPEB-barrier gradient
ascent of ``speb_ascent`` (problem 32 at ``gamma`` m^2, default the card's ``gamma_m2``) on what
the network knows (``speb_scene.network_scenes``: estimates, the target triangulated from the
sensing angles, |alpha|) under ``phase_draws`` seeded draws of alpha's unknown phases, every one
kept below gamma (the robust form of ``speb_ascent``): the learned beams are the ascent's start.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from .cards import CardError, family_card_schema, onnx_card_section, read_card
from .registry import Family, PrecoderResult, PrecoderSpec, Realization, register

INPUTS = ("comm", "sensing")
#: realizations per robust-ascent call (each holds phase_draws FIM maps of ~0.8 MB)
ASCENT_CHUNK = 8
ARCHS = ("lhgnn", "homo_gnn", "naive_cnn")
#: CoisacConfig fields a model is bound to (its graph bakes in the power and the array)
BOUND_FIELDS = ("Lx", "Ly", "bs_positions", "power_dbm", "carrier_hz", "bandwidth_hz",
                "noise_figure_db", "noise_temperature_k")  # fmt: skip

#: JSON schema of an lhgnn model card (written by gr_cfisac.train.lhgnn.export)
CARD_SCHEMA: dict[str, Any] = family_card_schema(
    "lhgnn",
    "gr-cfisac model card (LHGNN, paper 003)",
    required=["scenario_config", "dimensions", "power_dbm", "gamma_m2", "channel_source"],
    properties={
        "scenario": {"const": "coisac"},
        "scenario_config": {"type": "object", "required": list(BOUND_FIELDS) + ["K"]},
        "dimensions": {
            "type": "object",
            "required": ["N", "L", "K"],
            "properties": {k: {"type": "integer", "minimum": 1} for k in ("N", "L", "K")},
        },
        "power_dbm": {"type": "number"},
        "gamma_m2": {"type": "number", "exclusiveMinimum": 0},
        "channel_source": {"type": "string"},
        "architecture": {
            "type": "object",
            "required": ["arch"],
            "properties": {"arch": {"enum": list(ARCHS)}},
        },
        "onnx": onnx_card_section(
            INPUTS, min_rank=2, input_scale={"type": "number", "exclusiveMinimum": 0}
        ),
    },
)


def node_features(F: np.ndarray, a_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Initial node features of eqs 43-44: F (B, N L, K) complex, a_t (B, N, L) complex ->
    comm (B, N, K, 2L), sensing (B, N, 2L) float32."""
    F, a_t = np.asarray(F), np.asarray(a_t)
    if a_t.ndim != 3:
        raise ValueError(f"a_t (sensing.aT_t) must be (B, N, L) steering vectors, got {a_t.shape}")
    B, N, L = a_t.shape
    if F.ndim != 3 or F.shape[:2] != (B, N * L):
        raise ValueError(f"F_hat must be (B={B}, N L={N * L}, K) for a_t {a_t.shape}, got "
                         f"{F.shape}")  # fmt: skip
    h = F.reshape(B, N, L, -1).transpose(0, 1, 3, 2)  # (B, N, K, L): h_{k,n}
    comm = np.concatenate([h.real, h.imag], -1).astype(np.float32)
    sensing = np.concatenate([a_t.real, a_t.imag], -1).astype(np.float32)
    return comm, sensing


def from_beamformer(out: np.ndarray) -> np.ndarray:
    """(B, K+1, 2 N L) rows [Re w^T, Im w^T] -> W (B, N L, K+1) complex64."""
    half = out.shape[-1] // 2
    return (out[..., :half] + 1j * out[..., half:]).transpose(0, 2, 1).astype(np.complex64)


class LHGNNHost:
    """An lhgnn ONNX model with its card; call it on F_hat (B, N L, K) and the sensing
    geometry's a_t (B, N, L) -> W (B, N L, K+1)."""

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"lhgnn model {self.path} does not exist (the .onnx with its .json "
                             "card beside it)")  # fmt: skip
        self.card = read_card(self.path.with_suffix(".json"), CARD_SCHEMA)
        if hashlib.sha256(self.path.read_bytes()).hexdigest() != self.card["sha256"]:
            raise CardError(
                f"model card {self.path.with_suffix('.json')}: field sha256 does not match "
                f"{self.path.name} (the file changed after export); re-export the model"
            )
        dims = self.card["dimensions"]
        self.N, self.L, self.K = int(dims["N"]), int(dims["L"]), int(dims["K"])
        self.arch = self.card["architecture"]["arch"]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.path), opts,
                                            providers=["CPUExecutionProvider"])  # fmt: skip

    def check_k(self, K: int) -> None:
        if K > self.K or (self.arch == "naive_cnn" and K != self.K):
            want = f"K = {self.K}" if self.arch == "naive_cnn" else f"K <= {self.K}"
            raise ValueError(f"K={K} users: {self.path.name} serves {want} (its card's "
                             "dimensions.K)")  # fmt: skip

    def __call__(self, F_hat: np.ndarray, a_t: np.ndarray) -> np.ndarray:
        a_t = np.asarray(a_t)
        if a_t.ndim != 3 or a_t.shape[1:] != (self.N, self.L):
            raise ValueError(f"sensing.aT_t must be (B, N={self.N}, L={self.L}) (the card's "
                             f"dimensions), got {a_t.shape}")  # fmt: skip
        comm, sensing = node_features(F_hat, a_t)
        self.check_k(comm.shape[2])
        out = self.session.run(["beamformer"], {"comm": comm, "sensing": sensing})[0]
        return from_beamformer(out)


def check_config(host: LHGNNHost, cfg: Any) -> None:
    """ValueError naming the field where the running CoisacConfig differs from the card's."""
    if not hasattr(cfg, "to_dict") or not hasattr(cfg, "Lx"):
        raise ValueError(f"scenario 'coisac' needs a gr_cfisac.coisac.CoisacConfig, got "
                         f"{type(cfg).__name__}")  # fmt: skip
    running = cfg.to_dict()
    for field in BOUND_FIELDS:
        want, have = host.card["scenario_config"][field], running[field]
        if not np.allclose(np.asarray(want, float), np.asarray(have, float), rtol=1e-9):
            raise ValueError(f"{host.path.name} was trained with {field}={want!r} (its card's "
                             f"scenario_config.{field}); the running config has {field}={have!r}")  # fmt: skip
    host.check_k(int(cfg.K))


def _build(spec: PrecoderSpec, cfg: Any):
    p = dict(spec.params)
    threads = p["threads"]
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    host = LHGNNHost(str(p["path"]), threads)
    check_config(host, cfg)
    steps = p["ascent_steps"]
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(
            f"ascent_steps must be an integer >= 0 (0: the model alone), got {steps!r}"
        )
    gamma = float(host.card["gamma_m2"] if p["gamma"] is None else p["gamma"])
    if not gamma > 0:
        raise ValueError(f"gamma must be a positive SPEB in m^2 (None: the card's), got {gamma}")
    draws, seed = p["phase_draws"], p["seed"]
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"phase_draws must be a positive integer, got {draws!r}")

    def design(r: Realization) -> PrecoderResult:
        W = host(r.F_hat, r.sensing.aT_t)
        if not steps:
            return PrecoderResult(W)
        from .convex.speb_scene import network_scene_draws
        from .speb_ascent import AscentSettings, Problem, ascend

        models = network_scene_draws(cfg, r, float(host.card["power"]), draws, int(seed))
        out_W, worst = W.astype(complex), np.empty(len(W))
        for s in range(0, len(W), ASCENT_CHUNK):  # bounded memory: chunk x draws FIM maps
            part = slice(s, s + ASCENT_CHUNK)
            res = ascend(Problem.of_scene_draws(models[part], gamma), out_W[part],
                         AscentSettings(steps=steps))  # fmt: skip
            out_W[part], worst[part] = res.W, res.speb
        extras = {"speb_worst_draw": worst, "speb_met": (worst <= gamma).astype(float)}
        return PrecoderResult(out_W.astype(W.dtype), extras)

    return design


FAMILY = register(
    Family(
        "lhgnn",
        _build,
        "LHGNN (paper 003) for the coisac scenario in ONNX Runtime: sum rate under per-BS power "
        "and an SPEB threshold fixed in training",
        {
            "path": None,
            "threads": 1,
            "ascent_steps": 0,
            "gamma": None,
            "phase_draws": 16,
            "seed": 0,
        },
        frozenset({"estimates", "sensing_geometry"}),
        scenarios=("coisac",),
        card_schema=CARD_SCHEMA,
        required=("path",),
    )
)
