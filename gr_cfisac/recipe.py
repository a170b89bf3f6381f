"""Training configuration: regime, losses, model, data and optimizer, as data (YAML / JSON).

A :class:`TrainConfig` is everything ``cfisac train`` needs to reproduce a model; it is saved
next to the checkpoints and recorded in the model card. Numpy only (no torch).

The dataclass defaults below are the base that every YAML file fills in; they are not a recipe
(the head defaults to the paper's free rFF). ``cfisac train`` without ``--config`` starts from
``configs/stcib_joint.yml``, the recipe of the shipped ``models/stcib_joint`` model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import SystemConfig

REGIMES = ("joint", "sc", "cc")
ARCHITECTURES = ("stcib", "cnn")
DECODERS = ("tokens", "pma")
HEADS = ("free", "span", "zf")


@dataclass
class LossConfig:
    """Regime and its parameters: SC (eq 38, comm threshold vartheta_th, penalty xi), CC (eq 39,
    sensing threshold zeta_th, penalty varrho), joint (eq 40, weight eta). ``margin`` (bps/Hz) is
    added to the threshold inside the penalty so trained models land on the feasible side.
    ``threshold_range`` [lo, hi] trains a threshold-conditioned model (SC / CC): every sample gets
    a threshold drawn uniformly from it, which the model takes as an input."""

    regime: str = "joint"
    eta: float = 0.4
    comm_threshold: float = 3.0
    sensing_threshold: float = 0.5
    xi: float = 10.0
    varrho: float = 10.0
    margin: float = 0.0
    threshold_range: list[float] | None = None

    def validate(self) -> None:
        if self.regime not in REGIMES:
            raise ValueError(f"loss.regime must be one of {REGIMES}, got {self.regime!r}")
        if not 0.0 <= self.eta <= 1.0:
            raise ValueError(f"loss.eta must be in [0, 1], got {self.eta}")
        if self.threshold_range is not None:
            lo, hi = (float(x) for x in self.threshold_range)
            if self.regime == "joint" or not 0 <= lo < hi:
                raise ValueError(
                    "loss.threshold_range must be [lo, hi] with 0 <= lo < hi, for regime sc or cc; "
                    f"got {self.threshold_range!r} with regime {self.regime!r}"
                )
        for name in ("comm_threshold", "sensing_threshold", "xi", "varrho", "margin"):
            if getattr(self, name) < 0:
                raise ValueError(f"loss.{name} must be >= 0, got {getattr(self, name)}")


@dataclass
class ModelConfig:
    """Architecture. STCIB: d_model, heads h, inducing points n (eq 28), rFF hidden width;
    decoder 'tokens' (ours: users from user tokens, sensing from a pooled token) or 'pma'
    (the paper's literal PMA_{K+1}, eq 34); target_aware adds sensing tokens; input_norm 'token'
    (LayerNorm per row, eq 25) or 'set' (one LayerNorm over the whole input set); head 'free'
    (the paper's rFF), 'span' (beams in the span of the estimates, layers.SpanHead) or 'zf'
    (ZF directions + null-space part, layers.ZeroForcingHead); gain_input adds each token's
    log-energy (layers.GainEmbedding); threshold_input takes the SC/CC threshold. CNN: channels."""

    arch: str = "stcib"
    decoder: str = "tokens"
    target_aware: bool = False
    input_norm: str = "token"
    head: str = "free"
    threshold_input: bool = False
    gain_input: bool = False
    d_model: int = 64
    heads: int = 4
    inducing: int = 8
    ff_hidden: int = 128
    cnn_channels: int = 128
    cnn_kernel: int = 3

    def validate(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"model.arch must be one of {ARCHITECTURES}, got {self.arch!r}")
        if self.decoder not in DECODERS:
            raise ValueError(f"model.decoder must be one of {DECODERS}, got {self.decoder!r}")
        if self.input_norm not in ("token", "set"):
            raise ValueError(f"model.input_norm must be 'token' or 'set', got {self.input_norm!r}")
        if self.head not in HEADS:
            raise ValueError(f"model.head must be one of {HEADS}, got {self.head!r}")
        if self.arch == "cnn" and (self.threshold_input or self.gain_input):
            raise ValueError(
                "model.threshold_input and model.gain_input are only implemented for arch 'stcib'"
            )
        if self.arch == "cnn" and self.target_aware:
            raise ValueError("model.target_aware is only implemented for arch 'stcib'")
        if self.d_model % self.heads:
            raise ValueError(
                f"model.d_model={self.d_model} must be a multiple of model.heads={self.heads}"
            )
        for name in ("d_model", "heads", "inducing", "ff_hidden", "cnn_channels", "cnn_kernel"):
            if getattr(self, name) < 1:
                raise ValueError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.cnn_kernel % 2 == 0:
            raise ValueError(
                f"model.cnn_kernel must be odd (same-size padding), got {self.cnn_kernel}"
            )


@dataclass
class DataConfig:
    """Monte-Carlo data: split sizes, seed, sensing scene ('paper' fixed, 'random' moving
    target), estimator, chunk size of the disk cache and its folder."""

    train_size: int = 20000
    val_size: int = 5000
    test_size: int = 2500
    seed: int = 2024
    scene: str = "paper"
    estimator: str = "mmse"
    chunk: int = 1000
    cache_dir: str = "data"

    def validate(self) -> None:
        for name in ("train_size", "val_size", "test_size", "chunk"):
            if getattr(self, name) < 1:
                raise ValueError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if self.scene not in ("paper", "random"):
            raise ValueError(f"data.scene must be 'paper' or 'random', got {self.scene!r}")
        if self.estimator not in ("mmse", "ls"):
            raise ValueError(f"data.estimator must be 'mmse' or 'ls', got {self.estimator!r}")


@dataclass
class OptimConfig:
    """Adam with mini-batches, early stopping on the validation loss with patience."""

    lr: float = 1e-3
    lr_min: float = 1e-4
    batch_size: int = 256
    max_epochs: int = 60
    patience: int = 8
    min_delta: float = 1e-4
    grad_clip: float = 1.0
    threads: int = 1
    max_minutes: float = 15.0

    def validate(self) -> None:
        for name in ("lr", "batch_size", "max_epochs", "patience", "threads", "max_minutes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"optim.{name} must be > 0, got {getattr(self, name)}")


@dataclass
class TrainConfig:
    """Everything needed to reproduce one learned precoder."""

    name: str = "stcib_joint"
    seed: int = 0
    system: dict[str, Any] = field(default_factory=dict)
    loss: LossConfig = field(default_factory=LossConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        for part in (self.loss, self.model, self.data, self.optim):
            part.validate()
        if self.model.target_aware and self.data.scene != "random":
            raise ValueError(
                "a target-aware model needs data.scene 'random' (a moving target); "
                "set data.scene: random"
            )
        if self.model.threshold_input != (self.loss.threshold_range is not None):
            raise ValueError(
                "model.threshold_input and loss.threshold_range go together: a threshold-"
                "conditioned model needs the range its thresholds are drawn from"
            )
        self.system_config()

    def threshold(self) -> float | None:
        """The regime's threshold (SC: vartheta_th, CC: zeta_th), None for joint."""
        return {"sc": self.loss.comm_threshold, "cc": self.loss.sensing_threshold}.get(
            self.loss.regime
        )

    def system_config(self) -> SystemConfig:
        """The SystemConfig this model is trained for (Table-I defaults plus ``system``)."""
        return SystemConfig.from_dict(dict(self.system))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        parts = {"loss": LossConfig, "model": ModelConfig, "data": DataConfig, "optim": OptimConfig}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"training config: unknown key(s) {unknown}; valid: {sorted(known)}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in parts:
                sub = parts[key]
                sub_known = {f.name for f in dataclasses.fields(sub)}
                bad = sorted(set(value or {}) - sub_known)
                if bad:
                    raise ValueError(
                        f"training config: unknown key(s) {bad} in '{key}'; valid: {sorted(sub_known)}"
                    )
                kwargs[key] = sub(**(value or {}))
            else:
                kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Load a YAML config, a saved run config, or a model card (its ``training.config``)."""
        from .recipe_files import read_recipe

        return cls.from_dict(read_recipe(path, "training config"))

    def save(self, path: str | Path) -> None:
        import yaml

        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
