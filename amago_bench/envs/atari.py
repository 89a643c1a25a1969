"""Atari (ALE v5) games in one unified layout (the AMAGO-2 10-game suite).

Observation: the RGB screen resized to 84x84, channels first, uint8 ``(3, 84, 84)``; no frame
stack. Action: ``Discrete(18)``, the full ALE action set for every game. The native env is
``ALE/<Game>-v5`` with the options in the suite file (frame skip 5, sticky actions 0.25,
108k-frame limit); rewards are unclipped and losing a life does not end the episode.

Resize. ``options.resize = "area"`` (the default) averages each output pixel over the exact
input area it covers, which is what OpenCV's ``INTER_AREA`` (used by EnvPool's port) computes;
it is done in integer arithmetic with numpy (OpenCV is not a dependency) and costs about
0.1 ms per frame. ``"nearest"`` picks one input pixel per output pixel (cheaper, but thin
objects can vanish).

Backends. ``official``: ale-py through Gymnasium. ``envpool``: EnvPool's C++ port with the same
options (``gray_scale=False``, ``stack_num=1``, ``noop_max=1`` i.e. no random no-ops,
``use_fire_reset=False``, ``episodic_life=False``, ``reward_clip=False``). The ports differ in
two details that make observations agree only approximately: EnvPool max-pools the last two
frames of a frame skip, and its reset runs one no-op frame (``noop_max=0`` crashes EnvPool
1.2.5), so its first frame is ALE's second; for most games the two are identical on >= 98% of
the pixels, for Qbert they differ (see :data:`PARITY`). EnvPool seeds are fixed at creation,
so the EnvPool task env builds a fresh one-env pool for each trial (about 0.13 s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from amago_bench.envs.base import StepContext, require
from amago_bench.envs.spaces import space_from_spec
from amago_bench.suite import SuiteError, SuiteSpec, TaskSpec

#: How the parity check compares first observations of the two backends: at least this
#: fraction of the pixels must be identical (measured: 0.977 for MsPacman, >= 0.999 for the
#: others; EnvPool max-pools two frames, so sprite flicker differs).
PARITY = {
    "first_obs": "close",
    "min_equal_fraction": 0.95,
    "first_obs_exempt": {
        "Qbert": "EnvPool's reset runs one no-op frame (noop_max=0 crashes EnvPool 1.2.5) and Qbert's screen "
                 "changes in that frame: EnvPool's first frame equals ALE's second",
    },
}

NATIVE_SHAPE = (210, 160, 3)
"""ALE screen, (H, W, C)."""


@dataclass(frozen=True)
class AtariOptions:
    """The suite's ``[options]`` table for the atari family."""

    frame_skip: int = 5
    """Emulator frames per agent step."""
    repeat_action_probability: float = 0.25
    """Sticky actions: the chance the emulator repeats the previous action for a frame."""
    full_action_space: bool = True
    """Use all 18 ALE actions for every game."""
    max_num_frames_per_episode: int = 108_000
    """Frame limit of one episode (108k frames = 30 min of play); truncates the episode."""
    height: int = 84
    width: int = 84
    resize: Literal["area", "nearest"] = "area"
    """Resize method, see the module docstring."""
    reseed: Literal["trial", "once"] = "trial"
    """EnvPool backend only (the official backend draws its sticky actions from a per-trial
    Generator and never needs reseeding). ``"trial"``: a new pool seeded with each trial's
    seed, so a trial's randomness is a pure function of its job (~130 ms a trial).
    ``"once"``: seed on an env's first trial only; later trials continue its random stream
    (runs stay deterministic for the same job order and number of envs, but a trial no
    longer replays on its own)."""

    @property
    def max_agent_steps(self) -> int:
        """The frame limit in agent steps (108000 / 5 = 21600)."""
        return self.max_num_frames_per_episode // self.frame_skip

    @staticmethod
    def from_suite(suite: SuiteSpec) -> "AtariOptions":
        opts = dict(suite.options)
        allowed = set(AtariOptions.__dataclass_fields__)
        unknown = sorted(set(opts) - allowed - {"backend_notes"})
        if unknown:
            raise SuiteError(f"{suite.path} [options]: unknown key(s) {unknown}; allowed: {', '.join(sorted(allowed))}")
        opts.pop("backend_notes", None)
        out = AtariOptions(**opts)
        if out.resize not in ("area", "nearest"):
            raise SuiteError(f"{suite.path} [options]: resize {out.resize!r} is not one of area, nearest")
        if out.reseed not in ("trial", "once"):
            raise SuiteError(f"{suite.path} [options]: reseed {out.reseed!r} is not one of trial, once")
        return out


# --------------------------------------------------------------------------------------
# Resizing (pure numpy)


def area_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer weights of an exact area-average resize along one axis.

    In units of ``1/gcd`` of a pixel every overlap is an integer: input pixel j covers
    ``[j*u, (j+1)*u)`` and output pixel i covers ``[i*t, (i+1)*t)`` with ``u = n_out/g``,
    ``t = n_in/g``. Returns ``idx`` (n_out, K) input indices, ``w`` (n_out, K) uint16 weights
    (each row sums to ``t``) and ``t``.
    """
    g = math.gcd(n_in, n_out)
    unit, total = n_out // g, n_in // g
    k_max = math.ceil(n_in / n_out) + 1
    idx = np.zeros((n_out, k_max), np.intp)
    w = np.zeros((n_out, k_max), np.uint16)
    for i in range(n_out):
        a, b = i * total, (i + 1) * total
        for k, j in enumerate(range(a // unit, min(-(-b // unit), n_in))):
            idx[i, k] = j
            w[i, k] = min(b, (j + 1) * unit) - max(a, j * unit)
    keep = w.any(axis=0)
    return idx[:, keep], w[:, keep], total


class FrameResizer:
    """(H, W, 3) uint8 frame -> (3, h, w) uint8, by exact area average or nearest pixel."""

    def __init__(self, in_hw: tuple[int, int], out_hw: tuple[int, int], method: str = "area") -> None:
        self.in_hw, self.out_hw, self.method = in_hw, out_hw, method
        (H, W), (h, w) = in_hw, out_hw
        if method == "nearest":
            self.rows = ((np.arange(h) + 0.5) * H / h).astype(np.intp)
            self.cols = ((np.arange(w) + 0.5) * W / w).astype(np.intp)
            return
        self.ri, self.rw, rt = area_taps(H, h)
        self.ci, self.cw, ct = area_taps(W, w)
        self.den = rt * ct
        if 255 * self.den >= 2**16 - self.den:
            raise ValueError(f"area resize {in_hw} -> {out_hw} overflows uint16; use method='nearest'")
        self.rw2 = self.rw[:, :, None]  # (h, K, 1) broadcast over W*3
        self.cw3 = self.cw[None, :, :, None]  # (1, w, K, 1)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        H, W = self.in_hw
        h, w = self.out_hw
        if self.method == "nearest":
            return np.ascontiguousarray(frame[self.rows][:, self.cols].transpose(2, 0, 1))
        x = frame.reshape(H, W * 3)
        t = np.take(x, self.ri[:, 0], axis=0).astype(np.uint16)
        t *= self.rw2[:, 0]
        for k in range(1, self.ri.shape[1]):
            t += np.take(x, self.ri[:, k], axis=0) * self.rw2[:, k]
        t = t.reshape(h, W, 3)
        o = np.take(t, self.ci[:, 0], axis=1)
        o *= self.cw3[:, :, 0]
        for k in range(1, self.ci.shape[1]):
            o += np.take(t, self.ci[:, k], axis=1) * self.cw3[:, :, k]
        o += self.den // 2
        o //= self.den
        return np.ascontiguousarray(o.astype(np.uint8).transpose(2, 0, 1))


# --------------------------------------------------------------------------------------
# Task envs


def _check_layout(suite: SuiteSpec, opts: AtariOptions):
    obs_space = space_from_spec(suite.observation)
    act_space = space_from_spec(suite.action)
    want = (3, opts.height, opts.width)
    if obs_space.shape != want or obs_space.dtype != np.uint8:
        raise SuiteError(f"{suite.path}: atari observation must be uint8 {list(want)}, got {obs_space}")
    if not isinstance(act_space, gym.spaces.Discrete) or act_space.n != 18 or not opts.full_action_space:
        raise SuiteError(f"{suite.path}: atari action must be discrete n = 18 with full_action_space = true")
    return obs_space, act_space


def _ale_env(suite: SuiteSpec, task: TaskSpec, opts: AtariOptions, own_sticky: bool = False) -> gym.Env:
    """``own_sticky``: frame skip 1 and no sticky actions inside ALE (the caller does both)."""
    ale_py = require("ale_py", suite.extra or "atari", suite.name)
    gym.register_envs(ale_py)
    return gym.make(
        task.env_id,
        obs_type="rgb",
        frameskip=1 if own_sticky else opts.frame_skip,
        repeat_action_probability=0.0 if own_sticky else opts.repeat_action_probability,
        full_action_space=opts.full_action_space,
        max_num_frames_per_episode=opts.max_num_frames_per_episode,
        disable_env_checker=True,
        **dict(task.kwargs),
    )


class AtariTaskEnv:
    """One ALE v5 game (official backend) mapped into the (3, 84, 84) / Discrete(18) layout.

    Frame skip and sticky actions are done here, frame by frame exactly as ALE v5 does them
    (each emulator frame repeats the previously executed action with probability p), but with
    a numpy Generator seeded by the trial seed. So a trial's randomness is a pure function of
    its job without reseeding the emulator, which in ale-py reloads the ROM (~90 ms a trial).
    """

    def __init__(self, suite: SuiteSpec, task: TaskSpec) -> None:
        self.opts = AtariOptions.from_suite(suite)
        self.observation_space, self.action_space = _check_layout(suite, self.opts)
        self.env = _ale_env(suite, task, self.opts, own_sticky=True)
        raw = self.env.unwrapped
        self.ale = raw.ale
        self.action_set = list(raw._action_set)
        self.noop = self.action_set[0]
        self.resize = FrameResizer(NATIVE_SHAPE[:2], (self.opts.height, self.opts.width), self.opts.resize)
        self.sticky_rng = np.random.default_rng(0)
        self.prev = self.noop

    def reset_episode(self, trial_seed: int, episode_index: int, ctx: StepContext, rng: np.random.Generator):
        if episode_index == 0:
            self.sticky_rng = np.random.default_rng(int(trial_seed))
        self.ale.reset_game()
        self.prev = self.noop  # ALE's reset clears the previously executed action too
        return self.resize(self.ale.getScreenRGB()), {}

    def step(self, action: Any, ctx_fn, rng: np.random.Generator):
        a = self.action_set[int(action)]
        p = self.opts.repeat_action_probability
        sticky = self.sticky_rng.random(self.opts.frame_skip) < p if p > 0 else None
        reward = 0.0
        prev = self.prev
        for f in range(self.opts.frame_skip):
            if sticky is None or not sticky[f]:
                prev = a
            reward += self.ale.act(prev)
        self.prev = prev
        ctx_fn(float(reward), True)
        terminated = self.ale.game_over(with_truncation=False)
        truncated = self.ale.game_truncated()
        return self.resize(self.ale.getScreenRGB()), float(reward), bool(terminated), bool(truncated), {}

    def close(self) -> None:
        self.env.close()


def envpool_task_id(task: TaskSpec) -> str:
    """``ALE/MsPacman-v5`` -> ``MsPacman-v5`` (EnvPool's name for the same game)."""
    return task.env_id.split("/")[-1]


def envpool_kwargs(opts: AtariOptions) -> dict[str, Any]:
    """EnvPool Atari options that reproduce the suite's ALE settings."""
    return dict(
        img_height=opts.height,
        img_width=opts.width,
        gray_scale=False,
        stack_num=1,
        frame_skip=opts.frame_skip,
        repeat_action_probability=opts.repeat_action_probability,
        full_action_space=opts.full_action_space,
        episodic_life=False,
        zero_discount_on_life_loss=False,
        reward_clip=False,
        noop_max=1,  # 1 = no random no-ops at reset (0 crashes EnvPool 1.2.5)
        use_fire_reset=False,
        use_inter_area_resize=opts.resize == "area",
        max_episode_steps=opts.max_agent_steps,
    )


class EnvpoolAtariTaskEnv:
    """One game through EnvPool (a one-env pool, rebuilt per trial so the trial seed applies)."""

    def __init__(self, suite: SuiteSpec, task: TaskSpec) -> None:
        self.envpool = require("envpool", "fast", suite.name)
        self.opts = AtariOptions.from_suite(suite)
        self.observation_space, self.action_space = _check_layout(suite, self.opts)
        self.task_id = envpool_task_id(task)
        if self.task_id not in self.envpool.list_all_envs():
            raise SuiteError(f"{suite.path}: task {task.name!r}: EnvPool has no Atari game {self.task_id!r}")
        self.kwargs = envpool_kwargs(self.opts)
        self.pool = None
        self._seed: int | None = None

    def reset_episode(self, trial_seed: int, episode_index: int, ctx: StepContext, rng: np.random.Generator):
        if self.pool is None or (episode_index == 0 and self.opts.reseed == "trial" and trial_seed != self._seed):
            if self.pool is not None:
                self.pool.close()
            self.pool = self.envpool.make_gymnasium(self.task_id, num_envs=1, seed=int(trial_seed), **self.kwargs)
            self._seed = trial_seed
        obs, _ = self.pool.reset()
        return np.array(obs[0]), {}

    def step(self, action: Any, ctx_fn, rng: np.random.Generator):
        obs, reward, terminated, truncated, _ = self.pool.step(np.array([int(action)]))
        r = float(reward[0])
        ctx_fn(r, True)
        return np.array(obs[0]), r, bool(terminated[0]), bool(truncated[0]), {}

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def make_task_env(suite: SuiteSpec, task: TaskSpec, backend: str):
    if backend == "official":
        return AtariTaskEnv(suite, task)
    if backend == "envpool":
        return EnvpoolAtariTaskEnv(suite, task)
    raise SuiteError(f"atari has no backend {backend!r}; valid: official, envpool")


# --------------------------------------------------------------------------------------
# Raw envs for `amago-bench bench envs`


class RawAtari:
    """The official env as a user would write it: ALE v5 plus the suite's resize, nothing else."""

    def __init__(self, suite: SuiteSpec, task: TaskSpec) -> None:
        self.opts = AtariOptions.from_suite(suite)
        self.env = _ale_env(suite, task, self.opts)
        self.resize = FrameResizer(NATIVE_SHAPE[:2], (self.opts.height, self.opts.width), self.opts.resize)
        self.action_space = self.env.action_space

    def reset(self, seed: int | None = None):
        obs, info = self.env.reset(seed=seed)
        return self.resize(obs), info

    def step(self, action):
        obs, r, te, tr, info = self.env.step(action)
        return self.resize(obs), r, te, tr, info

    def close(self) -> None:
        self.env.close()


def make_raw_env(suite: SuiteSpec, task: TaskSpec):
    """Single official env (reset/step, native spaces) for speed measurements."""
    return RawAtari(suite, task)


def make_raw_pool(suite: SuiteSpec, task: TaskSpec, num_envs: int, seed: int = 0):
    """A batched EnvPool of ``num_envs`` envs with the suite's settings (auto-resets itself)."""
    envpool = require("envpool", "fast", suite.name)
    return envpool.make_gymnasium(envpool_task_id(task), num_envs=num_envs, seed=seed,
                                  **envpool_kwargs(AtariOptions.from_suite(suite)))
