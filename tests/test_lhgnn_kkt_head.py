"""The KKT output layer of the LHGNN family (gr_cfisac.train.lhgnn.kkt_head): the beams are
A^{-1} (sum_n beta_kn h_kn + T c_k) with A = sum_k lambda_k h_k h_k^H + blockdiag(mu_n I)
(checked against dense complex algebra), T_n spans the steering derivatives the SPEB's gradient
lives on, and the exported graph matches torch for any K."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from gr_cfisac.coisac.geometry import steering_derivatives  # noqa: E402
from gr_cfisac.train.lhgnn.kkt_head import KKTHead  # noqa: E402

N, K, Lx, Ly = 3, 5, 4, 4
L = Lx * Ly


def test_the_beams_solve_the_stationarity_system_of_the_module_docstring():
    torch.manual_seed(1)
    head = KKTHead(Lx, Ly).double()
    comm = torch.randn(2, N, K, 2 * L, dtype=torch.double)
    sensing = torch.randn(2, N, 2 * L, dtype=torch.double)
    o = torch.randn(2, N, K + 1, 2 * L, dtype=torch.double)
    got = head(o, comm, sensing).numpy()
    W = got[..., :L] + 1j * got[..., L:]  # (B, N, K+1, L)
    Tr, Ti = head.basis(sensing)
    T = (Tr + 1j * Ti).numpy()  # (B, N, 3, L)
    for b in range(2):
        h = (comm[b, ..., :L] + 1j * comm[b, ..., L:]).numpy()  # (N, K, L)
        users = h.transpose(1, 0, 2).reshape(K, N * L)
        lam = (F.softplus(o[b, :, 1:, 0]).mean(0) + 1e-3).numpy()
        mu = (F.softplus(o[b, :, 0, 0]) + 1e-2).numpy()
        A = sum(lam[k] * np.outer(users[k], users[k].conj()) for k in range(K))
        A = A + np.diag(np.repeat(mu, L))
        p = o[b].numpy()
        for q in range(K + 1):
            v = np.stack([(p[n, q, 3:6] + 1j * p[n, q, 6:9]) @ T[b, n] for n in range(N)])
            if q:
                v = v + (p[:, q, 1] + 1j * p[:, q, 2])[:, None] * h[:, q - 1]
            want = np.linalg.solve(A, v.reshape(-1))
            np.testing.assert_allclose(
                W[b, :, q].reshape(-1), want, rtol=0, atol=1e-10 * abs(want).max()
            )


def test_the_target_basis_spans_the_steering_derivatives():
    theta, beta = np.array([0.3, -0.2, 0.5]), np.array([1.0, 2.2, -0.7])
    a, d_theta, d_beta = steering_derivatives(theta, beta, Lx, Ly)  # (N, L) each
    sensing = torch.from_numpy(np.concatenate([a.real, a.imag], -1)[None])
    Tr, Ti = KKTHead(Lx, Ly).double().basis(sensing)
    T = (Tr + 1j * Ti).numpy()[0]  # (N, 3, L)
    for n in range(3):
        Q, _ = np.linalg.qr(T[n].T)
        for d in (d_theta[n], d_beta[n]):
            residual = d - Q @ (Q.conj().T @ d)
            assert np.linalg.norm(residual) < 1e-12 * np.linalg.norm(d)


def test_onnx_matches_torch_for_any_number_of_users(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    from gr_cfisac.train.lhgnn.export import export_onnx
    from gr_cfisac.train.lhgnn.model import build_model

    torch.manual_seed(0)
    m = build_model("lhgnn", N, K, L, 1e4, [16, 16], 16, "kkt", (Lx, Ly)).eval()
    path = tmp_path / "kkt.onnx"
    export_onnx(m, path, N, K, L)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for users in (K, 2):
        comm = (rng.standard_normal((4, N, users, 2 * L)) * 1e-2).astype(np.float32)
        sensing = rng.standard_normal((4, N, 2 * L)).astype(np.float32)
        got = session.run(None, {"comm": comm, "sensing": sensing})[0]
        with torch.no_grad():
            want = m(torch.from_numpy(comm), torch.from_numpy(sensing)).numpy()
        assert got.shape == (4, users + 1, 2 * N * L)
        assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
