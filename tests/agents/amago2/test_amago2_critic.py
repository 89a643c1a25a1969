"""The critic ensemble's fast paths (used by the loss) equal its plain, general ``head``:
``head_shared`` (one replay action for every gamma, custom chunked backward) and ``values``
(no gradients, decoded chunk by chunk), for discrete and continuous actions, every chunking."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import amago_bench.agents.amago2.model as model_mod
from amago_bench.agents.amago2.config import ModelConfig
from amago_bench.agents.amago2.losses import TwoHot
from amago_bench.agents.amago2.model import CriticEnsemble, shapes_from_spaces

CFG = ModelConfig(head_hidden=16, critics=4, gammas=(0.1, 0.9, 0.99))
SHAPES = {
    "discrete": shapes_from_spaces(gym.spaces.Box(-1, 1, (5,)), gym.spaces.Discrete(4), 8, 2),
    "continuous": shapes_from_spaces(gym.spaces.Box(-1, 1, (5,)), gym.spaces.Box(-1, 1, (2,)), 8, 2),
}
B, L, D, K = 3, 11, 12, 3


def _actions(shapes, lead: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    if shapes.discrete:
        return torch.randint(0, shapes.action_dim, lead, generator=g)
    return torch.rand(*lead, shapes.action_dim, generator=g, dtype=torch.float64) * 2 - 1


@pytest.fixture(params=[1, 7, 1 << 20], ids=["chunk-1-row", "chunk-few-rows", "one-chunk"])
def chunk(request, monkeypatch):
    monkeypatch.setattr(model_mod, "_CHUNK_ELEMS", request.param)


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
@pytest.mark.parametrize("outputs", [16, 1])
def test_head_shared_equals_head_with_gradients(kind, outputs, chunk):
    torch.manual_seed(0)
    shapes = SHAPES[kind]
    critics = CriticEnsemble(D, shapes, CFG, outputs).double()
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


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
@pytest.mark.parametrize("subset", [False, True])
def test_values_equal_decoded_head(kind, subset, chunk):
    torch.manual_seed(0)
    shapes = SHAPES[kind]
    critics = CriticEnsemble(D, shapes, CFG, 16).double()
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
