"""Decentralized precoders on the Table-I cell-free network (issue 12's last model bullet):
paper 001's per-AP networks (models.ModelSet, one per TAP) trained on the shipped STCIB's
data and objective, so that the two can be compared on one number.

What TAP t's network sees: its own MMSE estimates F_hat_t (MT x K, the rows t MT .. (t+1) MT - 1
of F_hat) and its own transmit steering vector toward the target a_T,t (MT), as the rows of
gr_cfisac.decentral.csi_rows: a (K+1) x MT two-channel image (eq 14 of paper 001), the users'
rows multiplied by sqrt(rho) inside the graph (STCIB's input scale, so the ~1e-5 estimates
reach O(1)). No other TAP's CSI, no clutter geometry, no amplitudes. What it returns: TAP t's
K+1 beams, row 0 the sensing beam, at TAP t's full power rho (eqs 17-18 of paper 001; the
per-TAP share of STCIB's total budget rho NT, eq 23d, so the set meets 23d too).

Cooperation happens only in training, through the loss: minus the eq 23a objective
eta sum_k R_C,k + (1 - eta) sum_j R_S,j on the kappa-rates (STCIB's joint loss, eq 40, with
eta = 0.4), evaluated on the true channels and the realized sensing matrices of the STCIB
dataset (gr_cfisac.dataset: the same seed, splits, MMSE estimates and cache as
configs/stcib_joint.yml) by the STCIB training code (gr_cfisac.train.losses and
gr_cfisac.train.trainer.evaluate): the whole network's W is the TAPs' outputs stacked TAP-major
(:class:`NetworkRows`). One stage ("objective"): Adam with ReduceLROnPlateau as the
teacher-student stages, at most ``schedule.max_epochs``, early stopping after
``schedule.patience`` epochs without a better validation objective; the best epoch is the
selected model. No teachers: eq 23a already weighs communication and sensing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ... import decentral
from ...dataset import load_split
from ...recipe import LossConfig, OptimConfig, TrainConfig
from .. import losses as stcib_losses
from ..models import input_scale
from ..trainer import evaluate as stcib_evaluate
from ..trainer import slice_batch, to_tensors
from .config import TSConfig
from .models import ModelSet
from .trainer import Result, Trainer

#: the one training stage of a cellfree recipe
STAGE = "objective"


def tap_csi(F_hat: np.ndarray, aT_t: np.ndarray) -> np.ndarray:
    """Every TAP's own model input: F_hat (B, NT MT, K) and aT_t (B, NT, MT) ->
    float32 (B, NT, K+1, 2 MT), entry t = decentral.csi_rows of TAP t's rows and steering."""
    F_hat, aT_t = np.asarray(F_hat), np.asarray(aT_t)
    if F_hat.ndim != 3 or aT_t.ndim != 3 or F_hat.shape[1] != aT_t.shape[1] * aT_t.shape[2]:
        raise ValueError(
            f"F_hat must be (B, NT MT, K) and aT_t (B, NT, MT); got {F_hat.shape}, {aT_t.shape}"
        )
    MT = aT_t.shape[2]
    return np.stack(
        [
            decentral.csi_rows(F_hat[:, t * MT : (t + 1) * MT], aT_t[:, t])
            for t in range(aT_t.shape[1])
        ],
        1,
    )


class NetworkRows(nn.Module):
    """The set seen as one network precoder: csi (B, NT, K+1, 2 MT) -> STCIB's output rows
    (B, K+1, 2 NT MT), row k = [Re(w_k^T), Im(w_k^T)] TAP-major (DESIGN's ONNX contract)."""

    def __init__(self, model: ModelSet) -> None:
        super().__init__()
        self.model = model

    def forward(self, csi: torch.Tensor) -> torch.Tensor:
        out = self.model(csi)  # (B, NT, K+1, 2 MT)
        B, L, Q, M2 = out.shape
        M = M2 // 2
        re = out[..., :M].permute(0, 2, 1, 3).reshape(B, Q, L * M)
        im = out[..., M:].permute(0, 2, 1, 3).reshape(B, Q, L * M)
        return torch.cat([re, im], -1)


def stcib_config(cfg: TSConfig) -> TrainConfig:
    """The STCIB TrainConfig whose data and joint loss a cellfree recipe shares."""
    d = cfg.data.data_config()
    o = cfg.optim
    return TrainConfig(
        name=cfg.name,
        seed=cfg.seed,
        system=dict(cfg.scenario.extra),
        loss=LossConfig(regime="joint", eta=float(cfg.objective.eta)),
        data=d,
        optim=OptimConfig(
            lr=o.lr, batch_size=o.batch_size, threads=o.threads, max_minutes=o.max_minutes
        ),  # fmt: skip
    )


def load_data(cfg: TrainConfig, split: str, size: int, progress: bool) -> dict[str, torch.Tensor]:
    """The STCIB dataset's ``split`` (first ``size``) as tensors, ``channels`` replaced by the
    per-TAP inputs :func:`tap_csi`."""
    arrays = load_split(cfg.system_config(), cfg.data, split, size, progress)
    out = to_tensors(arrays)
    out["channels"] = torch.from_numpy(tap_csi(arrays["F_hat"], arrays["aT_t"]))
    del out["sensing_iq"]
    return out


class CellFreeTrainer(Trainer):
    """One stage, minus eq 23a (module docstring); resumable like the teacher-student run."""

    stages = (STAGE,)

    def setup(self) -> None:
        self.stcib = stcib_config(self.cfg)
        self.sc = self.stcib.system_config()
        d = self.cfg.data
        self.train = {k: v.to(self.device) for k, v in
                      load_data(self.stcib, "train", d.train_size, self.progress).items()}  # fmt: skip
        self.val = {k: v.to(self.device) for k, v in
                    load_data(self.stcib, "val", d.val_size, self.progress).items()}  # fmt: skip
        sc = self.sc
        self.dims = (sc.NT, sc.MT, sc.K, sc.rho, input_scale(sc.rho))

    def epoch(self, stage: str, epoch: int) -> float:
        """One pass over the training set in mini-batches: minus eq 23a (STCIB's joint loss)."""
        seed = self.cfg.seed * 1_000_003 + self.stages.index(stage) * 10_007 + epoch
        gen = torch.Generator().manual_seed(seed)
        n = len(self.train["channels"])
        order = torch.randperm(n, generator=gen).to(self.device)
        net = NetworkRows(self.model)
        bs, total, count = self.cfg.optim.batch_size, 0.0, 0
        for i in range(0, n, bs):
            batch = slice_batch(self.train, order[i : i + bs])
            Rc, Rs, Rs_avg = stcib_losses.rates(batch, net(batch["channels"]), self.sc.kappa,
                                                self.sc.MR)  # fmt: skip
            loss = stcib_losses.loss(Rc, Rs, Rs_avg, self.stcib.loss)
            self.opt.zero_grad()
            loss.backward()
            self.clip()
            self.opt.step()
            total += float(loss.detach()) * len(Rc)
            count += len(Rc)
        return total / count

    def evaluate(self, model: ModelSet, data: dict[str, torch.Tensor]) -> dict[str, float]:
        """STCIB's validation metrics (trainer.evaluate): objective, sum rates, loss."""
        out = stcib_evaluate(NetworkRows(model), data, self.stcib, self.cfg.optim.batch_size)
        model.train()
        return out

    def history_row(self, epoch: int, loss: float, val: dict[str, float]) -> dict[str, Any]:
        return {"epoch": epoch, "loss": loss, "val_objective": val["objective"],
                "val_sum_rc": val["sum_rc"], "val_sum_rs": val["sum_rs"],
                "val_sum_rs_avg": val["sum_rs_avg"],
                "lr": self.opt.param_groups[0]["lr"]}  # fmt: skip

    def postfix(self, val: dict[str, float]) -> dict[str, str]:
        return {"obj": f"{val['objective']:.3f}", "Rc": f"{val['sum_rc']:.2f}",
                "Rs": f"{val['sum_rs']:.3f}"}  # fmt: skip

    def stage_done(self, stage: str, epoch: int, val: dict[str, float]) -> bool:
        st, s = self.state, self.cfg.schedule
        if st["best"] is None or val["objective"] > st["best"]["objective"]:
            st["best"] = {
                "epoch": epoch,
                "objective": val["objective"],
                "model": self.model_state(),
            }
            st["pick"] = {"epoch": epoch, **val}
            st["stale"] = 0
        else:
            st["stale"] += 1
        return epoch + 1 >= s.max_epochs or st["stale"] >= s.patience

    def selected(self) -> dict[str, Any]:
        """The best validation-objective epoch and its validation metrics."""
        if "pick" not in self.state:
            raise ValueError(f"{self.out}: no epoch finished yet; train first")
        return dict(self.state["pick"])

    def selected_model(self) -> ModelSet:
        st = self.state
        weights = st["finished"].get(STAGE) or (st["best"] or {}).get("model")
        if weights is None:
            raise ValueError(f"{self.out}: no epoch finished yet; train first")
        model = self.new_model(0)
        model.load_state_dict(weights)
        return model.eval()

    def result(self, stopped: str, wall: float) -> Result:
        if "pick" not in self.state:
            return Result(stopped, -1, {}, (math.nan, math.nan), wall)
        pick = self.selected()
        return Result(stopped, pick["epoch"], {k: v for k, v in pick.items() if k != "epoch"},
                      (math.nan, math.nan), wall)  # fmt: skip


def trainer_for(cfg: TSConfig, out: str | Path, progress: bool = True) -> Trainer:
    """The trainer of a recipe: CellFreeTrainer for scenario cellfree, else the three-stage
    teacher-student Trainer."""
    cls = CellFreeTrainer if cfg.scenario.cellfree else Trainer
    return cls(cfg, out, progress)


def export_cellfree_run(run_dir: str | Path, out: str | Path) -> list[dict[str, Any]]:
    """Export a cellfree run's selected set as ``out``'s per-TAP files; the cards carry the
    system, the objective (eta), the validation curve and the selected epoch's metrics."""
    from .export import architecture, export_model_set

    run_dir = Path(run_dir)
    cfg = TSConfig.load(run_dir / "config.yml")
    t = CellFreeTrainer(cfg, run_dir, progress=False)
    model = t.selected_model()
    pick = t.selected()
    rows = t.state["history"][STAGE]
    history = {
        k: [round(e[k], 6) for e in rows] for k in ("val_objective", "val_sum_rc", "val_sum_rs")
    }
    training = {"config": cfg.to_dict(), "epochs": {STAGE: len(rows)}, "history": history,
                "loss": f"minus eq 23a, eta = {cfg.objective.eta:g} (STCIB's joint loss, eq 40)",
                "data": "the STCIB dataset (gr_cfisac.dataset), 'train' / 'val' splits of seed "
                        f"{cfg.data.seed}, MMSE estimates"}  # fmt: skip
    validation = {"selected_epoch": pick.pop("epoch"), **pick, "size": cfg.data.val_size}
    arch = architecture(cfg.model, model, input="TAP t's (K+1) x MT image: K estimate rows and "
                        "its target steering row (decentral.csi_rows), users scaled by "
                        "input_scale")  # fmt: skip
    sc = t.sc
    extra = {"system": sc.to_dict(), "regime": {"name": "joint", "eta": float(cfg.objective.eta)},
             "rho": sc.rho, "power_constraint": "per TAP: ||W_t||_F^2 = rho (its share of eq "
             "23d's rho NT), applied in the graph (paper 001 eqs 17-18)"}  # fmt: skip
    check = t.val["channels"][:64].cpu().numpy()
    return export_model_set(model, out, "cellfree", sc.to_dict(), arch, training, validation,
                            check, extra)  # fmt: skip
