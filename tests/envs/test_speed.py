"""Env-speed measurement (`bench envs`): one action source for every mode, ratios as medians of
per-round ratios. No timings are asserted (they depend on the machine and its load)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from amago_bench.envs.speed import ActionSource, SourceAgent, SuiteSpeed, plain_loop
from amago_bench.policy import EnvSpec
from amago_bench.suite import get_suite


def test_the_raw_loop_and_the_trivial_agent_draw_the_same_actions():
    space = gym.spaces.Discrete(7)
    raw = ActionSource(space, np.random.default_rng(5))
    agent = SourceAgent()
    agent.start(EnvSpec("x", gym.spaces.Box(0, 1, (1,)), space, 3, 1, 10), 5)
    for _ in range(4):
        a, b = raw(3), agent.act(None)
        assert a.dtype == np.int64 and a.shape == (3,) and np.array_equal(a, b)
    box = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)
    x = ActionSource(box, np.random.default_rng(0))(4)
    assert x.shape == (4, 2) and x.dtype == np.float32 and box.contains(x[0])


def test_ratios_are_medians_of_the_ratios_within_rounds():
    s = SuiteSpeed("s", ["t"], "official", 2, steps={"raw": [100, 100, 100], "evaluate": [50, 90, 10]},
                   seconds={"raw": [1.0, 2.0, 1.0], "evaluate": [1.0, 1.0, 1.0]})
    assert s.round_ratios("evaluate", "raw") == [0.5, 1.8, 0.1]
    assert s.ratio("evaluate", "raw") == 0.5
    assert s.sps("raw") == 75.0 and math.isnan(s.sps("harness")) and math.isnan(s.ratio("harness", "raw"))
    assert "ep/off raw" not in SuiteSpeed("p", [], "envpool", 2, steps={"raw": [1], "envpool_raw": [1]},
                                          seconds={"raw": [1.0], "envpool_raw": [1.0]}).to_json()["ratios"]


def test_the_plain_loop_counts_env_steps_and_resets_ended_envs():
    from amago_bench.envs.trial import TrialEnv

    class Counted(TrialEnv):
        resets = 0

        def reset(self, **kw):
            Counted.resets += 1
            return super().reset(**kw)

    probe = get_suite("scale-probe")
    envs = [Counted(probe, "train") for _ in range(3)]
    steps, wall = plain_loop(envs, 0.05, 0)
    assert steps > 0 and steps % 3 == 0 and wall >= 0.05
    # every trial of the probe is at most 2 x 16 steps: each env was reset after each trial it finished
    assert Counted.resets >= 3 + (steps // 3) // 32 * 3


def test_the_harness_and_evaluate_modes_play_the_same_trials():
    """Their ratio is the evaluation loop's cost only if both step the same trials with the same
    actions: the plain loop's envs and the rollout's agent see the same observations."""
    from amago_bench.envs.speed import TrialJobs
    from amago_bench.envs.trial import TrialEnv
    from amago_bench.rollout import Rollout, make_vector_env

    probe, n, steps = get_suite("scale-probe"), 3, 200  # trials of <= 32 steps: many end and restart
    task = probe.tasks_for("train")[0]

    def start(env, job):
        return env.reset(seed=job.env_seed, options={"task": job.task, "variant": job.variant})[0]

    envs, jobs = [TrialEnv(probe, "train", task=task.name) for _ in range(n)], TrialJobs(probe, task, 4)
    current = [start(e, j) for e, j in zip(envs, jobs.take(n))]  # what plain_loop does, recorded
    draw, plain = ActionSource(envs[0].action_space, np.random.default_rng(4)), []
    for _ in range(steps):
        plain.append(np.stack(current))
        for i, (e, a) in enumerate(zip(envs, draw(n).tolist())):
            current[i], _, term, trunc, _ = e.step(a)
            if term or trunc:
                current[i] = start(e, jobs.take(1)[0])

    seen = []

    class Record:
        def on_step(self, step, *a):
            seen.append(np.array(step.obs))

        def on_episode(self, *a):
            pass

        def on_trial(self, *a):
            pass

    vec = make_vector_env(probe, "train", n)
    Rollout(vec, probe, SourceAgent(), 4, TrialJobs(probe, task, 4)).run(Record(), max_steps=steps)
    vec.close()
    assert len(seen) == steps and all(np.array_equal(a, b) for a, b in zip(plain, seen))
