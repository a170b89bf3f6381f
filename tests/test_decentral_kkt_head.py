"""The per-AP KKT output layer (train/decentral/kkt_head.py): its beams are the closed form of
its docstring, computed here independently with dense complex solves; with every user's beam is a stationarity solution (A - nu_k a a^H)^{-1} h_k of the
sensing-weighted problem; every user's signal arrives real and positive from every AP (coherent combining);
and the set exports to ONNX equal to torch."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gr_cfisac import decentral  # noqa: E402
from gr_cfisac.train.decentral.config import TSConfig  # noqa: E402
from gr_cfisac.train.decentral.kkt_head import LocalKKTHead  # noqa: E402
from gr_cfisac.train.decentral.models import ModelSet  # noqa: E402
from gr_cfisac.train.decentral.trainer import make_data  # noqa: E402

M, N, B = 6, 3, 4


def complex_rows(x: np.ndarray) -> np.ndarray:
    return x[..., :M] + 1j * x[..., M:]


def inputs(seed: int = 0):
    rng = np.random.default_rng(seed)
    raw = rng.standard_normal((B, N + 1, 2 * M))
    users = rng.standard_normal((B, N, 2 * M))
    steering = rng.standard_normal((B, 1, 2 * M))
    return raw, users, steering


def dense_beams(head, raw, users, steering):
    """The docstring's w_0, w_k with numpy's complex solve (no Woodbury, no real form)."""
    p = {k: v.numpy() for k, v in head.multipliers(torch.from_numpy(raw)).items()}
    H, a = complex_rows(users), complex_rows(steering)[:, 0]
    out = []
    for b in range(B):
        A = (p["lam"][b] * H[b].T) @ H[b].conj() + p["mu"][b] * np.eye(M)
        u = np.linalg.solve(A, H[b].T)  # (M, N)
        v = np.linalg.solve(A, a[b])
        phase = np.exp(1j * np.angle(a[b].conj() @ u))
        z = u / np.linalg.norm(u, axis=0) + p["lean"][b] * phase * v[:, None] / np.linalg.norm(v)
        w0 = p["c0"][b] * v[:, None] / np.linalg.norm(v)
        out.append(np.concatenate([w0, p["beta"][b] * z / np.linalg.norm(z, axis=0)], 1).T)
    return np.stack(out), p


def test_beams_are_the_closed_form_of_the_docstring():
    head = LocalKKTHead(M)
    raw, users, steering = inputs()
    got = head(*(torch.from_numpy(x) for x in (raw, users, steering))).numpy()
    want, p = dense_beams(head, raw, users, steering)
    np.testing.assert_allclose(complex_rows(got), want, atol=1e-10)
    # beta_k^2 and c_0^2 are the beams' powers before eqs 17-18
    powers = (np.abs(complex_rows(got)) ** 2).sum(-1)
    np.testing.assert_allclose(powers, np.concatenate([p["c0"][:, None] ** 2, p["beta"] ** 2], 1))


def test_each_user_beam_is_a_sensing_weighted_stationarity_solution():
    """z_k ∝ (A - nu_k a a^H)^{-1} h_k, nu_k = kappa_k / ((1 + kappa_k) a^H A^{-1} a) with the
    kappa_k = t_k (a^H v) ||u_k|| / (|a^H u_k| ||v||) of the docstring; t_k > 0 raises the
    beam's gain toward the target."""
    head = LocalKKTHead(M)
    raw, users, steering = inputs(1)
    got = complex_rows(head(*(torch.from_numpy(x) for x in (raw, users, steering))).numpy())
    p = {k: v.numpy() for k, v in head.multipliers(torch.from_numpy(raw)).items()}
    H, a = complex_rows(users), complex_rows(steering)[:, 0]
    leaned = 0
    for b in range(B):
        A = (p["lam"][b] * H[b].T) @ H[b].conj() + p["mu"][b] * np.eye(M)
        u, v = np.linalg.solve(A, H[b].T), np.linalg.solve(A, a[b])
        av = np.real(a[b].conj() @ v)
        for k in range(N):
            au = a[b].conj() @ u[:, k]
            t = p["lean"][b, k]
            kappa = t * av * np.linalg.norm(u[:, k]) / (abs(au) * np.linalg.norm(v))
            nu = kappa / ((1 + kappa) * av)
            x = np.linalg.solve(A - nu * np.outer(a[b], a[b].conj()), H[b][k])
            w = got[b, k + 1]
            cos = abs(np.vdot(w, x)) / (np.linalg.norm(w) * np.linalg.norm(x))
            assert cos == pytest.approx(1.0, abs=1e-10)
            assert np.vdot(w, x).real > 0  # same phase, not just the same line
            if t > 0:
                plain = u[:, k] / np.linalg.norm(u[:, k])
                assert abs(a[b].conj() @ w) / np.linalg.norm(w) > abs(a[b].conj() @ plain)
                leaned += 1
    assert leaned > 0


def test_every_ap_delivers_each_users_signal_in_phase():
    """lean t_k = 0: h_lk^H w_lk is real and positive at every AP, so the APs add coherently."""
    pos = decentral.PosConfig("pos1", L=2, M=M, N=N)
    data = make_data(pos, B, 3)
    model = ModelSet(2, M, N, "unet", (4, 8), head="kkt").eval()
    for net in model.aps:
        net.head.multipliers = _no_kappa(net.head.multipliers)
    with torch.no_grad():
        out = model(data.csi).numpy()  # (B, L, N+1, 2M)
    F = data.F.numpy()
    for l in range(2):
        w = complex_rows(out[:, l])[:, 1:]  # (B, N, M)
        h = F[:, l * M : (l + 1) * M].transpose(0, 2, 1)  # (B, N, M)
        gain = np.einsum("bkm,bkm->bk", h.conj(), w)
        assert np.abs(gain.imag).max() < 1e-5 * np.abs(gain).max() and gain.real.min() > 0


def _no_kappa(multipliers):
    def wrapped(raw):
        p = multipliers(raw)
        return {**p, "lean": torch.zeros_like(p["lean"])}

    return wrapped


def test_an_unknown_head_is_refused_naming_the_field():
    with pytest.raises(ValueError, match=r"model.head must be one of \('free', 'kkt'\)"):
        TSConfig.from_dict({"name": "x", "model": {"head": "zf"}})
    with pytest.raises(ValueError, match="model.head kkt needs M >= 2"):
        LocalKKTHead(1)


def test_gram_rows_are_the_gram_matrix_of_the_csi_rows():
    from gr_cfisac.train.decentral.models import gram_rows

    rng = np.random.default_rng(5)
    x = rng.standard_normal((B, N + 1, 2 * M))
    got = gram_rows(torch.from_numpy(x)).numpy()
    X = complex_rows(x)
    G = X @ X.conj().transpose(0, 2, 1) / M
    np.testing.assert_allclose(got[..., : N + 1] + 1j * got[..., N + 1 :], G, atol=1e-12)


def test_the_gram_input_needs_the_kkt_head_and_unknown_inputs_are_refused():
    with pytest.raises(ValueError, match=r"model.input must be one of \('csi', 'gram'\)"):
        TSConfig.from_dict({"name": "x", "model": {"input": "gram"}})
    with pytest.raises(ValueError, match="model.input must be one of"):
        TSConfig.from_dict({"name": "x", "model": {"input": "angles", "head": "kkt"}})
    with pytest.raises(ValueError, match="gram with head kkt only"):
        ModelSet(2, M, N, "unet", (4, 8), input="gram")
    cfg = TSConfig.from_dict({"name": "x", "model": {"input": "gram", "head": "kkt"}})
    assert (cfg.model.input, cfg.model.head) == ("gram", "kkt")
