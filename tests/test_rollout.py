"""The one stepping loop: unchanged results from the loops it replaced, the protocol at trial and
episode boundaries, and per-trial randomness that makes a resumed evaluation equal an
uninterrupted one."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from amago_bench.evaluate import evaluate, plan_jobs
from amago_bench.policy import ProbeOracle, RandomAgent
from amago_bench.rollout import FixedJobs, RandomJobs, Rollout, make_vector_env
from amago_bench.suite import get_suite

PROBE = get_suite("scale-probe")


class Cycle:
    """Deterministic, history-dependent actions (no RNG): a probe of the stepping semantics."""

    name = "cycle"

    def start(self, spec, seed):
        self.n, self.A, self.k = spec.num_envs, int(spec.action_space.n), seed

    def act(self, step):
        self.k += 1
        return ((np.arange(self.n) + self.k + step.prev_reward.astype(np.int64)) % self.A).astype(np.int64)


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=float).encode()).hexdigest()[:16]


class _FakeReplay:
    def __init__(self):
        self.items = []

    def add(self, traj):
        self.items.append({k: np.asarray(v).tolist() for k, v in traj.items()})


# Digests of the records of evaluate() and of the replay arrays of training collection, computed with
# the two separate stepping loops that the rollout core replaced (commit 2fa0170, TrialRunner.run and
# Collector.collect). The core must reproduce them bit for bit.
GOLDEN = {
    "eval/scale-probe/ProbeOracle": "6528635d97f2a356",
    "eval/scale-probe/Cycle": "5d517453260f918c",
    "eval/popgym-repeat-smoke/Cycle": "c7881c27135fad0d",
    "collect/scale-probe": "2622a9c438bd775f",
    "collect/popgym-repeat-smoke": "03182ed49cddfdcb",
}


@pytest.mark.parametrize("suite,agent", [("scale-probe", ProbeOracle), ("scale-probe", Cycle),
                                         ("popgym-repeat-smoke", Cycle)])
def test_evaluation_records_equal_the_replaced_loop(suite, agent):
    if suite.startswith("popgym"):
        pytest.importorskip("popgym")
    recs = evaluate(agent(), get_suite(suite), split="test", trials_per_task=3, seed=5, num_envs=4)
    assert _digest(recs) == GOLDEN[f"eval/{suite}/{agent.__name__}"]


@pytest.mark.parametrize("suite", ["scale-probe", "popgym-repeat-smoke"])
def test_collected_trajectories_equal_the_replaced_loop(suite):
    if suite.startswith("popgym"):
        pytest.importorskip("popgym")
    pytest.importorskip("torch")
    from amago_bench.agents.amago2.model import shapes_from_spaces
    from amago_bench.agents.amago2.trainer import Collector
    from amago_bench.envs.spaces import space_from_spec

    spec = get_suite(suite)
    shapes = shapes_from_spaces(space_from_spec(spec.observation), space_from_spec(spec.action),
                                spec.trial.max_episode_steps, spec.trial.episodes)
    replay = _FakeReplay()
    c = Collector(spec, Cycle(), replay, shapes, 3, 11, chunk_len=7)
    stats = [c.collect(20), c.collect(33)]
    c.close()
    assert _digest([replay.items, stats]) == GOLDEN[f"collect/{suite}"]


class Recorder:
    """Remembers every Step the agent saw, per env."""

    name = "recorder"

    def __init__(self):
        self.steps = []

    def start(self, spec, seed):
        self.n, self.A = spec.num_envs, int(spec.action_space.n)

    def act(self, step):
        self.steps.append(step)
        return (step.step_in_episode % self.A).astype(np.int64)


def test_boundaries_zero_only_at_trial_starts_and_trial_seed_constant_within_a_trial():
    agent = Recorder()
    envs = make_vector_env(PROBE, "test", 2)
    Rollout(envs, PROBE, agent, 0, FixedJobs(plan_jobs(PROBE, "test", 3, 0))).run(_Null())
    envs.close()
    later_episode_starts = 0
    for prev, step in zip(agent.steps, agent.steps[1:]):
        for i in range(2):
            if not step.active[i]:
                continue
            if step.new_trial[i]:
                assert step.prev_action[i] == 0 and step.prev_reward[i] == 0 and step.episode_index[i] == 0
            elif step.new_episode[i]:  # a later episode: the previous episode's last action and reward
                later_episode_starts += 1
                assert step.prev_action[i] == prev.step_in_episode[i] % 4 and step.episode_index[i] >= 1
                assert step.trial_seed[i] == prev.trial_seed[i]
            else:
                assert step.trial_seed[i] == prev.trial_seed[i]
    assert later_episode_starts > 0


class _Null:
    def on_step(self, *a):
        pass

    def on_episode(self, *a):
        pass

    def on_trial(self, *a):
        pass


def test_trial_seeds_are_pure_functions_of_seed_task_and_trial():
    a = {(j.task, j.trial): j.trial_seed for j in plan_jobs(PROBE, "test", 4, seed=0)}
    b = {(j.task, j.trial): j.trial_seed for j in plan_jobs(PROBE, "test", 6, seed=0, tasks=PROBE.task_names("test")[::-1])}
    assert all(b[k] == v for k, v in a.items())
    assert len(set(a.values())) == len(a)
    assert a != {(j.task, j.trial): j.trial_seed for j in plan_jobs(PROBE, "test", 4, seed=1)}


def _records(agent, **kw):
    df = pd.DataFrame(evaluate(agent, PROBE, "test", trials_per_task=6, seed=2, **kw))
    return df.sort_values(["task", "trial", "episode"]).reset_index(drop=True)


def test_random_agent_resumed_evaluation_equals_uninterrupted():
    full = _records(RandomAgent(), num_envs=3)
    done = {(t, j) for t, j in full[["task", "trial"]].drop_duplicates().itertuples(index=False) if j % 2 == 0}
    rest = _records(RandomAgent(), num_envs=3, skip=done)
    first = full[[(t, j) in done for t, j in zip(full.task, full.trial)]]
    resumed = pd.concat([first, rest]).sort_values(["task", "trial", "episode"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(resumed, full)
    # and the number of envs (which trial runs in which slot, in which order) does not matter
    pd.testing.assert_frame_equal(_records(RandomAgent(), num_envs=5), full)


def test_sampling_amago2_resumed_evaluation_equals_uninterrupted():
    pytest.importorskip("torch")
    from amago_bench.agents.amago2.agent import Amago2Agent
    from amago_bench.agents.amago2.config import AgentConfig, ModelConfig
    from amago_bench.agents.amago2.learner import Learner
    from amago_bench.agents.amago2.model import shapes_from_spaces
    from amago_bench.envs.spaces import space_from_spec

    tiny = ModelConfig(tstep_dim=16, tstep_hidden=16, d_model=16, d_ff=32, layers=1, heads=2, context=16, dropout=0.0,
                       head_hidden=16, bins=16, gammas=(0.9, 0.999), act_gamma=0.999)
    shapes = shapes_from_spaces(space_from_spec(PROBE.observation), space_from_spec(PROBE.action),
                                PROBE.trial.max_episode_steps, PROBE.trial.episodes)
    learner = Learner(AgentConfig(model=tiny), shapes, seed=0)

    def agent():
        return Amago2Agent(learner.model, learner.cfg, suite=PROBE.name, sample=True)

    full = _records(agent(), num_envs=3)
    assert full.groupby("task")["return"].std().max() > 0  # it really samples
    done = {(t, j) for t, j in full[["task", "trial"]].drop_duplicates().itertuples(index=False) if j < 3}
    rest = _records(agent(), num_envs=3, skip=done)
    first = full[[(t, j) in done for t, j in zip(full.task, full.trial)]]
    resumed = pd.concat([first, rest]).sort_values(["task", "trial", "episode"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(resumed, full)


def test_random_jobs_draw_env_seeds_from_the_generator():
    a = RandomJobs(np.random.default_rng(4)).take(3)
    b = RandomJobs(np.random.default_rng(4)).take(3)
    assert a == b and a[0].task is None and len({j.env_seed for j in a}) == 3


class _StreamDigest:
    """A consumer that hashes everything a rollout hands over: every Step the agent saw (all fields,
    dtypes and shapes), the actions, rewards and ends, the slots' jobs, episode records and trials."""

    def __init__(self):
        self.h = hashlib.sha256()

    def _arr(self, a):
        a = np.asarray(a)
        self.h.update(f"{a.dtype.str}{a.shape}".encode())
        self.h.update(np.ascontiguousarray(a).tobytes())

    def _step(self, s):
        for k in sorted(s.obs) if isinstance(s.obs, dict) else [None]:
            self._arr(s.obs if k is None else s.obs[k])
        for name in ("prev_action", "prev_reward", "new_trial", "new_episode", "episode_index", "step_in_episode",
                     "active", "trial_seed"):
            self._arr(getattr(s, name))

    def on_step(self, step, actions, reward, ended, jobs):
        self._step(step)
        for a in (actions, reward, ended):
            self._arr(a)
        self.h.update(repr(jobs).encode())

    def on_episode(self, slot, job, record):
        self.h.update(repr((slot, job, sorted(record.items()))).encode())

    def on_trial(self, slot, job, episodes, last):
        self.h.update(repr((slot, job, [sorted(e.items()) for e in episodes])).encode())
        self._step(last)

    def hexdigest(self):
        return self.h.hexdigest()[:16]


# (suite, backend, tasks, trials per task, envs): what the stream digests below cover. Every family, both
# backends, Dict/Box/uint8 observations, Discrete and Box actions, out-of-range actions (the random agent
# acts in popgym's unified Discrete(26)), MultiDiscrete native actions, parked slots at the end.
STREAMS = {
    "popgym27": ("popgym27", None, ["AutoencodeEasy", "CountRecallEasy", "MineSweeperEasy",
                                    "PositionOnlyCartPoleEasy", "HigherLowerEasy"], 2, 3),
    "babyai": ("babyai", None, ["GoToLocalS7N5", "KeyCorridorS3R2"], 1, 2),
    "babyai-envpool": ("babyai", "envpool", ["GoToLocalS7N5", "KeyCorridorS3R2"], 1, 2),
    "atari10-smoke": ("atari10-smoke", None, ["Pong", "Breakout"], 1, 2),
    "atari10-smoke-envpool": ("atari10-smoke", "envpool", ["Pong"], 1, 1),
    "procgen-smoke": ("procgen-smoke", None, None, 1, 2),
    "ml10": ("ml10", None, ["reach-v3"], 1, 1),
    "point-nav": ("point-nav", None, None, 3, 2),
    "scale-probe": ("scale-probe", None, None, 2, 3),
}
# Digests of the stream of RandomAgent on each, recorded before the evaluation hot path was reworked
# (issue 24): a faster loop must hand every consumer the same values, bit for bit.
GOLDEN_STREAMS = {
    "popgym27": "e7ec897b3ab630bd",
    "babyai": "b3fa24103a4e7ef1",
    "babyai-envpool": "df87ad21e20a9b77",
    "atari10-smoke": "a46c4d226456b0d8",
    "atari10-smoke-envpool": "30380c0f5956e1d2",
    "procgen-smoke": "eef681c4c158e6c6",
    "ml10": "155a0511293a3125",
    "point-nav": "b77277b25ed07cff",
    "scale-probe": "a99c49359cb0b8b6",
}
_NEEDS = {"popgym": "popgym", "babyai": "minigrid", "atari": "ale_py", "procgen": "envpool", "ml10": "metaworld"}


def _stream_digest(name, vector="sync"):
    suite_name, backend, tasks, trials, n = STREAMS[name]
    for prefix, pkg in _NEEDS.items():
        if suite_name.startswith(prefix):
            pytest.importorskip(pkg)
    if backend == "envpool":
        pytest.importorskip("envpool")
    suite = get_suite(suite_name)
    jobs = plan_jobs(suite, "train", trials, 7, tasks)
    envs = make_vector_env(suite, "train", n, vector, backend)
    digest = _StreamDigest()
    try:
        Rollout(envs, suite, RandomAgent(), 7, FixedJobs(jobs)).run(digest)
    finally:
        envs.close()
    return digest.hexdigest()


@pytest.mark.parametrize("name", list(STREAMS))
def test_rollout_stream_is_unchanged(name, request):
    if name == "ml10":
        request.getfixturevalue("metaworld_cache")  # the session's goal cache, not the user's
    assert _stream_digest(name) == GOLDEN_STREAMS[name]


def test_async_stream_equals_the_sync_one():
    assert _stream_digest("popgym27", "async") == GOLDEN_STREAMS["popgym27"]
