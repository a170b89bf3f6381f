import numpy as np
import pytest

from gr_cfisac import metrics as M
from gr_cfisac.channels import crandn
from gr_cfisac.precoding import isac_beamformer, nullspace_beam, target_beam, zf
from gr_cfisac.scenario import Realizations, draw_realizations

QPSK = np.array([1 + 1j, 1 - 1j, -1 + 1j, -1 - 1j]) / np.sqrt(2)


@pytest.fixture(scope="module")
def real():
    from gr_cfisac.config import SystemConfig

    cfg = SystemConfig()
    r = draw_realizations(cfg, 3, 11)
    W = isac_beamformer(
        zf(r.F_hat, cfg.power_budget),
        nullspace_beam(target_beam(r.sensing.aT_t, r.sensing.amp_t), r.F_hat),
        cfg.power_budget,
        0.3,
    )
    return cfg, r, W


def test_sinr_matches_simulated_received_signal(real):
    """eq 20 vs eq 15 simulated with random QPSK symbols and unit noise."""
    cfg, r, W = real
    rng = np.random.default_rng(0)
    T = 40000
    x = QPSK[rng.integers(0, 4, (cfg.K + 1, T))]
    for b in range(r.batch):
        g = r.F[b].conj().T @ W[b]  # (K, K+1): f_k^H w_j
        noise = crandn(rng, (cfg.K, T))
        for k in range(cfg.K):
            desired = g[k, k + 1] * x[k + 1]
            rest = g[k] @ x - desired + noise[k]
            emp = np.mean(np.abs(desired) ** 2) / np.mean(np.abs(rest) ** 2)
            assert emp == pytest.approx(M.sinr(r.F, W)[b, k], rel=0.03)


def test_scnr_matches_simulated_echoes(real):
    """eq 22 vs eq 18 simulated with random symbols and noise: target echo power over the
    per-scatterer clutter powers plus noise. (eq 22 sums clutter powers scatterer by scatterer;
    the cross terms of the coherent sum vanish on average over the independent varpi.)"""
    cfg, r, W = real
    rng = np.random.default_rng(1)
    T = 20000
    x = QPSK[rng.integers(0, 4, (cfg.K + 1, T))]
    s = W[0] @ x
    gamma = M.scnr(r.G_t, r.G_c, W)[0]
    for j in range(cfg.NR):
        target = r.G_t[0, j] @ s
        clutter = np.einsum("crn,nt->crt", r.G_c[0, j], s)
        noise = crandn(rng, (cfg.MR, T))
        denom = np.sum(np.abs(clutter) ** 2) / T + np.sum(np.abs(noise) ** 2) / T
        emp = np.sum(np.abs(target) ** 2) / T / denom
        assert emp == pytest.approx(gamma[j], rel=0.05)


def test_averaged_scnr_is_the_power_ratio_over_rcs_fluctuations(cfg):
    """Over many coherence blocks (fresh varpi each), received target power over received
    clutter (coherent sum, eq 18) plus noise power tends to the varpi-averaged SCNR."""
    from gr_cfisac.channels import draw_rcs, sensing_geometry, sensing_matrices

    r = draw_realizations(cfg, 1, 3)
    W = isac_beamformer(
        zf(r.F_hat, cfg.power_budget), target_beam(r.sensing.aT_t), cfg.power_budget, 0.5
    )
    n = 20000
    rng = np.random.default_rng(2)
    sg = sensing_geometry(cfg, r.geom.take(np.zeros(n, dtype=int)))
    G_t, G_c = sensing_matrices(sg, *draw_rcs(rng, n, cfg.NR, cfg.NT, cfg.NC))
    x = QPSK[rng.integers(0, 4, (n, cfg.K + 1))]
    s = x @ W[0].T  # one symbol vector per block: (n, N)
    target = np.einsum("bjrn,bn->bjr", G_t, s)
    clutter = np.einsum("bjcrn,bn->bjr", G_c, s)
    noise = crandn(rng, target.shape)
    emp = (np.abs(target) ** 2).sum((0, 2)) / (np.abs(clutter + noise) ** 2).sum((0, 2))
    np.testing.assert_allclose(emp, M.scnr_averaged(r.Q_t, r.Q_c, W, cfg.MR)[0], rtol=0.06)


def test_averaged_scnr_uses_the_expected_grams(real):
    cfg, r, W = real
    avg = M.scnr_averaged(r.Q_t, r.Q_c, W, cfg.MR)
    num = np.einsum("bnk,bjnm,bmk->bj", W.conj(), r.Q_t, W).real
    # the realized target term averages to the same quadratic form
    assert avg.shape == (3, cfg.NR)
    assert np.all(num > 0)
    manual = num / (np.einsum("bnk,bjnm,bmk->bj", W.conj(), r.Q_c, W).real + cfg.MR)
    np.testing.assert_allclose(avg, manual)


def test_user_beams_only_equals_zero_sensing_column(real):
    cfg, r, W = real
    users = W[..., 1:]
    W0 = np.concatenate([np.zeros_like(W[..., :1]), users], axis=-1)
    np.testing.assert_allclose(M.sinr(r.F, users), M.sinr(r.F, W0))
    assert np.all(M.sinr(r.F, users) > M.sinr(r.F, W))  # the sensing beam adds interference


def test_zf_sinr_closed_form(real):
    """With perfect CSI, ZF has no interference: gamma_k = |f_k^H w_k|^2."""
    cfg, r, _ = real
    W = zf(r.F, cfg.power_budget)
    g = np.einsum("bnk,bnk->bk", r.F.conj(), W)
    np.testing.assert_allclose(M.sinr(r.F, W), np.abs(g) ** 2 / 1.0, rtol=1e-9)


def test_rates_objective_losses_and_feasibility():
    gc = np.array([[1.0, 3.0], [7.0, 0.0]])
    gs = np.array([[1.0], [3.0]])
    kappa = 0.5
    Rc, Rs = M.rate(gc, kappa), M.rate(gs, kappa)
    np.testing.assert_allclose(Rc, [[0.5, 1.0], [1.5, 0.0]])
    # eq 23a on the kappa-rates of eqs 19/21: kappa (0.25 sum log2(1+gc) + 0.75 sum log2(1+gs))
    np.testing.assert_allclose(
        M.objective(gc, gs, 0.25, kappa), [0.5 * (0.25 * 3 + 0.75 * 1), 0.5 * (0.25 * 3 + 0.75 * 2)]
    )
    np.testing.assert_allclose(M.objective(gc, gs, 1.0, kappa), Rc.sum(-1))
    assert M.loss_joint(Rc, Rs, 0.4) == pytest.approx(-np.mean(0.4 * Rc.sum(-1) + 0.6 * Rs.sum(-1)))
    # one objective: the loss of eq 40 is minus its mean
    assert M.loss_joint(Rc, Rs, 0.4) == pytest.approx(-M.objective(gc, gs, 0.4, kappa).mean())
    assert "23a" in M.OBJECTIVE and "kappa" in M.OBJECTIVE
    # eq 38: penalties only for users below the threshold 1.0: (0.5-1)^2 and (0-1)^2
    assert M.loss_sc(Rc, Rs, 1.0, xi=2.0) == pytest.approx(
        -np.mean([0.5 - 2 * 0.25, 1.0 - 2 * 1.0])
    )
    assert M.loss_cc(Rc, Rs, 0.75, varrho=1.0) == pytest.approx(-np.mean([1.5 - 0.0625, 1.5]))
    f = M.feasibility(Rc, 0.75)
    assert f == {
        "rate": 0.0,
        "mean_violation": pytest.approx(0.5),
        "mean_violation_when_violated": pytest.approx(0.5),
        "worst_violation": 0.75,
    }
    # one of four realizations violates (by 0.4): Table III's average is over that one
    g = M.feasibility(np.array([[1.0, 2.0], [0.6, 1.5], [1.2, 1.1], [3.0, 1.0]]), 1.0)
    assert g["rate"] == 0.75 and g["worst_violation"] == pytest.approx(0.4)
    assert g["mean_violation"] == pytest.approx(0.1)
    assert g["mean_violation_when_violated"] == pytest.approx(0.4)
    assert M.feasibility(np.ones((3, 2)), 0.5)["mean_violation_when_violated"] == 0.0
    with pytest.raises(ValueError, match="eta"):
        M.objective(gc, gs, 1.5, kappa)
    with pytest.raises(ValueError, match="kappa"):
        M.objective(gc, gs, 0.5, 0.0)


def test_shape_errors_are_clear(real):
    cfg, r, W = real
    with pytest.raises(ValueError, match="K\\+1"):
        M.sinr(r.F, W[..., :2])
    with pytest.raises(ValueError, match="rows"):
        M.sinr(r.F[:, :8], W)
    with pytest.raises(ValueError, match="dimensions"):
        M.sinr(r.F[0], W)
    with pytest.raises(ValueError, match="columns"):
        M.scnr(r.G_t[..., :8], r.G_c, W)
    # batches that neither match nor broadcast, and sensing matrices of different RAPs
    with pytest.raises(ValueError, match="F has batch 3 but W has 2"):
        M.sinr(r.F, W[:2])
    with pytest.raises(ValueError, match="G_t has batch 3 but W has 2"):
        M.scnr(r.G_t, r.G_c, W[:2])
    with pytest.raises(ValueError, match="same NR and MR"):
        M.scnr(r.G_t, r.G_c[:, :, :, :2], W)
    with pytest.raises(ValueError, match=r"Q_c must be \(B, NR, N, N\) with N=32"):
        M.scnr_averaged(r.Q_t, r.Q_c[..., :8, :8], W, cfg.MR)
    with pytest.raises(ValueError, match="Q_t must have 4 dimensions"):
        M.scnr_averaged(r.Q_t[0], r.Q_c, W, cfg.MR)
    # a batch of one broadcasts
    np.testing.assert_allclose(M.sinr(r.F[:1], W)[0], M.sinr(r.F, W)[0])


def test_per_tap_power_sums_to_total(real):
    cfg, r, W = real
    p = M.per_tap_power(W, cfg.NT)
    np.testing.assert_allclose(p.sum(-1), np.sum(np.abs(W) ** 2, axis=(1, 2)))
    np.testing.assert_allclose(p.sum(-1), cfg.power_budget)


def test_realizations_reproduce_bit_for_bit(cfg):
    a = draw_realizations(cfg, 5, 42)
    b = draw_realizations(cfg, 5, 42)
    for name in ("F", "F_hat", "G_t", "G_c", "Q_t"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = draw_realizations(cfg, 5, 43)
    assert not np.allclose(a.F, c.F)


def test_realizations_take_indexes_every_array(cfg):
    r = draw_realizations(cfg, 6, 5)
    sub = r.take(slice(2, 4))
    assert sub.batch == 2
    for name in ("F", "F_hat", "G_t", "G_c", "Q_t", "Q_c"):
        np.testing.assert_array_equal(getattr(sub, name), getattr(r, name)[2:4])
    np.testing.assert_array_equal(sub.comm.cov, r.comm.cov[2:4])
    np.testing.assert_array_equal(sub.sensing.amp_c, r.sensing.amp_c[2:4])
    np.testing.assert_array_equal(sub.geom.user_pos, r.geom.user_pos[2:4])


def test_realizations_concatenate_undoes_take(cfg):
    r = draw_realizations(cfg, 6, 5)
    whole = Realizations.concatenate(
        [r.take(slice(0, 2)), r.take(slice(2, 3)), r.take(slice(3, 6))]
    )
    assert whole.batch == 6
    for name in ("F", "F_hat", "G_t", "G_c", "Q_t", "Q_c"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(r, name))
    np.testing.assert_array_equal(whole.comm.cov, r.comm.cov)
    np.testing.assert_array_equal(whole.sensing.amp_c, r.sensing.amp_c)
    np.testing.assert_array_equal(whole.geom.target_pos, r.geom.target_pos)
