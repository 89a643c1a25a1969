"""The on-demand popgym-single-<Task> suites: built from popgym27's task table, each task's own actions."""

from __future__ import annotations

import pytest

from amago_bench.envs.popgym_suites import NATIVE_ACTIONS, POPGYM_SINGLE_PREFIX, POPGYM_SUBSETS
from amago_bench.errors import SuiteError
from amago_bench.suite import get_suite

POPGYM27 = get_suite("popgym27")


def test_the_action_table_covers_exactly_popgym27s_tasks():
    assert sorted(NATIVE_ACTIONS) == sorted(POPGYM27.task_names())


def test_the_action_table_matches_the_installed_package():
    pytest.importorskip("popgym")
    import gymnasium as gym

    from amago_bench.envs.popgym import native_action_count

    for task in POPGYM27.tasks:
        assert native_action_count(gym.make(task.env_id).action_space) == NATIVE_ACTIONS[task.name], task.name


@pytest.mark.parametrize("task", ["RepeatFirstEasy", "MineSweeperEasy", "CountRecallEasy"])
def test_a_single_task_suite_is_that_task_alone_for_one_scored_episode(task):
    suite = get_suite(f"{POPGYM_SINGLE_PREFIX}{task}")
    assert suite.name == f"{POPGYM_SINGLE_PREFIX}{task}" and suite.family == "popgym"
    assert suite.task_names() == [task]
    assert suite.trial.episodes == 1 and suite.trial.scored_episodes == (0,) and not suite.trial.zero_unscored_rewards
    assert suite.action == {"kind": "discrete", "n": NATIVE_ACTIONS[task]}
    # the task's env id, reference scores and seed ranges are popgym27's
    assert suite.tasks[0] == POPGYM27.task(task)
    assert suite.seeds == POPGYM27.seeds and suite.observation == POPGYM27.observation


def test_the_single_suite_files_are_the_generated_suites_with_rounded_lows():
    # popgym-repeat-single / popgym-cartpole-single predate the generator and stay files (stored
    # results key on their text); apart from name, description and the written-out low they agree
    for file_name, task in [("popgym-repeat-single", "RepeatPreviousEasy"), ("popgym-cartpole-single", "PositionOnlyCartPoleEasy")]:
        old, new = get_suite(file_name), get_suite(f"{POPGYM_SINGLE_PREFIX}{task}")
        assert (old.trial, old.action, old.observation, old.seeds, old.family) == (new.trial, new.action, new.observation, new.seeds, new.family)
        assert old.tasks[0].env_id == new.tasks[0].env_id and old.tasks[0].reference.high == new.tasks[0].reference.high
        assert old.tasks[0].reference.low == pytest.approx(new.tasks[0].reference.low, abs=5e-5)


def test_an_unknown_task_lists_the_valid_ones():
    with pytest.raises(SuiteError) as exc:
        get_suite(f"{POPGYM_SINGLE_PREFIX}RepeatFirstEsay")
    msg = str(exc.value)
    assert "RepeatFirstEsay" in msg and "RepeatFirstEasy" in msg and "MineSweeperEasy" in msg


def test_a_generated_suite_gets_the_one_popgym_small_budget():
    from amago_bench.agents.amago2.config import load_config

    suite = get_suite(f"{POPGYM_SINGLE_PREFIX}RepeatFirstEasy")
    cfg = load_config("amago2", suite.name, suite.family, "small")
    assert cfg == load_config("amago2", "popgym-cartpole-single", "popgym", "small")
    assert (cfg.model.d_model, cfg.loss.tau, cfg.train.explore_randomize) == (128, 0.02, True)


@pytest.mark.parametrize("name", sorted(POPGYM_SUBSETS))
def test_a_named_subset_is_its_tasks_for_one_episode_with_the_largest_action_count(name):
    suite = get_suite(name)
    tasks = POPGYM_SUBSETS[name]
    assert suite.name == name and suite.task_names() == list(tasks) and suite.task_names("test") == list(tasks)
    assert suite.trial == get_suite(f"{POPGYM_SINGLE_PREFIX}{tasks[0]}").trial
    assert suite.action == {"kind": "discrete", "n": max(NATIVE_ACTIONS[t] for t in tasks)}
    assert all(suite.task(t) == POPGYM27.task(t) for t in tasks)


def test_a_subset_plays_every_task_with_the_smaller_tasks_extra_actions_replaced():
    pytest.importorskip("popgym")
    import numpy as np

    from amago_bench.envs.trial import TrialEnv

    suite = get_suite("popgym-mini3")
    for task in suite.task_names():
        env = TrialEnv(suite, "test", task=task)
        obs, _ = env.reset(seed=1)
        assert obs.shape == (30,) and env.action_space.n == 4
        for _ in range(5):  # action 3 is outside CartPole's two: replaced, the step still runs
            obs, reward, terminated, truncated, _ = env.step(3)
            assert np.isfinite(reward) and obs.shape == (30,)
            if terminated or truncated:
                break


def test_suites_lists_the_suites_built_on_demand(capsys):
    from amago_bench.cli import main

    assert main(["suites"]) == 0
    out = capsys.readouterr().out
    assert "popgym-single-<Task>" in out and "ml1-<task>" in out and "popgym-mini3" in out
