"""The acting agent (memory protocol), checkpoints and configs of AMAGO-2."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from amago_bench.agents.amago2.agent import Amago2Agent, from_checkpoint
from amago_bench.agents import AgentConfigError
from amago_bench.agents.amago2.config import AgentConfig, ConfigError, ModelConfig, load_config
from amago_bench.agents.amago2.learner import (CheckpointError, Learner, check_compatible, learner_from_checkpoint,
                                                read_checkpoint, save_checkpoint)
from amago_bench.agents.amago2.model import shapes_from_spaces
from amago_bench.errors import UserError
from amago_bench.policy import EnvSpec, Step, load_agent

TINY = ModelConfig(tstep_dim=16, tstep_hidden=16, d_model=16, d_ff=32, layers=1, heads=2, context=16, dropout=0.0,
                   head_hidden=16, bins=16, gammas=(0.9, 0.999), act_gamma=0.999)
OBS, ACT = gym.spaces.Box(0, 1, (7,)), gym.spaces.Discrete(4)
SHAPES = shapes_from_spaces(OBS, ACT, 4, 2)


def _spec(n=2, suite="scale-probe"):
    return EnvSpec(suite=suite, observation_space=OBS, action_space=ACT, num_envs=n, episodes_per_trial=2, max_episode_steps=4)


def _step(obs, new_trial, new_episode, prev_action=(0, 0), prev_reward=(0.0, 0.0), t=(0, 0), ep=(0, 0)):
    return Step(obs=np.asarray(obs, np.float32), prev_action=np.asarray(prev_action, np.int64),
                prev_reward=np.asarray(prev_reward, np.float32), new_trial=np.asarray(new_trial),
                new_episode=np.asarray(new_episode), episode_index=np.asarray(ep, np.int64),
                step_in_episode=np.asarray(t, np.int64), active=np.ones(2, bool))


@pytest.fixture()
def agent():
    learner = Learner(AgentConfig(model=TINY), SHAPES, seed=0)
    a = Amago2Agent(learner.model, learner.cfg, suite="scale-probe", sample=False)
    a.start(_spec(), seed=0)
    return a


def test_memory_cleared_between_trials_and_kept_within_one(agent):
    rng = np.random.default_rng(0)
    obs = lambda: rng.random((1, 7)).repeat(2, 0)  # same observation for both envs
    # env 1 lives through a few steps of an earlier trial; env 0 is fresh
    for _ in range(3):
        agent.act(_step(rng.random((2, 7)), [True, False], [True, False], prev_action=(0, 2), prev_reward=(0.0, 5.0)))
    # now env 0 restarts and env 1 starts a new trial: both must behave identically from here on
    o = obs()
    agent.act(_step(o, [True, True], [True, True]))
    assert torch.allclose(agent.last_params[0], agent.last_params[1], atol=1e-6)
    o = obs()
    agent.act(_step(o, [False, False], [False, False], prev_action=(1, 1), prev_reward=(1.0, 1.0), t=(1, 1)))
    assert torch.allclose(agent.last_params[0], agent.last_params[1], atol=1e-6)
    # a new episode inside the trial keeps memory: the result differs from a fresh env's
    o = obs()
    agent.act(_step(o, [False, True], [True, True], prev_action=(3, 3), prev_reward=(0.0, 0.0), ep=(1, 1)))
    assert not torch.allclose(agent.last_params[0], agent.last_params[1], atol=1e-4)


def test_acting_under_mixed_precision_matches_fp32(agent):
    """The CUDA acting path (bf16 autocast, float32 cache), run on the CPU over two trials: valid
    actions, and policy logits within bf16 rounding of the float32 agent's at every step."""
    learner = Learner(AgentConfig(model=TINY), SHAPES, seed=0)
    amp = Amago2Agent(learner.model, learner.cfg, suite="scale-probe", sample=False)
    amp.amp = True
    amp.start(_spec(), seed=0)
    rng = np.random.default_rng(1)
    for t in range(20):  # past the 16-token context: the sliding window re-encodes under autocast too
        s = _step(rng.random((2, 7)), [t in (0, 12)] * 2, [t in (0, 6, 12)] * 2, prev_action=(t % 4, 1),
                  prev_reward=(0.5, -1.0), t=(t % 6, t % 6), ep=(t // 6 % 2, t // 6 % 2))
        a = amp.act(s)
        agent.act(s)
        assert a.shape == (2,) and ((0 <= a) & (a < 4)).all(), t
        assert torch.allclose(amp.last_params, agent.last_params, atol=0.05, rtol=0.05), t


def test_agent_checks_suite_and_spaces(agent):
    with pytest.raises(UserError, match="trained on suite 'scale-probe'"):
        agent.start(_spec(suite="popgym27"), 0)
    other = EnvSpec(suite="scale-probe", observation_space=gym.spaces.Box(0, 1, (9,)), action_space=ACT, num_envs=2,
                    episodes_per_trial=2, max_episode_steps=4)
    with pytest.raises(UserError, match="do not match"):
        agent.start(other, 0)


def test_checkpoint_round_trip(tmp_path, agent):
    learner = Learner(AgentConfig(model=TINY), SHAPES, seed=3)
    path = tmp_path / "ck.pt"
    save_checkpoint(path, learner, "scale-probe", "h", {"counters": {"epoch": 7}})
    assert not list(tmp_path.glob("*.tmp*"))  # written then renamed
    data = read_checkpoint(path)
    assert data["extra"]["counters"]["epoch"] == 7
    back = learner_from_checkpoint(data)
    for (n, p), (_, q) in zip(learner.model.state_dict().items(), back.model.state_dict().items()):
        assert torch.equal(p, q), n
    assert back.cfg == learner.cfg and back.shapes == learner.shapes
    # the loaded agent acts exactly like the original
    a1 = Amago2Agent(learner.model, learner.cfg, "scale-probe", sample=False)
    a2 = load_agent("amago2", checkpoint=str(path))
    for a in (a1, a2):
        a.start(_spec(), 0)
        a.act(_step(np.full((2, 7), 0.5), [True, True], [True, True]))
    assert torch.allclose(a1.last_params, a2.last_params)


def test_bad_checkpoints(tmp_path):
    learner = Learner(AgentConfig(model=TINY), SHAPES, seed=0)
    path = tmp_path / "ck.pt"
    save_checkpoint(path, learner, "scale-probe", "h", {})
    raw = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError):
        read_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        from_checkpoint(str(tmp_path / "missing.pt"))
    with pytest.raises(CheckpointError, match="needs a trained checkpoint"):
        from_checkpoint()
    data = read_checkpoint(path)
    with pytest.raises(CheckpointError, match="trained on suite 'scale-probe'"):
        check_compatible(data, "popgym27", None, SHAPES)
    with pytest.raises(CheckpointError, match="model shape"):
        check_compatible(data, "scale-probe", None, shapes_from_spaces(gym.spaces.Box(0, 1, (30,)), gym.spaces.Discrete(26), 4, 2))
    bigger = dataclasses.replace(learner.cfg, model=dataclasses.replace(TINY, d_model=32))
    with pytest.raises(CheckpointError, match="model.d_model"):
        check_compatible(data, "scale-probe", None, SHAPES, bigger)


def test_config_files_and_errors(tmp_path):
    for name in ("amago2", "dep-dep", "ind-actor-dep-critic", "dep-actor-ind-critic"):
        for budget in ("smoke", "small", "paper"):
            cfg = load_config(name, "popgym27", "popgym", budget)
            assert cfg.name == name
    assert load_config("dep-dep", "popgym27", "popgym").loss.critic == "dep"
    assert load_config("ind-actor-dep-critic").loss == dataclasses.replace(load_config("amago2").loss, critic="dep")
    paper = load_config("amago2", "popgym27", "popgym", "paper")
    assert (paper.model.context, paper.model.bins, paper.loss.reward_multiplier) == (600, 64, 200.0)
    mem = load_config("amago2", "procgen-memhard16", "procgen", "paper")
    assert (mem.model.d_model, mem.model.layers, mem.optim.batch_size) == (512, 6, 16)
    with pytest.raises(AgentConfigError, match="unknown agent config 'nope'; known: .*amago2"):
        load_config("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nd_modle = 3\n')
    with pytest.raises(ConfigError, match="unknown key.*'d_modle'.*valid: .*d_model"):
        load_config(str(bad))
    bad.write_text('[loss]\ncritic = "medium"\n')
    with pytest.raises(ConfigError, match="critic.*'ind', 'dep'"):
        load_config(str(bad))
    bad.write_text('[budgets.huge.model]\nlayers = 3\n')
    with pytest.raises(ConfigError, match="unknown budget"):
        load_config(str(bad))
    with pytest.raises(ConfigError, match="unknown budget"):
        load_config("amago2", budget="tiny")


def test_busy_cores_sees_a_cpu_bound_process_at_once():
    import multiprocessing as mp

    from amago_bench.agents.device import busy_cores

    import os

    idle = busy_cores(0.3)
    if idle > (os.cpu_count() or 1) - 1.2:
        pytest.skip(f"the machine is already busy ({idle:.1f} cores): one more process cannot show")
    p = mp.get_context("spawn").Process(target=_spin, daemon=True)
    p.start()
    try:
        import time

        time.sleep(1.0)  # let it start
        busy = busy_cores(0.5)
    finally:
        p.terminate()
        p.join()
    assert busy >= idle + 0.5  # one spinning process is about one more busy core, seen immediately


def _spin() -> None:
    while True:
        pass


def test_set_threads_respects_argument_then_omp_then_default(monkeypatch):
    import os

    from amago_bench.agents.amago2.learner import set_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert set_threads(None) == 1 and torch.get_num_threads() == 1
        assert set_threads(2) == 2 and torch.get_num_threads() == 2  # an explicit value wins
        monkeypatch.delenv("OMP_NUM_THREADS")
        from amago_bench.agents import device

        monkeypatch.setattr(os, "cpu_count", lambda: 4)
        monkeypatch.setattr(device, "busy_cores", lambda: 0.2)
        assert set_threads(None) == 2  # an idle machine: two threads
        monkeypatch.setattr(device, "busy_cores", lambda: 3.1)
        assert set_threads(None) == 1  # three of four cores busy: one thread
        monkeypatch.setattr(device, "busy_cores", lambda: 9.0)
        assert set_threads(None) == 1  # never fewer than one
    finally:
        torch.set_num_threads(before)
