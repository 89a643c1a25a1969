"""Atari family: suite spec, area resize, trial semantics, backends, env checker."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from amago_bench.envs.atari import AtariOptions, FrameResizer, area_taps
from amago_bench.envs.base import MissingPackageError, make_task_env
from amago_bench.envs.trial import TrialEnv
from amago_bench.suite import SuiteError, get_suite

GAMES = ["Pong", "Boxing", "Breakout", "Gopher", "MsPacman", "ChopperCommand", "CrazyClimber", "BattleZone",
         "Qbert", "Seaquest"]


@pytest.fixture(scope="module")
def smoke():
    pytest.importorskip("ale_py")
    return get_suite("atari10-smoke")


# -- spec ------------------------------------------------------------------------------


def test_atari10_spec_matches_the_paper():
    s = get_suite("atari10")
    assert s.task_names() == GAMES
    assert s.trial.episodes == 1 and s.trial.scored_episodes == (0,)
    assert s.trial.max_episode_steps == 108_000 // 5
    o = AtariOptions.from_suite(s)
    assert (o.frame_skip, o.repeat_action_probability, o.full_action_space, o.max_num_frames_per_episode) == (5, 0.25, True, 108_000)
    assert o.max_agent_steps == 21_600
    env = TrialEnv(s, "train")
    assert env.observation_space == spaces.Box(0, 255, (3, 84, 84), np.uint8)
    assert env.action_space == spaces.Discrete(18)
    assert set(s.backends) == {"official", "envpool"}


def test_atari10_references_are_dqn_human_constants():
    s = get_suite("atari10")
    pong = s.task("Pong").reference
    assert (pong.kind, pong.low, pong.high) == ("human", -20.7, 14.6)
    assert "[T]" in pong.source
    assert s.task("Seaquest").reference.normalise(42054.7) == pytest.approx(1.0)
    assert s.task("Boxing").reference.normalise(0.1) == pytest.approx(0.0)


def test_seed_ranges_are_disjoint():
    s = get_suite("atari10")
    (a, b), (c, d) = s.seed_range("train"), s.seed_range("test")
    assert b <= c or d <= a


# -- resize ----------------------------------------------------------------------------


def _reference_area(frame: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Exact area average in float64 (slow, obvious), rounded half up."""
    H, W, _ = frame.shape
    h, w = out_hw

    def mat(n_in, n_out):
        s = n_in / n_out
        m = np.zeros((n_out, n_in))
        for i in range(n_out):
            a, b = i * s, (i + 1) * s
            for j in range(int(np.floor(a)), min(int(np.ceil(b)), n_in)):
                m[i, j] = (min(b, j + 1) - max(a, j)) / s
        return m

    y = np.einsum("ij,jkc,lk->cil", mat(H, h), frame.astype(np.float64), mat(W, w))
    return np.floor(y + 0.5 + 1e-9).astype(np.uint8)  # 1e-9: exact .5 ties round up despite float error


def test_area_taps_cover_each_output_exactly():
    idx, w, total = area_taps(210, 84)
    assert (w.sum(axis=1) == total).all()
    assert idx.max() < 210


@pytest.mark.parametrize("shape", [(210, 160), (64, 48), (100, 84)])
def test_area_resize_equals_float_reference(shape):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    out = FrameResizer(shape, (84, 84), "area")(frame)
    assert out.shape == (3, 84, 84) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, _reference_area(frame, (84, 84)))


def test_resize_keeps_constant_frames_constant():
    frame = np.full((210, 160, 3), 255, np.uint8)
    frame[..., 1] = 7
    for method in ("area", "nearest"):
        out = FrameResizer((210, 160), (84, 84), method)(frame)
        assert (out[0] == 255).all() and (out[1] == 7).all()


# -- official backend ------------------------------------------------------------------


def test_every_task_passes_the_gymnasium_env_checker(smoke):
    for name in smoke.task_names():
        check_env(TrialEnv(smoke, "train", task=name), skip_render_check=True)


def test_trial_is_one_episode_truncated_at_the_cap(smoke):
    env = TrialEnv(smoke, "test", task="Pong")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3, 84, 84)
    steps, info, done = 0, {}, False
    while not done:
        obs, r, term, trunc, info = env.step(env.action_space.sample())
        steps += 1
        done = term or trunc
    assert steps == smoke.trial.max_episode_steps  # a random Pong game lasts longer than 200 steps
    assert trunc and not term
    assert info["episode_done"] and info["episode_scored"] and info["episode_length"] == steps


def test_same_variant_and_seed_replay_the_same_trial(smoke):
    def rollout():
        env = TrialEnv(smoke, "train", task="Breakout")
        obs, _ = env.reset(seed=3, options={"variant": 11})
        rng = np.random.default_rng(0)
        frames, rewards = [obs], []
        for _ in range(60):
            obs, r, *_ = env.step(int(rng.integers(18)))
            frames.append(obs)
            rewards.append(r)
        env.close()
        return np.stack(frames), rewards

    (f1, r1), (f2, r2) = rollout(), rollout()
    np.testing.assert_array_equal(f1, f2)
    assert r1 == r2


def test_missing_ale_py_names_the_extra(smoke, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ale_py", None)  # makes `import ale_py` fail
    with pytest.raises(MissingPackageError, match=r"pip install -e '\S+\[atari\]'"):
        make_task_env(smoke, smoke.task("Pong"), "official")


def test_unknown_backend_lists_valid_ones(smoke):
    with pytest.raises(SuiteError, match="official, envpool"):
        TrialEnv(smoke, "train", backend="gpu")


# -- EnvPool backend -------------------------------------------------------------------


def test_envpool_backend_has_the_same_spaces_and_close_first_frame(smoke):
    pytest.importorskip("envpool")
    for name in ("Pong", "Breakout"):
        off = TrialEnv(smoke, "train", task=name, backend="official")
        ep = TrialEnv(smoke, "train", task=name, backend="envpool")
        assert off.observation_space == ep.observation_space and off.action_space == ep.action_space
        a, _ = off.reset(seed=0, options={"variant": 5})
        b, _ = ep.reset(seed=0, options={"variant": 5})
        assert a.shape == b.shape == (3, 84, 84) and a.dtype == b.dtype == np.uint8
        assert np.mean(a == b) >= 0.95
        check_env(ep, skip_render_check=True)
        off.close()
        ep.close()
