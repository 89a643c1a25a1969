"""BabyAI: task pools, spaces, mission tokens, same-layout trials, seeds, success, backends, errors."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

pytest.importorskip("minigrid")

from amago_bench.envs.babyai import MissionTokenizer, tokenizer_for  # noqa: E402
from amago_bench.envs.base import MissingPackageError  # noqa: E402
from amago_bench.envs.trial import TrialEnv  # noqa: E402
from amago_bench.evaluate import plan_jobs  # noqa: E402
from amago_bench.suite import SuiteError, get_suite  # noqa: E402

SUITE = get_suite("babyai")

# The paper's lists (AMAGO-2 reference code), spelled out here independently of the suite file.
PAPER_TRAIN = """GoToLocalS7N5 GoToObjMaze KeyCorridor KeyCorridorS3R3 GoToRedBall KeyCorridorS3R2
KeyCorridorS3R1 Unlock GoToLocalS8N4 GoToObjMazeOpen KeyCorridorS4R3 UnlockLocal GoToObjMazeS5
GoToObjMazeS4R2 GoToLocal PickupLoc UnlockPickup GoTo FindObjS6 BlockedUnlockPickup KeyCorridorS5R3
GoToObjS6 KeyInBox Open GoToOpen GoToDoor FindObjS7 OpenRedDoor PickupDist GoToImpUnlock UnblockPickup
OpenDoor GoToObjMazeS4 OneRoomS12 GoToObjMazeS6 GoToRedBallNoDists OpenDoorDebug GoToLocalS8N5
OneRoomS20 Pickup GoToRedBlueBall OpenDoorColor PickupAbove GoToObjDoor OpenRedBlueDoors UnlockToUnlock
OneRoomS16 GoToLocalS8N6 OneRoomS8 PickupDistDebug""".split()
PAPER_BANNED = """GoToSeq OpenRedBlueDoorsDebug OpenTwoDoors OpenDoorsOrderN4Debug OpenDoorsOrder PutNextLocal
PutNext MiniBossLevel BossLevel BossLevelNoUnlock SynthSeq SynthLoc Synth MoveTwoAcross""".split()
PAPER_HELDOUT = """UnlockPickupDist UnlockLocalDist OpenDoorLoc GoToRedBallGrey GoToLocalS8N7 GoToObjMazeS7
GoToLocalS6N4 GoToObjS4 GoToLocalS5N2 GoToLocalS6N3 GoToLocalS7N4 GoToLocalS6N2 GoToLocalS8N3
ActionObjDoor GoToLocalS8N2 GoToObj FindObjS5 KeyCorridorS6R3""".split()


def _has_envpool() -> bool:
    try:
        import envpool  # noqa: F401
    except ImportError:
        return False
    return True


BACKENDS = ["official", pytest.param("envpool", marks=pytest.mark.skipif(not _has_envpool(), reason="no envpool"))]


def split_of(task: str) -> str:
    return "train" if SUITE.task(task).in_split("train") else "test"


def run_trial(env, seed, action_fn=None, options=None):
    obs, _ = env.reset(seed=seed, options=options)
    firsts, ends = [obs], []
    while True:
        obs, r, term, trunc, info = env.step(env.action_space.sample() if action_fn is None else action_fn(obs))
        if info.get("episode_done"):
            ends.append(info)
            if "next_episode_index" in info:
                firsts.append(obs)
        if term or trunc:
            return firsts, ends


# -- suite data ---------------------------------------------------------------------------


def test_train_split_is_the_papers_50_tasks():
    assert sorted(SUITE.task_names("train")) == sorted(PAPER_TRAIN) and len(PAPER_TRAIN) == 50


def test_test_split_is_every_registered_task_minus_banned_and_train():
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers the BabyAI ids)

    registered = {k[len("BabyAI-"):].rsplit("-", 1)[0]: k for k in gym.registry if k.startswith("BabyAI-")}
    pool = {n for n in registered if n not in PAPER_TRAIN and not any(b in n for b in PAPER_BANNED)}
    assert set(SUITE.task_names("test")) == pool == set(PAPER_HELDOUT)
    assert all(SUITE.task(n).env_id == registered[n] for n in SUITE.task_names())
    assert SUITE.options["banned"] == PAPER_BANNED


def test_spaces_are_as_specified():
    env = TrialEnv(SUITE, "train")
    assert env.action_space == spaces.Discrete(7)
    obs = env.observation_space
    assert obs["grid"] == spaces.Box(0, 255, (7, 7, 3), np.uint8)
    assert obs["mission"] == spaces.Box(0, 29, (9,), np.int64)
    assert obs["direction"] == spaces.Box(0.0, 1.0, (4,), np.float32)
    assert obs["episode_fraction"] == spaces.Box(0.0, 1.0, (1,), np.float32)
    assert set(obs.spaces) == {"grid", "mission", "direction", "episode_fraction"}
    t = SUITE.trial
    assert (t.episodes, t.scored_episodes, t.score) == (2, (0, 1), "return")
    assert t.max_episode_steps >= max(SUITE.options["max_steps"].values())


def test_train_and_test_seeds_are_disjoint():
    (a, b), (c, d) = SUITE.seed_range("train"), SUITE.seed_range("test")
    assert (a, b) == (0, 5000) and c >= b
    for split, (lo, hi) in (("train", (a, b)), ("test", (c, d))):
        assert all(lo <= j.variant < hi for j in plan_jobs(SUITE, split, trials_per_task=5, seed=3))
    env = TrialEnv(SUITE, "test", task="GoToObj")
    with pytest.raises(SuiteError, match="outside the test seed range"):
        env.reset(seed=0, options={"variant": 10})


# -- mission tokens ---------------------------------------------------------------------------


def test_tokenizer_pads_truncates_and_marks_unknown_words():
    tok = MissionTokenizer(("go", "to", "the", "red", "ball"), length=4)
    assert tok.n_tokens == 7
    assert tok.encode("go to the red ball").tolist() == [2, 3, 4, 5]  # truncated to 4
    assert tok.encode("go to").tolist() == [2, 3, 0, 0]  # padded with 0
    assert tok.encode("Go, fetch").tolist() == [2, 1, 0, 0]  # case, commas; 1 = out of vocabulary
    assert tok.decode(tok.encode("go fetch")) == "go <oov>"


def test_suite_vocabulary_is_29_tokens_and_covers_every_mission():
    import contextlib
    import io

    import gymnasium as gym

    tok = tokenizer_for(SUITE)
    assert len(tok.vocabulary) + 1 == 29 and tok.length == 9  # 28 words + out-of-vocabulary
    with contextlib.redirect_stdout(io.StringIO()):
        for task in SUITE.tasks:
            env = gym.make(task.env_id, disable_env_checker=True)
            for seed in range(3):
                mission = env.reset(seed=seed)[0]["mission"]
                tokens = tok.encode(mission)
                assert 1 not in tokens.tolist(), (task.name, mission)
                assert tok.decode(tokens) == " ".join(mission.replace(",", " ").split()[:9])


# -- env checker, trials, success -----------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_task_passes_the_env_checker(backend):
    for task in SUITE.task_names():
        env = TrialEnv(SUITE, split_of(task), task=task, backend=backend)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check_env(env, skip_render_check=True)
        env.close()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task", ["GoToLocal", "KeyCorridorS3R1", "OpenDoorLoc", "UnlockPickupDist"])
def test_both_episodes_of_a_trial_use_the_same_layout(task, backend):
    env = TrialEnv(SUITE, split_of(task), task=task, backend=backend)
    env.action_space.seed(0)
    lo = SUITE.seed_range(split_of(task))[0]
    starts = []
    for variant in (lo + 11, lo + 12):
        firsts, ends = run_trial(env, seed=0, options={"variant": variant})
        assert len(firsts) == 2 and [e["episode_index"] for e in ends] == [0, 1]
        for key in ("grid", "mission", "direction"):
            assert np.array_equal(firsts[0][key], firsts[1][key]), key
        assert firsts[0]["episode_fraction"][0] == firsts[1]["episode_fraction"][0] == 0.0
        starts.append(firsts[0])
    assert any(not np.array_equal(starts[0][k], starts[1][k]) for k in ("grid", "mission", "direction"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_success_is_positive_reward_and_truncation_is_at_max_steps(backend):
    task = "GoToObjS4"  # small room: a random policy succeeds often and times out often
    env = TrialEnv(SUITE, "test", task=task, backend=backend)
    env.action_space.seed(1)
    max_steps = SUITE.options["max_steps"][task]
    ends, fractions = [], []
    for seed in range(60):
        obs, _ = env.reset(seed=seed)
        while True:
            obs, r, term, trunc, info = env.step(env.action_space.sample())
            if info.get("episode_done"):
                ends.append(info)  # obs is already the next episode's first (fraction 0)
            else:
                fractions.append(float(obs["episode_fraction"][0]))
            if term or trunc:
                break
    succ = [e for e in ends if e["episode_success"] == 1.0]
    fail = [e for e in ends if e["episode_success"] == 0.0]
    assert succ and fail and len(succ) + len(fail) == len(ends)
    assert all(0 < e["episode_return"] <= 1 for e in succ) and all(e["episode_return"] == 0 for e in fail)
    # MiniGrid pays 1 - 0.9 * steps / max_steps on success
    assert all(e["episode_return"] == pytest.approx(1 - 0.9 * e["episode_length"] / max_steps, abs=1e-5) for e in succ)
    assert all(e["episode_truncated"] and e["episode_length"] == max_steps for e in fail)
    assert min(fractions) == pytest.approx(1 / max_steps) and max(fractions) < 1.0


def test_max_steps_table_matches_minigrid():
    import contextlib
    import io

    import gymnasium as gym

    with contextlib.redirect_stdout(io.StringIO()):
        for task in SUITE.tasks:
            env = gym.make(task.env_id, disable_env_checker=True).unwrapped
            for seed in (0, 4999, 5000):
                env.reset(seed=seed)
                assert env.max_steps == SUITE.options["max_steps"][task.name], task.name


def test_minigrid_sampling_messages_stay_out_of_stdout(capfd):
    env = TrialEnv(SUITE, "train", task="GoToObjDoor")  # its layouts are often re-sampled
    for seed in range(20):
        env.reset(seed=seed)
    out, _ = capfd.readouterr()
    assert "Sampling rejected" not in out and out == ""


# -- errors -----------------------------------------------------------------------------------------


def test_missing_minigrid_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "minigrid", None)
    env = TrialEnv(SUITE, "train", task="GoToLocal")
    with pytest.raises(MissingPackageError, match=r"pip install -e '\S+\[babyai\]'"):
        env.reset(seed=0)


def test_a_backend_that_does_not_cover_the_suite_lists_the_valid_ones():
    with pytest.raises(SuiteError, match="valid: official, envpool"):
        TrialEnv(SUITE, "train", backend="gym3")


def test_envpool_covers_every_task():
    if not _has_envpool():
        pytest.skip("no envpool")
    import envpool

    assert {t.env_id for t in SUITE.tasks} <= set(envpool.list_all_envs())


# -- backend parity -------------------------------------------------------------------------------


def test_envpool_agrees_with_official_in_distribution(tmp_path):
    if not _has_envpool():
        pytest.skip("no envpool")
    from amago_bench.envs.parity import parity_check

    report = parity_check(SUITE, "test", n_trials=40, seed=0, tasks=["GoToObjS4", "GoToLocalS5N2"], out_dir=tmp_path)
    assert report.passed, report.to_markdown()
    assert all(t.spaces_equal and t.first_obs_ok is None for t in report.tasks)  # layouts differ by design
    assert (tmp_path / "babyai.md").exists()
