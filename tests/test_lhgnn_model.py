"""LHGNN of paper 003 and its baselines (gr_cfisac.train.lhgnn.model), with the paper's output
and the KKT output layer: output layout, the per-BS power of eq 50, permutation equivariance
over users, any K for the GNNs."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gr_cfisac.coisac import CoisacConfig, CoisacScenario, per_bs_power  # noqa: E402
from gr_cfisac.precoding.lhgnn import node_features  # noqa: E402
from gr_cfisac.train.lhgnn.model import build_model, per_bs_normalize  # noqa: E402
from gr_cfisac.train.lhgnn.objective import to_complex  # noqa: E402

SCN = CoisacConfig()
ARCHS = ("lhgnn", "homo_gnn", "naive_cnn")
HEADS = ("free", "kkt")


def features(K=5, B=6, seed=0):
    batch = CoisacScenario(CoisacConfig(K=K)).draw(B, rng=seed)
    comm, sensing = node_features(batch.F_hat, batch.sensing.aT_t)
    return torch.from_numpy(comm), torch.from_numpy(sensing)


def model(arch, K=5, head="free"):
    torch.manual_seed(0)
    return build_model(arch, SCN.N, K, SCN.L, SCN.power, [16, 16], 16, head,
                       (SCN.Lx, SCN.Ly)).eval()  # fmt: skip


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("arch", ARCHS)
def test_layout_and_per_bs_power(arch, head):
    comm, sensing = features()
    with torch.no_grad():
        out = model(arch, head=head)(comm, sensing)
    assert out.shape == (6, SCN.K + 1, 2 * SCN.N * SCN.L)
    W = to_complex(out).numpy()
    assert W.shape == (6, SCN.N * SCN.L, SCN.K + 1)
    assert np.all(per_bs_power(W, SCN.N) <= SCN.power * (1 + 1e-5))


def test_eq50_scales_an_over_budget_bs_to_exactly_its_budget_and_leaves_others():
    o = torch.zeros(1, 3, 6, 32, dtype=torch.float64)
    o[0, 0, 0, 0] = 3.0  # BS 0 at 9x its budget
    o[0, 1, 2, 5] = 0.5  # BS 1 at a quarter
    n = per_bs_normalize(o)
    power = (n**2).sum(dim=(-1, -2))[0]
    assert torch.allclose(power, torch.tensor([1.0, 0.25, 0.0], dtype=torch.float64))


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("arch", ("lhgnn", "homo_gnn"))
def test_permuting_users_permutes_the_beams(arch, head):
    comm, sensing = features()
    perm = torch.tensor([3, 0, 4, 1, 2])
    m = model(arch, head=head)
    with torch.no_grad():
        out = m(comm, sensing)
        out_p = m(comm[:, :, perm], sensing)
    cols = torch.cat([torch.zeros(1, dtype=torch.long), perm + 1])
    assert torch.allclose(out_p, out[:, cols], rtol=1e-4, atol=1e-3 * out.abs().max().item())
    assert not torch.allclose(out[:, 1], out[:, 2])  # users do get different beams


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("arch", ("lhgnn", "homo_gnn"))
def test_gnns_take_fewer_users(arch, head):
    comm, sensing = features(K=2)
    with torch.no_grad():
        out = model(arch, head=head)(comm, sensing)
    assert out.shape == (6, 3, 2 * SCN.N * SCN.L) and torch.isfinite(out).all()


def test_unknown_arch_is_named():
    with pytest.raises(ValueError, match="model.arch must be one of"):
        build_model("mlp", 3, 5, 16, 1.0, [8], 8)
    with pytest.raises(ValueError, match=r"head must be one of \('free', 'kkt'\)"):
        build_model("lhgnn", 3, 5, 16, 1.0, [8], 8, "zf")
