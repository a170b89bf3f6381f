"""Algorithm 1 of paper 002: MT-SAO-lift training with curriculum over (K, N), random masking,
sample replay, sliding-window training (eq 25) on the cumulative sum rate (eq 7), cosine lr.

Run folder ``runs/NAME/``: ``config.yml``, ``last.pt`` (model, optimizer, counters, the data
generator's state and the replay buffer: a killed run resumes where its last epoch ended),
``log.csv`` (one row per epoch). Checkpoints hold tensors and plain values only
(``torch.load(weights_only=True)``). Channels are drawn fresh every step (eq 1), so there is no
dataset; validation uses a fixed set of masked draws with WMMSE (numpy core) as the reference.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ... import mumiso
from ...precoding import wmmse
from . import ops
from .config import L2OConfig
from .model import MTSAO, from_rows

LOG_FIELDS = ["epoch", "window_start", "K", "N", "train_rate", "lr", "val_ratio", "elapsed_s"]


def build_model(cfg: L2OConfig) -> MTSAO:
    """The untrained model of a config (initialized from cfg.seed)."""
    torch.manual_seed(cfg.seed)
    m = cfg.model
    return MTSAO(
        cfg.scenario.Km, cfg.scenario.Nm, m.layers, m.d_model, m.heads, m.hidden,
        lift=m.arch == "mt-sao-lift", q_steps=m.q_train, step_size=m.step_size,
        inverse_iterations=ops.inverse_iterations(cfg.scenario.Km, cfg.scenario.snr_db[1]),
        gradient_tokens=m.gradient_tokens, normalized=m.ascent == "normalized",
    )  # fmt: skip


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class CellFreePool:
    """Cell-free realizations for training on the STCIB scenario's channels: the graph's
    ``channel`` holds the MMSE estimates F_hat, ``target`` the true channels F (the rates are
    measured on them), both times sqrt(power_budget), so P = 1 and the noise is 1 as in the
    core's normalized units (DESIGN.md)."""

    def __init__(self, cfg: L2OConfig, split: str, size: int) -> None:
        from ...dataset import load_split
        from ...recipe import DataConfig

        s = cfg.scenario
        sc = s.system_config()
        data = DataConfig(train_size=max(size, 1), val_size=max(size, 1), test_size=max(size, 1),
                          seed=s.data_seed, cache_dir=s.cache_dir)  # fmt: skip
        arrays = load_split(sc, data, split, size, progress=False)
        scale = math.sqrt(sc.power_budget)
        self.channel = channel_rows(arrays["F_hat"] * scale)
        self.target = channel_rows(arrays["F"] * scale)

    def draw(self, cfg: L2OConfig, K: int, N: int, size: int, rng: np.random.Generator):
        pick = rng.integers(0, len(self.channel), size)
        s = cfg.scenario
        users = mumiso.random_masks(size, K, s.Km, rng).astype(np.float32)
        antennas = mumiso.random_masks(size, N, s.Nm, rng).astype(np.float32)
        return {"channel": self.channel[pick], "users": users, "antennas": antennas,
                "noise": np.ones((size, 1), np.float32), "target": self.target[pick]}  # fmt: skip


def draw_batch(
    cfg: L2OConfig, K: int, N: int, size: int, rng: np.random.Generator,
    pool: CellFreePool | None = None,
) -> dict[str, np.ndarray]:  # fmt: skip
    """``size`` masked draws at stage (K, N) as the graph's float32 inputs: channel
    (size, Km, 2Nm), users (size, Km), antennas (size, Nm), noise (size, 1) with the SNR
    uniform in dB over the scenario's range (mu_miso), or from a cell-free ``pool`` (plus the
    true channels as ``target``)."""
    if pool is not None:
        return pool.draw(cfg, K, N, size, rng)
    s = cfg.scenario
    b = mumiso.draw(mumiso.MuMisoConfig(K=K, N=N, Km=s.Km, Nm=s.Nm), size, rng)
    snr = rng.uniform(s.snr_db[0], s.snr_db[1], size)
    return {
        "channel": channel_rows(b.F),
        "users": b.users.astype(np.float32),
        "antennas": b.antennas.astype(np.float32),
        "noise": (10.0 ** (-snr / 10.0)).astype(np.float32)[:, None],
    }


def channel_rows(F: np.ndarray) -> np.ndarray:
    """Core channel F (B, Nm, Km) -> the graph's ``channel`` (B, Km, 2Nm) float32, row k =
    [Re f_k^T, Im f_k^T]."""
    Ft = np.asarray(F).transpose(0, 2, 1)
    return np.concatenate([Ft.real, Ft.imag], axis=-1).astype(np.float32)


class ReplayBuffer:
    """Sample replay (section III-C3): a reservoir of earlier stages' samples, each tagged with
    the serial number of its stage; :meth:`sample` draws only from stages before ``serial``."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.data: dict[str, np.ndarray] = {}
        self.serial = np.zeros(0, dtype=np.int64)
        self.seen = 0

    def add(self, batch: dict[str, np.ndarray], serial: int, rng: np.random.Generator) -> None:
        n = len(batch["channel"])
        if not self.data:
            self.data = {
                k: np.zeros((self.capacity,) + v.shape[1:], v.dtype) for k, v in batch.items()
            }
            self.serial = np.full(self.capacity, -1, dtype=np.int64)
        for i in range(n):
            slot = self.seen if self.seen < self.capacity else int(rng.integers(0, self.seen + 1))
            self.seen += 1
            if slot < self.capacity:
                for k, v in batch.items():
                    self.data[k][slot] = v[i]
                self.serial[slot] = serial

    def sample(self, n: int, serial: int, rng: np.random.Generator) -> dict[str, np.ndarray] | None:
        eligible = np.flatnonzero((self.serial >= 0) & (self.serial < serial))
        if n == 0 or eligible.size == 0:
            return None
        pick = rng.choice(eligible, size=n, replace=eligible.size < n)
        return {k: v[pick] for k, v in self.data.items()}

    def state(self) -> dict[str, Any]:
        return {"data": {k: torch.from_numpy(v) for k, v in self.data.items()},
                "serial": torch.from_numpy(self.serial), "seen": self.seen}  # fmt: skip

    def load(self, state: dict[str, Any]) -> None:
        self.data = {k: v.numpy().copy() for k, v in state["data"].items()}
        self.serial = state["serial"].numpy().copy()
        self.seen = int(state["seen"])


def validation_stages(Km: int, Nm: int) -> list[tuple[int, int]]:
    """(K, N) pairs the validation set covers: K in {Km/4, 0.7 Nm, Km}, N in {0.4, 0.7, 1} Nm."""
    n07 = max(1, round(0.7 * Nm))
    users = sorted({max(1, Km // 4), min(Km, n07), Km})
    antennas = sorted({max(1, round(0.4 * Nm)), n07, Nm})
    return [(k, n) for k in users for n in antennas]


def true_channel(b: dict[str, torch.Tensor], H: ops.Complex, sample: torch.Tensor) -> ops.Complex:
    """The channel the rates are measured on: ``target`` (cell-free: true F) where the batch
    has one, else the masked input channel H."""
    if "target" not in b:
        return H
    Tr, Ti = from_rows(b["target"])
    return Tr * sample, Ti * sample


def validation_set(cfg: L2OConfig) -> list[dict[str, Any]]:
    """Fixed masked draws per validation stage at the SNR range's midpoint, with WMMSE's sum
    rate (converged to 1e-6, numpy core) as the reference (cell-free: WMMSE on the estimates,
    rates on the true channels, all antennas active)."""
    s = cfg.scenario
    if s.kind == "cellfree":
        return cellfree_validation_set(cfg)
    snr = 0.5 * (s.snr_db[0] + s.snr_db[1])
    out = []
    for i, (K, N) in enumerate(validation_stages(s.Km, s.Nm)):
        mc = mumiso.MuMisoConfig(K=K, N=N, Km=s.Km, Nm=s.Nm, snr_db=snr)
        b = mumiso.draw(mc, cfg.optim.val_size, cfg.optim.val_seed + i)
        F = b.active_channels()
        ref = mumiso.sum_rate(F, wmmse(F, 1.0, mc.noise), mc.noise)
        out.append({
            "K": K, "N": N, "snr_db": snr, "wmmse": float(ref.mean()),
            "inputs": {"channel": channel_rows(b.F), "users": b.users.astype(np.float32),
                       "antennas": b.antennas.astype(np.float32),
                       "noise": np.full((len(F), 1), mc.noise, np.float32)},
        })  # fmt: skip
    return out


def cellfree_validation_set(cfg: L2OConfig) -> list[dict[str, Any]]:
    s = cfg.scenario
    pool = CellFreePool(cfg, "val", cfg.optim.val_size)
    rng = np.random.default_rng(cfg.optim.val_seed)
    out = []
    for K in sorted({1, max(1, s.Km // 2), s.Km}):
        b = pool.draw(cfg, K, s.Nm, cfg.optim.val_size, rng)
        Fh = rows_to_channel(b["channel"]) * b["users"][:, None, :]
        F = rows_to_channel(b["target"]) * b["users"][:, None, :]
        W = np.zeros_like(Fh)
        for mask in np.unique(b["users"], axis=0):
            idx = np.flatnonzero(np.all(b["users"] == mask, axis=1))
            cols = np.flatnonzero(mask)
            W[np.ix_(idx, np.arange(s.Nm), cols)] = wmmse(Fh[idx][:, :, cols], 1.0, 1.0)
        ref = mumiso.sum_rate(F, W, 1.0)
        inputs = {k: b[k] for k in ("channel", "users", "antennas", "noise", "target")}
        out.append({"K": K, "N": s.Nm, "snr_db": 0.0, "wmmse": float(ref.mean()), "inputs": inputs})
    return out


def rows_to_channel(x: np.ndarray) -> np.ndarray:
    """The graph's rows (B, Km, 2Nm) -> core channel (B, Nm, Km) complex."""
    n = x.shape[-1] // 2
    return (x[..., :n] + 1j * x[..., n:]).transpose(0, 2, 1)


def to_device(batch: dict[str, np.ndarray], device: str) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in batch.items()}


@torch.no_grad()
def evaluate(model: MTSAO, val: list[dict[str, Any]], steps: int, device: str = "cpu") -> dict:
    """Mean sum rate per validation stage and its ratio to WMMSE; ``ratio``: their mean."""
    model.eval()
    rows = []
    for v in val:
        t = to_device(v["inputs"], device)
        H, Ws = model.trajectory(t["channel"], t["users"], t["antennas"], t["noise"], steps)
        H = true_channel(t, H, ops.sample_mask(t["users"], t["antennas"]))
        rate = float(ops.sum_rate(H, Ws[-1], t["noise"]).mean())
        rows.append({"K": v["K"], "N": v["N"], "sum_rate": rate, "wmmse": v["wmmse"],
                     "ratio": rate / v["wmmse"]})  # fmt: skip
    model.train()
    return {"stages": rows, "ratio": float(np.mean([r["ratio"] for r in rows]))}


@dataclass
class FitResult:
    stopped: str
    epochs: int
    wall_s: float
    validation: dict


class Trainer:
    """Algorithm 1 over ``cfg.total_epochs`` epochs (module docstring); resumes from
    ``out/last.pt`` when it exists."""

    def __init__(self, cfg: L2OConfig, out: str | Path, progress: bool = True) -> None:
        self.cfg, self.out, self.progress = cfg, Path(out), progress
        torch.set_num_threads(cfg.optim.threads)
        self.device = cfg.optim.device
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("optim.device is 'cuda' but torch sees no GPU: use --device cpu")
        self.model = build_model(cfg).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.optim.lr)
        self.rng = np.random.default_rng(cfg.seed)
        self.replay = ReplayBuffer(cfg.curriculum.replay_capacity)
        self.pool = (CellFreePool(cfg, "train", cfg.scenario.train_size)
                     if cfg.scenario.kind == "cellfree" else None)  # fmt: skip
        self.state = {"epoch": 0, "step": 0, "serial": 0, "wall_s": 0.0}
        self.parameters = count_parameters(self.model)
        self.out.mkdir(parents=True, exist_ok=True)
        cfg.save(self.out / "config.yml")
        if (self.out / "last.pt").exists():
            self._load(self.out / "last.pt")
        self._trim_log()

    # --------------------------------------------------------------- schedule (Algorithm 1)

    def schedule(self, epoch: int) -> tuple[int, int, int]:
        """(t_s, K, N) of 0-based ``epoch``: the window slides every T_w epochs (lines 5-8),
        the stage every T_m epochs, N inner, K outer (lines 9-12)."""
        c = self.cfg.curriculum
        positions = self.cfg.model.layers - c.window + 1
        t_s = min(epoch // self.cfg.window_epochs, positions - 1)
        within = epoch - t_s * self.cfg.window_epochs
        K, N = self.cfg.stages[(within // c.stage_epochs) % len(self.cfg.stages)]
        return t_s, K, N

    def lr(self, step: int) -> float:
        """Cosine decay from optim.lr to optim.lr_min over the whole run."""
        o = self.cfg.optim
        total = self.cfg.total_epochs * self.cfg.curriculum.steps_per_epoch
        return o.lr_min + 0.5 * (o.lr - o.lr_min) * (1 + math.cos(math.pi * min(step / total, 1.0)))

    # --------------------------------------------------------------------------- training

    def batch(self, K: int, N: int) -> dict[str, np.ndarray]:
        """Most of the batch at stage (K, N), ``replay_fraction`` from earlier stages."""
        size = self.cfg.optim.batch_size
        n_replay = int(round(self.cfg.curriculum.replay_fraction * size))
        old = self.replay.sample(n_replay, self.state["serial"], self.rng)
        fresh = draw_batch(self.cfg, K, N, size - (0 if old is None else n_replay), self.rng,
                           self.pool)  # fmt: skip
        self.replay.add({k: v[: max(1, len(v) // 8)] for k, v in fresh.items()},
                        self.state["serial"], self.rng)  # fmt: skip
        return fresh if old is None else {k: np.concatenate([fresh[k], old[k]]) for k in fresh}

    def step(self, t_s: int, K: int, N: int) -> float:
        """One update of the window's layers on eq 25: minus the sum of the mean sum rates of
        layers t_s..t_e; layers before the window run frozen (no graph)."""
        m, q = self.model, self.cfg.model.q_train
        t_e = t_s + self.cfg.curriculum.window
        b = to_device(self.batch(K, N), self.device)
        noise = b["noise"]
        with torch.no_grad():
            H, W, masks = m.start(b["channel"], b["users"], b["antennas"], noise)
            aux = H
            for t in range(t_s):
                aux, W = m.layer(t, H, aux, W, masks, noise, q)
        rates, truth = [], true_channel(b, H, masks.sample)
        for t in range(t_s, t_e):
            aux, W = m.layer(t, H, aux, W, masks, noise, q)
            rates.append(ops.sum_rate(truth, W, noise).mean())
        loss = -torch.stack(rates).sum()
        for g in self.optimizer.param_groups:
            g["lr"] = self.lr(self.state["step"])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), self.cfg.optim.grad_clip)
        self.optimizer.step()
        self.state["step"] += 1
        return float(rates[-1].detach())

    def fit(self, validate_every: int | None = None) -> FitResult:
        from tqdm import tqdm

        cfg, c = self.cfg, self.cfg.curriculum
        val = validation_set(cfg)
        every = validate_every or max(1, cfg.window_epochs // 4)
        total, start = cfg.total_epochs, time.perf_counter()
        wall0 = self.state["wall_s"]
        bar = tqdm(total=total, initial=self.state["epoch"], desc=cfg.name, unit="epoch",
                   disable=not self.progress)  # fmt: skip
        stopped, report = "done", {}
        previous = self.schedule(max(self.state["epoch"] - 1, 0))
        while self.state["epoch"] < total:
            epoch = self.state["epoch"]
            t_s, K, N = self.schedule(epoch)
            if (t_s, K, N) != previous:
                self.state["serial"] += 1
            previous = (t_s, K, N)
            rate = float(np.mean([self.step(t_s, K, N) for _ in range(c.steps_per_epoch)]))
            self.state["epoch"] += 1
            self.state["wall_s"] = wall0 + time.perf_counter() - start
            last = self.state["epoch"] == total
            report = evaluate(self.model, val, cfg.model.q_train, self.device) if (
                self.state["epoch"] % every == 0 or last) else {}  # fmt: skip
            row = {"epoch": self.state["epoch"], "window_start": t_s + 1, "K": K, "N": N,
                   "train_rate": round(rate, 4), "lr": self.lr(self.state["step"]),
                   "val_ratio": round(report["ratio"], 5) if report else "",
                   "elapsed_s": round(self.state["wall_s"], 1)}  # fmt: skip
            self._log(row)
            self._save(self.out / "last.pt")
            bar.update(1)
            bar.set_postfix(window=t_s + 1, K=K, N=N, rate=f"{rate:.2f}",
                            val=row["val_ratio"] or "-")  # fmt: skip
            if self.state["wall_s"] > 60 * cfg.optim.max_minutes and not last:
                stopped = "time"
                break
        bar.close()
        final = evaluate(self.model, val, cfg.model.q_infer, self.device)
        return FitResult(stopped, self.state["epoch"], self.state["wall_s"], final)

    # ------------------------------------------------------------------------ checkpoints

    def _log(self, row: dict[str, Any]) -> None:
        path = self.out / "log.csv"
        new = not path.exists()
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            if new:
                w.writeheader()
            w.writerow(row)
        if not self.progress:
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)

    def _save(self, path: Path) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "counters": dict(self.state),
            "rng": self.rng.bit_generator.state,
            "replay": self.replay.state(),
        }
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)

    def _load(self, path: Path) -> None:
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.state.update(state["counters"])
        self.rng.bit_generator.state = state["rng"]
        self.replay.load(state["replay"])

    def _trim_log(self) -> None:
        """Drop log rows of epochs the checkpoint does not hold (a run killed in between)."""
        log = self.out / "log.csv"
        if log.exists():
            lines = log.read_text().splitlines(keepends=True)
            kept = [r for r in lines[1:] if int(r.split(",")[0]) <= self.state["epoch"]]
            log.write_text("".join(lines[:1] + kept))


def load_model(run: str | Path, device: str = "cpu") -> tuple[L2OConfig, MTSAO]:
    """The config and trained model of a run folder (its last.pt)."""
    run = Path(run)
    cfg = L2OConfig.load(run / "config.yml")
    model = build_model(cfg)
    state = torch.load(run / "last.pt", map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    return cfg, model.eval()
