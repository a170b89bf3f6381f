"""Training data: Monte-Carlo realizations from the core, drawn reproducibly in chunks and cached.

Every chunk of ``chunk`` realizations of a split ('train', 'val', 'test') is drawn by
:func:`gr_cfisac.scenario.draw_realizations` from its own seed, SeedSequence(seed, spawn key
(split, chunk index)), so a split of any size is the first chunks of the same stream, splits never
overlap, and the benchmark can redraw the exact held-out test realizations (with their full G).

What is stored per realization (complex64), in the compact forms the losses need:
  F_hat (N, K)   the MMSE estimates: the network input (who knows what)
  F     (N, K)   the true channels, for the SINR of eq 20
  g_t   (NR, N)  realized target rows: ||G_j,t w||^2 = |g_t,j^H w|^2 (G_j,t = a_R,j g^H is rank 1)
  g_c   (NR, NC, N) the same for each clutter source
  aT_t  (NT, MT), amp2_t (NR, NT)          varpi-averaged target gram: w^H Q_t,j w =
  aT_c  (NC, NT, MT), amp2_c (NR, NC, NT)    sum_i amp2_ij |a_T,i^H w_i|^2 (amp2 = MR |alpha_bar|^2)
  sensing (1+NC, N) the sensing tokens (channels.sensing_tokens), input of target-aware models
Numpy only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .channels import sensing_tokens
from .config import SystemConfig
from .recipe import DataConfig
from .scenario import Realizations, draw_realizations

SPLITS = {"train": 0, "val": 1, "test": 2}
FORMAT_VERSION = 1


def chunk_seed(seed: int, split: str, index: int) -> np.random.SeedSequence:
    """Seed of chunk ``index`` of ``split``: independent streams per split and chunk."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    return np.random.SeedSequence(seed, spawn_key=(SPLITS[split], index))


def draw_chunk(cfg: SystemConfig, data: DataConfig, split: str, index: int) -> Realizations:
    """The realizations of chunk ``index`` of ``split`` (always ``data.chunk`` of them)."""
    rng = np.random.default_rng(chunk_seed(data.seed, split, index))
    return draw_realizations(cfg, data.chunk, rng, data.scene, data.estimator)


def iter_realizations(
    cfg: SystemConfig, data: DataConfig, split: str, size: int
) -> Iterator[Realizations]:
    """The first ``size`` realizations of a split as Realizations batches (the last one cut)."""
    done = 0
    index = 0
    while done < size:
        real = draw_chunk(cfg, data, split, index)
        take = min(data.chunk, size - done)
        yield real if take == data.chunk else real.take(slice(0, take))
        done += take
        index += 1


def compact_rows(G: np.ndarray, aR: np.ndarray) -> np.ndarray:
    """Rank-1 row of a sensing matrix: G = a_R g^H -> g~ = G^H a_R / ||a_R|| with ||G w|| = |g~^H w|.

    G (..., MR, N), aR (..., MR) -> (..., N).
    """
    norm = np.linalg.norm(aR, axis=-1, keepdims=True)
    return np.einsum("...rn,...r->...n", G.conj(), aR) / norm


def pack(real: Realizations) -> dict[str, np.ndarray]:
    """The arrays training needs (module docstring), complex64 / float32."""
    sg = real.sensing
    MR = sg.aR_t.shape[-1]
    c64 = np.complex64
    return {
        "F_hat": real.F_hat.astype(c64),
        "F": real.F.astype(c64),
        "g_t": compact_rows(real.G_t, sg.aR_t).astype(c64),
        "g_c": compact_rows(real.G_c, sg.aR_c).astype(c64),
        "aT_t": sg.aT_t.astype(c64),
        "amp2_t": (MR * sg.amp_t**2).astype(np.float32),
        "aT_c": sg.aT_c.astype(c64),
        "amp2_c": (MR * sg.amp_c**2).astype(np.float32),
        "sensing": sensing_tokens(sg).astype(c64),
    }


def cache_key(cfg: SystemConfig, data: DataConfig) -> str:
    """Folder name identifying the generator of a dataset (config, scene, estimator, seed, chunk)."""
    spec = {
        "system": cfg.to_dict(),
        "scene": data.scene,
        "estimator": data.estimator,
        "seed": data.seed,
        "chunk": data.chunk,
        "version": FORMAT_VERSION,
    }
    spec["system"].pop("extra", None)
    digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    return f"{data.scene}-{data.estimator}-seed{data.seed}-{digest}"


def load_split(
    cfg: SystemConfig, data: DataConfig, split: str, size: int, progress: bool = True
) -> dict[str, np.ndarray]:
    """The first ``size`` realizations of a split, packed; chunks cached as npz (resumable)."""
    folder = Path(data.cache_dir) / cache_key(cfg, data)
    folder.mkdir(parents=True, exist_ok=True)
    n_chunks = -(-size // data.chunk)
    chunks = []
    indices: range | Iterator[int] = range(n_chunks)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc=f"data {split}", unit="chunk", leave=False)
    for index in indices:
        path = folder / f"{split}_{index:05d}.npz"
        if path.exists():
            with np.load(path) as npz:
                arrays = {k: npz[k] for k in npz.files}
        else:
            arrays = pack(draw_chunk(cfg, data, split, index))
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, **arrays)
            tmp.replace(path)
        chunks.append(arrays)
    return {k: np.concatenate([c[k] for c in chunks])[:size] for k in chunks[0]}


def iq(x: np.ndarray) -> np.ndarray:
    """I/Q features of eq 24: complex (B, N, K) -> float32 (B, K, 2N), row k = [Re f_k, Im f_k]."""
    x = np.swapaxes(np.asarray(x), -1, -2)
    return np.concatenate([x.real, x.imag], axis=-1).astype(np.float32)


def iq_rows(x: np.ndarray) -> np.ndarray:
    """Rows already per token: complex (B, T, N) -> float32 (B, T, 2N)."""
    x = np.asarray(x)
    return np.concatenate([x.real, x.imag], axis=-1).astype(np.float32)


def from_iq(rows: np.ndarray) -> np.ndarray:
    """Network output (B, K+1, 2N) float -> W (B, N, K+1) complex64, column 0 the sensing beam."""
    rows = np.asarray(rows)
    n = rows.shape[-1] // 2
    return np.swapaxes(rows[..., :n] + 1j * rows[..., n:], -1, -2).astype(np.complex64)
