"""The MT-SAO-lift training recipe (paper 002, Algorithm 1) as a dataclass read from YAML
(``gr_cfisac/train/configs/l2o_*.yml``). No torch here: ``cfisac train --help`` reads it.

Sections: ``scenario`` (Km, Nm, the SNR range training draws from), ``model`` (T layers, width,
Q_t / Q_i ascent steps, MT-SAO-lift or MT-SAO), ``curriculum`` (the (K, N) schedules, sliding
window W, epochs per masking stage T_m, steps per epoch, replay fraction) and ``optim`` (Adam,
cosine learning rate, batch, threads, device, time budget). One epoch is ``steps_per_epoch``
mini-batches; the window slides every T_w = |K| |N| T_m epochs (Algorithm 1) and training ends
after the last window position has seen the whole schedule ``passes`` times.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

ARCHS = ("mt-sao-lift", "mt-sao")
#: scenarios a model can be trained on
KINDS = ("mu_miso", "cellfree")
#: ascent rule of eq 8: normalized gradient (ops.ascent) or the raw gradient (paper)
ASCENTS = ("normalized", "raw")
DEVICES = ("cpu", "cuda")


def _positive(section: str, name: str, value: Any, kind: type = int) -> None:
    ok = isinstance(value, kind) and not isinstance(value, bool)
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not value > 0:
        raise ValueError(
            f"l2o config: {section}.{name} must be a positive {kind.__name__}, got {value!r}"
        )


@dataclass(frozen=True)
class ScenarioSection:
    """``kind`` mu_miso (paper 002's units, SNR drawn from ``snr_db``) or cellfree (the Table-I
    network with ``system`` overrides; Km = its K, Nm = its N = NT MT; a pool of ``train_size``
    MMSE-estimated realizations of data seed ``data_seed`` cached under ``cache_dir``)."""

    Km: int = 16
    Nm: int = 16
    snr_db: tuple[float, float] = (20.0, 20.0)
    kind: str = "mu_miso"
    system: dict = field(default_factory=dict)
    train_size: int = 20000
    data_seed: int = 2024
    cache_dir: str = "data"

    def __post_init__(self) -> None:
        _positive("scenario", "Km", self.Km)
        _positive("scenario", "Nm", self.Nm)
        _positive("scenario", "train_size", self.train_size)
        if self.kind not in KINDS:
            raise ValueError(f"l2o config: scenario.kind must be one of {KINDS}, got {self.kind!r}")
        if self.kind == "cellfree":
            sc = self.system_config()
            if (self.Km, self.Nm) != (sc.K, sc.N):
                raise ValueError(
                    f"l2o config: a cellfree model has Km = K = {sc.K} and Nm = N = NT MT = "
                    f"{sc.N} of its system; got scenario.Km={self.Km}, scenario.Nm={self.Nm}"
                )
        snr = tuple(float(s) for s in self.snr_db)
        if len(snr) != 2 or not -50 <= snr[0] <= snr[1] <= 80:
            raise ValueError(
                f"l2o config: scenario.snr_db must be [low, high] dB, got {self.snr_db}"
            )
        object.__setattr__(self, "snr_db", snr)

    def system_config(self):
        """The cell-free SystemConfig (Table-I defaults plus ``system``)."""
        from ...config import SystemConfig

        return SystemConfig.from_dict(dict(self.system))


@dataclass(frozen=True)
class ModelSection:
    arch: str = "mt-sao-lift"
    layers: int = 6
    d_model: int = 32
    heads: int = 4
    hidden: int = 64
    q_train: int = 5
    q_infer: int = 10
    step_size: float = 3e-4
    gradient_tokens: bool = False
    ascent: str = "normalized"

    def __post_init__(self) -> None:
        if not isinstance(self.gradient_tokens, bool):
            raise ValueError("l2o config: model.gradient_tokens must be true or false")
        if self.ascent not in ASCENTS:
            raise ValueError(
                f"l2o config: model.ascent must be one of {ASCENTS}, got {self.ascent!r}"
            )
        if self.arch not in ARCHS:
            raise ValueError(f"l2o config: model.arch must be one of {ARCHS}, got {self.arch!r}")
        for name in ("layers", "d_model", "heads", "hidden"):
            _positive("model", name, getattr(self, name))
        for name in ("q_train", "q_infer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"l2o config: model.{name} must be an integer >= 0, got {value!r}")
        _positive("model", "step_size", self.step_size, float)
        if self.d_model % self.heads:
            raise ValueError(
                f"l2o config: model.d_model={self.d_model} must be a multiple of heads"
            )


@dataclass(frozen=True)
class CurriculumSection:
    users: tuple[int, ...] = (4, 8, 12, 16)
    antennas: tuple[int, ...] = (4, 8, 12, 16)
    window: int = 3
    stage_epochs: int = 1
    steps_per_epoch: int = 10
    passes: int = 1
    replay_fraction: float = 0.2
    replay_capacity: int = 4096

    def __post_init__(self) -> None:
        for name in ("users", "antennas"):
            seq = tuple(int(v) for v in getattr(self, name))
            if not seq or any(a >= b for a, b in zip(seq, seq[1:])) or seq[0] < 1:
                raise ValueError(
                    f"l2o config: curriculum.{name} must increase from >= 1, got {seq}"
                )
            object.__setattr__(self, name, seq)
        for name in ("window", "stage_epochs", "steps_per_epoch", "passes", "replay_capacity"):
            _positive("curriculum", name, getattr(self, name))
        if not 0.0 <= float(self.replay_fraction) < 1.0:
            raise ValueError("l2o config: curriculum.replay_fraction must be in [0, 1)")


@dataclass(frozen=True)
class OptimSection:
    lr: float = 1e-3
    lr_min: float = 3e-4
    batch_size: int = 128
    grad_clip: float = 1.0
    threads: int = 1
    device: str = "cpu"
    max_minutes: float = 60.0
    val_size: int = 64
    val_seed: int = 12345

    def __post_init__(self) -> None:
        for name in ("lr", "lr_min", "grad_clip", "max_minutes"):
            _positive("optim", name, getattr(self, name), float)
        for name in ("batch_size", "threads", "val_size"):
            _positive("optim", name, getattr(self, name))
        if self.device not in DEVICES:
            raise ValueError(
                f"l2o config: optim.device must be one of {DEVICES}, got {self.device!r}"
            )


SECTIONS = {
    "scenario": ScenarioSection,
    "model": ModelSection,
    "curriculum": CurriculumSection,
    "optim": OptimSection,
}


@dataclass(frozen=True)
class L2OConfig:
    """A whole MT-SAO-lift run (module docstring)."""

    name: str = "l2o"
    seed: int = 0
    scenario: ScenarioSection = field(default_factory=ScenarioSection)
    model: ModelSection = field(default_factory=ModelSection)
    curriculum: CurriculumSection = field(default_factory=CurriculumSection)
    optim: OptimSection = field(default_factory=OptimSection)

    def __post_init__(self) -> None:
        c, s = self.curriculum, self.scenario
        if c.users[-1] != s.Km or c.antennas[-1] != s.Nm:
            raise ValueError(
                f"l2o config: the schedules must end at Km={s.Km} users and Nm={s.Nm} antennas "
                f"(Algorithm 1: K_U = Km, N_V = Nm); got users {c.users}, antennas {c.antennas}"
            )
        if c.window > self.model.layers:
            raise ValueError(
                f"l2o config: curriculum.window={c.window} exceeds model.layers={self.model.layers}"
            )

    @property
    def stages(self) -> list[tuple[int, int]]:
        """The masking stages (K, N) in curriculum order: K outer, N inner."""
        return [(k, n) for k in self.curriculum.users for n in self.curriculum.antennas]

    @property
    def window_epochs(self) -> int:
        """T_w = |K| |N| T_m, epochs per window position."""
        return len(self.stages) * self.curriculum.stage_epochs

    @property
    def total_epochs(self) -> int:
        """Every window position (T - W + 1 of them) sees the schedule once; the last
        ``passes`` times."""
        positions = self.model.layers - self.curriculum.window + 1
        return self.window_epochs * (positions - 1 + self.curriculum.passes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for section in data.values():
            if isinstance(section, dict):
                for k, v in section.items():
                    if isinstance(v, tuple):
                        section[k] = list(v)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> L2OConfig:
        if not isinstance(data, dict):
            raise ValueError("l2o config: expected a mapping at the top level")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"l2o config: unknown key(s) {unknown}; valid: {sorted(known)}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in SECTIONS:
                sub = SECTIONS[key]
                sub_known = {f.name for f in dataclasses.fields(sub)}
                bad = sorted(set(value or {}) - sub_known)
                if bad:
                    raise ValueError(
                        f"l2o config: unknown key(s) {bad} in '{key}'; valid: {sorted(sub_known)}"
                    )
                kwargs[key] = sub(**(value or {}))
            else:
                kwargs[key] = value
        return cls(**kwargs)

    def replace(self, section: str, **values: Any) -> L2OConfig:
        """A copy with fields of one section replaced (validated again)."""
        data = self.to_dict()
        data[section].update(values)
        return L2OConfig.from_dict(data)

    @classmethod
    def load(cls, path: str | Path) -> L2OConfig:
        """A YAML recipe, a run's config.yml, or a model card (its ``training.config``)."""
        from ...recipe_files import read_recipe

        return cls.from_dict(read_recipe(path, "l2o config"))

    def save(self, path: str | Path) -> None:
        import yaml

        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def config_path(name: str) -> Path:
    """A recipe shipped in gr_cfisac/train/configs/ (``l2o_small.yml``, ``l2o_full.yml``)."""
    return Path(str(resources.files("gr_cfisac.train") / "configs" / name))
