"""The LHGNN training recipe (paper 003, Sections III-C and IV-A) as a dataclass read from
YAML (gr_cfisac/train/configs/lhgnn_*.yml). ``gamma_m2: null`` uses the documented stand-in
threshold (reference.py: the mean SPEB of ZF users plus a target beam with
``gamma_fraction`` of every BS's power) until the SCA optimizer's mean SPEB sets it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model import ARCHS, HEADS

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def repo_root() -> Path:
    """The checkout (recipes name ``dataset`` relative to it)."""
    return CONFIG_DIR.parents[2]


SMALL, FULL = "lhgnn_small.yml", "lhgnn_full.yml"


@dataclass(frozen=True)
class LHGNNConfig:
    """Every knob of one training run (field comments give the paper's value)."""

    name: str = "lhgnn_coisac"
    seed: int = 0
    arch: str = "lhgnn"
    dims: list[int] = field(default_factory=lambda: [64, 64, 64, 64])  # paper: 128 ... 2L, U = 9
    hidden: int = 64  # the head's hidden width (U' = 2 layers)
    head: str = "free"  # paper: free (the link outputs are the beams); kkt: kkt_head.KKTHead
    K: int = 5
    power_dbm: float = 20.0
    target_spread_m: float = 0.0
    csi_snr_db: float | None = None  # noisy-input training (Figs. 9-10): the estimate's SNR
    position_error_m: float = 0.0  # ... and the target position error the inputs are steered at
    train_size: int = 2000  # paper: I_T = 4000
    val_size: int = 500
    data_seed: int = 2026
    val_seed: int = 2027
    epochs: int = 150  # paper: 800
    batch_size: int = 64
    lr: float = 2e-4  # paper: 0.0002
    weight_decay: float = 5e-4  # paper: 0.0005
    rho1_slope: float = 0.8  # paper: rho_1 = 0.8 epoch
    rho2_slope: float = 0.5  # paper: rho_2 = 0.5 epoch
    rate_floor: float = 0.05  # paper: r = 0.05
    gamma_m2: float | None = None  # paper: the SRW optimizer's mean SPEB at this power
    gamma_fraction: float = 0.5
    satisfaction_target: float = 0.95
    device: str = "cpu"
    threads: int = 1
    max_minutes: float = 25.0
    dataset: str | None = None  # a cfisac coisac-raytrace dataset.npz; null: geometric channels

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS} (free: the paper's output), got "
                             f"{self.head!r}")  # fmt: skip
        for name in ("K", "train_size", "val_size", "epochs", "batch_size", "hidden", "threads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not self.dims or any(not isinstance(d, int) or d < 1 for d in self.dims):
            raise ValueError(f"dims must be a non-empty list of positive widths, got {self.dims}")
        if self.gamma_m2 is not None and not self.gamma_m2 > 0:
            raise ValueError(f"gamma_m2 must be a positive SPEB in m^2 (or null), got "
                             f"{self.gamma_m2}")  # fmt: skip
        if self.csi_snr_db is not None and not -50.0 <= self.csi_snr_db <= 100.0:
            raise ValueError(f"csi_snr_db must be null (perfect CSI) or in [-50, 100] dB, got "
                             f"{self.csi_snr_db}")  # fmt: skip
        if not 0.0 <= self.position_error_m <= 1e3:
            raise ValueError(f"position_error_m must be in [0, 1000] m, got "
                             f"{self.position_error_m}")  # fmt: skip
        if not 0.0 < self.gamma_fraction <= 1.0:
            raise ValueError(f"gamma_fraction must be in (0, 1], got {self.gamma_fraction}")
        if self.dataset is not None and (not isinstance(self.dataset, str) or not self.dataset):
            raise ValueError(f"dataset must be a path to a cfisac coisac-raytrace dataset.npz "
                             f"or null (geometric channels), got {self.dataset!r}")  # fmt: skip
        if self.device not in ("cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be cpu or cuda, got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LHGNNConfig:
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"lhgnn config: unknown field(s) {unknown}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> LHGNNConfig:
        """A YAML recipe, a run's config.json, or a model card (its ``training.config``)."""
        from ...recipe_files import read_recipe

        return cls.from_dict(read_recipe(path, "lhgnn config"))

    def replace(self, **changes: Any) -> LHGNNConfig:
        return dataclasses.replace(self, **changes)
