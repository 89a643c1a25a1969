"""The agent protocol: loading, the random agent, the probe oracle's memory masks."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from amago_bench.policy import AgentLoadError, EnvSpec, ProbeOracle, RandomAgent, Step, load_agent


def spec(n=3, space=spaces.Discrete(4)):
    return EnvSpec("t", spaces.Box(0, 1, (7,)), space, n, 2, 4)


def step(n, prev_action, prev_reward, new_trial, new_episode):
    z = np.zeros(n, np.int64)
    return Step(np.zeros((n, 7)), np.asarray(prev_action), np.asarray(prev_reward, np.float32),
                np.asarray(new_trial), np.asarray(new_episode), z, z, np.ones(n, bool))


def test_load_agent_by_name_and_path():
    assert isinstance(load_agent("random"), RandomAgent)
    assert isinstance(load_agent("amago_bench.policy:ProbeOracle"), ProbeOracle)
    with pytest.raises(AgentLoadError, match="unknown agent 'rand'.*random"):
        load_agent("rand")
    with pytest.raises(AgentLoadError, match="no attribute 'Nope'"):
        load_agent("amago_bench.policy:Nope")
    with pytest.raises(AgentLoadError, match="cannot import module"):
        load_agent("not_a_module_xyz:Agent")


def test_random_agent_is_seeded_and_in_range():
    a, b = RandomAgent(), RandomAgent()
    a.start(spec(5), 7)
    b.start(spec(5), 7)
    s = step(5, [0] * 5, [0] * 5, [True] * 5, [True] * 5)
    xa = np.stack([a.act(s) for _ in range(50)])
    xb = np.stack([b.act(s) for _ in range(50)])
    assert (xa == xb).all() and xa.min() >= 0 and xa.max() < 4
    box = spaces.Box(-1, 1, (3,))
    a.start(spec(2, box), 0)
    x = a.act(s)
    assert x.shape == (2, 3) and np.all(np.abs(x) <= 1)


def test_oracle_remembers_within_trial_and_forgets_between():
    o = ProbeOracle()
    o.start(spec(1), 0)
    assert o.act(step(1, [0], [0], [True], [True]))[0] == 0
    assert o.act(step(1, [0], [0], [False], [False]))[0] == 1
    assert o.act(step(1, [1], [0], [False], [False]))[0] == 2
    assert o.act(step(1, [2], [1], [False], [False]))[0] == 2  # arm 2 paid: remembered
    assert o.act(step(1, [2], [1], [False], [True]))[0] == 2   # new episode, same trial: kept
    assert o.act(step(1, [2], [1], [True], [True]))[0] == 0    # new trial: forgotten
