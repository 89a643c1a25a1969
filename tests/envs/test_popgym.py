"""POPGym-27 in the unified layout: padding, invalid actions, one-shot scoring, env checker."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

pytest.importorskip("popgym")

from amago_bench.envs.popgym import TASK_DIMS, ReplacementDraws, flat_dim, flatten_obs, obs_writer  # noqa: E402
from amago_bench.envs.trial import TrialEnv  # noqa: E402
from amago_bench.suite import get_suite  # noqa: E402

SUITE = get_suite("popgym27")


@pytest.mark.parametrize("task", SUITE.task_names())
def test_every_task_passes_the_env_checker(task):
    env = TrialEnv(SUITE, "train", task=task)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (30,)
    assert env.action_space == spaces.Discrete(26)
    native = env._task_env(SUITE.task(task))
    assert flat_dim(native.native_obs_space) <= TASK_DIMS


def test_flatten_is_one_hot_for_discrete_parts():
    sp = spaces.Tuple((spaces.Discrete(2), spaces.MultiDiscrete([3, 4])))
    out = flatten_obs(sp, (1, np.array([2, 0])))
    assert out.tolist() == [0, 1, 0, 0, 1, 1, 0, 0, 0]


@pytest.mark.parametrize("space", [
    spaces.Discrete(5, start=2), spaces.MultiDiscrete([3, 4, 2]), spaces.Box(-1.0, 1.0, (2, 2)),
    spaces.Tuple((spaces.Discrete(2), spaces.Discrete(4, start=1))),
    spaces.Tuple((spaces.Discrete(2), spaces.MultiDiscrete([3, 4]), spaces.Box(0.0, 1.0, (3,)))),
])
def test_the_step_encoder_writes_what_flatten_obs_returns(space):
    space.seed(0)
    write = obs_writer(space, 3)
    for _ in range(100):
        obs = space.sample()
        out, want = np.zeros(30, np.float32), np.zeros(30, np.float32)
        write(out, obs)
        want[3 : 3 + flat_dim(space)] = flatten_obs(space, obs)
        assert np.array_equal(out, want)


@pytest.mark.parametrize("n", [2, 4, 17, 26])
def test_replacements_drawn_ahead_equal_one_draw_each_and_settle_the_generator(n):
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    draws = ReplacementDraws(n)
    for used in (1, 64, 65, 150):  # inside a batch, at its end, just past it, several batches
        assert [draws.draw(a) for _ in range(used)] == [int(b.integers(n)) for _ in range(used)]
        draws.settle()
        assert a.bit_generator.state == b.bit_generator.state  # the next drawer sees the same stream
        assert a.integers(1000) == b.integers(1000)
    fresh = np.random.default_rng(9)  # a reseeded trial: a new generator, nothing carried over
    assert draws.draw(fresh) == int(np.random.default_rng(9).integers(n))


def test_unseeded_resets_draw_the_tasks_one_by_one_draws_would(monkeypatch):
    """A reset without a seed continues the trial's generator: drawing replacements ahead must not
    change which task and variant it draws next (batch 1 is one draw per replacement)."""

    def stream(batch):
        monkeypatch.setattr(ReplacementDraws, "BATCH", batch)
        env, rng, out = TrialEnv(SUITE, "train"), np.random.default_rng(0), []
        obs, info = env.reset(seed=4)
        out.append((info["task"], obs.tolist()))
        for _ in range(600):
            obs, r, term, trunc, info = env.step(int(rng.integers(26)))  # mostly out of range
            out.append((obs.tolist(), r))
            if term or trunc:
                obs, info = env.reset()
                out.append((info["task"], env._trial_seed, obs.tolist()))
        return out

    assert stream(64) == stream(1)


def test_observation_layout_and_invalid_action_flag():
    env = TrialEnv(SUITE, "train", task="RepeatPreviousEasy")  # 4 native actions
    obs, _ = env.reset(seed=0)
    assert obs[TASK_DIMS] == 0.0 and obs[TASK_DIMS + 1] == 0.0 and obs[TASK_DIMS + 2] == 1.0
    obs, r, *_ , info = env.step(25)  # outside the task's 4 actions: replaced, flagged
    assert not info["action_valid"] and obs[TASK_DIMS + 2] == 0.0
    assert obs[TASK_DIMS] == pytest.approx(1 / 1000)
    obs, r, *_, info = env.step(2)
    assert info.get("action_valid", True) and obs[TASK_DIMS + 2] == 1.0


def test_invalid_actions_are_replaced_by_uniform_valid_ones():
    env = TrialEnv(SUITE, "train", task="MultiarmedBanditEasy")
    env.reset(seed=0)
    native = env._task_env(SUITE.task("MultiarmedBanditEasy"))
    seen = []
    orig = native.env.step
    native.env.step = lambda a: (seen.append(int(a)), orig(a))[1]
    for _ in range(150):
        *_, term, trunc, _ = env.step(20)
        if term or trunc:
            env.reset(seed=1)
    assert set(seen) == set(range(10))  # every one of the 10 valid arms, and nothing else


def test_first_episode_rewards_count_as_zero_but_are_visible():
    env = TrialEnv(SUITE, "train", task="RepeatPreviousEasy")
    env.reset(seed=0)
    given_first, shown_first, given_second = [], [], []
    episode = 0
    while True:
        obs, r, term, trunc, info = env.step(0)
        if episode == 0:
            given_first.append(r)
            shown_first.append(obs[TASK_DIMS + 3])
        else:
            given_second.append(r)
        if info.get("episode_done"):
            if episode == 0:
                assert not info["episode_scored"]
                assert info["episode_return"] == pytest.approx(sum(shown_first))
            episode += 1
        if term or trunc:
            break
    assert all(r == 0.0 for r in given_first)
    assert any(s != 0.0 for s in shown_first[:-1])
    assert any(r != 0.0 for r in given_second)
