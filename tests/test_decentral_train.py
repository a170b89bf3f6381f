"""Decentralized teacher-student training of paper 001 (torch): per-AP networks see only their
own CSI and meet their AP's power (eqs 17-18), the torch metrics are eqs 2 and 6 of the core,
lambda follows eq 12, the three stages run in order with the teachers' scores as the student's
references, the 94 % selection rule, and an interrupted run resumes to the same weights."""

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gr_cfisac import decentral  # noqa: E402
from gr_cfisac.train.decentral import losses  # noqa: E402
from gr_cfisac.train.decentral.config import TSConfig, config_path  # noqa: E402
from gr_cfisac.train.decentral.models import ModelSet, beams  # noqa: E402
from gr_cfisac.train.decentral.trainer import Trainer, make_data  # noqa: E402

TINY = config_path("ts_tiny.yml")


@pytest.mark.parametrize(("arch", "head", "input"),
                         [(a, "free", "csi") for a in ("cnn1d", "cae", "unet")]
                         + [("unet", "kkt", "csi"), ("cnn1d", "kkt", "csi"),
                            ("unet", "kkt", "gram"), ("cae", "kkt", "gram")])  # fmt: skip
def test_each_ap_sees_only_its_own_csi_and_meets_its_power(arch, head, input):
    torch.manual_seed(0)
    ch = (2, 4, 8) if arch == "cnn1d" else (4, 8)
    model = ModelSet(2, 4, 3, arch, ch, (16, 16), power=2.0, head=head, input=input).eval()
    pos = decentral.PosConfig("pos2", L=2, M=4, N=3)
    data = make_data(pos, 6, 1)
    out = model(data.csi)
    assert out.shape == (6, 2, 4, 8)
    np.testing.assert_allclose((out**2).sum((2, 3)).detach(), 2.0, rtol=1e-5)  # eq 18
    other = data.csi.clone()
    other[:, 1] = torch.randn_like(other[:, 1])
    again = model(other)
    torch.testing.assert_close(again[:, 0], out[:, 0])  # AP 0 untouched by AP 1's CSI
    assert not torch.allclose(again[:, 1], out[:, 1])


def test_torch_metrics_are_eqs_2_and_6_of_the_core():
    pos = decentral.PosConfig("pos1", L=2, M=4, N=3)
    data = make_data(pos, 5, 2)
    rng = np.random.default_rng(0)
    W = (rng.standard_normal((5, 8, 4)) + 1j * rng.standard_normal((5, 8, 4))).astype(np.complex64)
    Wt = torch.from_numpy(W)
    F, a = data.F.numpy(), data.a_t.numpy()
    np.testing.assert_allclose(losses.sinr(data.F, Wt), decentral.sinr(F, W), rtol=1e-4)
    gain = torch.full((1, 2, 2), 0.1)
    np.testing.assert_allclose(losses.ssnr(data.a_t, Wt, gain), decentral.ssnr(a, W), rtol=1e-4)
    # the model's output rows become DESIGN's W: row 0 of each AP is its sensing beam
    rows = torch.randn(5, 2, 4, 8)
    Wm = beams(rows).numpy()
    np.testing.assert_allclose(Wm[:, 4:, 0], rows[:, 1, 0, :4] + 1j * rows[:, 1, 0, 4:])
    np.testing.assert_allclose(Wm[:, :4], decentral.rows_to_beams(rows[:, 0].numpy()))


def test_lambda_follows_eq_12_and_stays_in_0_1():
    g1, g2 = torch.tensor([1.0, 1.0]), torch.tensor([3.0, 3.0])
    # gaps G1 = (2 - 1) / 2 = 0.5 (SSNR), G2 = (4 - 3) / 4 = 0.25: lambda shrinks by eps G1
    lam = losses.update_lambda(0.5, g1, g2, 2.0, 4.0, 0.01)
    assert lam == pytest.approx(0.5 - 0.01 * 0.5)
    lam = losses.update_lambda(0.5, torch.tensor([2.0]), torch.tensor([1.0]), 2.0, 4.0, 0.01)
    assert lam == pytest.approx(0.5 + 0.01 * 0.75)
    assert losses.update_lambda(0.999, torch.tensor([2.0]), torch.tensor([0.0]), 2.0, 4.0, 1) == 1
    assert losses.update_lambda(0.001, torch.tensor([0.0]), torch.tensor([4.0]), 2.0, 4.0, 1) == 0


def test_the_log_form_of_eq_11_puts_the_optimum_inside_a_straight_trade_off():
    """On s = S (1 - t / T) the linear eq 11 is best at a corner, the log form at t = lambda T."""
    S, T, lam = 3.0, 5.0, 0.4
    t = torch.linspace(0.01, T - 0.01, 4001)
    s = S * (1 - t / T)
    for form, want in (("log", lam * T), ("linear", 0.01)):  # lambda < 0.5: the SSNR corner
        loss = torch.stack([losses.student_loss(si[None], ti[None], lam, S, T, form)
                            for si, ti in zip(s, t)])  # fmt: skip
        assert float(t[loss.argmin()]) == pytest.approx(want, abs=2e-3)


@pytest.mark.parametrize("gaps", ["soft", "hard"])
def test_eq_12_gaps_use_the_min_sinr_the_config_names(tmp_path, monkeypatch, gaps):
    """``schedule.lambda_gaps`` hard: eq 12 sees the hard min of the users' SINRs even when the
    loss smooths it (softmin_t0 > 0); soft: the loss's smooth min."""
    cfg = TSConfig.load(TINY).to_dict()
    cfg["schedule"].update(softmin_t0=0.5, lambda_gaps=gaps)
    t = Trainer(TSConfig.from_dict(cfg), tmp_path, progress=False)
    t.state.update(stage=2, g_max=(2.0, 4.0))
    sinr = torch.tensor([[1.0, 3.0]] * 16, requires_grad=True)
    ssnr = torch.ones(16, requires_grad=True)
    monkeypatch.setattr(t, "ssnr_and_sinr", lambda model, data: (ssnr * 1.0, sinr * 1.0))
    seen = []
    monkeypatch.setattr(losses, "gaps", lambda g1, g2, a, b: seen.append(g2) or (0.0, 0.0))
    t.epoch("student", 0)
    want = sinr.min(-1).values if gaps == "hard" else losses.soft_min(sinr, t.temperature(0))
    assert seen and all(torch.allclose(g, want.detach()) for g in seen)
    assert not torch.allclose(losses.soft_min(sinr, 0.5), sinr.min(-1).values)  # they differ


def test_the_three_stages_run_in_order_and_the_student_uses_the_teachers_scores(tmp_path):
    cfg = TSConfig.load(TINY)
    t = Trainer(cfg, tmp_path, progress=False)
    r = t.fit()
    assert r.stopped == "done"
    h = t.state["history"]
    assert len(h["ssnr_teacher"]) == cfg.schedule.ssnr_epochs
    assert 1 <= len(h["sinr_teacher"]) <= cfg.schedule.max_epochs
    g1, _ = t.evaluate(t.teacher("ssnr_teacher"), t.train)
    _, g2 = t.evaluate(t.teacher("sinr_teacher"), t.train)
    assert r.g_max == pytest.approx((g1, g2), rel=1e-5)
    lams = [e["lambda"] for e in h["student"]]
    assert all(0 <= x <= 1 for x in lams) and lams[-1] != cfg.schedule.lambda0
    pick = t.selected()
    best = max(e["val_sinr"] for e in h["student"])
    ok = [e for e in h["student"] if e["val_sinr"] >= cfg.schedule.select * best]
    assert pick["epoch"] == max(ok, key=lambda e: e["val_ssnr"])["epoch"]
    ssnr, sinr = t.evaluate(t.selected_model(), t.val)
    assert (ssnr, sinr) == pytest.approx((pick["ssnr"], pick["sinr"]), rel=1e-5)


def test_selection_keeps_only_epochs_within_94_percent_of_the_best_sinr(tmp_path):
    t = Trainer(TSConfig.load(TINY), tmp_path, progress=False)
    for epoch, (sinr, ssnr) in enumerate([(1.0, 5.0), (1.5, 1.0), (1.45, 2.0), (1.3, 9.0)]):
        t.keep_candidate(epoch, sinr, ssnr)
    assert [c["epoch"] for c in t.state["candidates"]] == [1, 2]  # 1.0 and 1.3 < 0.94 * 1.5
    assert t.selected()["epoch"] == 2
    assert sorted(p.name for p in (tmp_path / "candidates").iterdir()) == [
        "epoch00001.pt",
        "epoch00002.pt",
    ]


def test_an_interrupted_run_resumes_to_the_weights_of_an_unbroken_one(tmp_path):
    cfg = TSConfig.load(TINY)
    whole = Trainer(cfg, tmp_path / "whole", progress=False)
    whole.fit()
    short = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, max_minutes=1e-9))
    stops = 0
    while True:  # one epoch per call: stopped by the time budget, resumed from last.pt
        r = Trainer(short, tmp_path / "pieces", progress=False).fit()
        if r.stopped == "done":
            break
        stops += 1
    assert stops >= 3
    pieces = Trainer(cfg, tmp_path / "pieces", progress=False)
    assert pieces.state["history"] == whole.state["history"]
    for k, v in whole.selected_model().state_dict().items():
        torch.testing.assert_close(pieces.selected_model().state_dict()[k], v)


def test_config_errors_name_the_field(tmp_path):
    data = TSConfig.load(TINY).to_dict()
    data["model"]["arch"] = "resnet"
    with pytest.raises(ValueError, match="model.arch must be one of"):
        TSConfig.from_dict(data)
    with pytest.raises(ValueError, match=r"unknown field\(s\) schedule"):
        TSConfig.from_dict({"schedule": {"epochs": 3}})
    with pytest.raises(ValueError, match="layout must be one of"):
        TSConfig.from_dict({"scenario": {"layout": "pos9"}})


def parse(*argv: str):
    import argparse

    from gr_cfisac.commands import train as cmd_train

    p = argparse.ArgumentParser(prog="cfisac train")
    cmd_train.add_arguments(p)
    return p.parse_args(list(argv))


def test_cfisac_train_family_teacher_student_trains_and_exports_one_model_per_ap(tmp_path):
    from gr_cfisac.commands import train as cmd_train
    from gr_cfisac.commands.train_ts import resolve_ts_config

    out, model = tmp_path / "run", tmp_path / "m" / "ts.onnx"
    args = parse("--family", "teacher-student", "--config", str(TINY), "--out", str(out),
                 "--export", str(model), "--no-progress")  # fmt: skip
    assert cmd_train.run(args) == 0
    for l in range(2):
        card = json.loads((tmp_path / "m" / f"ts_ap{l}.json").read_text())
        assert card["ap"] == l and card["model_set"]["files"] == ["ts_ap0.onnx", "ts_ap1.onnx"]
        assert card["onnx"]["parity_max_rel_diff"] < 1e-5
    assert len(card["training"]["history"]["student"]["val_sinr"]) >= 1
    full = resolve_ts_config(parse("--family", "teacher-student", "--full"))
    assert full.model.channels == (16, 32, 64, 128) and full.data.train_size == 19400
    assert full.optim.device == "cuda" and full.schedule.max_epochs == 1000
    dev = resolve_ts_config(parse("--family", "teacher-student", "--full", "--device", "cpu"))
    assert dev.optim.device == "cpu"
    with pytest.raises(ValueError, match="--eta: STCIB option"):
        cmd_train.run(parse("--family", "teacher-student", "--eta", "0.3"))


@pytest.mark.parametrize("stop", ["metrics", "selection"])
def test_student_patience_counts_what_schedule_student_stop_names(tmp_path, stop):
    """``metrics`` (the paper's): only a better validation SSNR or min-SINR resets the patience,
    so an early corner epoch ends a student whose trade-off still improves; ``selection``: an
    epoch section 8.3 would now pick (or a new best min-SINR) resets it."""
    cfg = TSConfig.load(TINY).to_dict()
    # the student's own patience (2), not the SINR teacher's (9)
    cfg["schedule"].update(patience=9, student_patience=2, max_epochs=50, select=0.94,
                           student_stop=stop)  # fmt: skip
    t = Trainer(TSConfig.from_dict(cfg), tmp_path, progress=False)
    t.state.update(stage=2)
    # (SSNR, min-SINR): the SSNR corner, the best min-SINR, then better trade-offs within 94 %
    # of it (each the new selection), then an epoch below 94 % of the best min-SINR
    vals = [(3.0, 0.5), (1.8, 3.5), (2.0, 3.4), (2.1, 3.35), (2.2, 3.3), (1.9, 3.2), (1.9, 3.2)]
    ends = [t.stage_done("student", e, v) for e, v in enumerate(vals)]
    if stop == "metrics":
        assert ends.index(True) == 3  # epochs 2 and 3 improve neither metric
    else:
        assert ends.index(True) == 6 and t.selected()["epoch"] == 4
        assert t.state["stale"] == 2


def test_student_stop_must_be_a_known_rule():
    with pytest.raises(ValueError, match=r"schedule.student_stop must be one of"):
        TSConfig.from_dict({"schedule": {"student_stop": "loss"}})
    with pytest.raises(ValueError, match=r"schedule.student_patience must be an integer >= 0"):
        TSConfig.from_dict({"schedule": {"student_patience": -1}})


def test_the_student_has_its_own_epoch_limit_and_the_teacher_keeps_max_epochs(tmp_path):
    cfg = TSConfig.load(TINY).to_dict()
    cfg["schedule"].update(max_epochs=3, patience=50, student_max_epochs=5)
    t = Trainer(TSConfig.from_dict(cfg), tmp_path, progress=False)
    teacher = [t.stage_done("sinr_teacher", e, (1.0, 1.0 + e)) for e in range(5)]
    t.state.update(stage=2, best=None, stale=0)
    student = [t.stage_done("student", e, (1.0, 1.0 + e)) for e in range(5)]
    assert teacher.index(True) == 2 and student.index(True) == 4
