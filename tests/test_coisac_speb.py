"""The SPEB of paper 003 (eqs 19-31) against a Fisher information computed independently:
finite differences of the echo model's mean, written here from eqs 5, 6, 7 and 8 as printed."""

import numpy as np
import pytest

from gr_cfisac.coisac import CoisacConfig, CoisacScenario, normalize_per_bs, position_fim, speb
from gr_cfisac.coisac.speb import angle_efim, echo_model

TAU = 50


def paper_steering(bs, t, Lx, Ly):
    """Eq 8 (times sqrt(L)) with eqs 5-6 literally: element (i_x, i_z) at i_x + Lx i_z."""
    d = t - bs
    dist = np.linalg.norm(d)
    theta = np.arcsin(d[2] / dist)
    beta = np.arctan(d[1] / d[0]) + np.pi * (t[0] < bs[0])
    a = np.empty(Lx * Ly, complex)
    for iz in range(Ly):
        for ix in range(Lx):
            phase = np.pi * (ix * np.cos(beta) * np.cos(theta) + iz * np.sin(theta))
            a[ix + Lx * iz] = np.exp(1j * phase)
    return a


def mean_echo(bs, t, alpha, W, Lx, Ly):
    """Eq 7 per stream, stacked: vec of y_n for s = e_j, every n, j (one snapshot)."""
    N, L = len(bs), Lx * Ly
    A = [paper_steering(b, t, Lx, Ly) for b in bs]
    out = []
    for n in range(N):
        y = sum(
            alpha[n, m] * np.outer(A[n], A[m].conj()) @ W[m * L : (m + 1) * L] for m in range(N)
        )
        out.append(y.ravel())
    return np.concatenate(out)


def numerical_position_fim(bs, t, alpha, W, Lx, Ly, tau, noise=1.0, per_stream=False):
    """2 Re{(d mu/d eta)^H (d mu/d eta)} / sigma^2 over tau snapshots with orthogonal symbols,
    eta = (t, Re alpha, Im alpha), derivatives in t by 4th-order central differences; then the
    Schur complement onto t. ``per_stream``: the nuisance is a free amplitude per receiver and
    stream instead (the model eq 20 is the EFIM of)."""
    N, L, S = len(bs), Lx * Ly, W.shape[-1]
    h = 1e-3

    if per_stream:
        # mu_{n,s} = a_n(t) beta_{n,s}, beta at its true value c_{n,s} = sum_m alpha a_m^H W_m
        A0 = [paper_steering(b, t, Lx, Ly) for b in bs]
        c = np.array(
            [
                sum(alpha[n, m] * A0[m].conj() @ W[m * L : (m + 1) * L] for m in range(N))
                for n in range(N)
            ]
        )

        def mu(tt):
            return np.concatenate(
                [np.outer(paper_steering(b, tt, Lx, Ly), c[n]).ravel() for n, b in enumerate(bs)]
            )

        nuisance = []
        for n in range(N):
            for s in range(S):
                v = np.zeros((N, L, S), complex)
                v[n, :, s] = A0[n]
                nuisance.append(v.ravel())
    else:

        def mu(tt):
            return mean_echo(bs, tt, alpha, W, Lx, Ly)

        nuisance = []
        for n in range(N):
            for m in range(N):
                e = np.zeros((N, N), complex)
                e[n, m] = 1.0
                nuisance.append(mean_echo(bs, t, e, W, Lx, Ly))  # mu is linear in alpha
    cols = []
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        d = (-mu(t + 2 * e) + 8 * mu(t + e) - 8 * mu(t - e) + mu(t - 2 * e)) / (12 * h)
        cols.append(d)
    V = np.stack(nuisance, axis=1)
    Jmu = np.concatenate([np.stack(cols, axis=1), V, 1j * V], axis=1)  # d mu / d(t, Re, Im)
    fim = (2.0 * tau / noise) * (Jmu.conj().T @ Jmu).real
    Jtt, Jta, Jaa = fim[:3, :3], fim[:3, 3:], fim[3:, 3:]
    return Jtt - Jta @ np.linalg.pinv(Jaa, rcond=1e-12) @ Jta.T


def beams(batch, power, rng):
    """A sensing beam toward the target from every BS plus random user beams, eq 50 scaled."""
    cfg = batch.cfg
    B, N, L, K = batch.batch, cfg.N, cfg.L, cfg.K
    Ws = batch.sensing.aT_t.reshape(B, N * L, 1)
    Wu = rng.standard_normal((B, N * L, K)) + 1j * rng.standard_normal((B, N * L, K))
    W = np.concatenate([Ws, Wu], axis=-1) * 1e8
    return normalize_per_bs(W, power, N)


@pytest.fixture(scope="module")
def scene():
    cfg = CoisacConfig(Lx=3, Ly=2, K=4, target_spread_m=20.0)  # K+1 = 5 streams > N = 3
    batch = CoisacScenario(cfg).draw(3, 7)
    W = beams(batch, cfg.power, np.random.default_rng(8))
    return cfg, batch, W


def test_position_fim_matches_finite_differences_of_the_echo_model(scene):
    cfg, batch, W = scene
    J = position_fim(batch.echo, W, TAU)
    for b in range(batch.batch):
        ref = numerical_position_fim(
            batch.bs, batch.target[b], batch.alpha[b], W[b], cfg.Lx, cfg.Ly, TAU
        )
        np.testing.assert_allclose(J[b], ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
        assert speb(batch.echo, W, TAU)[b] == pytest.approx(np.trace(np.linalg.inv(ref)), 1e-4)


def test_eq20_form_is_the_per_stream_amplitude_bound_and_never_below_the_exact_one(scene):
    cfg, batch, W = scene
    J20 = position_fim(batch.echo, W, TAU, form="eq20")
    for b in range(batch.batch):
        ref = numerical_position_fim(
            batch.bs, batch.target[b], batch.alpha[b], W[b], cfg.Lx, cfg.Ly, TAU, per_stream=True
        )
        np.testing.assert_allclose(J20[b], ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    exact = speb(batch.echo, W, TAU)
    loose = speb(batch.echo, W, TAU, form="eq20")
    assert np.all(loose > exact * 1.001)  # 5 streams, 3 BSs: the forms differ


def test_transmit_angles_carry_information_when_streams_outnumber_the_bss():
    """Users' beams reach the target too: with more streams than BSs the exact EFIM is strictly
    larger than eq 20's, which discards every transmit-angle term."""
    cfg = CoisacConfig(Lx=4, Ly=4, K=5)
    batch = CoisacScenario(cfg).draw(4, 3)
    W = beams(batch, cfg.power, np.random.default_rng(4))
    assert np.all(speb(batch.echo, W, TAU, form="eq20") > 1.05 * speb(batch.echo, W, TAU))


def test_speb_scales_as_one_over_snapshots_and_power(scene):
    _, batch, W = scene
    base = speb(batch.echo, W, TAU)
    np.testing.assert_allclose(speb(batch.echo, W, 4 * TAU), base / 4, rtol=1e-9)
    np.testing.assert_allclose(speb(batch.echo, 3.0 * W, TAU), base / 9, rtol=1e-9)
    np.testing.assert_allclose(speb(batch.echo, W, TAU, noise=2.0), 2 * base, rtol=1e-9)
    np.testing.assert_allclose(batch.speb(W, TAU), base, rtol=1e-12)


def test_shapes_and_an_unidentifiable_position(scene):
    cfg, batch, W = scene
    B, N = batch.batch, cfg.N
    assert angle_efim(batch.echo, W, TAU).shape == (B, 2 * N, 2 * N)
    assert position_fim(batch.echo, W, TAU).shape == (B, 3, 3)
    out = speb(batch.echo, W, TAU)
    assert out.shape == (B,) and np.all(np.isfinite(out) & (out > 0))
    W0 = W.copy()
    W0[1] = 0.0  # block 1 transmits nothing: no echo, no information
    out0 = speb(batch.echo, W0, TAU)
    assert np.isinf(out0[1]) and np.all(np.isfinite(out0[[0, 2]]))


def test_the_default_scenario_bound_is_finite_and_per_block():
    cfg = CoisacConfig()
    batch = CoisacScenario(cfg).draw(5, 11)
    W = beams(batch, cfg.power, np.random.default_rng(12))
    out = batch.speb(W)
    assert out.shape == (5,) and np.all(np.isfinite(out) & (out > 0))
    one = batch.speb(W[2:3].repeat(5, 0))  # the same beams on other blocks: other bounds
    assert not np.allclose(one, out[2])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"W": np.zeros((3, 5, 3))}, "W must be"),
        ({"snapshots": 0}, "snapshots"),
        ({"snapshots": 2.5}, "snapshots"),
        ({"noise": 0.0}, "noise"),
        ({"form": "printed"}, "form"),
    ],
)
def test_bad_input_names_the_parameter(scene, kwargs, match):
    _, batch, W = scene
    args = {"W": W, "snapshots": TAU, "noise": 1.0, "form": "exact", **kwargs}
    with pytest.raises(ValueError, match=match):
        speb(batch.echo, args["W"], args["snapshots"], args["noise"], args["form"])


def test_echo_model_refuses_mismatched_alpha_and_a_target_above_a_bs():
    bs = np.array([[0.0, 0.0, 6.0], [50.0, 0.0, 6.0]])
    with pytest.raises(ValueError, match="alpha"):
        echo_model(bs, np.array([[10.0, 20.0, 5.0]]), np.zeros((1, 3, 3)), 2, 2)
    with pytest.raises(ValueError, match="target"):
        echo_model(bs, np.array([[0.0, 0.0, 20.0]]), np.zeros((1, 2, 2)), 2, 2)
