"""The point-nav probe: continuous actions, a goal hidden from the agent, measured reference ends."""

from __future__ import annotations

import math
import time
import tomllib
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import amago_bench  # noqa: F401  (registers the gym ids)
from amago_bench.envs.probe import make_task_env, measure_point_nav, point_nav_goal
from amago_bench.envs.trial import TrialEnv
from amago_bench.suite import SuiteError, get_suite, parse_suite


@pytest.fixture(scope="module")
def nav():
    return get_suite("point-nav")


def play(env: TrialEnv, actions: np.ndarray, variant: int):
    """One whole trial with a fixed action sequence: (observations, rewards, end-of-episode infos)."""
    obs, _ = env.reset(seed=0, options={"variant": variant})
    observations, rewards, ends = [obs], [], []
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        observations.append(obs)
        rewards.append(r)
        if info.get("episode_done"):
            ends.append(info)
        if term or trunc:
            break
    return np.array(observations), np.array(rewards), ends


def test_spaces_are_the_suite_layout(nav):
    env = TrialEnv(nav, "train")
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    assert env.observation_space == gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == np.float32 and env.observation_space.contains(obs)
    assert nav.trial.episodes == 2 and nav.trial.scored_episodes == (1,) and nav.trial.max_episode_steps == 20


def test_check_env_passes_with_warnings_as_errors():
    env = gym.make("amago_bench/point-nav-v0")
    assert env.unwrapped.spec is not None  # so Gymnasium's determinism checks run
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.close()


def test_goal_is_a_pure_function_of_the_trial_seed_and_fixed_within_a_trial(nav):
    env = TrialEnv(nav, "test")
    actions = np.random.default_rng(0).uniform(-1, 1, (40, 2)).astype(np.float32)
    first = play(env, actions, 1_000_123)
    again = play(env, actions, 1_000_123)
    for a, b in zip(first[:2], again[:2]):
        np.testing.assert_array_equal(a, b)
    # the same 20 actions in both episodes of a trial earn the same rewards: one goal per trial
    _, rewards, ends = play(env, np.concatenate([actions[:20], actions[:20]]), 1_000_123)
    np.testing.assert_array_equal(rewards[:20], rewards[20:])
    assert [e["episode_scored"] for e in ends] == [False, True]
    # goals lie on the upper unit semicircle and differ between seeds
    goals = np.array([point_nav_goal(s, 1.0, 180.0) for s in range(200)])
    np.testing.assert_allclose(np.hypot(goals[:, 0], goals[:, 1]), 1.0)
    assert (goals[:, 1] >= 0).all() and goals[:, 0].min() < -0.9 and goals[:, 0].max() > 0.9
    assert len(np.unique(goals.round(6), axis=0)) == 200


def test_goal_is_hidden_from_the_observation(nav):
    """Two trials with different goals, same actions: identical observations, different rewards."""
    env = TrialEnv(nav, "test")
    g1, g2 = point_nav_goal(1_000_001, 1.0, 180.0), point_nav_goal(1_000_002, 1.0, 180.0)
    assert np.linalg.norm(g1 - g2) > 0.1
    actions = np.random.default_rng(1).uniform(-1, 1, (40, 2)).astype(np.float32)
    obs1, rew1, _ = play(env, actions, 1_000_001)
    obs2, rew2, _ = play(env, actions, 1_000_002)
    np.testing.assert_array_equal(obs1, obs2)
    assert not np.allclose(rew1, rew2)
    np.testing.assert_array_equal(obs1[0], [0.0, 0.0])  # every trial starts at the origin


def test_steps_are_scaled_and_capped_at_max_step(nav):
    env = make_task_env(nav, nav.task("semicircle"), "official")
    ctx = lambda r, v: None  # noqa: E731
    rng = np.random.default_rng(0)
    env.reset_episode(5, 0, None, rng)
    pos, r, *_ = env.step(np.array([0.5, 0.0], np.float32), ctx, rng)
    np.testing.assert_allclose(pos, [0.05, 0.0], atol=1e-7)
    assert r == pytest.approx(-np.linalg.norm(np.array([0.05, 0.0]) - env.goal))
    pos, *_ = env.step(np.array([1.0, 1.0], np.float32), ctx, rng)  # the diagonal is no faster
    np.testing.assert_allclose(pos, [0.05 + 0.1 / math.sqrt(2), 0.1 / math.sqrt(2)], atol=1e-7)


def test_reference_ends_are_the_measured_ones_and_the_oracle_beats_random(nav):
    """The suite file's ends are measured (10,000 trials); 500 trials reproduce them within 4
    standard errors, and the goal-knowing oracle is exactly -4.5 on every trial."""
    ref = nav.task("semicircle").reference
    m = measure_point_nav(nav, "semicircle", "test", trials=500, seed=0)
    assert abs(m["random"]["mean"] - ref.low) <= 4 * m["random"]["sem"], (m, ref)
    assert m["oracle"]["min"] == pytest.approx(-4.5, abs=1e-5) and m["oracle"]["max"] == pytest.approx(-4.5, abs=1e-5)
    assert ref.high == -4.5
    assert m["oracle"]["min"] > m["random"]["max"]  # the oracle beats random on every trial
    assert ref.normalise(m["oracle"]["mean"]) == pytest.approx(1.0, abs=1e-6)
    assert measure_point_nav(nav, "semicircle", "test", trials=50, seed=3) == measure_point_nav(nav, "semicircle", "test", trials=50, seed=3)


def test_thousands_of_env_steps_per_second(nav):
    env = TrialEnv(nav, "train")
    actions = np.random.default_rng(0).uniform(-1, 1, (4000, 2)).astype(np.float32)
    env.reset(seed=0)
    start = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    rate = len(actions) / (time.perf_counter() - start)
    assert rate >= 2000, f"{rate:.0f} env steps/s"


def test_bad_kwargs_and_spaces_name_the_fix(nav):
    text = Path(nav.path).read_text()
    bad = parse_suite(tomllib.loads(text.replace("max_step = 0.1", "max_stride = 0.1")), "point-nav.toml")
    with pytest.raises(SuiteError, match=r"unknown point-nav kwargs 'max_stride'; valid: radius, arc_degrees, max_step"):
        TrialEnv(bad, "train").reset(seed=0)
    bad = parse_suite(tomllib.loads(text.replace('low = -1.0, high = 1.0', 'low = -2.0, high = 2.0')), "point-nav.toml")
    with pytest.raises(SuiteError, match=r"point-nav needs action = \{ kind = \"box\", shape = \[2\], low = -1.0, high = 1.0 \}"):
        TrialEnv(bad, "train").reset(seed=0)
    bad = parse_suite(tomllib.loads(text.replace('env_id = "point-nav"', 'env_id = "point-navv"')), "point-nav.toml")
    with pytest.raises(SuiteError, match=r"env_id 'point-navv'; valid: bandit, point-nav"):
        TrialEnv(bad, "train").reset(seed=0)
