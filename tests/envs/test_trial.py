"""The generic k-episode trial env: trial boundaries, scoring flags, seeds, pinning."""

from __future__ import annotations

import numpy as np
import pytest

from amago_bench.envs.trial import TrialEnv
from amago_bench.suite import SuiteError, get_suite


@pytest.fixture(scope="module")
def probe():
    return get_suite("scale-probe")


def run_trial(env, actions_fn, seed=0, options=None):
    obs, info = env.reset(seed=seed, options=options)
    infos, rewards = [info], []
    while True:
        obs, r, term, trunc, info = env.step(actions_fn(obs))
        infos.append(info)
        rewards.append(r)
        if term or trunc:
            return infos, rewards


def test_a_trial_is_k_episodes_of_one_task(probe):
    env = TrialEnv(probe, "train")
    infos, rewards = run_trial(env, lambda o: 0, seed=3)
    ends = [i for i in infos if i.get("episode_done")]
    assert [e["episode_index"] for e in ends] == [0, 1]
    assert len({i["task"] for i in infos if "task" in i}) == 1
    ordinary = [i for i in infos[1:] if not i.get("episode_done")]
    assert ordinary and all(i == {} for i in ordinary)  # the hot path carries no info
    assert [e["episode_scored"] for e in ends] == [False, True]
    assert sum(e["episode_length"] for e in ends) == len(rewards) == 8


def test_same_variant_within_trial_and_reproducible_across_resets(probe):
    env = TrialEnv(probe, "train", task="bandit-x1")
    # pulling arm 0 always: both episodes pay the same, since the good arm is fixed per trial
    for seed in range(5):
        infos, _ = run_trial(env, lambda o: 0, seed=seed)
        rets = [i["episode_return"] for i in infos if i.get("episode_done")]
        assert rets[0] == rets[1]
        again, _ = run_trial(env, lambda o: 0, seed=seed)
        assert [i.get("episode_return") for i in again] == [i.get("episode_return") for i in infos]


def test_pinned_task_and_options(probe):
    env = TrialEnv(probe, "test", task="bandit-x100")
    _, info = env.reset(seed=1)
    assert info["task"] == "bandit-x100"
    _, info = env.reset(seed=1, options={"task": "bandit-x1", "variant": 1_000_005})
    assert info["task"] == "bandit-x1"
    with pytest.raises(SuiteError, match="outside the test seed range"):
        env.reset(options={"variant": 3})
    with pytest.raises(SuiteError, match="unknown task"):
        TrialEnv(probe, "train", task="nope")
    with pytest.raises(SuiteError, match="unknown split"):
        TrialEnv(probe, "validation")
    with pytest.raises(SuiteError, match="does not cover suite"):
        TrialEnv(probe, "train", backend="envpool")


def test_variants_come_from_the_split_seed_range(probe):
    env = TrialEnv(probe, "test")
    lo, hi = probe.seed_range("test")
    for s in range(20):
        env.reset(seed=s)
        assert lo <= env._trial_seed < hi


def test_idle_env_steps_nothing(probe):
    env = TrialEnv(probe, "train")
    obs, info = env.reset(options={"idle": True})
    assert info["idle"] and not obs.any()
    obs, r, term, trunc, info = env.step(1)
    assert r == 0.0 and not term and not trunc and info["idle"]


def test_task_sampling_covers_all_tasks(probe):
    env = TrialEnv(probe, "train")
    seen = set()
    for s in range(60):
        _, info = env.reset(seed=s)
        seen.add(info["task"])
    assert seen == set(probe.task_names("train"))
