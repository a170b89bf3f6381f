"""Unsupervised training (paper section V-E): Adam on mini-batches, cosine learning rate, early
stopping on the validation loss with patience, resumable checkpoints, tqdm bar, CSV log and
one printed line per epoch (with or without the bar).

Run folder ``runs/NAME/``: ``config.yml`` (the TrainConfig), ``last.pt`` (model, optimizer,
scheduler, counters — resumes after an interruption), ``best.pt`` (best validation weights and
metrics), ``log.csv`` (one row per epoch). Checkpoints hold tensors and plain numbers only and are
read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..dataset import iq, iq_rows, load_split
from ..recipe import TrainConfig
from ..recipe_files import differing_fields
from . import losses
from .models import build_model, count_parameters, input_scale

LOG_FIELDS = [
    "epoch",
    "train_loss",
    "val_loss",
    "val_sum_rc",
    "val_sum_rs",
    "val_sum_rs_avg",
    "val_objective",
    "val_feasible",
    "lr",
    "elapsed_s",
]


def to_tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Packed numpy split -> torch tensors, with the network inputs 'channels' and 'sensing'."""
    out = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}
    out["channels"] = torch.from_numpy(iq(arrays["F_hat"]))
    out["sensing_iq"] = torch.from_numpy(iq_rows(arrays["sensing"]))
    return out


def slice_batch(
    data: dict[str, torch.Tensor], index: torch.Tensor | slice
) -> dict[str, torch.Tensor]:
    return {k: v[index] for k, v in data.items()}


def make_model(cfg: TrainConfig) -> torch.nn.Module:
    """The untrained model of a TrainConfig (initialized from cfg.seed)."""
    sc = cfg.system_config()
    torch.manual_seed(cfg.seed)
    t_max = cfg.loss.threshold_range[1] if cfg.loss.threshold_range else 1.0
    return build_model(
        cfg.model, sc.K, sc.N, sc.NC, sc.power_budget, input_scale(sc.rho), float(t_max)
    )


def forward(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Run a model on a batch (sensing tokens for target-aware models, the per-sample
    threshold for threshold-conditioned ones)."""
    kwargs = {}
    if getattr(model, "target_aware", False):
        kwargs["sensing"] = batch["sensing_iq"]
    if getattr(model, "threshold_input", False):
        kwargs["threshold"] = batch["threshold"]
    return model(batch["channels"], **kwargs)


def draw_thresholds(cfg: TrainConfig, n: int, seed: int) -> torch.Tensor | None:
    """Per-sample thresholds (n, 1) uniform in loss.threshold_range (None if not conditioned)."""
    if cfg.loss.threshold_range is None:
        return None
    lo, hi = (float(x) for x in cfg.loss.threshold_range)
    gen = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(n, 1, generator=gen)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, data: dict[str, torch.Tensor], cfg: TrainConfig, batch_size: int = 2048
) -> dict[str, float]:
    """Validation metrics: loss of the regime, mean sum rates (realized and averaged sensing),
    joint objective with cfg.loss.eta, and the fraction meeting the regime's constraint."""
    sc = cfg.system_config()
    model.eval()
    parts: list[tuple[torch.Tensor, ...]] = []
    n = data["channels"].shape[0]
    for start in range(0, n, batch_size):
        batch = slice_batch(data, slice(start, start + batch_size))
        parts.append(losses.rates(batch, forward(model, batch), sc.kappa, sc.MR))
    Rc, Rs, Rs_avg = (torch.cat([p[i] for p in parts]) for i in range(3))
    th = data.get("threshold")
    out = {
        "loss": float(losses.loss(Rc, Rs, Rs_avg, cfg.loss, th)),
        "sum_rc": float(Rc.sum(-1).mean()),
        "sum_rs": float(Rs.sum(-1).mean()),
        "sum_rs_avg": float(Rs_avg.sum(-1).mean()),
        "objective": float((cfg.loss.eta * Rc.sum(-1) + (1 - cfg.loss.eta) * Rs.sum(-1)).mean()),
    }
    constrained = losses.threshold_rates(Rc, Rs_avg, cfg.loss)
    if constrained is not None:
        threshold = cfg.threshold() if th is None else th
        violation = torch.clamp(threshold - constrained, min=0.0).amax(-1)
        out["feasible"] = float((violation <= 1e-9).double().mean())
        out["mean_violation"] = float(violation.mean())
        out["worst_violation"] = float(violation.max())
    else:
        out["feasible"] = 1.0
    return out


def epoch_line(
    epoch: int, epochs: int, train_loss: float, val: dict[str, float], seconds: float
) -> str:
    """One line per epoch: losses, validation sum rates and feasibility, and the epoch's time."""
    return (f"epoch {epoch:>{len(str(epochs))}}/{epochs}  train loss {train_loss:.4f}  "
            f"val loss {val['loss']:.4f}  sum Rc {val['sum_rc']:.3f}  sum Rs {val['sum_rs']:.3f}  "
            f"feasible {val['feasible']:.3f}  {seconds:.1f} s")  # fmt: skip


@dataclass
class TrainResult:
    best: dict[str, Any]
    epochs: int
    wall_s: float
    stopped: str


class Trainer:
    """Train one model described by a TrainConfig into ``out_dir`` (resuming if possible)."""

    def __init__(self, cfg: TrainConfig, out_dir: str | Path, progress: bool = True) -> None:
        self.cfg = cfg
        self.out = Path(out_dir)
        self.progress = progress
        self.out.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(cfg.optim.threads)
        self.sc = cfg.system_config()
        self.model = make_model(cfg)
        self.optim = torch.optim.Adam(self.model.parameters(), lr=cfg.optim.lr)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.optim, T_max=cfg.optim.max_epochs, eta_min=cfg.optim.lr_min
        )
        self.state = {"epoch": 0, "best_loss": math.inf, "best_epoch": -1, "bad_epochs": 0,
                      "elapsed_s": 0.0}  # fmt: skip

    @property
    def parameters(self) -> int:
        return count_parameters(self.model)

    def _load_data(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        d = self.cfg.data
        train = to_tensors(load_split(self.sc, d, "train", d.train_size, self.progress))
        val = to_tensors(load_split(self.sc, d, "val", d.val_size, self.progress))
        val_thresholds = draw_thresholds(self.cfg, d.val_size, seed=d.seed)
        if val_thresholds is not None:  # fixed per validation sample
            val["threshold"] = val_thresholds
        return train, val

    def _resume(self) -> bool:
        path = self.out / "last.pt"
        if not path.exists():
            return False
        ckpt = torch.load(path, weights_only=True)
        diff = differing_fields(TrainConfig.from_dict(ckpt["config"]).to_dict(), self.cfg.to_dict())
        if diff:
            raise ValueError(
                f"{path} was written for another training config (it differs in "
                f"{', '.join(diff)}): continue it with `cfisac train --resume {self.out}`, or "
                "start this one in another folder (--name NEW or --out DIR)"
            )
        self.model.load_state_dict(ckpt["model"])
        self.optim.load_state_dict(ckpt["optim"])
        self.sched.load_state_dict(ckpt["sched"])
        self.state = dict(ckpt["state"])
        return True

    def _save(self, best_metrics: dict[str, float] | None) -> None:
        ckpt = {
            "model": self.model.state_dict(),
            "optim": self.optim.state_dict(),
            "sched": self.sched.state_dict(),
            "state": self.state,
            "config": self.cfg.to_dict(),
        }
        tmp = self.out / "last.pt.tmp"
        torch.save(ckpt, tmp)
        tmp.replace(self.out / "last.pt")
        if best_metrics is not None:
            best = {"model": self.model.state_dict(), "metrics": best_metrics,
                    "epoch": self.state["epoch"], "config": self.cfg.to_dict()}  # fmt: skip
            torch.save(best, self.out / "best.pt.tmp")
            (self.out / "best.pt.tmp").replace(self.out / "best.pt")

    def _log(self, row: dict[str, Any]) -> None:
        path = self.out / "log.csv"
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow({k: row.get(k, "") for k in LOG_FIELDS})

    def _epoch(self, train: dict[str, torch.Tensor], bar_desc: str) -> float:
        o = self.cfg.optim
        n = train["channels"].shape[0]
        gen = torch.Generator().manual_seed(self.cfg.seed * 100_003 + self.state["epoch"])
        order = torch.randperm(n, generator=gen)
        self.model.train()
        total, count = 0.0, 0
        starts = range(0, n - o.batch_size + 1, o.batch_size)
        if self.progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc=bar_desc, unit="batch", leave=False)
        thresholds = draw_thresholds(
            self.cfg, n, seed=self.cfg.seed * 100_003 + 7 + self.state["epoch"]
        )
        for start in starts:
            batch = slice_batch(train, order[start : start + o.batch_size])
            if thresholds is not None:
                batch["threshold"] = thresholds[start : start + o.batch_size]
            Rc, Rs, Rs_avg = losses.rates(
                batch, forward(self.model, batch), self.sc.kappa, self.sc.MR
            )
            value = losses.loss(Rc, Rs, Rs_avg, self.cfg.loss, batch.get("threshold"))
            self.optim.zero_grad(set_to_none=True)
            value.backward()
            if o.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), o.grad_clip)
            self.optim.step()
            total += value.item()
            count += 1
            if self.progress:
                starts.set_postfix(loss=f"{total / count:.3f}")
        return total / max(count, 1)

    def fit(self) -> TrainResult:
        """Train until early stopping, max_epochs or the time budget; returns the best metrics."""
        o = self.cfg.optim
        resumed = self._resume()  # before config.yml is written: a refused resume keeps it
        self.cfg.save(self.out / "config.yml")
        train, val = self._load_data()
        stopped = "max_epochs"
        epochs = range(self.state["epoch"], o.max_epochs)
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=o.max_epochs, initial=self.state["epoch"], desc=self.cfg.name,
                       unit="epoch")  # fmt: skip
        say = partial(print, flush=True) if bar is None else bar.write
        if resumed:
            say(f"resumed {self.out / 'last.pt'} at epoch {self.state['epoch']}")
        for _ in epochs:
            if self.state["bad_epochs"] >= o.patience:
                stopped = "early_stopping"
                break
            if self.state["elapsed_s"] >= 60.0 * o.max_minutes:
                stopped = "time_budget"
                break
            t0 = time.perf_counter()
            lr = self.optim.param_groups[0]["lr"]
            train_loss = self._epoch(train, f"epoch {self.state['epoch'] + 1}")
            self.sched.step()
            metrics = evaluate(self.model, val, self.cfg)
            self.state["epoch"] += 1
            self.state["elapsed_s"] += time.perf_counter() - t0
            improved = metrics["loss"] < self.state["best_loss"] - o.min_delta
            if improved:
                self.state.update(best_loss=metrics["loss"], best_epoch=self.state["epoch"],
                                  bad_epochs=0)  # fmt: skip
            else:
                self.state["bad_epochs"] += 1
            self._save({**metrics, "train_loss": train_loss} if improved else None)
            self._log({"epoch": self.state["epoch"], "train_loss": train_loss,
                       "val_loss": metrics["loss"], "val_sum_rc": metrics["sum_rc"],
                       "val_sum_rs": metrics["sum_rs"], "val_sum_rs_avg": metrics["sum_rs_avg"],
                       "val_objective": metrics["objective"], "val_feasible": metrics["feasible"],
                       "lr": lr, "elapsed_s": round(self.state["elapsed_s"], 1)})  # fmt: skip
            say(epoch_line(self.state["epoch"], o.max_epochs, train_loss, metrics,
                           time.perf_counter() - t0))  # fmt: skip
            if bar is not None:
                bar.set_postfix(val_loss=f"{metrics['loss']:.3f}", Rc=f"{metrics['sum_rc']:.2f}",
                                Rs=f"{metrics['sum_rs']:.3f}", feas=f"{metrics['feasible']:.3f}")  # fmt: skip
                bar.update(1)
        else:
            if self.state["bad_epochs"] >= o.patience:
                stopped = "early_stopping"
        if bar is not None:
            bar.close()
        best = torch.load(self.out / "best.pt", weights_only=True)
        return TrainResult(best["metrics"], self.state["epoch"], self.state["elapsed_s"], stopped)


def load_best(run_dir: str | Path) -> tuple[torch.nn.Module, TrainConfig, dict[str, Any]]:
    """The best model of a run folder, its TrainConfig and the best.pt record (weights only)."""
    path = Path(run_dir) / "best.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: train first (cfisac train --out {run_dir})")
    record = torch.load(path, weights_only=True)
    cfg = TrainConfig.from_dict(record["config"])
    model = make_model(cfg)
    model.load_state_dict(record["model"])
    model.eval()
    return model, cfg, record
