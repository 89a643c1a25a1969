"""The checkpoint file format every agent shares (amago_bench/agents/checkpoint.py): one format per
agent, atomic writes, checked reads, and the checks a checkpoint must pass to resume or act."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from amago_bench.agents.amago2 import learner as amago2_learner
from amago_bench.agents.amago2.config import AgentConfig, ModelConfig
from amago_bench.agents.checkpoint import (CheckpointError, check_env_spec, check_same_config, check_suite_and_shapes,
                                           rng_state, set_rng_state)
from amago_bench.agents.rl2_ppo import learner as rl2_learner
from amago_bench.agents.rl2_ppo.config import ModelConfig as RL2ModelConfig
from amago_bench.agents.rl2_ppo.config import RL2Config
from amago_bench.agents.shapes import shapes_from_spaces
from amago_bench.policy import EnvSpec

SHAPES = shapes_from_spaces(gym.spaces.Box(0, 1, (7,)), gym.spaces.Discrete(4), 16, 2)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _learners():
    a2 = amago2_learner.Learner(AgentConfig(model=ModelConfig(d_model=16, d_ff=32, layers=1, heads=2, tstep_dim=16,
                                                              tstep_hidden=16, head_hidden=16, bins=8, context=8)), SHAPES)
    rl2 = rl2_learner.Learner(RL2Config(model=RL2ModelConfig(tstep_dim=16, tstep_hidden=16, d_model=16, head_hidden=16)), SHAPES)
    return [(amago2_learner, a2), (rl2_learner, rl2)]


def test_each_agent_round_trips_its_own_format_and_refuses_the_other(tmp_path):
    (mod_a, learner_a), (mod_b, learner_b) = _learners()
    for mod, learner in [(mod_a, learner_a), (mod_b, learner_b)]:
        path = tmp_path / f"{mod.__name__}.pt"
        mod.save_checkpoint(path, learner, "scale-probe", "hash", {"counters": {"epoch": 3}})
        assert not list(tmp_path.glob("*.tmp*"))  # written then renamed
        data = mod.read_checkpoint(path)
        assert list(data) == ["format", "version", "suite", "suite_hash", "config", "shapes", "learner", "extra"]
        assert data["format"] == mod.CHECKPOINT_FORMAT and data["version"] == mod.CHECKPOINT_VERSION == 1
        back = mod.learner_from_checkpoint(data)
        for k, v in learner.model.state_dict().items():
            assert torch.equal(back.model.state_dict()[k], v)
    with pytest.raises(CheckpointError, match="not an RL\\^2-PPO checkpoint.*amago2-checkpoint"):
        mod_b.read_checkpoint(tmp_path / f"{mod_a.__name__}.pt")
    with pytest.raises(CheckpointError, match="not an amago2 checkpoint.*rl2-ppo-checkpoint"):
        mod_a.read_checkpoint(tmp_path / f"{mod_b.__name__}.pt")
    for mod in (mod_a, mod_b):
        whole = (tmp_path / f"{mod.__name__}.pt").read_bytes()
        (tmp_path / "cut.pt").write_bytes(whole[: len(whole) // 2])
        with pytest.raises(CheckpointError, match="truncated or corrupt"):
            mod.read_checkpoint(tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="--agent rl2-ppo-gru"):
        mod_b.read_checkpoint(tmp_path / "none.pt")


def test_resume_checks_name_what_differs():
    data = {"suite": "scale-probe", "shapes": SHAPES.to_dict()}
    check_suite_and_shapes(data, "scale-probe", SHAPES)
    with pytest.raises(CheckpointError, match="trained on suite 'scale-probe', not 'other'"):
        check_suite_and_shapes(data, "other", SHAPES)
    other = shapes_from_spaces(gym.spaces.Box(0, 1, (3,)), gym.spaces.Discrete(4), 16, 2)
    with pytest.raises(CheckpointError, match="model shape"):
        check_suite_and_shapes(data, "scale-probe", other)
    old = {"model": {"d": 1, "e": 2}, "loss": {"x": 0}, "train": {"epochs": 1}}
    check_same_config(old, {**old, "train": {"epochs": 9}}, ("model", "loss"))  # run length may change
    with pytest.raises(CheckpointError, match="differs from the current one in model.d, model.e"):
        check_same_config(old, {**old, "model": {"d": 3, "e": 4}}, ("model", "loss"))


def test_env_spec_check_and_rng_state():
    spec = EnvSpec(suite="scale-probe", observation_space=gym.spaces.Box(0, 1, (7,)), action_space=gym.spaces.Discrete(4),
                   max_episode_steps=16, episodes_per_trial=2, num_envs=2)
    check_env_spec(spec, "scale-probe", SHAPES, "amago2")
    check_env_spec(spec, None, SHAPES, "amago2")
    with pytest.raises(CheckpointError, match="this dep-dep agent was trained on suite 'x'"):
        check_env_spec(spec, "x", SHAPES, "dep-dep")
    rng = np.random.default_rng(0)
    state = rng_state(rng)
    first = rng.random()
    set_rng_state(rng, state)
    assert rng.random() == first
