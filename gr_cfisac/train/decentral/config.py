"""The teacher-student recipe of paper 001 (sections 5, 7, 8) as a dataclass read from YAML
(``gr_cfisac/train/configs/ts_*.yml``). No torch here: ``cfisac train --help`` reads it.

Sections: ``scenario`` (pos1 / pos2 and L, M, N: gr_cfisac.decentral.PosConfig; or
``cellfree``, the Table-I network of SystemConfig with ``extra`` its overrides, L, M, N = NT,
MT, K), ``data`` (training and validation sizes, seeds; cellfree: the STCIB dataset's scene,
estimator, chunk and cache folder), ``objective`` (cellfree: eta of eq 23a), ``model`` (the per-AP architecture of Table 1
and its widths), ``schedule`` (epochs: the SSNR teacher's fixed count, the others' maximum
and early-stopping patience; the student's lambda^(0), step epsilon of eq 12 and the
model-selection threshold of section 8.3) and ``optim`` (Adam, ReduceLROnPlateau, batch,
threads, device, time budget).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

ARCHS = ("cnn1d", "cae", "unet")
#: per-AP output layers: the paper's (the network outputs the beams) and kkt_head's
HEADS = ("free", "kkt")
#: per-AP inputs: eq 14's CSI image (the paper's) or its Gram matrix (models.gram_rows)
INPUTS = ("csi", "gram")
#: scenario layouts: paper 001's (teacher-student stages) and the Table-I cell-free network
LAYOUTS = ("pos1", "pos2", "cellfree")
#: a cellfree recipe's L, M, N are the SystemConfig's
SYSTEM_NAMES = {"L": "NT", "M": "MT", "N": "K"}
DEVICES = ("cpu", "cuda")
#: when the student's lambda takes its eq 12 step: every mini-batch (the paper's), once per
#: epoch on the epoch's mean gaps, or every mini-batch on exponentially smoothed gaps
LAMBDA_MODES = ("batch", "epoch", "ema")
#: the student's initial weights: fresh (the paper's) or the SINR teacher's
STUDENT_INITS = ("scratch", "sinr_teacher")
#: the student's loss: eq 11 (linear, the paper's) or eq 11's weights on logarithms (ours)
STUDENT_LOSSES = ("linear", "log")
#: the min-SINR in eq 12's gaps: the training loss's (soft with softmin_t0 > 0) or the hard min
LAMBDA_GAPS = ("soft", "hard")
#: what resets the student's early-stopping patience: a better validation SSNR or min-SINR
#: (the paper's) or a new section-8.3 selection (the epoch becomes the selected one or raises
#: the best min-SINR)
STUDENT_STOPS = ("metrics", "selection")
#: the three trained model sets, in training order
STAGES = ("ssnr_teacher", "sinr_teacher", "student")


def _check(section: str, name: str, value: Any, kind: type = int, low: float = 0.0) -> None:
    ok = isinstance(value, (int, float) if kind is float else kind) and not isinstance(value, bool)
    if not ok or not value > low:
        raise ValueError(
            f"teacher-student config: {section}.{name} must be a {kind.__name__} > {low:g}, "
            f"got {value!r}"
        )


@dataclass(frozen=True)
class ScenarioSection:
    """The gr_cfisac.decentral.PosConfig fields (layout, L, M, N, spacing, power, ...), or for
    layout ``cellfree`` the SystemConfig overrides in ``extra`` with L, M, N its NT, MT, K."""

    layout: str = "pos1"
    L: int = 2
    M: int = 16
    N: int = 5
    extra: dict = field(default_factory=dict)

    @property
    def cellfree(self) -> bool:
        return self.layout == "cellfree"

    def pos_config(self):
        from ...decentral import PosConfig

        if self.cellfree:
            raise ValueError("scenario.layout cellfree has a SystemConfig (system_config())")
        return PosConfig(self.layout, self.L, self.M, self.N, **dict(self.extra))

    def system_config(self):
        """The Table-I SystemConfig of a cellfree recipe (defaults plus ``extra``)."""
        from ...config import SystemConfig

        if not self.cellfree:
            raise ValueError(f"scenario.layout {self.layout!r} has a PosConfig (pos_config())")
        return SystemConfig.from_dict(dict(self.extra))

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(
                f"teacher-student config: scenario.layout must be one of {LAYOUTS}, "
                f"got {self.layout!r}"
            )
        if not self.cellfree:
            self.pos_config()  # validates (ValueError naming the field)
            return
        sc = self.system_config()
        for name, want in (("L", sc.NT), ("M", sc.MT), ("N", sc.K)):
            if getattr(self, name) != want:
                raise ValueError(
                    f"teacher-student config: scenario.{name} = {getattr(self, name)} but the "
                    f"cellfree system has {want} ({SYSTEM_NAMES[name]}); "
                    f"set scenario.{name}: {want}"
                )


@dataclass(frozen=True)
class DataSection:
    """``train_size`` / ``val_size`` realizations drawn with seeds ``seed`` / ``val_seed``.
    Cellfree: the STCIB dataset (gr_cfisac.dataset) of ``seed``, its 'train' and 'val' splits
    (``val_seed`` unused), with its ``scene``, ``estimator``, ``chunk`` and ``cache_dir``."""

    train_size: int = 19400
    val_size: int = 600
    seed: int = 2024
    val_seed: int = 2025
    scene: str = "paper"
    estimator: str = "mmse"
    chunk: int = 1000
    cache_dir: str = "data"

    def data_config(self):
        """The STCIB DataConfig of these fields (cellfree)."""
        from ...recipe import DataConfig

        data = DataConfig(self.train_size, self.val_size, 1, self.seed, self.scene,
                          self.estimator, self.chunk, self.cache_dir)  # fmt: skip
        data.validate()
        return data

    def __post_init__(self) -> None:
        _check("data", "train_size", self.train_size)
        _check("data", "val_size", self.val_size)


@dataclass(frozen=True)
class ObjectiveSection:
    """Cellfree: the loss is minus the eq 23a objective eta sum R_C + (1 - eta) sum R_S
    (kappa-rates; STCIB's joint loss, eq 40) with this ``eta`` (the shipped STCIB's 0.4)."""

    eta: float = 0.4

    def __post_init__(self) -> None:
        if isinstance(self.eta, bool) or not isinstance(self.eta, (int, float)):
            raise ValueError(
                f"teacher-student config: objective.eta must be a number, got {self.eta!r}"
            )
        if not 0 <= self.eta <= 1:
            raise ValueError(
                f"teacher-student config: objective.eta must be in [0, 1], got {self.eta}"
            )


def check_head_and_input(head: str, input: str, context: str = "") -> None:
    """ValueError naming ``model.head`` / ``model.input`` unless ``head`` is in HEADS and
    ``input`` in INPUTS, the Gram input with the kkt head only (the free head's output is the
    beams, one row per CSI row); ``context`` starts the message."""
    if head not in HEADS:
        raise ValueError(
            f"{context}model.head must be one of {HEADS} (free: the paper's output, kkt: "
            f"kkt_head's structured layer), got {head!r}"
        )
    if input not in INPUTS or (input == "gram" and head != "kkt"):
        raise ValueError(
            f"{context}model.input must be one of {INPUTS} (csi: eq 14's image, gram: its Gram "
            f"matrix; gram with head kkt only: the free head's output is the beams), got "
            f"{input!r} with head {head!r}"
        )


@dataclass(frozen=True)
class ModelSection:
    """``arch`` of Table 1 and its ``channels`` (encoder widths; cnn1d: conv widths) with
    ``hidden`` (cnn1d: fully connected widths), ``kernel`` (unet: square filter size) and the
    output layer ``head`` (free: the paper's, kkt: kkt_head.LocalKKTHead, ours) and the
    network's ``input`` (csi: eq 14's image, the paper's; gram: its Gram matrix, ours)."""

    arch: str = "unet"
    channels: tuple[int, ...] = (16, 32, 64, 128)
    hidden: tuple[int, ...] = (90, 90)
    kernel: int = 3
    head: str = "free"
    input: str = "csi"

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"teacher-student config: model.arch must be one of {ARCHS}")
        check_head_and_input(self.head, self.input, "teacher-student config: ")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if not self.channels or min(self.channels) < 1:
            raise ValueError("teacher-student config: model.channels must be positive widths")
        _check("model", "kernel", self.kernel)


@dataclass(frozen=True)
class ScheduleSection:
    """Epochs: the SSNR teacher trains ``ssnr_epochs`` (no early stopping); the SINR teacher
    and the student at most ``max_epochs`` with early-stopping ``patience``. Student:
    ``lambda0`` and ``epsilon`` of eq 12; ``select`` the fraction of the best validation
    min-SINR an epoch must reach to be selectable (section 8.3: 0.94). Cellfree: one stage of
    at most ``max_epochs``, early stopping after ``patience`` epochs without a better
    validation objective (the best epoch kept); the teacher fields are unused.

    Deviations, off by default: ``lambda_mode`` (LAMBDA_MODES; ``batch`` is eq 12 per
    mini-batch, the paper's; ``epoch`` one step per epoch on its mean gaps; ``ema`` per
    mini-batch on gaps smoothed with factor ``lambda_ema``); ``softmin_t0`` > 0 trains on a
    smooth min over users (losses.soft_min, temperature softmin_t0 softmin_decay^epoch, the
    hard min once below 1e-3) in the SINR teacher's and the student's losses instead of eq 10's
    / eq 11's hard min (0: the hard min, the paper's). Validation always uses the hard min;
    eq 12's gaps use the loss's min (``lambda_gaps`` soft, as the sets shipped before it were
    trained) or the hard min (``hard``: the paper's min-SINR, whatever the loss smooths; the
    smooth min lies up to T log N below it and so biased lambda toward communication).
    ``student_init``: ``scratch`` (the paper's) or ``sinr_teacher`` (the student starts from
    the SINR teacher's weights and trades min-SINR for SSNR from there). ``student_loss``:
    ``linear`` (eq 11) or ``log`` (losses.student_loss). ``student_stop`` (STUDENT_STOPS):
    ``metrics`` (the paper's: a better validation SSNR or min-SINR resets the patience; an
    early epoch near a teacher's corner can then end the student while its trade-off still
    improves) or ``selection`` (an epoch that section 8.3 would now select, or that raises the
    best min-SINR, resets it). ``student_max_epochs`` / ``student_patience`` > 0: the
    student's own limits (0: ``max_epochs`` / ``patience``, as the SINR teacher's)."""

    ssnr_epochs: int = 100
    max_epochs: int = 1000
    patience: int = 100
    lambda0: float = 0.5
    epsilon: float = 0.01
    select: float = 0.94
    lambda_mode: str = "batch"
    lambda_ema: float = 0.9
    softmin_t0: float = 0.0
    softmin_decay: float = 0.95
    student_init: str = "scratch"
    student_loss: str = "linear"
    lambda_gaps: str = "soft"
    student_stop: str = "metrics"
    student_max_epochs: int = 0
    student_patience: int = 0

    def __post_init__(self) -> None:
        for name in ("ssnr_epochs", "max_epochs", "patience"):
            _check("schedule", name, getattr(self, name))
        for name in ("student_max_epochs", "student_patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(
                    f"teacher-student config: schedule.{name} must be an integer >= 0 (0: the "
                    f"teachers' {name.removeprefix('student_')}), got {value!r}"
                )
        choices = {"lambda_mode": LAMBDA_MODES, "lambda_gaps": LAMBDA_GAPS,
                   "student_loss": STUDENT_LOSSES, "student_init": STUDENT_INITS,
                   "student_stop": STUDENT_STOPS}  # fmt: skip
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"teacher-student config: schedule.{name} must be one of {allowed}, "
                    f"got {getattr(self, name)!r}"
                )
        if not 0 <= self.lambda_ema < 1:
            raise ValueError(
                f"teacher-student config: schedule.lambda_ema must be in [0, 1), "
                f"got {self.lambda_ema}"
            )
        if not self.softmin_t0 >= 0 or not 0 < self.softmin_decay <= 1:
            raise ValueError(
                "teacher-student config: schedule.softmin_t0 must be >= 0 (0: hard min) and "
                f"softmin_decay in (0, 1], got {self.softmin_t0}, {self.softmin_decay}"
            )
        if not 0 <= self.lambda0 <= 1 or not 0 < self.select <= 1 or not self.epsilon > 0:
            raise ValueError(
                "teacher-student config: schedule.lambda0 must be in [0, 1], select in (0, 1] "
                "and epsilon > 0"
            )

    def limits(self, stage: str) -> tuple[int, int]:
        """(at most this many epochs, early-stopping patience) of a student or SINR-teacher
        ``stage``."""
        if stage == "student":
            return (self.student_max_epochs or self.max_epochs,
                    self.student_patience or self.patience)  # fmt: skip
        return self.max_epochs, self.patience


@dataclass(frozen=True)
class OptimSection:
    """Adam at ``lr``; ReduceLROnPlateau (``plateau_factor``, ``plateau_patience`` epochs) on
    the epoch's mean training loss; ``batch_size``; torch ``threads``; ``device``; a safety
    budget ``max_minutes`` for the whole run (the run stops after the epoch that passes it);
    ``grad_clip`` the gradient-norm clip of every step (0: none, the paper's);
    ``student_plateau`` False keeps the student at ``lr`` (its loss moves with lambda, so a
    plateau on it is lambda's doing, not the student's; True, the default, steps it too)."""

    lr: float = 0.01
    plateau_factor: float = 0.1
    plateau_patience: int = 10
    batch_size: int = 500
    threads: int = 1
    device: str = "cpu"
    max_minutes: float = 600.0
    grad_clip: float = 0.0
    student_plateau: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.student_plateau, bool):
            raise ValueError(
                f"teacher-student config: optim.student_plateau must be true or false, "
                f"got {self.student_plateau!r}"
            )
        clip = self.grad_clip
        if isinstance(clip, bool) or not isinstance(clip, (int, float)) or clip < 0:
            raise ValueError(
                f"teacher-student config: optim.grad_clip must be a number >= 0 (0: no clip), "
                f"got {self.grad_clip!r}"
            )
        _check("optim", "lr", self.lr, float)
        _check("optim", "batch_size", self.batch_size)
        _check("optim", "threads", self.threads)
        _check("optim", "max_minutes", self.max_minutes, float)
        if self.device not in DEVICES:
            raise ValueError(f"teacher-student config: optim.device must be one of {DEVICES}")


@dataclass(frozen=True)
class TSConfig:
    """A teacher-student run: name, seed and the sections above."""

    name: str = "ts_pos1_unet"
    seed: int = 0
    scenario: ScenarioSection = field(default_factory=ScenarioSection)
    data: DataSection = field(default_factory=DataSection)
    objective: ObjectiveSection = field(default_factory=ObjectiveSection)
    model: ModelSection = field(default_factory=ModelSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    optim: OptimSection = field(default_factory=OptimSection)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model"]["channels"] = list(self.model.channels)
        d["model"]["hidden"] = list(self.model.hidden)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TSConfig:
        sections = {"scenario": ScenarioSection, "data": DataSection,
                    "objective": ObjectiveSection, "model": ModelSection,
                    "schedule": ScheduleSection, "optim": OptimSection}  # fmt: skip
        unknown = sorted(set(data) - {"name", "seed", *sections})
        if unknown:
            raise ValueError(f"teacher-student config: unknown field(s) {unknown}")
        kw: dict[str, Any] = {k: data[k] for k in ("name", "seed") if k in data}
        for key, kind in sections.items():
            part = dict(data.get(key) or {})
            bad = sorted(set(part) - {f.name for f in dataclasses.fields(kind)})
            if bad:
                raise ValueError(f"teacher-student config: unknown field(s) {key}.{bad}")
            kw[key] = kind(**part)
        return cls(**kw)

    @classmethod
    def load(cls, path: str | Path) -> TSConfig:
        """A YAML recipe, a run's config.yml, or a model card (its ``training.config``)."""
        from ...recipe_files import read_recipe

        return cls.from_dict(read_recipe(path, "teacher-student config"))

    def save(self, path: str | Path) -> None:
        import yaml

        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


def config_path(name: str) -> Path:
    """A shipped recipe, ``gr_cfisac/train/configs/NAME`` (ts_tiny.yml, ts_small.yml,
    ts_full.yml, ts_cellfree.yml)."""
    return Path(str(resources.files("gr_cfisac.train") / "configs" / name))
