"""ONNX Runtime host for learned precoders (DESIGN.md, ONNX contract). numpy + onnxruntime only.

A model ``NAME.onnx`` ships with its card ``NAME.json``, validated against its schema by
:mod:`.cards`. :class:`OnnxPrecoder` checks the card against the scenario it is to serve and the
running :class:`~gr_cfisac.config.SystemConfig` (every system field and dimension, the sha256 of
the .onnx, the graph's input/output shapes) and refuses a mismatch with a message naming the field;
it builds the I/Q input of eq 24 from channel estimates F_hat (B, N, K) and returns the ISAC
beamformer W (B, N, K+1) complex64, W[..., 0] the sensing beam. Paper-faithful models (users
only) were trained for one sensing scene, recorded in the card: given sensing tokens of another
scene (or ``scene='random'``) they refuse. Target-aware models take the scene as the ``sensing``
input. :func:`load_precoder` shares one session per (model, config, threads) across callers.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..config import SystemConfig
from .cards import CARD_FORMAT, DEFAULT_SCENARIO, DIMENSIONS, CardError, read_card

__all__ = ["CARD_FORMAT", "CardError", "OnnxPrecoder", "card_path", "check_card",
           "check_scenario", "load_card", "load_precoder"]  # fmt: skip


def card_path(model_path: str | Path) -> Path:
    """The card beside a model: NAME.onnx -> NAME.json."""
    return Path(model_path).with_suffix(".json")


def load_card(model_path: str | Path) -> dict[str, Any]:
    """Read the model card beside ``model_path`` and validate it against the card schema
    (:func:`.cards.read_card`); FileNotFoundError / CardError naming the file."""
    path = card_path(model_path)
    if not Path(model_path).exists():
        raise FileNotFoundError(f"model {model_path} does not exist")
    if not Path(model_path).is_file():
        raise CardError(f"model {model_path} is not a file; give the NAME.onnx file")
    if not path.exists():
        raise FileNotFoundError(f"model card {path} not found beside {model_path}")
    return read_card(path)


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0) or a == b
    return a == b


def check_scenario(card: dict[str, Any], scenario: str, model: str = "the model") -> None:
    """Raise ValueError naming the card field ``scenario`` unless the model was trained for the
    ``scenario`` its precoder is to serve."""
    trained = card.get("scenario")
    if trained != scenario:
        raise ValueError(
            f"model {model} was trained for scenario {trained!r} (card field `scenario`); this "
            f"precoder serves scenario {scenario!r}: use a model trained for {scenario!r}, or "
            f"serve scenario {trained!r}"
        )


def check_card(
    card: dict[str, Any],
    cfg: SystemConfig,
    where: str = "model card",
    scenario: str = DEFAULT_SCENARIO,
) -> None:
    """Raise ValueError naming the first field where a (schema-valid) card differs from what it
    is to serve: its ``scenario`` (check_scenario), then every system field and dimension of
    ``cfg``.

    System fields absent from the card (an older card) are compared with SystemConfig's defaults.
    """
    check_scenario(card, scenario, f"{card.get('file', '?')} ({where})")
    running = cfg.to_dict()
    running.pop("extra", None)
    defaults = SystemConfig().to_dict()
    recorded = card["system"]
    for name in sorted(set(running) | set(recorded)):
        if name == "extra":
            continue
        if name not in running:
            raise ValueError(
                f"{where}: field system.{name} is unknown to this SystemConfig; the model was "
                "written by a newer gr-cfisac"
            )
        want = recorded.get(name, defaults[name])
        if not _same(want, running[name]):
            raise ValueError(
                f"{where}: field system.{name} = {want!r} differs from the running "
                f"SystemConfig {name} = {running[name]!r}; use a model trained for this "
                f"configuration or set {name}={want!r}"
            )

    for name in DIMENSIONS:
        if card["dimensions"][name] != getattr(cfg, name):
            raise ValueError(
                f"{where}: field dimensions.{name} = {card['dimensions'][name]!r} differs from "
                f"the running SystemConfig's {name} = {getattr(cfg, name)}; use a model trained "
                "for this configuration"
            )


class OnnxPrecoder:
    """A learned ISAC precoder in ONNX Runtime.

    ``OnnxPrecoder(model_path, cfg, threads=1)(F_hat[, sensing][, threshold]) -> W (B, N, K+1)``
    complex64; ``threshold`` (bps/Hz, a number or (B,)) only for threshold-conditioned models.
    ``sensing``: complex tokens (B, 1+NC, N) from channels.sensing_tokens, or a SensingGeometry.
    ``scene``: 'paper' / 'random' / None — what the caller will feed; a paper-faithful model
    refuses 'random'. ``scenario``: the scenario it serves (the card's must match).
    ``session_options`` overrides the defaults (threads, ORT_ENABLE_ALL).
    """

    def __init__(
        self,
        model_path: str | Path,
        cfg: SystemConfig,
        threads: int = 1,
        scene: str | None = None,
        session_options: Any = None,
        verify_sha256: bool = True,
        scenario: str = DEFAULT_SCENARIO,
    ) -> None:
        import onnxruntime as ort

        self.path = Path(model_path)
        self.card = load_card(self.path)
        self.cfg = cfg
        where = f"model card {card_path(self.path)}"
        check_card(self.card, cfg, where, scenario)
        if verify_sha256 and file_sha256(self.path) != self.card["sha256"]:
            raise ValueError(
                f"{where}: field sha256 does not match {self.path.name}; the model file changed "
                "after its card was written (re-export it)"
            )
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if session_options is None:
            session_options = ort.SessionOptions()
            session_options.intra_op_num_threads = threads
            session_options.inter_op_num_threads = 1
            session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(self.path), sess_options=session_options, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.target_aware = "sensing" in self.input_names
        self.threshold_input = "threshold" in self.input_names
        self.threshold_range = self.card["onnx"]["inputs"].get("threshold", {}).get("range")
        self._check_graph(where)
        self.scene = self.card["scene"]
        if scene is not None:
            self.check_scene_kind(scene)
        self._scene_tokens = self._scene_complex = None
        if "sensing_tokens_iq" in self.scene:
            self._scene_tokens = np.asarray(self.scene["sensing_tokens_iq"], dtype=np.float32)
            n = self._scene_tokens.shape[-1] // 2
            self._scene_complex = self._scene_tokens[:, :n] + 1j * self._scene_tokens[:, n:]

    # ---------------------------------------------------------------- validation
    def _check_graph(self, where: str) -> None:
        K, N, NC = self.cfg.K, self.cfg.N, self.cfg.NC
        want = {"channels": [K, 2 * N], "sensing": [1 + NC, 2 * N], "threshold": [1]}
        if "channels" not in self.input_names:
            raise ValueError(f"{self.path}: the graph has no 'channels' input ({self.input_names})")
        for inp in self.session.get_inputs():
            if inp.name not in want:
                raise ValueError(f"{self.path}: unexpected graph input {inp.name!r}")
            if list(inp.shape[1:]) != want[inp.name]:
                raise ValueError(
                    f"{where}: graph input {inp.name} has shape {inp.shape}, the running "
                    f"configuration needs (batch, {want[inp.name][0]}, {want[inp.name][1]})"
                )
        if self.threshold_input and "threshold" not in self.card["onnx"]["inputs"]:
            raise ValueError(
                f"{where}: field onnx.inputs.threshold is missing but the graph takes a "
                "threshold; re-export the model (cfisac export)"
            )
        tokens = self.card["scene"].get("sensing_tokens_iq")
        try:
            shape = None if tokens is None else np.asarray(tokens, dtype=float).shape
        except ValueError:  # rows of different lengths
            shape = "ragged rows"
        if shape is not None and shape != (1 + NC, 2 * N):
            raise ValueError(
                f"{where}: field scene.sensing_tokens_iq has shape {shape}, the "
                f"configuration needs (1+NC, 2N) = ({1 + NC}, {2 * N}); re-export the model"
            )
        out = self.session.get_outputs()
        if [o.name for o in out] != ["beamformer"] or list(out[0].shape[1:]) != [K + 1, 2 * N]:
            raise ValueError(
                f"{where}: the graph must output 'beamformer' (batch, {K + 1}, {2 * N}), "
                f"got {[(o.name, o.shape) for o in out]}"
            )

    def check_scene_kind(self, scene: str) -> None:
        """Refuse a scene a paper-faithful model was not trained for."""
        kind = self.card["scene"].get("kind")
        if kind == "paper" and scene != "paper":
            raise ValueError(
                f"{self.path.name} is paper-faithful: trained for the fixed 'paper' sensing scene "
                f"only, not scene={scene!r}; use a target-aware model (input 'sensing')"
            )

    def _check_scene_tokens(self, tokens_iq: np.ndarray) -> None:
        if self._scene_tokens is None:
            return
        ref = self._scene_tokens
        diff = np.abs(tokens_iq - ref).max(axis=(-2, -1))
        if np.any(diff > 1e-3 * np.abs(ref).max()):
            self._refuse_scene()

    def _check_scene_geometry(self, sg: Any, batch: int) -> None:
        """_check_scene_tokens for a SensingGeometry, on the complex tokens (no I/Q rows: this
        runs on every call of a paper-faithful model in a flowgraph)."""
        from ..channels import sensing_tokens

        tokens = sensing_tokens(sg)
        if tokens.shape[1:] != self._scene_complex.shape or tokens.shape[0] not in (1, batch):
            self._sensing(sg, batch)  # raises, naming the shape or batch
        diff = np.abs(tokens - self._scene_complex).max(axis=(-2, -1))
        if np.any(diff > 1e-3 * np.abs(self._scene_tokens).max()):
            self._refuse_scene()

    def _refuse_scene(self) -> None:
        raise ValueError(
            f"{self.path.name} is paper-faithful: the sensing scene given (target/clutter) "
            f"differs from the one in its card (target at {self.scene.get('target_pos')}); "
            "use a target-aware model for other scenes"
        )

    # ---------------------------------------------------------------- inputs
    def _channels(self, F_hat: np.ndarray) -> np.ndarray:
        F_hat = np.asarray(F_hat)
        if F_hat.ndim == 2:
            F_hat = F_hat[None]
        N, K = self.cfg.N, self.cfg.K
        if F_hat.ndim != 3 or F_hat.shape[1:] != (N, K):
            raise ValueError(
                f"F_hat must be (B, N={N}, K={K}) channel estimates, got {F_hat.shape}"
            )
        if not np.iscomplexobj(F_hat):
            raise ValueError("F_hat must be complex (channel estimates f_hat_k as columns)")
        F_hat = np.ascontiguousarray(F_hat)
        parts = F_hat.view(F_hat.real.dtype).reshape(F_hat.shape[0], N, K, 2)  # Re/Im last
        # row k = [Re f_k^T, Im f_k^T], C order for the session
        return np.ascontiguousarray(parts.transpose(0, 2, 3, 1), dtype=np.float32).reshape(
            F_hat.shape[0], K, 2 * N
        )

    def _sensing(self, sensing: Any, batch: int) -> np.ndarray:
        if hasattr(sensing, "aT_t"):  # a SensingGeometry
            from ..channels import sensing_tokens

            sensing = sensing_tokens(sensing)
        tokens = np.asarray(sensing)
        if tokens.ndim == 2:
            tokens = tokens[None]
        shape = (1 + self.cfg.NC, self.cfg.N)
        if tokens.ndim != 3 or tokens.shape[1:] != shape or not np.iscomplexobj(tokens):
            raise ValueError(
                f"sensing must be complex tokens (B, 1+NC={shape[0]}, N={shape[1]}) from "
                f"channels.sensing_tokens or a SensingGeometry, got {tokens.shape}"
            )
        if tokens.shape[0] not in (1, batch):
            raise ValueError(f"sensing has batch {tokens.shape[0]}, F_hat has {batch}")
        rows = np.concatenate([tokens.real, tokens.imag], axis=-1).astype(np.float32)
        return np.broadcast_to(rows, (batch,) + rows.shape[1:]).copy()

    # ---------------------------------------------------------------- inference
    def _threshold(self, threshold: Any, batch: int) -> np.ndarray:
        if not self.threshold_input:
            raise ValueError(f"{self.path.name} takes no threshold (its threshold is fixed)")
        if threshold is None:
            raise ValueError(
                f"{self.path.name} is threshold-conditioned: pass threshold= (bps/Hz, trained "
                f"for {self.threshold_range})"
            )
        t = np.asarray(threshold, dtype=np.float32).reshape(-1)
        if t.size not in (1, batch):
            raise ValueError(f"threshold must be a number or ({batch},), got shape {t.shape}")
        lo, hi = self.threshold_range
        if np.any(t < lo) or np.any(t > hi):
            raise ValueError(
                f"threshold {t.min():g}..{t.max():g} bps/Hz is outside the range {self.path.name} "
                f"was trained for, [{lo:g}, {hi:g}]"
            )
        return np.broadcast_to(t, (batch,)).reshape(batch, 1).copy()

    def run_rows(
        self,
        channels: np.ndarray,
        sensing: np.ndarray | None = None,
        threshold: np.ndarray | None = None,
    ) -> np.ndarray:
        """Raw graph call: float32 rows in, (B, K+1, 2N) rows out (no checks; the fast path)."""
        feeds = {"channels": channels}
        if self.target_aware:
            feeds["sensing"] = sensing
        if self.threshold_input:
            feeds["threshold"] = threshold
        return self.session.run(None, feeds)[0]

    def __call__(self, F_hat: np.ndarray, sensing: Any = None, threshold: Any = None) -> np.ndarray:
        """W (B, N, K+1) complex64 for estimates F_hat (B, N, K) (and the sensing scene; the rate
        threshold for threshold-conditioned models)."""
        channels = self._channels(F_hat)
        th = None
        if threshold is not None or self.threshold_input:
            th = self._threshold(threshold, channels.shape[0])
        tokens = None
        if sensing is not None:
            if self.target_aware:
                tokens = self._sensing(sensing, channels.shape[0])
            elif self._scene_complex is not None and hasattr(sensing, "aT_t"):
                self._check_scene_geometry(sensing, channels.shape[0])
            else:
                self._check_scene_tokens(self._sensing(sensing, channels.shape[0]))
        elif self.target_aware:
            raise ValueError(
                f"{self.path.name} is target-aware: pass sensing= (channels.sensing_tokens of the "
                "scene, or its SensingGeometry)"
            )
        rows = self.run_rows(channels, tokens, th)
        B, R, n = rows.shape[0], rows.shape[1], rows.shape[2] // 2
        parts = rows.reshape(B, R, 2, n).transpose(0, 3, 1, 2)  # (B, N, K+1, Re/Im)
        return np.ascontiguousarray(parts, dtype=np.float32).view(np.complex64)[..., 0]


@lru_cache(maxsize=16)
def _cached(path: str, mtime: float, cfg_json: str, threads: int, scenario: str) -> OnnxPrecoder:
    return OnnxPrecoder(path, SystemConfig.from_json(cfg_json), threads, scenario=scenario)


def load_precoder(
    model_path: str | Path,
    cfg: SystemConfig,
    threads: int = 1,
    scenario: str = DEFAULT_SCENARIO,
) -> OnnxPrecoder:
    """A shared OnnxPrecoder for ``scenario``: loaded once per (model file, configuration,
    threads, scenario)."""
    path = Path(model_path).resolve()
    if not path.exists():
        raise FileNotFoundError(f"model {model_path} does not exist")
    cfg_dict = cfg.to_dict()
    cfg_dict.pop("extra", None)
    cfg_json = json.dumps(cfg_dict, sort_keys=True)
    return _cached(str(path), path.stat().st_mtime, cfg_json, threads, scenario)
