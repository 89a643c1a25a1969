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


def _same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and all(
        x == y or (x != x and y != y) for x, y in zip(a.ravel().tolist(), b.ravel().tolist()))


@pytest.mark.parametrize("suite_name", ["scale-probe", "popgym27"])
def test_trial_vector_env_returns_what_sync_vector_env_returns(suite_name):
    """Same actions and slot resets into TrialVectorEnv and Gymnasium's SyncVectorEnv: the same
    observations, rewards, ends and infos (with their masks and dtypes), step after step."""
    import gymnasium as gym

    from amago_bench.envs.trial import TrialVectorEnv

    if suite_name == "popgym27":
        pytest.importorskip("popgym")
    suite, n = get_suite(suite_name), 3
    fns = [lambda: TrialEnv(suite, "train") for _ in range(n)]
    ours, ref = TrialVectorEnv(fns), gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.DISABLED)
    rng, seeds = np.random.default_rng(0), iter(range(1000))
    for v in (ours, ref):
        v.reset(seed=[0, 1, 2])
    compared = 0
    for _ in range(300):
        actions = rng.integers(ours.single_action_space.n, size=n)
        a, b = ours.step(actions), ref.step(actions)
        assert all(_same(x, y) for x, y in zip(a, b))
        compared += len(a[4])
        for i in np.flatnonzero(a[2] | a[3]):  # a trial ended: reset that slot only, as the rollout does
            mask, s = np.zeros(n, bool), next(seeds)
            mask[i] = True
            seed = [s if k == i else None for k in range(n)]
            ra = ours.reset(seed=seed, options={"reset_mask": mask})
            rb = ref.reset(seed=seed, options={"reset_mask": mask.copy()})
            assert all(_same(x, y) for x, y in zip(ra, rb))
    assert compared > 0  # some steps carried infos
    ours.close()
    ref.close()


def test_trial_vector_env_refuses_to_step_an_ended_env_that_was_not_reset(probe):
    from amago_bench.envs.trial import TrialVectorEnv

    v = TrialVectorEnv([lambda: TrialEnv(probe, "train") for _ in range(2)])
    v.reset(seed=0)
    while True:
        _, _, term, trunc, _ = v.step(np.zeros(2, np.int64))
        if (term | trunc).any():
            break
    with pytest.raises(RuntimeError, match="were not reset"):
        v.step(np.zeros(2, np.int64))
    mask = term | trunc
    v.reset(seed=[5, 6], options={"reset_mask": mask})
    v.step(np.zeros(2, np.int64))  # reset: steps again


def test_trial_vector_env_merges_infos_as_gymnasium_does(probe):
    from amago_bench.envs.trial import TrialVectorEnv

    v = TrialVectorEnv([lambda: TrialEnv(probe, "train") for _ in range(4)])
    end = dict(task="a", episode_index=1, episode_done=True, episode_return=1.5, episode_length=3,
               episode_success=float("nan"), episode_scored=True, episode_truncated=False)
    cases = [
        [{}, {"action_valid": False}, {}, {"action_valid": False}],
        [end, {}, {**end, "task": "b", "episode_return": 2, "next_episode_index": 1}, {"task": "", "idle": True}],
        [{"x": np.int64(3)}, {"x": 2}, {"y": {"z": 1}}, {"w": np.ones(2)}],
    ]
    for infos in cases:
        want: dict = {}
        for i, info in enumerate(infos):
            want = v._add_info(want, info, i)
        got = v._merge_infos(infos)
        assert list(got) == list(want) and _same(got, want)
