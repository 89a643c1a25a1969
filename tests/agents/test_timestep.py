"""The shared timestep encoder's input normaliser (amago_bench/agents/timestep.py): what it
learns from, what it does to the inputs, and that it is off by default."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import torch

from amago_bench.agents.amago2.config import AgentConfig, ModelConfig
from amago_bench.agents.amago2.learner import Learner
from amago_bench.agents.amago2.losses import Batch
from amago_bench.agents.amago2.model import shapes_from_spaces
from amago_bench.agents.timestep import InputNorm, TimestepEncoder

TINY = ModelConfig(tstep_dim=16, tstep_hidden=16, d_model=16, d_ff=32, layers=1, heads=2, context=12, dropout=0.0,
                   head_hidden=16, bins=8, gammas=(0.9, 0.99), act_gamma=0.99)
SHAPES = shapes_from_spaces(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-1, 1, (2,)), 8, 2)


def test_input_norm_standardises_and_only_centres_a_constant_feature():
    g = torch.Generator().manual_seed(0)
    norm = InputNorm(3)
    for _ in range(50):  # early on the rate is 1/t: the statistics are those of all rows seen
        x = torch.randn(400, 3, generator=g) * torch.tensor([0.05, 20.0, 0.0]) + torch.tensor([0.3, -7.0, 2.0])
        norm.observe(x)
    assert ((norm.mu - torch.tensor([0.3, -7.0, 2.0])).abs() < torch.tensor([0.005, 0.5, 1e-5])).all()  # ~3.5 std errors
    out = norm(torch.randn(5000, 3, generator=g) * torch.tensor([0.05, 20.0, 0.0]) + torch.tensor([0.3, -7.0, 2.0]))
    assert torch.allclose(out[:, :2].mean(0), torch.zeros(2), atol=0.1)
    assert torch.allclose(out[:, :2].std(0), torch.ones(2), atol=0.1)  # a 0.05-wide feature now spans ~1
    assert torch.allclose(out[:, 2], torch.zeros(5000), atol=1e-3)  # constant: centred, not blown up


def test_input_norm_is_off_by_default_and_learns_from_real_tokens_only():
    assert TimestepEncoder(SHAPES, TINY).norm is None
    cfg = AgentConfig(model=dataclasses.replace(TINY, input_norm=True))
    g = torch.Generator().manual_seed(0)
    B, L = 3, 10
    valid = torch.zeros(B, L, dtype=torch.bool)
    valid[0, :9], valid[1, :4] = True, True  # sequence 1 has 5 real tokens, sequence 2 none
    act = torch.rand(B, L, 2, generator=g) * 2 - 1
    batch = Batch(obs=torch.randn(B, L, 3, generator=g), prev_action=act.roll(1, 1), prev_reward=torch.randn(B, L, generator=g),
                  time=torch.rand(B, L, 3, generator=g), action=act, reward=torch.randn(B, L, generator=g),
                  done=torch.zeros(B, L), valid=valid)
    junk = dataclasses.replace(batch, obs=batch.obs.clone(), prev_reward=batch.prev_reward.clone())
    junk.obs[1, 5:], junk.obs[2], junk.prev_reward[1, 5:] = 1e4, -1e4, 1e6  # padding: never real
    stats = []
    for b in (batch, junk):
        learner = Learner(cfg, SHAPES, seed=0)
        learner.update(b)
        stats.append({k: v.clone() for k, v in learner.model.tstep.norm.state_dict().items()})
    assert all(torch.equal(stats[0][k], stats[1][k]) for k in stats[0])
    real = torch.cat([batch.obs[0, :10], batch.obs[1, :5]])
    rate = 1e-4 / (1 - (1 - 1e-4) ** 1)  # the first update's rate is 1: the batch's own moments
    assert torch.allclose(stats[0]["mu"][:3], rate * real.mean(0), atol=1e-6)
    again = Learner(cfg, SHAPES, seed=1)
    again.load_state_dict(learner.state_dict())  # a checkpoint carries the statistics
    assert torch.equal(again.model.tstep.norm.mu, learner.model.tstep.norm.mu)
