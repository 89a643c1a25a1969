"""The critic heads' fast paths (used by the loss) equal their plain, general ``head``:
``head_shared`` (one replay action for every gamma, custom chunked backward / grouped by action)
and ``values`` (no gradients, decoded chunk by chunk), for both heads (action-input: discrete and
continuous actions; per-action: discrete), every chunking; and the per-action head equals a plain
reference computation written out here."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import amago_bench.agents.amago2.model as model_mod
from amago_bench.agents.amago2.config import ConfigError, ModelConfig
from amago_bench.agents.amago2.losses import TwoHot
from amago_bench.agents.amago2.model import (LEAKY_SLOPE, ActionFirstCritics, AmagoModel, CriticEnsemble,
                                            PerActionCritics, shapes_from_spaces, symlog)

CFG = ModelConfig(head_hidden=16, critics=4, gammas=(0.1, 0.9, 0.99))
SHAPES = {
    "discrete": shapes_from_spaces(gym.spaces.Box(-1, 1, (5,)), gym.spaces.Discrete(4), 8, 2),
    "continuous": shapes_from_spaces(gym.spaces.Box(-1, 1, (5,)), gym.spaces.Box(-1, 1, (2,)), 8, 2),
}
B, L, D, K = 3, 11, 12, 3
# (critic class, action kind): every head and action space it supports
HEADS = pytest.mark.parametrize("cls,kind", [(CriticEnsemble, "discrete"), (CriticEnsemble, "continuous"),
                                             (PerActionCritics, "discrete"), (ActionFirstCritics, "continuous"),
                                             (ActionFirstCritics, "discrete")],
                                ids=["action-input-discrete", "action-input-continuous", "per-action",
                                     "action-first-continuous", "action-first-discrete"])


def _actions(shapes, lead: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    if shapes.discrete:
        return torch.randint(0, shapes.action_dim, lead, generator=g)
    return torch.rand(*lead, shapes.action_dim, generator=g, dtype=torch.float64) * 2 - 1


@pytest.fixture(params=[1, 7, 1 << 20], ids=["chunk-1-row", "chunk-few-rows", "one-chunk"])
def chunk(request, monkeypatch):
    monkeypatch.setattr(model_mod, "_CHUNK_ELEMS", request.param)


@HEADS
@pytest.mark.parametrize("outputs", [16, 1])
def test_head_shared_equals_head_with_gradients(cls, kind, outputs, chunk):
    torch.manual_seed(0)
    shapes = SHAPES[kind]
    critics = cls(D, shapes, CFG, outputs).double()
    g = torch.Generator().manual_seed(1)
    G = len(CFG.gammas)
    h = torch.randn(B, L, D, dtype=torch.float64, generator=g, requires_grad=True)
    a = _actions(shapes, (B, L), g)
    a_every_gamma = a[:, :, None, None].expand(B, L, 1, G, *a.shape[2:])
    w = torch.randn(CFG.critics, B, L, G, outputs, dtype=torch.float64, generator=g)
    inputs = [h, *critics.parameters()]

    fast = critics.head_shared(critics.trunk(h), a)
    plain = critics.head(critics.trunk(h), a_every_gamma)[:, :, :, 0]
    assert fast.shape == (CFG.critics, B, L, G, outputs)
    assert torch.allclose(fast, plain, rtol=1e-12, atol=1e-12)
    g_fast = torch.autograd.grad((fast * w).sum(), inputs)
    g_plain = torch.autograd.grad((plain * w).sum(), inputs)
    for x, y in zip(g_fast, g_plain):
        assert torch.allclose(x, y, rtol=1e-10, atol=1e-12)


@HEADS
@pytest.mark.parametrize("subset", [False, True])
def test_values_equal_decoded_head(cls, kind, subset, chunk):
    torch.manual_seed(0)
    shapes = SHAPES[kind]
    critics = cls(D, shapes, CFG, 16).double()
    twohot = TwoHot(16, 1e3).double()
    g = torch.Generator().manual_seed(2)
    G = len(CFG.gammas)
    h = torch.randn(B, L, D, dtype=torch.float64, generator=g)
    a = _actions(shapes, (B, L, K, G), g)
    idx = torch.tensor([3, 1]) if subset else None
    with torch.no_grad():
        z = critics.trunk(h, idx)
        fast = critics.values(z, a, twohot.decode, idx)
        plain = twohot.decode(critics.head(z, a, idx))
    assert fast.shape == (2 if subset else CFG.critics, B, L, K, G)
    assert torch.allclose(fast.double(), plain.double(), rtol=1e-6, atol=1e-6)  # values() returns float32


@pytest.mark.parametrize("k", [1, 3])
def test_per_action_values_of_few_samples_among_many_actions_equal_decoded_head(k, chunk):
    """K < A / 4 (the TD target's one sample, the baseline's three, of 13 actions): the pairs are
    grouped by action instead of computing every action; the values must not change."""
    torch.manual_seed(5)
    shapes = shapes_from_spaces(gym.spaces.Box(-1, 1, (5,)), gym.spaces.Discrete(13), 8, 2)
    critics = PerActionCritics(D, shapes, CFG, 16).double()
    twohot = TwoHot(16, 1e3).double()
    g = torch.Generator().manual_seed(6)
    h = torch.randn(B, L, D, dtype=torch.float64, generator=g)
    a = _actions(shapes, (B, L, k, len(CFG.gammas)), g)
    a[0, 0] = 12  # one token where every sample and gamma asks for the same action
    for idx in (None, torch.tensor([2, 0])):
        with torch.no_grad():
            z = critics.trunk(h, idx)
            fast = critics.values(z, a, twohot.decode, idx)
            plain = twohot.decode(critics.head(z, a, idx))
        assert fast.shape == (CFG.critics if idx is None else 2, B, L, k, len(CFG.gammas))
        assert torch.allclose(fast.double(), plain.double(), rtol=1e-6, atol=1e-6)


def _plain_per_action(critics: PerActionCritics, h: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """The per-action critic written out one (critic, token, gamma) at a time:
    out block of action a applied to leaky(W2 leaky(W1 h + b1) + b2 + gamma_row * symlog(1/(1-gamma)))."""
    C, A = CFG.critics, critics.A
    out = torch.empty(C, B, L, len(CFG.gammas), critics.out.weight.shape[-1] // A, dtype=torch.float64)
    for c in range(C):
        for b in range(B):
            for t in range(L):
                x = torch.nn.functional.leaky_relu(h[b, t] @ critics.l1.weight[c] + critics.l1.bias[c, 0], LEAKY_SLOPE)
                x = x @ critics.l2.weight[c] + critics.l2.bias[c, 0]
                for g, gamma in enumerate(CFG.gammas):
                    horizon = critics.horizon[g]  # symlog(1 / (1 - gamma)), a float32 buffer
                    assert float(horizon) == pytest.approx(float(symlog(torch.tensor(1.0 / (1.0 - gamma)))))
                    u = torch.nn.functional.leaky_relu(x + critics.gamma_in[c, 0] * horizon, LEAKY_SLOPE)
                    w = critics.out.weight[c].reshape(-1, A, out.shape[-1])[:, int(a[b, t])]
                    bias = critics.out.bias[c, 0].reshape(A, -1)[int(a[b, t])]
                    out[c, b, t, g] = u @ w + bias
    return out


@pytest.mark.parametrize("outputs", [16, 1])
def test_per_action_values_of_the_replayed_action_equal_a_plain_computation(outputs, chunk):
    torch.manual_seed(3)
    critics = PerActionCritics(D, SHAPES["discrete"], CFG, outputs).double()
    g = torch.Generator().manual_seed(4)
    h = torch.randn(B, L, D, dtype=torch.float64, generator=g)
    a = _actions(SHAPES["discrete"], (B, L), g)
    plain = _plain_per_action(critics, h, a)
    with torch.no_grad():
        fast = critics.head_shared(critics.trunk(h), a)
    assert torch.allclose(fast, plain, rtol=1e-12, atol=1e-12)
    # the loss's decoded values of the replayed action (two-hot) are those of the same outputs
    if outputs > 1:
        twohot = TwoHot(outputs, 1e3).double()
        target = twohot.encode(torch.randn(B, L, len(CFG.gammas), dtype=torch.float64, generator=g) * 10)
        ce, values = critics.twohot_shared(critics.trunk(h), a, target, twohot.decode)
        assert torch.allclose(values.double(), twohot.decode(plain).double(), rtol=1e-6, atol=1e-6)
        plain_ce = -(target[None] * plain.log_softmax(-1)).sum(-1)
        assert torch.allclose(ce, plain_ce, rtol=1e-10, atol=1e-12)
    # and the value of an action depends on that action's block only: other actions' outputs move
    # when their own block changes, this one's does not
    with torch.no_grad():
        critics.out.weight.reshape(CFG.critics, CFG.head_hidden, critics.A, -1)[:, :, (int(a[0, 0]) + 1) % critics.A] += 1.0
        again = critics.head_shared(critics.trunk(h), a)
    same = a == a[0, 0]
    assert torch.equal(again[:, same], fast[:, same])


def test_critic_head_is_chosen_by_config_and_action_space():
    for head, kind, expect in [("auto", "discrete", PerActionCritics), ("auto", "continuous", CriticEnsemble),
                               ("action-input", "discrete", CriticEnsemble), ("per-action", "discrete", PerActionCritics),
                               ("action-first", "continuous", ActionFirstCritics)]:
        cfg = ModelConfig(tstep_dim=8, tstep_hidden=8, d_model=8, d_ff=16, layers=1, heads=2, context=4,
                          head_hidden=8, bins=4, critic_head=head)
        assert type(AmagoModel(SHAPES[kind], cfg, 4).critics) is expect, (head, kind)
    cfg = ModelConfig(tstep_dim=8, tstep_hidden=8, d_model=8, d_ff=16, layers=1, heads=2, context=4, head_hidden=8,
                      bins=4, critic_head="per-action")
    with pytest.raises(ConfigError, match="action-input"):
        AmagoModel(SHAPES["continuous"], cfg, 4)


@HEADS
def test_twohot_shared_cross_entropy_and_its_gradients_equal_the_plain_head(cls, kind, chunk):
    """The Ind. critic's loss path (two-hot cross-entropy at the replay action, custom backward;
    grouped by action for the per-action head) gives the plain head's loss and gradients."""
    torch.manual_seed(7)
    shapes = SHAPES[kind] if cls is CriticEnsemble else shapes_from_spaces(gym.spaces.Box(-1, 1, (5,)), gym.spaces.Discrete(13), 8, 2)
    critics = cls(D, shapes, CFG, 16).double()
    twohot = TwoHot(16, 1e3).double()
    g = torch.Generator().manual_seed(8)
    G = len(CFG.gammas)
    h = torch.randn(B, L, D, dtype=torch.float64, generator=g, requires_grad=True)
    a = _actions(shapes, (B, L), g)
    target = twohot.encode(torch.randn(B, L, G, dtype=torch.float64, generator=g) * 10)
    w = torch.randn(CFG.critics, B, L, G, dtype=torch.float64, generator=g)
    inputs = [h, *critics.parameters()]
    ce, values = critics.twohot_shared(critics.trunk(h), a, target, twohot.decode)
    q = critics.head(critics.trunk(h), a[:, :, None, None].expand(B, L, 1, G, *a.shape[2:]))[:, :, :, 0]
    plain = -(target[None] * q.log_softmax(-1)).sum(-1)
    assert torch.allclose(ce, plain, rtol=1e-10, atol=1e-12)
    assert torch.allclose(values.double(), twohot.decode(q).double(), rtol=1e-6, atol=1e-6)
    for x, y in zip(torch.autograd.grad((ce * w).sum(), inputs), torch.autograd.grad((plain * w).sum(), inputs)):
        assert torch.allclose(x, y, rtol=1e-10, atol=1e-12)


def test_action_first_head_equals_the_reference_critic_written_out():
    """ActionFirstCritics is the reference AMAGO's continuous critic: h, the action and the horizon
    feature enter the first layer together, then two leaky-ReLU layers and the output."""
    torch.manual_seed(0)
    shapes = SHAPES["continuous"]
    critics = ActionFirstCritics(D, shapes, CFG, 5).double()
    g = torch.Generator().manual_seed(1)
    h = torch.randn(B, L, D, generator=g, dtype=torch.float64)
    a = _actions(shapes, (B, L, K, len(CFG.gammas)), g)
    got = critics(h, a)  # (C, B, L, K, G, O)
    act = torch.nn.functional.leaky_relu
    assert torch.allclose(critics.horizon.float(), symlog(1 / (1 - torch.tensor(CFG.gammas))))  # symlog(1 / (1 - gamma))
    for c in range(CFG.critics):
        for gi in range(len(CFG.gammas)):
            x = torch.cat([h[:, :, None].expand(B, L, K, D), a[:, :, :, gi], critics.horizon[gi].expand(B, L, K, 1)], -1)
            w1 = torch.cat([critics.l1.weight[c], critics.act_in[c], critics.gamma_in[c]], 0)  # (D + A + 1, H)
            u = act(x @ w1 + critics.l1.bias[c, 0], LEAKY_SLOPE)
            u = act(u @ critics.l2.weight[c] + critics.l2.bias[c, 0], LEAKY_SLOPE)
            q = u @ critics.out.weight[c] + critics.out.bias[c, 0]
            assert torch.allclose(got[c, :, :, :, gi], q, atol=1e-10)
