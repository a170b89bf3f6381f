"""The teacher-student training of paper 001 (sections 5 and 8, Fig. 3), resumable.

Three model sets of the same architecture, one network per AP each, trained in turn on the
same data (pos1/pos2 realizations, perfect CSI):

1. the SSNR teacher, loss eq 10 with beta = 0, ``ssnr_epochs`` epochs without early stopping;
2. the min-SINR teacher, beta = 1, at most ``max_epochs``, early stopping after ``patience``
   epochs without a better validation min-SINR (its best epoch kept);
3. the student, loss eq 11 normalized by the teachers' mean scores on the training set
   (g1_max: SSNR teacher's SSNR, g2_max: SINR teacher's min-SINR), lambda adapted every
   mini-batch by eq 12 (``schedule.lambda_mode``: or once per epoch, or on smoothed gaps); at
   most ``max_epochs``, stopping after ``patience`` epochs in which neither validation metric
   improved (``student_max_epochs``, ``student_patience``, ``student_stop``: the student's own
   limits and rule). Model selection (section 8.3): among the epochs whose
   validation min-SINR reaches ``select`` (0.94) of the best, the one with the highest
   validation SSNR.

With ``schedule.softmin_t0`` > 0 the SINR teacher's and the student's losses use a smooth min
over users annealed to the hard min (losses.soft_min; a deviation, off by default).

Adam (``lr`` 0.01) with ReduceLROnPlateau on the epoch's mean training loss (factor 0.1,
patience 10; ``optim.student_plateau`` False: not for the student). After every epoch the
run folder gets ``last.pt`` (everything needed to go on:
models, optimizer, scheduler, lambda, history, the stage's best); selectable student epochs are
kept in ``candidates/``. Each epoch's shuffle comes from a generator seeded by (seed, stage,
epoch), so a resumed run ends with the weights of an unbroken one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ... import decentral
from . import losses
from .config import STAGES, TSConfig
from .models import ModelSet, beams


@dataclass
class Data:
    """Realizations as tensors: csi (B, L, N+1, 2M) float32, F (B, L M, N) and a_t (B, L, M)
    complex64."""

    csi: torch.Tensor
    F: torch.Tensor
    a_t: torch.Tensor

    def to(self, device: str) -> Data:
        return Data(self.csi.to(device), self.F.to(device), self.a_t.to(device))

    def __len__(self) -> int:
        return self.csi.shape[0]

    def take(self, idx) -> Data:
        return Data(self.csi[idx], self.F[idx], self.a_t[idx])


def make_data(pos: decentral.PosConfig, size: int, seed: int) -> Data:
    """``size`` realizations of ``pos`` drawn with ``seed`` (numpy core), as tensors."""
    b = decentral.draw(pos, size, seed)
    L, M = pos.L, pos.M
    csi = np.stack(
        [decentral.csi_rows(b.F[:, l * M : (l + 1) * M], b.a_t[:, l]) for l in range(L)], 1
    )
    return Data(
        torch.from_numpy(csi),
        torch.from_numpy(b.F.astype(np.complex64)),
        torch.from_numpy(b.a_t.astype(np.complex64)),
    )


@dataclass
class Result:
    """How the run ended (``stopped``: done / time), the selected student epoch and its
    validation (min-SINR, SSNR) means, the teachers' g_max, wall time."""

    stopped: str
    selected_epoch: int
    validation: dict[str, float]
    g_max: tuple[float, float]
    wall_s: float


class Trainer:
    """``Trainer(cfg, run_dir).fit()`` trains the three stages (module docstring). Subclasses
    (cellfree.CellFreeTrainer) give other ``stages`` and override :meth:`setup`,
    :meth:`epoch`, :meth:`evaluate`, :meth:`stage_done` and the selection."""

    #: the model sets trained in turn
    stages: tuple[str, ...] = STAGES

    def __init__(self, cfg: TSConfig, out: str | Path, progress: bool = True) -> None:
        self.cfg, self.out, self.progress = cfg, Path(out), progress
        self.out.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(cfg.optim.threads)
        self.device = cfg.optim.device
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("optim.device is cuda but torch sees no GPU; use --device cpu")
        self.setup()
        cfg.save(self.out / "config.yml")
        self.state: dict[str, Any] = {"stage": 0, "epoch": 0,
                                      "history": {s: [] for s in self.stages},
                                      "g_max": None, "lambda": cfg.schedule.lambda0,
                                      "best": None, "stale": 0, "candidates": [],
                                      "finished": {}}  # fmt: skip
        self.model = self.new_model(0)
        self.opt, self.sched = self.new_optim(self.model)
        last = self.out / "last.pt"
        if last.is_file():
            self.load(last)

    def setup(self) -> None:
        """The scenario's data and the per-AP model's (L, M, N, power, input_scale)."""
        cfg = self.cfg
        self.pos = cfg.scenario.pos_config()
        self.train = make_data(self.pos, cfg.data.train_size, cfg.data.seed).to(self.device)
        self.val = make_data(self.pos, cfg.data.val_size, cfg.data.val_seed).to(self.device)
        self.gain = torch.full((1, self.pos.L, self.pos.L), self.pos.sensing_gain,
                               device=self.device)  # fmt: skip
        self.dims = (self.pos.L, self.pos.M, self.pos.N, self.pos.power, 1.0)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def new_model(self, stage: int) -> ModelSet:
        torch.manual_seed(self.cfg.seed * 1000 + stage)
        m = self.cfg.model
        L, M, N, power, scale = self.dims
        return ModelSet(L, M, N, m.arch, m.channels, m.hidden, m.kernel, power, scale,
                        m.head, m.input).to(self.device)  # fmt: skip

    def new_optim(self, model: ModelSet):
        o = self.cfg.optim
        opt = torch.optim.Adam(model.parameters(), lr=o.lr)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, factor=o.plateau_factor, patience=o.plateau_patience
        )
        return opt, sched

    # ------------------------------------------------------------------ checkpoints

    def save(self) -> None:
        blob = {"state": self.state, "model": self.model.state_dict(),
                "opt": self.opt.state_dict(), "sched": self.sched.state_dict()}  # fmt: skip
        tmp = self.out / "last.pt.tmp"
        torch.save(blob, tmp)
        tmp.replace(self.out / "last.pt")

    def load(self, path: Path) -> None:
        blob = torch.load(path, map_location=self.device, weights_only=False)
        self.state = blob["state"]
        self.model = self.new_model(self.state["stage"])
        self.model.load_state_dict(blob["model"])
        self.opt, self.sched = self.new_optim(self.model)
        self.opt.load_state_dict(blob["opt"])
        self.sched.load_state_dict(blob["sched"])

    # ------------------------------------------------------------------ metrics

    def scores(
        self, model: ModelSet, data: Data, temperature: float = 0.0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(g1 = SSNR (B,), g2 = min-SINR (B,)) of ``model`` on ``data``; g2 is the smooth
        min (losses.soft_min) at ``temperature`` > 0."""
        g1, sinr = self.ssnr_and_sinr(model, data)
        return g1, losses.soft_min(sinr, temperature)

    def ssnr_and_sinr(self, model: ModelSet, data: Data) -> tuple[torch.Tensor, torch.Tensor]:
        """SSNR (B,) and every user's SINR (B, N) of ``model`` on ``data`` (eqs 6 and 2)."""
        W = beams(model(data.csi))
        g1 = losses.ssnr(data.a_t, W, self.gain, self.pos.noise)
        return g1, losses.sinr(data.F, W, self.pos.noise)

    @torch.no_grad()
    def evaluate(self, model: ModelSet, data: Data) -> tuple[float, float]:
        """Mean (SSNR, min-SINR) over ``data`` in eval mode, in chunks of the batch size."""
        model.eval()
        g1, g2 = [], []
        bs = self.cfg.optim.batch_size
        for i in range(0, len(data), bs):
            a, b = self.scores(model, data.take(slice(i, i + bs)))
            g1.append(a)
            g2.append(b)
        model.train()
        return float(torch.cat(g1).mean()), float(torch.cat(g2).mean())

    # ------------------------------------------------------------------ training

    def epoch(self, stage: str, epoch: int) -> float:
        """One pass over the training set in mini-batches; the mean loss."""
        seed = self.cfg.seed * 1_000_003 + self.stages.index(stage) * 10_007 + epoch
        gen = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(self.train), generator=gen).to(self.device)
        bs, total, count = self.cfg.optim.batch_size, 0.0, 0
        s = self.cfg.schedule
        temp = 0.0 if stage == "ssnr_teacher" else self.temperature(epoch)
        sums = [0.0, 0.0]
        for i in range(0, len(order), bs):
            g1, sinr = self.ssnr_and_sinr(self.model, self.train.take(order[i : i + bs]))
            g2 = losses.soft_min(sinr, temp)
            if stage == "student":
                g1m, g2m = self.state["g_max"]
                loss = losses.student_loss(g1, g2, self.state["lambda"], g1m, g2m,
                                           s.student_loss)  # fmt: skip
                g2_gap = sinr.min(-1).values if s.lambda_gaps == "hard" else g2
                gap = losses.gaps(g1.detach(), g2_gap.detach(), g1m, g2m)
                sums = [sums[0] + gap[0] * len(g1), sums[1] + gap[1] * len(g1)]
                self.step_lambda(gap, batch=True)
            else:
                loss = losses.teacher_loss(g1, g2, 0.0 if stage == "ssnr_teacher" else 1.0)
            self.opt.zero_grad()
            loss.backward()
            self.clip()
            self.opt.step()
            total += float(loss.detach()) * len(g1)
            count += len(g1)
        if stage == "student" and s.lambda_mode == "epoch":
            self.step_lambda((sums[0] / count, sums[1] / count), batch=False)
        return total / count

    def temperature(self, epoch: int) -> float:
        """The smooth min's temperature at ``epoch`` (0: hard min; schedule.softmin_t0)."""
        s = self.cfg.schedule
        return losses.softmin_temperature(s.softmin_t0, s.softmin_decay, epoch)

    def step_lambda(self, gap: tuple[float, float], batch: bool) -> None:
        """Eq 12's step of the student's lambda from the gaps (G1, G2), as
        ``schedule.lambda_mode`` says: ``batch`` (the paper's) and ``ema`` step after every
        mini-batch (``ema`` on gaps smoothed by ``lambda_ema``), ``epoch`` only at the epoch's
        end (``batch`` False) on the epoch's mean gaps."""
        s, st = self.cfg.schedule, self.state
        if (s.lambda_mode == "epoch") == batch:
            return
        if s.lambda_mode == "ema":
            old = st.get("gaps_ema") or gap
            gap = tuple(s.lambda_ema * o + (1 - s.lambda_ema) * g for o, g in zip(old, gap))
            st["gaps_ema"] = gap
        st["lambda"] = losses.lambda_step(st["lambda"], gap[0], gap[1], s.epsilon)

    def clip(self) -> None:
        """Clip the gradient norm to ``optim.grad_clip`` (0: no clip)."""
        if self.cfg.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)

    def stage_done(self, stage: str, epoch: int, val: tuple[float, float]) -> bool:
        """Track the stage's best and patience after ``epoch``; whether the stage ends."""
        s, st = self.cfg.schedule, self.state
        ssnr, sinr = val
        if stage == "ssnr_teacher":
            st["best"] = {"epoch": epoch, "model": self.model_state()}
            return epoch + 1 >= s.ssnr_epochs
        if stage == "sinr_teacher":
            if st["best"] is None or sinr > st["best"]["sinr"]:
                st["best"] = {"epoch": epoch, "sinr": sinr, "model": self.model_state()}
                st["stale"] = 0
            else:
                st["stale"] += 1
        else:
            best = st["best"] or {"sinr": -math.inf, "ssnr": -math.inf}
            self.keep_candidate(epoch, sinr, ssnr)
            if s.student_stop == "selection":
                better = sinr > best["sinr"] or self.selected()["epoch"] == epoch
            else:
                better = sinr > best["sinr"] or ssnr > best["ssnr"]
            st["best"] = {"sinr": max(sinr, best["sinr"]), "ssnr": max(ssnr, best["ssnr"])}
            st["stale"] = 0 if better else st["stale"] + 1
        most, patience = s.limits(stage)
        return epoch + 1 >= most or st["stale"] >= patience

    def model_state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone().cpu() for k, v in self.model.state_dict().items()}

    def keep_candidate(self, epoch: int, sinr: float, ssnr: float) -> None:
        """Section 8.3: keep the epochs whose min-SINR is within ``select`` of the best so far
        (their weights in candidates/), dropping those the best has left behind."""
        folder = self.out / "candidates"
        folder.mkdir(exist_ok=True)
        cands = self.state["candidates"]
        top = max([c["sinr"] for c in cands] + [sinr])
        if sinr >= self.cfg.schedule.select * top:
            path = folder / f"epoch{epoch:05d}.pt"
            torch.save(self.model_state(), path)
            cands.append({"epoch": epoch, "sinr": sinr, "ssnr": ssnr, "file": path.name})
        keep = [c for c in cands if c["sinr"] >= self.cfg.schedule.select * top]
        for c in cands:
            if c not in keep:
                (folder / c["file"]).unlink(missing_ok=True)
        self.state["candidates"] = keep

    def selected(self) -> dict[str, Any]:
        """The selected student epoch (section 8.3): the highest SSNR among the candidates."""
        if not self.state["candidates"]:
            raise ValueError(f"{self.out}: no student epoch finished yet; train first")
        return max(self.state["candidates"], key=lambda c: (c["ssnr"], -c["epoch"]))

    def selected_model(self) -> ModelSet:
        model = self.new_model(STAGES.index("student"))
        pick = self.selected()
        state = torch.load(self.out / "candidates" / pick["file"], map_location=self.device)
        model.load_state_dict(state)
        return model.eval()

    def init_student(self) -> None:
        """``schedule.student_init`` sinr_teacher: the student stage starts from the SINR
        teacher's weights (a deviation; the paper's student starts fresh)."""
        stage = self.stages[self.state["stage"]]
        if stage == "student" and self.cfg.schedule.student_init == "sinr_teacher":
            self.model.load_state_dict(self.state["finished"]["sinr_teacher"])

    def teacher(self, stage: str) -> ModelSet:
        model = self.new_model(STAGES.index(stage))
        model.load_state_dict(self.state["finished"][stage])
        return model.eval()

    def history_row(self, epoch: int, loss: float, val: Any) -> dict[str, Any]:
        """One epoch's record in ``state['history'][stage]``."""
        return {"epoch": epoch, "loss": loss, "val_ssnr": val[0], "val_sinr": val[1],
                "lr": self.opt.param_groups[0]["lr"], "lambda": self.state["lambda"]}  # fmt: skip

    def postfix(self, val: Any) -> dict[str, str]:
        """The progress bar's postfix after an epoch."""
        return {"ssnr": f"{val[0]:.3f}", "sinr": f"{val[1]:.3f}",
                "lam": f"{self.state['lambda']:.2f}"}  # fmt: skip

    def fit(self) -> Result:
        start = time.monotonic()
        budget = self.cfg.optim.max_minutes * 60
        st = self.state
        while st["stage"] < len(self.stages):
            stage = self.stages[st["stage"]]
            if stage == "student" and st["g_max"] is None:
                g1, _ = self.evaluate(self.teacher("ssnr_teacher"), self.train)
                _, g2 = self.evaluate(self.teacher("sinr_teacher"), self.train)
                st["g_max"] = (g1, g2)
            sched = self.cfg.schedule
            total = sched.ssnr_epochs if stage == "ssnr_teacher" else sched.limits(stage)[0]
            bar = None
            if self.progress:
                from tqdm import tqdm

                bar = tqdm(total=total, initial=st["epoch"], desc=stage, unit="epoch")
            done = False
            while not done:
                e = st["epoch"]
                loss = self.epoch(stage, e)
                if stage != "student" or self.cfg.optim.student_plateau:
                    self.sched.step(loss)
                val = self.evaluate(self.model, self.val)
                st["history"][stage].append(self.history_row(e, loss, val))
                done = self.stage_done(stage, e, val)
                st["epoch"] = e + 1
                if done:
                    if stage != "student":
                        st["finished"][stage] = st["best"]["model"]
                    st.update(stage=st["stage"] + 1, epoch=0, best=None, stale=0)
                    if st["stage"] < len(self.stages):
                        self.model = self.new_model(st["stage"])
                        self.init_student()
                        self.opt, self.sched = self.new_optim(self.model)
                self.save()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(self.postfix(val))
                if time.monotonic() - start > budget and not done:
                    if bar is not None:
                        bar.close()
                    return self.result("time", time.monotonic() - start)
            if bar is not None:
                bar.close()
        return self.result("done", time.monotonic() - start)

    def result(self, stopped: str, wall: float) -> Result:
        if not self.state["candidates"]:
            return Result(stopped, -1, {}, tuple(self.state["g_max"] or (0, 0)), wall)
        pick = self.selected()
        return Result(stopped, pick["epoch"], {"sinr": pick["sinr"], "ssnr": pick["ssnr"]},
                      tuple(self.state["g_max"]), wall)  # fmt: skip
