"""Procgen family: suite specs, 2-attempt trials with the marker, modes, backends, env checker."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from amago_bench.envs.base import MissingPackageError, make_task_env
from amago_bench.envs.procgen import GAME_MODES, MARKER, ProcgenModeError, check_game_mode, envpool_task_id
from amago_bench.envs.trial import TrialEnv
from amago_bench.suite import SuiteError, get_suite, parse_suite

SUITES = ("procgen-easy5", "procgen-easy5-rescaled", "procgen-memhard16")
MEMORY_GAMES = {"dodgeball", "caveflyer", "heist", "jumper", "maze", "miner"}


def _envpool_procgen():
    pytest.importorskip("envpool")
    try:
        import envpool.procgen as ep

        ep.ProcgenEnvSpec  # noqa: B018
    except ImportError as exc:  # pragma: no cover - depends on the system Qt runtime
        pytest.skip(f"EnvPool Procgen cannot load ({exc}); apt-get install -y libqt5gui5")


@pytest.fixture(scope="module")
def smoke():
    _envpool_procgen()
    return get_suite("procgen-smoke")


# -- specs -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SUITES)
def test_suite_spaces_trials_and_seeds(name):
    s = get_suite(name)
    env = TrialEnv(s, "train")
    assert env.observation_space == spaces.Box(0, 255, (3, 64, 64), np.uint8)
    assert env.action_space == spaces.Discrete(15)
    assert s.trial.episodes == 2 and s.trial.scored_episodes == (0, 1)
    assert s.seed_range("train") == (0, 2000)
    (a, b), (c, d) = s.seed_range("train"), s.seed_range("test")
    assert b <= c or d <= a
    assert s.backends == ("envpool",) and s.default_backend == "envpool"
    for t in s.tasks:
        assert t.reference.kind == "min-max" and "Cobbe" in t.reference.source and "[T]" in t.reference.source


def test_easy5_games_and_constants():
    s = get_suite("procgen-easy5")
    assert sorted(s.task_names()) == ["climber", "coinrun", "jumper", "leaper", "ninja"]
    ref = s.task("climber").reference  # easy min 2 / max 12.6, doubled for the 2-attempt total
    assert (ref.low, ref.high) == (4.0, 25.2)
    assert ref.normalise(2 * 12.6) == pytest.approx(1.0)


def test_rescaled_variant_scales_rewards_and_ends_alike():
    base, resc = get_suite("procgen-easy5"), get_suite("procgen-easy5-rescaled")
    scales = {t.name: t.reward_scale for t in resc.tasks}
    assert scales == {"climber": 0.1, "coinrun": 100.0, "jumper": 1.0, "ninja": 1.0, "leaper": 1.0}
    for t in resc.tasks:
        b = base.task(t.name).reference
        # the normalised score of the same native return is the same in both suites
        native = 0.5 * (b.low + b.high)
        assert t.reference.normalise(native * t.reward_scale) == pytest.approx(b.normalise(native))


def test_memhard16_modes_and_hard_constants():
    s = get_suite("procgen-memhard16")
    assert len(s.tasks) == 16 and set(s.task_names()) == set(GAME_MODES)
    for t in s.tasks:
        mode = t.kwargs["distribution_mode"]
        assert mode == ("memory" if t.name in MEMORY_GAMES else "hard")
        check_game_mode(t.env_id, mode)
    assert (s.task("starpilot").reference.low, s.task("starpilot").reference.high) == (3.0, 70.0)


def test_mode_a_game_lacks_fails_listing_its_modes():
    with pytest.raises(ProcgenModeError, match="coinrun.*no distribution mode 'memory'.*easy, hard, exploration"):
        check_game_mode("coinrun", "memory")
    with pytest.raises(ProcgenModeError, match="unknown Procgen game 'pacman'; known: bigfish"):
        check_game_mode("pacman", "easy")
    assert envpool_task_id("coinrun", "easy") == "CoinrunEasy-v0"


def test_bad_mode_in_a_suite_file_fails_when_the_task_is_built():
    _envpool_procgen()
    raw = {
        "name": "bad", "family": "procgen", "packages": ["envpool"], "extra": "procgen",
        "backends": ["envpool"], "trial": {"episodes": 2, "max_episode_steps": 10},
        "spaces": {"observation": {"kind": "box", "shape": [3, 64, 64], "dtype": "uint8"},
                   "action": {"kind": "discrete", "n": 15}},
        "seeds": {"train": [0, 10], "test": [10, 20]},
        "tasks": [{"name": "coinrun", "env_id": "coinrun", "kwargs": {"distribution_mode": "memory"}}],
    }
    s = parse_suite(raw)
    with pytest.raises(ProcgenModeError, match="its modes: easy, hard, exploration"):
        make_task_env(s, s.task("coinrun"), "envpool")


def test_official_backend_is_refused_with_the_valid_ones():
    s = get_suite("procgen-easy5")
    with pytest.raises(SuiteError, match="valid: envpool"):
        TrialEnv(s, "train", backend="official")
    assert "no wheel for Python 3.11" in s.options["backend_notes"]["official"]


def test_missing_envpool_names_the_extra(monkeypatch):
    s = get_suite("procgen-easy5")
    monkeypatch.setitem(sys.modules, "envpool", None)
    with pytest.raises(MissingPackageError, match=r"pip install -e '\S+\[procgen\]'"):
        make_task_env(s, s.task("coinrun"), "envpool")


# -- trials ----------------------------------------------------------------------------


def _play_trial(env, seed, variant, rng):
    obs, _ = env.reset(seed=seed, options={"variant": variant})
    frames = {0: [obs]}
    ep = 0
    while True:
        obs, r, term, trunc, info = env.step(int(rng.integers(15)))
        if info.get("episode_done") and not (term or trunc):
            ep = info["next_episode_index"]
            frames[ep] = [obs]
        else:
            frames[ep].append(obs)
        if term or trunc:
            return frames, info


def test_trial_is_two_attempts_at_one_level_with_the_marker(smoke):
    env = TrialEnv(smoke, "train", task="coinrun")
    frames, last = _play_trial(env, 0, 17, np.random.default_rng(0))
    assert set(frames) == {0, 1} and last["episode_index"] == 1
    first, second = frames[0][0], frames[1][0]
    r, c = MARKER
    # attempt 2 starts on the same level: identical frame outside the marker
    mask = np.ones((64, 64), bool)
    mask[r, c] = False
    np.testing.assert_array_equal(second[:, mask], first[:, mask])
    # the marker is on every frame of attempt 2 and on no frame of attempt 1
    assert all((f[:, r, c] == 0).all() for f in frames[1])
    assert not any((f[:, r, c] == 0).all() for f in frames[0])


def test_frames_are_handed_out_without_a_copy_and_never_change_afterwards(smoke):
    """The task env returns EnvPool's own arrays (no copy per step): that is safe only while
    EnvPool gives a new array at every step and never writes into an old one."""
    env = TrialEnv(smoke, "train", task="coinrun")
    obs, _ = env.reset(seed=3)
    kept, copies = [obs], [obs.copy()]
    for a in np.random.default_rng(0).integers(15, size=300):
        obs, _, term, trunc, _ = env.step(int(a))
        kept.append(obs)
        copies.append(obs.copy())
        if term or trunc:
            obs, _ = env.reset(seed=4)
            kept.append(obs)
            copies.append(obs.copy())
    assert len({k.__array_interface__["data"][0] for k in kept}) == len(kept)
    assert all(np.array_equal(k, c) for k, c in zip(kept, copies))
    env.close()


def test_variant_is_the_level_seed_and_test_levels_are_disjoint(smoke):
    from amago_bench.envs.base import StepContext

    task_env = make_task_env(smoke, smoke.task("leaper"), "envpool")
    ctx = StepContext(0, 2, 0, 64, 0.0, True)
    rng = np.random.default_rng(0)
    lo, hi = smoke.seed_range("test")
    for level in (0, 1999, lo, hi - 1):
        _, info = task_env.reset_episode(level, 0, ctx, rng)
        assert info["level"] == level
        _, info = task_env.reset_episode(level, 1, ctx, rng)
        assert info["level"] == level
    task_env.close()
    assert smoke.seed_range("train")[1] <= lo


def test_same_job_replays_the_same_trial(smoke):
    def run():
        env = TrialEnv(smoke, "test", task="leaper")
        frames, _ = _play_trial(env, 5, 1_234_567, np.random.default_rng(1))
        env.close()
        return np.stack(frames[0] + frames[1])

    np.testing.assert_array_equal(run(), run())


@pytest.mark.parametrize("name", SUITES)
def test_every_task_passes_the_gymnasium_env_checker(name):
    _envpool_procgen()
    s = get_suite(name)
    for task in s.task_names():
        check_env(TrialEnv(s, "test", task=task), skip_render_check=True)
