"""The SB3 adapter: state reset exactly at trial starts, checkpoints loaded by algorithm, CLI errors."""

from __future__ import annotations

import json
import zipfile

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

from amago_bench.adapters.sb3 import SB3AdapterError, SB3Agent, detect_algorithm, load
from amago_bench.cli import main
from amago_bench.evaluate import evaluate
from amago_bench.policy import load_agent
from amago_bench.store import ResultsStore
from amago_bench.suite import get_suite


class CountingPolicy:
    """A fake recurrent policy: its state is, per env, the number of predicts since its last reset.

    It acts greedily on what it remembers (arm = count mod 4) and logs what it was given.
    """

    observation_space = gym.spaces.Box(0.0, 1.0, (7,), np.float32)
    action_space = gym.spaces.Discrete(4)

    def __init__(self) -> None:
        self.log: list[dict] = []

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        n = len(observation)
        count = np.zeros(n, np.int64) if state is None else state[0].copy()
        count[episode_start] = 0
        self.log.append({"count": count.copy(), "episode_start": episode_start.copy()})
        count += 1
        return count % 4, (count,)


class RecordingAgent(SB3Agent):
    """Logs the protocol masks next to what the policy saw."""

    def act(self, step):
        self.steps = getattr(self, "steps", []) + [step]
        return super().act(step)


def test_state_resets_at_new_trial_and_is_kept_at_new_episode():
    suite = get_suite("scale-probe")
    policy = CountingPolicy()
    agent = RecordingAgent(policy, name="counting")
    evaluate(agent, suite, split="test", trials_per_task=3, seed=0, num_envs=3)
    since_trial = np.zeros(3, np.int64)
    kept_at_episode_start = 0
    for step, seen in zip(agent.steps, policy.log):
        np.testing.assert_array_equal(seen["episode_start"], step.new_trial)  # episode_start is new_trial
        since_trial[step.new_trial] = 0
        active = step.active
        # the state counts steps since the trial started, across inner-episode boundaries
        np.testing.assert_array_equal(seen["count"][active], since_trial[active])
        inner = step.new_episode & ~step.new_trial & active
        assert (seen["count"][inner] > 0).all()
        kept_at_episode_start += int(inner.sum())
        since_trial += 1
    assert kept_at_episode_start == 4 * 3  # every trial of the 12 has one inner-episode start (k=2)


def test_spaces_are_checked_at_start():
    agent = SB3Agent(CountingPolicy(), name="counting")
    spec = get_suite("popgym-repeat-smoke")
    with pytest.raises(SB3AdapterError, match="trained with action space Discrete\\(4\\).*popgym-repeat-smoke"):
        evaluate(agent, spec, split="test", trials_per_task=1, num_envs=1)
    with pytest.raises(SB3AdapterError, match="has no predict"):
        SB3Agent(object())


def test_needs_a_checkpoint_and_rejects_other_files(tmp_path):
    with pytest.raises(SB3AdapterError, match="add --checkpoint"):
        load()
    bad = tmp_path / "bad.zip"
    bad.write_text("not a zip")
    with pytest.raises(SB3AdapterError, match="not a Stable-Baselines3 checkpoint"):
        detect_algorithm(bad)
    other = tmp_path / "dqn.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("data", json.dumps({"policy_class": {"__module__": "stable_baselines3.dqn.policies"}}))
    with pytest.raises(SB3AdapterError, match="cannot tell the algorithm.*known: ppo, recurrent_ppo"):
        detect_algorithm(other)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A PPO and a RecurrentPPO model trained for 128 steps on scale-probe through its Gymnasium id."""
    pytest.importorskip("sb3_contrib")
    import torch
    from sb3_contrib import RecurrentPPO
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("sb3")
    paths = {}
    for algo, cls, policy in (("ppo", PPO, "MlpPolicy"), ("recurrent_ppo", RecurrentPPO, "MlpLstmPolicy")):
        venv = make_vec_env("amago_bench/scale-probe-v0", n_envs=2, seed=0)
        model = cls(policy, venv, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
        model.learn(128)
        paths[algo] = out / f"{algo}.zip"
        model.save(paths[algo])
    return paths


def test_load_picks_the_algorithm_from_the_checkpoint(checkpoints):
    from sb3_contrib import RecurrentPPO
    from stable_baselines3 import PPO

    for algo, cls in (("ppo", PPO), ("recurrent_ppo", RecurrentPPO)):
        assert detect_algorithm(checkpoints[algo]) == algo
        agent = load_agent("amago_bench.adapters.sb3:load", checkpoint=str(checkpoints[algo]))
        assert type(agent.predictor) is cls and agent.name == f"sb3-{algo.replace('_', '-')}"
    with pytest.raises(SB3AdapterError, match="holds a RecurrentPPO policy, not PPO; use --agent amago_bench.adapters.sb3:recurrent_ppo"):
        load(str(checkpoints["recurrent_ppo"]), algorithm="ppo")


def test_recurrent_model_scores_the_same_twice_and_matches_manual_predict(checkpoints):
    """Evaluation through the adapter equals driving model.predict by hand with new_trial resets."""
    suite = get_suite("scale-probe")
    agent = load(str(checkpoints["recurrent_ppo"]))
    a = pd.DataFrame(evaluate(agent, suite, split="test", trials_per_task=2, seed=1, num_envs=2))
    b = pd.DataFrame(evaluate(agent, suite, split="test", trials_per_task=2, seed=1, num_envs=2))
    pd.testing.assert_frame_equal(a, b)
    # one trial by hand: LSTM state reset only at the trial start
    env = gym.make("amago_bench/scale-probe.bandit-x1-v0", split="test")
    obs, _ = env.reset(seed=5)
    state, start, total = None, np.array([True]), 0.0
    actions_by_hand = []
    while True:
        act, state = agent.predictor.predict(obs[None], state=state, episode_start=start, deterministic=True)
        actions_by_hand.append(int(act[0]))
        obs, r, term, trunc, _ = env.step(int(act[0]))
        start = np.array([False])
        if term or trunc:
            break
    agent.start(_spec_of(suite, 1), 0)
    obs, _ = env.reset(seed=5)
    from amago_bench.policy import Step

    actions_adapter, new = [], True
    for t in range(len(actions_by_hand)):
        flags = np.array([new])
        step = Step(obs=obs[None], prev_action=np.zeros(1, np.int64), prev_reward=np.zeros(1, np.float32),
                    new_trial=flags, new_episode=np.array([new or t == 4]), episode_index=np.array([t // 4]),
                    step_in_episode=np.array([t % 4]), active=np.array([True]))
        a_ = int(agent.act(step)[0])
        actions_adapter.append(a_)
        obs, *_ = env.step(a_)
        new = False
    assert actions_adapter == actions_by_hand


def _spec_of(suite, n):
    from amago_bench.envs.spaces import space_from_spec
    from amago_bench.policy import EnvSpec

    return EnvSpec(suite=suite.name, observation_space=space_from_spec(suite.observation),
                   action_space=space_from_spec(suite.action), num_envs=n,
                   episodes_per_trial=suite.trial.episodes, max_episode_steps=suite.trial.max_episode_steps)


def test_cli_evaluates_a_checkpoint_and_errors_name_the_fix(checkpoints, tmp_path, capsys):
    db = str(tmp_path / "r.db")
    base = ["evaluate", "--suite", "scale-probe", "--trials-per-task", "2", "--num-envs", "2", "--no-progress",
            "--db", db]
    assert main([*base, "--agent", "amago_bench.adapters.sb3:load", "--checkpoint",
                 str(checkpoints["recurrent_ppo"])]) == 0
    capsys.readouterr()
    with ResultsStore(db) as store:
        runs = store.runs()
    assert list(runs["agent"]) == ["sb3-recurrent-ppo"] and list(runs["status"]) == ["finished"]
    assert main([*base, "--agent", "amago_bench.adapters.sb3:recurrent_ppo"]) == 2
    assert "add --checkpoint" in capsys.readouterr().err
    pytest.importorskip("popgym")
    assert main(["evaluate", "--suite", "popgym-repeat-smoke", "--trials-per-task", "1", "--num-envs", "1",
                 "--no-progress", "--db", db, "--agent", "amago_bench.adapters.sb3:ppo",
                 "--checkpoint", str(checkpoints["ppo"])]) == 2
    assert "trained with action space Discrete(4)" in capsys.readouterr().err
