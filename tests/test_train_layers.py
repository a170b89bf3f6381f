"""Each named layer of the training sidecar alone: shapes, equivariance/invariance, eq 37."""

import math

import pytest

torch = pytest.importorskip("torch")

from gr_cfisac.train.layers import (  # noqa: E402
    ISAB,
    MAB,
    PMA,
    SAB,
    InputScaling,
    MultiHead,
    PowerLambda,
    RowFF,
    SetLayerNorm,
    TokenEmbedding,
)

D, H, FF = 16, 4, 24


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _perm(x, p):
    return x[:, p]


def test_multihead_matches_an_explicit_per_head_computation():
    mh = MultiHead(D, H).eval()
    q, kv = torch.randn(2, 3, D), torch.randn(2, 5, D)
    got = mh(q, kv)
    Q, Kk, V = mh.w_q(q), mh.w_k(kv), mh.w_v(kv)
    dh = D // H
    heads = []
    for i in range(H):
        sl = slice(i * dh, (i + 1) * dh)
        a = torch.softmax(Q[..., sl] @ Kk[..., sl].transpose(1, 2) / math.sqrt(dh), dim=-1)
        heads.append(a @ V[..., sl])
    want = mh.w_o(torch.cat(heads, dim=-1))
    assert got.shape == (2, 3, D)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_multihead_rejects_indivisible_width():
    with pytest.raises(ValueError, match="multiple of heads"):
        MultiHead(10, 4)


@pytest.mark.parametrize(
    "layer",
    [lambda: SAB(D, H, FF), lambda: ISAB(D, H, FF, 3), lambda: RowFF(D, FF, 7)],
    ids=["SAB", "ISAB", "rFF"],
)
def test_set_layers_are_permutation_equivariant(layer):
    m = layer().eval()
    x = torch.randn(3, 5, D)
    p = torch.tensor([3, 0, 4, 1, 2])
    torch.testing.assert_close(m(_perm(x, p)), _perm(m(x), p), rtol=1e-5, atol=1e-5)


def test_mab_is_equivariant_in_queries_and_invariant_in_keys():
    m = MAB(D, H, FF).eval()
    x, y = torch.randn(2, 4, D), torch.randn(2, 6, D)
    px, py = torch.tensor([2, 0, 3, 1]), torch.tensor([5, 1, 0, 2, 4, 3])
    torch.testing.assert_close(m(_perm(x, px), y), _perm(m(x, y), px), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(m(x, _perm(y, py)), m(x, y), rtol=1e-5, atol=1e-5)


def test_mab_broadcasts_a_batchless_query():
    m = MAB(D, H, FF).eval()
    seeds, y = torch.randn(1, 2, D), torch.randn(3, 5, D)
    torch.testing.assert_close(m(seeds, y), m(seeds.expand(3, -1, -1), y))


def test_pma_pools_any_order_to_q_outputs():
    m = PMA(D, H, FF, seeds=3).eval()
    x = torch.randn(2, 5, D)
    out = m(x)
    assert out.shape == (2, 3, D)
    torch.testing.assert_close(
        m(_perm(x, torch.tensor([4, 3, 2, 1, 0]))), out, rtol=1e-5, atol=1e-5
    )


def test_isab_output_depends_on_every_token():
    m = ISAB(D, H, FF, 2).eval()
    x = torch.randn(1, 4, D)
    y = x.clone()
    y[0, 3] += 1.0
    assert not torch.allclose(m(x)[0, 0], m(y)[0, 0])


def test_input_scaling_and_embedding_shapes():
    x = torch.randn(2, 4, 10) * 1e-5
    assert torch.allclose(InputScaling(1e5)(x), x * 1e5)
    emb = TokenEmbedding(10, D, FF, scale=1e5)
    assert emb(x).shape == (2, 4, D)
    with pytest.raises(ValueError, match="norm"):
        TokenEmbedding(10, D, FF, 1.0, norm="batch")


def test_scaled_inputs_escape_layernorm_epsilon():
    """Raw values ~1e-5 are below LayerNorm's eps: without the scaling the output collapses."""
    x = torch.randn(1, 4, 10) * 1e-5
    norm = torch.nn.LayerNorm(10, elementwise_affine=False)
    assert norm(x).std() < 0.1
    assert norm(InputScaling(1e5)(x)).std() > 0.9


def test_set_layernorm_keeps_relative_token_strength():
    x = torch.randn(1, 3, 8)
    x[0, 0] *= 10.0
    y = SetLayerNorm(8)(x)
    assert y[0, 0].norm() > 3 * y[0, 1].norm()
    torch.testing.assert_close(y.mean(), torch.tensor(0.0), atol=1e-5, rtol=0)
    p = torch.tensor([2, 0, 1])
    torch.testing.assert_close(SetLayerNorm(8)(_perm(x, p)), _perm(y, p))


@pytest.mark.parametrize("scale", [1e-6, 1e-3, 1.0, 1e3, 1e8])
def test_power_lambda_meets_eq_37_for_any_input(scale):
    power = 7.5e8
    layer = PowerLambda(power)
    z = torch.randn(5, 3, 8) * scale
    w = layer(z)
    norms2 = (w.double() ** 2).sum(dim=(1, 2))
    assert torch.all(norms2 <= power * (1 + 1e-5))
    raw = (z.double() ** 2).sum(dim=(1, 2))
    inside = raw <= 1.0  # raw norm below 1: scaled by sqrt(power) only, power below the budget
    torch.testing.assert_close(norms2[inside], power * raw[inside], rtol=1e-4, atol=0)
    torch.testing.assert_close(
        norms2[~inside], torch.full_like(norms2[~inside], power), rtol=1e-4, atol=0
    )


def test_span_head_rows_lie_in_the_span_of_the_channels_and_follow_the_users():
    from gr_cfisac.train.layers import SpanHead

    head = SpanHead(D, FF, 5, kind="span").eval()
    with torch.no_grad():
        head.outer.weight.zero_()
        head.outer.bias.zero_()  # no free part: rows are pure channel combinations
    tokens, users = torch.randn(2, 3, D), torch.randn(2, 2, D)
    channels = torch.randn(2, 2, 10)
    rows = head(tokens, users, channels)
    w = torch.complex(rows[..., :5], rows[..., 5:])  # (B, R, N)
    f = torch.complex(channels[..., :5], channels[..., 5:])  # (B, K, N)
    coeff = torch.linalg.lstsq(f.transpose(1, 2), w.transpose(1, 2)).solution
    residual = f.transpose(1, 2) @ coeff - w.transpose(1, 2)
    assert residual.abs().max() < 1e-4 * w.abs().max()
    p = torch.tensor([1, 0])
    torch.testing.assert_close(
        head(tokens, users[:, p], channels[:, p]), rows, rtol=1e-5, atol=1e-6
    )


def test_free_head_is_the_papers_rff():
    from gr_cfisac.train.layers import SpanHead

    head = SpanHead(D, FF, 5, kind="free")
    x = torch.randn(2, 3, D)
    torch.testing.assert_close(head(x, None, None), head.outer(torch.relu(head.inner(x))))
    with pytest.raises(ValueError, match="head"):
        SpanHead(D, FF, 5, kind="other")


def test_gain_embedding_sees_what_layernorm_removes():
    from gr_cfisac.train.layers import GainEmbedding

    x = torch.randn(1, 2, 10)
    x[0, 1] = x[0, 0] * 100.0  # same direction, 40 dB stronger
    norm = torch.nn.LayerNorm(10)
    torch.testing.assert_close(norm(x)[0, 0], norm(x)[0, 1], rtol=1e-4, atol=1e-4)
    g = GainEmbedding(D)(x)
    assert not torch.allclose(g[0, 0], g[0, 1])
