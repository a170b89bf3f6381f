"""The teacher-student deviations of issue 12 (off by default): the smooth min over users
(losses.soft_min) tends to the hard min as its temperature goes to 0 and annealing reaches the
hard min; the student's lambda takes eq 12's step once per epoch in ``lambda_mode: epoch`` (on
the epoch's mean gaps), on smoothed gaps in ``ema``, every mini-batch by default (the paper's)."""

import dataclasses

import pytest

torch = pytest.importorskip("torch")

from gr_cfisac.train.decentral import losses  # noqa: E402
from gr_cfisac.train.decentral.config import TSConfig, config_path  # noqa: E402
from gr_cfisac.train.decentral.trainer import Trainer  # noqa: E402

TINY = config_path("ts_tiny.yml")


def test_soft_min_tends_to_the_hard_min_from_below():
    x = torch.tensor([[3.0, 1.0, 2.0, 1.5], [0.2, 0.1, 5.0, 4.0]])
    hard = x.min(-1).values
    torch.testing.assert_close(losses.soft_min(x, 0.0), hard)
    previous = None
    for t in (1.0, 0.3, 0.1, 0.01, 0.001):
        soft = losses.soft_min(x, t)
        assert torch.all(soft <= hard + 1e-6)
        assert torch.all(soft >= hard - t * torch.log(torch.tensor(4.0)) - 1e-6)  # T log n
        gap = (hard - soft).max()
        assert previous is None or gap < previous
        previous = gap
    assert previous < 1e-3


def test_soft_min_spreads_the_gradient_over_users_and_rejects_negative_temperature():
    x = torch.tensor([1.0, 1.1, 4.0], requires_grad=True)
    losses.soft_min(x, 0.5).backward()
    assert x.grad[0] > x.grad[1] > x.grad[2] > 0  # the hard min's gradient is (1, 0, 0)
    assert x.grad.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="temperature"):
        losses.soft_min(x, -0.1)


def test_the_temperature_anneals_to_the_hard_min():
    assert losses.softmin_temperature(0.5, 0.9, 0) == 0.5
    assert losses.softmin_temperature(0.5, 0.9, 2) == pytest.approx(0.5 * 0.81)
    assert losses.softmin_temperature(0.5, 0.9, 100) == 0.0  # below 1e-3: hard min
    assert losses.softmin_temperature(0.0, 0.9, 0) == 0.0  # the paper's hard min


def _student_epoch(tmp_path, **schedule):
    """A trainer on ts_tiny at the student stage with references (1, 1): one epoch."""
    cfg = TSConfig.load(TINY)
    cfg = dataclasses.replace(cfg, schedule=dataclasses.replace(cfg.schedule, **schedule))
    t = Trainer(cfg, tmp_path, progress=False)
    t.state.update(stage=2, g_max=(1.0, 1.0))
    calls, seen = [], []
    step, gaps = losses.lambda_step, losses.gaps

    def spy(lam, G1, G2, eps):
        calls.append((G1, G2))
        return step(lam, G1, G2, eps)

    def spy_gaps(*args):
        seen.append(gaps(*args))
        return seen[-1]

    losses.lambda_step, losses.gaps = spy, spy_gaps
    try:
        t.epoch("student", 0)
    finally:
        losses.lambda_step, losses.gaps = step, gaps
    batches = -(-cfg.data.train_size // cfg.optim.batch_size)
    assert len(seen) == batches
    t.seen = seen
    return t, calls, batches


def test_lambda_steps_once_per_epoch_on_the_mean_gaps_in_epoch_mode(tmp_path):
    t, calls, batches = _student_epoch(tmp_path / "e", lambda_mode="epoch", epsilon=0.1)
    assert batches > 1 and len(calls) == 1
    G1, G2 = calls[0]  # the mean of the epoch's (equal-sized) mini-batches' gaps
    assert G1 == pytest.approx(sum(g[0] for g in t.seen) / batches)
    assert G2 == pytest.approx(sum(g[1] for g in t.seen) / batches)
    assert t.state["lambda"] == pytest.approx(losses.lambda_step(0.5, G1, G2, 0.1))


def test_lambda_steps_every_mini_batch_by_default_and_on_smoothed_gaps_in_ema_mode(tmp_path):
    assert TSConfig().schedule.lambda_mode == "batch"
    _, calls, batches = _student_epoch(tmp_path / "b")
    assert len(calls) == batches
    _, smooth, batches = _student_epoch(tmp_path / "m", lambda_mode="ema", lambda_ema=0.5)
    assert len(smooth) == batches
    # the first step sees the first batch's gaps, the later ones halfway to the new gaps
    _, raw, _ = _student_epoch(tmp_path / "b2")
    assert smooth[0] == pytest.approx(raw[0])
    want = tuple(0.5 * a + 0.5 * b for a, b in zip(smooth[0], raw[1]))
    assert smooth[1] == pytest.approx(want)


def test_bad_lambda_mode_and_softmin_fields_name_the_field():
    with pytest.raises(ValueError, match="lambda_mode"):
        TSConfig.from_dict({"schedule": {"lambda_mode": "sometimes"}})
    with pytest.raises(ValueError, match="softmin_t0"):
        TSConfig.from_dict({"schedule": {"softmin_t0": -1}})
    with pytest.raises(ValueError, match="lambda_ema"):
        TSConfig.from_dict({"schedule": {"lambda_ema": 1.0}})


@pytest.mark.parametrize("init", ["scratch", "sinr_teacher"])
def test_student_init_sinr_teacher_starts_the_student_from_the_teachers_weights(tmp_path, init):
    cfg = TSConfig.load(TINY)
    cfg = dataclasses.replace(
        cfg,
        schedule=dataclasses.replace(cfg.schedule, student_init=init),
        optim=dataclasses.replace(cfg.optim, lr=1e-12),  # the weights stay where they start
    )
    t = Trainer(cfg, tmp_path, progress=False)
    t.fit()
    teacher = t.teacher("sinr_teacher").state_dict()
    student = t.selected_model().state_dict()
    same = all(torch.allclose(student[k].float(), v.float(), atol=1e-6) for k, v in teacher.items())
    assert same == (init == "sinr_teacher")
    with pytest.raises(ValueError, match="student_init"):
        TSConfig.from_dict({"schedule": {"student_init": "ssnr"}})


@pytest.mark.parametrize("plateau", [True, False])
def test_student_plateau_false_keeps_the_student_at_lr(tmp_path, plateau):
    cfg = TSConfig.load(TINY)
    cfg = dataclasses.replace(
        cfg,
        schedule=dataclasses.replace(cfg.schedule, max_epochs=4, patience=10, epsilon=0.5),
        optim=dataclasses.replace(cfg.optim, plateau_patience=0, student_plateau=plateau),
    )
    t = Trainer(cfg, tmp_path, progress=False)
    t.fit()
    epochs = len(t.state["history"]["student"])
    # the student's scheduler: stepped after every student epoch, or never
    assert t.sched.last_epoch == (epochs if plateau else 0)
    if not plateau:
        assert [e["lr"] for e in t.state["history"]["student"]] == [cfg.optim.lr] * epochs
    with pytest.raises(ValueError, match="student_plateau"):
        TSConfig.from_dict({"optim": {"student_plateau": "no"}})
