"""Meta-World ML1 / ML10 / ML45: task lists, spaces, trial semantics, goals, backends, errors."""

from __future__ import annotations

import json
import pickle
import sys
import warnings

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

pytest.importorskip("metaworld")

from amago_bench.envs import metaworld as mwenv  # noqa: E402
from amago_bench.envs.base import MissingPackageError  # noqa: E402
from amago_bench.envs.metaworld_suites import METAWORLD_V3_TASKS  # noqa: E402
from amago_bench.envs.trial import TrialEnv  # noqa: E402
from amago_bench.evaluate import plan_jobs  # noqa: E402
from amago_bench.suite import SuiteError, get_suite  # noqa: E402

ML45 = get_suite("ml45")
ML10 = get_suite("ml10")
ML1 = get_suite("ml1-reach")

def _has_envpool() -> bool:
    try:
        import envpool  # noqa: F401
    except ImportError:
        return False
    return True


needs_envpool = pytest.mark.skipif(not _has_envpool(), reason="envpool not installed")


def run_trial(env, seed=0, action_fn=None, options=None):
    """Run one whole trial; returns (first observation of each episode, episode-end infos)."""
    obs, _ = env.reset(seed=seed, options=options)
    firsts, ends = [obs.copy()], []
    while True:
        a = env.action_space.sample() if action_fn is None else action_fn(obs)
        obs, r, term, trunc, info = env.step(a)
        if info.get("episode_done"):
            ends.append(info)
            if "next_episode_index" in info:
                firsts.append(obs.copy())
        if term or trunc:
            return firsts, ends


def checked(env):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Box(-inf, inf) observation bounds are Meta-World's own
        check_env(env, skip_render_check=True)
    return env


# -- suite data ---------------------------------------------------------------------------


def test_task_lists_match_the_installed_package():
    import metaworld.env_dict as d

    assert METAWORLD_V3_TASKS == tuple(sorted(d.ALL_V3_ENVIRONMENTS))
    for suite, table in ((ML45, d.ML45_V3), (ML10, d.ML10_V3)):
        assert suite.task_names("train") == list(table["train"])
        assert suite.task_names("test") == list(table["test"])
        assert not set(suite.task_names("train")) & set(suite.task_names("test"))
    assert len(ML45.task_names("train")) == 45 and len(ML45.task_names("test")) == 5
    assert len(ML10.task_names("train")) == 10 and len(ML10.task_names("test")) == 5


@pytest.mark.parametrize("suite", [ML45, ML10, ML1], ids=lambda s: s.name)
def test_suite_protocol_and_spaces(suite):
    t = suite.trial
    assert (t.episodes, t.scored_episodes, t.max_episode_steps, t.score) == (3, (0, 1, 2), 500, "success")
    env = TrialEnv(suite, "train")
    assert env.observation_space == spaces.Box(-np.inf, np.inf, (39,), np.float32)
    assert env.action_space == spaces.Box(-1.0, 1.0, (4,), np.float32)
    assert set(suite.backends) == {"official", "envpool"}
    assert all(task.reference.normalise(1.0) == 1.0 and task.reference.normalise(0.0) == 0.0 for task in suite.tasks)


def test_ml1_names_accept_short_and_full_forms():
    assert get_suite("ml1-pick-place").tasks[0].env_id == "pick-place-v3"
    assert get_suite("ml1-pick-place-v3").name == "ml1-pick-place"
    assert get_suite("ml1-reach").task_names("train") == get_suite("ml1-reach").task_names("test") == ["reach-v3"]


def test_unknown_metaworld_task_lists_the_valid_ones():
    with pytest.raises(SuiteError) as exc:
        get_suite("ml1-reech")
    msg = str(exc.value)
    assert "reech" in msg and "reach" in msg and "pick-place" in msg and "window-open" in msg


def test_a_backend_that_does_not_cover_the_suite_lists_the_valid_ones():
    with pytest.raises(SuiteError, match="valid: official, envpool"):
        TrialEnv(ML1, "train", backend="procgen2")


def test_missing_metaworld_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "metaworld", None)  # makes `import metaworld` fail
    env = TrialEnv(ML1, "train")
    with pytest.raises(MissingPackageError, match=r"pip install -e '\S+\[metaworld\]'"):
        env.reset(seed=0)


def test_missing_envpool_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "envpool", None)
    env = TrialEnv(ML1, "train", backend="envpool")
    with pytest.raises(MissingPackageError, match=r"pip install -e '\S+\[fast\]'"):
        env.reset(seed=0)


# -- env checker on every task --------------------------------------------------------------


@pytest.mark.parametrize("task", ML45.task_names())
def test_every_ml45_task_passes_the_env_checker(task, ml45_goals):
    spec = ML45.task(task)
    split = "train" if spec.in_split("train") else "test"
    env = checked(TrialEnv(ML45, split, task=task))
    native = env._task_env(spec)
    assert native.goals is ml45_goals  # the session's one ML45 instance, not a rebuild
    assert len(ml45_goals.goals(task, split)) == 50
    env.close()


@pytest.mark.parametrize("task", ML10.task_names())
def test_every_ml10_task_passes_the_env_checker(task, ml10_goals):
    spec = ML10.task(task)
    split = "train" if spec.in_split("train") else "test"
    checked(TrialEnv(ML10, split, task=task)).close()


@needs_envpool
@pytest.mark.parametrize("task", ML45.task_names())
def test_every_task_passes_the_env_checker_on_envpool(task):
    spec = ML45.task(task)
    split = "train" if spec.in_split("train") else "test"
    checked(TrialEnv(ML45, split, task=task, backend="envpool")).close()


# -- trial semantics --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["official", pytest.param("envpool", marks=needs_envpool)])
def test_a_trial_is_three_500_step_episodes_on_one_goal(backend, metaworld_cache):
    env = TrialEnv(ML1, "train", backend=backend)
    env.action_space.seed(0)
    firsts, ends = run_trial(env, seed=4)
    assert [e["episode_index"] for e in ends] == [0, 1, 2]
    assert [e["episode_length"] for e in ends] == [500, 500, 500]
    assert all(e["episode_truncated"] and e["episode_scored"] for e in ends)
    # the same scene (hand, object and hidden goal) at the start of every episode
    assert all(np.array_equal(firsts[0], f) for f in firsts[1:])
    assert all(e["episode_success"] in (0.0, 1.0) for e in ends)
    # a different trial seed picks a different goal variant (object placed elsewhere)
    other, _ = env.reset(seed=5)
    assert not np.array_equal(firsts[0], other)


def test_episode_success_is_success_at_any_step(metaworld_cache):
    env = TrialEnv(ML1, "train")
    env.reset(seed=0)
    native = env._task_env(ML1.task("reach-v3"))
    orig, count = native.env.step, [0]

    def step(a):
        obs, r, term, trunc, info = orig(a)
        count[0] += 1
        return obs, r, term, trunc, {**info, "success": count[0] == 250}  # success at one step only

    native.env.step = step
    ends = []
    while len(ends) < 3:
        *_, term, trunc, info = env.step(np.zeros(4, np.float32))
        if info.get("episode_done"):
            ends.append(info["episode_success"])
    assert ends == [1.0, 0.0, 0.0]


def test_goal_is_a_pure_function_of_the_trial_seed_and_split(metaworld_cache):
    native = mwenv.make_task_env(ML1, ML1.task("reach-v3"), "official")
    lo_tr, hi_tr = ML1.seed_range("train")
    lo_te, hi_te = ML1.seed_range("test")
    train_goals = native.goals.goals("reach-v3", "train")
    test_goals = native.goals.goals("reach-v3", "test")
    for seed in range(lo_tr, lo_tr + 20):
        assert any(native.set_goal(seed) is g for g in train_goals)
    for seed in range(lo_te, lo_te + 20):
        assert any(native.set_goal(seed) is g for g in test_goals)
    assert native.set_goal(7) is native.set_goal(7)
    # ML1's train and test goals are different goals
    vecs = lambda goals: {pickle.loads(g.data)["rand_vec"].tobytes() for g in goals}  # noqa: E731
    assert not vecs(train_goals) & vecs(test_goals)
    # seeds spread over (nearly) all 50 goals of a class
    assert len({mwenv.goal_index(s, 50) for s in range(300)}) >= 45
    with pytest.raises(SuiteError, match="neither seed range"):
        native.set_goal(hi_te + 1)
    native.close()


def test_train_and_test_seed_ranges_are_disjoint():
    for suite in (ML45, ML10, ML1):
        (a, b), (c, d) = suite.seed_range("train"), suite.seed_range("test")
        assert b <= c or d <= a
        for split, (lo, hi) in (("train", (a, b)), ("test", (c, d))):
            jobs = plan_jobs(suite, split, trials_per_task=3, seed=0)
            assert all(lo <= j.variant < hi for j in jobs)
            assert all(mwenv.split_of_seed(suite, j.variant) == split for j in jobs)


def test_goal_cache_on_disk_gives_the_same_goals(metaworld_cache, monkeypatch):
    monkeypatch.setattr(mwenv, "_GOALS", {})  # built here, not by an earlier test of this process
    built = mwenv.goal_lists("ML1:reach-v3", 0)
    assert list(mwenv.cache_dir().glob("ML1_reach-v3-seed0-metaworld*.json"))
    assert mwenv.cache_dir().parent == metaworld_cache
    monkeypatch.setattr(mwenv, "_GOALS", {})  # a fresh process: loads from disk
    loaded = mwenv.goal_lists("ML1:reach-v3", 0)
    fresh = mwenv._build("ML1:reach-v3", 0)  # and building again is deterministic
    for other in (loaded, fresh):
        for split in ("train", "test"):
            a = [pickle.loads(g.data)["rand_vec"] for g in built.goals("reach-v3", split)]
            b = [pickle.loads(g.data)["rand_vec"] for g in other.goals("reach-v3", split)]
            assert np.array_equal(np.array(a), np.array(b))


def test_goal_cache_never_unpickles_what_it_reads(metaworld_cache, monkeypatch, tmp_path):
    """A planted cache file cannot run code: the cache is JSON, env classes are looked up by name
    among metaworld's own, and a file that names anything else is rebuilt, not trusted."""
    monkeypatch.setattr(mwenv, "_GOALS", {})  # built here, not by an earlier test of this process
    mwenv.goal_lists("ML1:reach-v3", 0)
    path = next(mwenv.cache_dir().glob("ML1_reach-v3-seed0-metaworld*.json"))
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path.with_suffix(".pkl").write_bytes(pickle.dumps(Payload()))  # the old format, planted
    raw = json.loads(path.read_text())
    raw["train"]["reach-v3"][0]["env_cls"] = {"class": "Popen"}  # not a metaworld env class
    path.write_text(json.dumps(raw))
    monkeypatch.setattr(mwenv, "_GOALS", {})
    goals = mwenv.goal_lists("ML1:reach-v3", 0)
    assert not marker.exists()
    assert len(goals.goals("reach-v3", "train")) == 50
    assert json.loads(path.read_text())["train"]["reach-v3"][0]["env_cls"]["class"] != "Popen"  # rebuilt


@needs_envpool
def test_envpool_ids_cover_every_task():
    import envpool

    ids = set(envpool.list_all_envs())
    assert all(mwenv.envpool_task_id(t) in ids for t in METAWORLD_V3_TASKS)
    assert mwenv.envpool_task_id("pick-place-v3") == "MetaWorld/PickPlace-v3"


@needs_envpool
def test_envpool_and_official_give_the_same_spaces_and_layout(metaworld_cache):
    a = TrialEnv(ML1, "train", backend="official")
    b = TrialEnv(ML1, "train", backend="envpool")
    assert a.observation_space == b.observation_space and a.action_space == b.action_space
    oa, _ = a.reset(seed=1)
    ob, _ = b.reset(seed=1)
    # the hand starts at the same place; the goal variant is drawn differently by each backend
    assert np.allclose(oa[:4], ob[:4], atol=1e-4)
    assert oa.dtype == ob.dtype == np.float32 and np.all(oa[-3:] == 0) and np.all(ob[-3:] == 0)  # goal hidden


@needs_envpool
@pytest.mark.slow
def test_envpool_agrees_with_official_in_distribution(metaworld_cache, tmp_path):
    from amago_bench.envs.parity import parity_check

    report = parity_check(ML1, "train", n_trials=24, seed=0, out_dir=tmp_path)
    assert report.passed, report.to_markdown()
    assert all(t.spaces_equal and t.first_obs_ok is None for t in report.tasks)  # goals differ by design


@pytest.mark.parametrize("suite", [ML1, ML10, ML45], ids=lambda s: s.name)
def test_every_suite_pins_the_reward_function_and_the_env_uses_it(suite):
    assert suite.options["reward_function_version"] == "v2"
    env = mwenv.MetaWorldTaskEnv(suite, suite.tasks[0])
    try:
        assert env.env.reward_function_version == "v2"
    finally:
        env.close()


def test_the_reward_function_is_part_of_the_suite_hash_and_must_be_named():
    import dataclasses

    v1 = dataclasses.replace(ML1, options={**ML1.options, "reward_function_version": "v1"})
    env = mwenv.MetaWorldTaskEnv(v1, v1.tasks[0])
    assert env.env.reward_function_version == "v1"
    env.close()
    from amago_bench.envs.metaworld_suites import ml1_suite_data
    from amago_bench.suite import parse_suite

    raw = ml1_suite_data("ml1-reach")
    a = parse_suite(raw, "ml1-reach")
    b = parse_suite({**raw, "options": {**raw["options"], "reward_function_version": "v1"}}, "ml1-reach")
    assert a.spec_hash != b.spec_hash
    unpinned = dataclasses.replace(ML1, options={"benchmark": "ML1", "benchmark_seed": 0})
    with pytest.raises(SuiteError, match="reward_function_version"):
        mwenv.MetaWorldTaskEnv(unpinned, unpinned.tasks[0])
