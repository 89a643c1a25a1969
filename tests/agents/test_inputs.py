"""Action scaling between the env's Box bounds and the model's [-1, 1] (amago_bench/agents/inputs.py):
what the agent emits lands inside the env's bounds, and maps back to what the policy drew."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from amago_bench.agents.inputs import actions_from_unit, actions_to_unit  # noqa: E402
from amago_bench.agents.shapes import shapes_from_spaces  # noqa: E402
from amago_bench.envs.spaces import check_actions  # noqa: E402
from amago_bench.policy import EnvSpec, Step  # noqa: E402

OBS = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
BOUNDS = {
    "point-nav": gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
    "asymmetric": gym.spaces.Box(np.array([0.0, -5.0, -0.25], np.float32), np.array([1.0, 5.0, 3.0], np.float32)),
}


@pytest.mark.parametrize("name", list(BOUNDS))
def test_unit_ends_map_to_the_bounds_and_back(name):
    space = BOUNDS[name]
    shapes = shapes_from_spaces(OBS, space, 20, 2)
    ends = np.stack([-np.ones(space.shape), np.zeros(space.shape), np.ones(space.shape)]).astype(np.float32)
    env = actions_from_unit(ends, shapes)
    np.testing.assert_array_equal(env[0], space.low)
    np.testing.assert_array_equal(env[2], space.high)
    np.testing.assert_allclose(env[1], (space.low + space.high) / 2, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(actions_to_unit(env, shapes), ends)


@pytest.mark.parametrize("name", list(BOUNDS))
def test_round_trip_is_exact_to_float32_rounding(name):
    """unit -> env -> unit and env -> unit -> env, over 10,000 draws: within 2 ulps of the value's
    scale, never outside the bounds (so check_actions never has to clip)."""
    space = BOUNDS[name]
    shapes = shapes_from_spaces(OBS, space, 20, 2)
    rng = np.random.default_rng(0)
    unit = rng.uniform(-1, 1, (10_000, *space.shape)).astype(np.float32)
    env = actions_from_unit(unit, shapes)
    assert env.dtype == np.float32 and ((env >= space.low) & (env <= space.high)).all()
    np.testing.assert_allclose(actions_to_unit(env, shapes), unit, rtol=0, atol=4 * np.finfo(np.float32).eps)
    span = space.high - space.low
    back = actions_from_unit(actions_to_unit(env, shapes), shapes)
    assert (np.abs(back - env) <= 2 * np.finfo(np.float32).eps * np.maximum(span, np.abs(env))).all()
    if name == "point-nav":  # identity bounds: env actions are the unit actions up to one rounding
        np.testing.assert_allclose(env, unit, rtol=0, atol=np.finfo(np.float32).eps)


def test_infinite_bounds_pass_through_unchanged():
    space = gym.spaces.Box(np.array([-1.0, -np.inf], np.float32), np.array([1.0, np.inf], np.float32))
    shapes = shapes_from_spaces(OBS, space, 20, 2)
    a = np.array([[0.5, 123.0], [-1.0, -7.5]], np.float32)
    out = actions_from_unit(a, shapes)
    np.testing.assert_array_equal(out[:, 1], a[:, 1])
    np.testing.assert_array_equal(actions_to_unit(out, shapes), a)


def _amago2(shapes, sample, epsilon):
    from amago_bench.agents.amago2.agent import Amago2Agent
    from amago_bench.agents.amago2.config import AgentConfig, ModelConfig
    from amago_bench.agents.amago2.learner import Learner

    tiny = ModelConfig(tstep_dim=16, tstep_hidden=16, d_model=16, d_ff=32, layers=1, heads=2, context=16, dropout=0.0,
                       head_hidden=16, bins=16, gammas=(0.9, 0.999), act_gamma=0.999)
    learner = Learner(AgentConfig(model=tiny), shapes, seed=0)
    # scale the actor's weights up so its means are large: tanh saturates at the bounds for some envs
    with torch.no_grad():
        for p in learner.model.actor.parameters():
            p.mul_(20.0)
    agent = Amago2Agent(learner.model, learner.cfg, suite="point-nav", sample=sample, epsilon=epsilon)
    return agent, lambda: np.tanh(agent.last_params[..., 0].double().numpy())


def _rl2(shapes, sample, epsilon):
    from amago_bench.agents.rl2_ppo.agent import RL2Agent
    from amago_bench.agents.rl2_ppo.config import ModelConfig, RL2Config
    from amago_bench.agents.rl2_ppo.learner import Learner

    cfg = RL2Config(model=ModelConfig(tstep_dim=16, tstep_hidden=16, d_model=16, head_hidden=16, init_log_std=1.0))
    learner = Learner(cfg, shapes, seed=0)
    with torch.no_grad():
        for p in learner.model.parameters():
            p.mul_(5.0)
    agent = RL2Agent(learner.model, cfg, suite="point-nav", sample=sample)
    return agent, lambda: np.clip(agent.last["action"], -1.0, 1.0)


AGENTS = {"amago2": (_amago2, [(False, 0.0), (True, 0.0), (True, 5.0)]), "rl2-ppo-gru": (_rl2, [(False, 0.0), (True, 0.0)])}
CASES = [(agent, name, s, e) for agent, (_, modes) in AGENTS.items() for name in BOUNDS for s, e in modes]


@pytest.mark.parametrize("agent_name,name,sample,epsilon", CASES)
def test_agents_emit_actions_inside_the_bounds_that_scale_back_to_their_policy(agent_name, name, sample, epsilon):
    """Each agent's env actions pass check_actions unclipped, and scale back exactly (to float32
    rounding) to the action in [-1, 1] that its policy produced: tanh(mean) for amago2 acting
    greedily, the clipped Gaussian draw or mean for rl2-ppo. The same scaling feeds the replay
    (amago2's to_batch) and the previous-action input, so learner and actor see one action."""
    space, n = BOUNDS[name], 6
    shapes = shapes_from_spaces(OBS, space, 20, 2)
    torch.manual_seed(0)
    agent, unit_action = AGENTS[agent_name][0](shapes, sample, epsilon)
    agent.start(EnvSpec("point-nav", OBS, space, n, 2, 20), seed=0)
    rng = np.random.default_rng(1)
    prev = np.zeros((n, *space.shape), np.float32)
    saturated = 0
    for t in range(5):
        step = Step(obs=rng.uniform(-2, 2, (n, 2)).astype(np.float32), prev_action=prev,
                    prev_reward=rng.normal(size=n).astype(np.float32), new_trial=np.full(n, t == 0),
                    new_episode=np.full(n, t == 0), episode_index=np.zeros(n, np.int64),
                    step_in_episode=np.full(n, t, np.int64), active=np.ones(n, bool),
                    trial_seed=np.arange(n, dtype=np.int64))
        a = agent.act(step)
        assert a.shape == (n, *space.shape) and a.dtype == np.float32
        assert ((a >= space.low) & (a <= space.high)).all(), a
        np.testing.assert_array_equal(check_actions(a, space, n, "test"), a)  # nothing clipped
        if agent_name == "rl2-ppo-gru" or not sample:
            np.testing.assert_allclose(actions_to_unit(a, shapes), unit_action(), rtol=0, atol=1e-6)
        saturated += int(((a == space.low) | (a == space.high)).sum())
        prev = a
    if agent_name == "amago2" or sample:  # saturated tanh / clipped draws: the bounds themselves were emitted
        assert saturated > 0
