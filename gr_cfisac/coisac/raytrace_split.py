"""A ray-traced coisac dataset (``cfisac coisac-raytrace``) as a learned model's channel source:
load it for a scenario (ValueError naming the recipe field when the file is missing, is not such
a dataset, was traced for another scenario or is too small) and split it, seeded: the
realizations permuted by ``default_rng(seed)``, the first ``train`` are training blocks, the next
``val`` validation, the rest the held-out test split. numpy only (the trainer and the bench)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .raytrace_dataset import RaytracedDataset
from .scenario import CoisacBatch, CoisacConfig

#: the command that makes the dataset the recipes name (data/ is not committed)
MAKE_COMMAND = "cfisac coisac-raytrace --count {count} --out {folder}"
SPLITS = ("train", "val", "test")


def make_hint(path: Path, count: int) -> str:
    return MAKE_COMMAND.format(count=count, folder=Path(path).parent)


def resolve(path: str | Path, root: Path | None = None) -> Path:
    """``path`` as given if it exists (or is absolute), else relative to ``root`` (the
    repository: recipes name data/... from there)."""
    p = Path(path)
    if p.is_absolute() or p.exists() or root is None:
        return p
    return root / p


def load_for(
    path: str | Path, cfg: CoisacConfig, need: int, field: str = "dataset"
) -> RaytracedDataset:
    """The dataset at ``path`` for scenario ``cfg`` with more than ``need`` realizations (the
    rest is the test split); ValueError naming ``field`` and the command that makes it."""
    path = Path(path)
    hint = make_hint(path, need + max(need // 5, 1))
    if not path.is_file():
        raise ValueError(f"{field}: {path} does not exist; make it with `{hint}` (sionna-rt: "
                         f"make setup-raytrace), or set {field}: null for geometric channels")  # fmt: skip
    try:
        ds = RaytracedDataset.load(path)
    except (KeyError, ValueError, OSError, TypeError) as exc:
        raise ValueError(f"{field}: {path} is not a cfisac coisac-raytrace dataset ({exc}); "
                         f"make it with `{hint}`") from exc  # fmt: skip
    have, want = ds.cfg.to_dict(), cfg.to_dict()
    diff = [f"{k} {have.get(k)!r} (dataset) vs {want[k]!r} (recipe)"
            for k in want if not np.array_equal(np.asarray(have.get(k)), np.asarray(want[k]))]  # fmt: skip
    if diff:
        raise ValueError(f"{field}: {path} was traced for another scenario config: "
                         f"{'; '.join(diff)}; set the recipe's K / power_dbm / target_spread_m "
                         f"to the dataset's or trace one for it (`{hint}` traces the default "
                         "CoisacConfig)")  # fmt: skip
    if ds.batch <= need:
        raise ValueError(f"{field}: {path} holds {ds.batch} realizations, the recipe needs "
                         f"more than train_size + val_size = {need} (the rest is the test "
                         f"split); make a bigger one with `{hint}`")  # fmt: skip
    return ds


def split_indices(n: int, train: int, val: int, seed: int) -> dict[str, np.ndarray]:
    """Indices of the train / val / test splits of ``n`` realizations (module docstring)."""
    if train < 1 or val < 1 or train + val >= n:
        raise ValueError(f"split: need train, val >= 1 and train + val < n = {n}, got "
                         f"{train} + {val}")  # fmt: skip
    perm = np.random.default_rng(seed).permutation(n)
    return {"train": perm[:train], "val": perm[train : train + val], "test": perm[train + val :]}


def subset(ds: RaytracedDataset, idx: np.ndarray) -> RaytracedDataset:
    """The realizations ``idx`` of ``ds`` (path tables and channels alike)."""
    arrays = {k: getattr(ds, k)[idx] for k in ("users", "F", "counts", "delays", "powers")}
    return dataclasses.replace(ds, **arrays)


def split_batches(
    ds: RaytracedDataset, train: int, val: int, seed: int, rngs: dict[str, int]
) -> dict[str, CoisacBatch]:
    """The three splits as CoisacBatches (radar reflections drawn with ``rngs[split]``)."""
    idx = split_indices(ds.batch, train, val, seed)
    return {s: subset(ds, idx[s]).to_batch(rng=rngs[s]) for s in SPLITS}


def describe(ds: RaytracedDataset, path: str | Path, train: int, val: int, seed: int) -> str:
    """The model card's ``channel_source`` for a model trained on ``ds``."""
    st, s = ds.statistics(), ds.settings
    return (
        f"sionna-rt {s.scene} (cfisac coisac-raytrace: paper position - {list(s.offset_m)} m, "
        f"max depth {s.max_depth}, {s.samples_per_src} rays per BS, LoS + specular reflection, "
        f"solver seed {s.seed}; narrowband h = sum of path coefficients at "
        f"{ds.cfg.carrier_hz / 1e9:g} GHz; target echo: radar equation): {path}, "
        f"{ds.batch} realizations ({st['dropped_realizations']} dropped, "
        f"{st['redrawn_users']} users redrawn), split seed {seed}: {train} train / {val} "
        f"validation / {ds.batch - train - val} test; links with paths "
        f"{st['links_with_paths']:.3f}, paths per link {st['paths_per_link_mean']:.2f}, "
        f"ray - geometric link gain median {st['ray_minus_geometric_db_median']:+.1f} dB"
    )
