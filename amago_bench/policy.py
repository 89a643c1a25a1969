"""The agent protocol: every agent the harness evaluates or trains implements this.

Agents are batched: one call acts for all N envs of a vector env. Memory is the agent's
own business, governed by two explicit masks on every step:

* ``new_trial[i]``  - env i starts a new trial: clear all memory for env i.
* ``new_episode[i]`` - env i starts a new episode *inside* the same trial: keep memory
  (this is what in-context adaptation feeds on); it is also True when ``new_trial[i]`` is.

What an agent sees at the boundaries (the rollout loop in ``amago_bench/rollout.py`` is the
one place that sets it):

* first step of a trial: ``new_trial`` and ``new_episode`` True, ``prev_action`` and
  ``prev_reward`` zero, ``episode_index`` 0, ``step_in_episode`` 0, and a fresh ``trial_seed``;
* first step of a later episode of the same trial: ``new_episode`` True, ``new_trial`` False,
  ``prev_action``/``prev_reward`` the LAST action and reward of the episode that just ended
  (not zero: the reward that finished episode 1 is often the one worth remembering),
  ``episode_index`` advanced, ``step_in_episode`` 0.

Rewards are what the suite's trial protocol shows: in a suite whose trial zeroes the rewards of
unscored episodes (``zero_unscored_rewards``, e.g. popgym27's first episode) ``prev_reward`` is 0
during those episodes and the task's feedback reaches the agent only through the observation.
``amago-bench suites --tasks SUITE`` prints each suite's protocol.

Randomness: an agent that samples should draw, for env i, from a generator seeded with
``trial_seed[i]`` when ``new_trial[i]`` is True. ``trial_seed`` is a pure function of
(run seed, task, trial index), so results do not depend on which trials ran before, in which
order, or in which env slot: a resumed evaluation then equals an uninterrupted one.

A stateless agent can ignore both masks. Agents are loaded by name (``random``, ``amago2``, ...)
or as ``module:attr`` where ``attr`` is a class or a zero-argument factory.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from amago_bench.errors import AgentCodeError, UserError


@dataclass(frozen=True)
class EnvSpec:
    """What an agent is told about the suite before acting."""

    suite: str
    observation_space: gym.Space
    """Unified single-env observation space."""
    action_space: gym.Space
    """Unified single-env action space."""
    num_envs: int
    episodes_per_trial: int
    max_episode_steps: int


@dataclass(frozen=True)
class Step:
    """One batched observation for N envs.

    Shapes: ``obs`` (N, *obs_shape) or a dict of such arrays; ``prev_action`` (N,) for
    Discrete or (N, *act_shape) for Box; ``prev_reward`` (N,) float32 - both zero at a TRIAL
    start only (at a later episode start they carry the previous episode's last action and
    reward); ``new_trial``, ``new_episode`` (N,) bool; ``episode_index``,
    ``step_in_episode`` (N,) int64; ``trial_seed`` (N,) int64, the current trial's seed for
    the agent's own random draws (constant during a trial; see the module docstring).
    """

    obs: Any
    prev_action: np.ndarray
    prev_reward: np.ndarray
    new_trial: np.ndarray
    new_episode: np.ndarray
    episode_index: np.ndarray
    step_in_episode: np.ndarray
    active: np.ndarray = field(default=None)  # type: ignore[assignment]
    """(N,) bool: False for parked envs whose actions are ignored."""
    trial_seed: np.ndarray = field(default=None)  # type: ignore[assignment]
    """(N,) int64: each env's current trial seed (0 for parked envs)."""


class AgentLoadError(UserError, ValueError):
    """An agent cannot be loaded or started; the message names the fix."""


@runtime_checkable
class Agent(Protocol):
    """A batched agent. ``start`` is called once per evaluation/collection, then ``act`` every step."""

    name: str

    def start(self, spec: EnvSpec, seed: int) -> None:
        """Prepare for ``spec.num_envs`` envs; all explicit randomness derives from ``seed``."""

    def act(self, step: Step) -> np.ndarray:
        """Actions for all N envs: shape (N,) ints for Discrete, (N, *shape) floats for Box."""


class TrialRngs:
    """One numpy Generator per env, reseeded from ``Step.trial_seed`` at each of its trial starts:
    the draws of a trial then depend on that trial alone (see the module docstring). Without
    trial seeds (a hand-made Step) env i falls back to a generator seeded with (seed, i)."""

    def __init__(self, num_envs: int, seed: int) -> None:
        self.rngs = [np.random.default_rng([int(seed), i]) for i in range(num_envs)]

    def states(self) -> list[dict[str, Any]]:
        """Every generator's state (JSON values), for saving an agent's memory."""
        return [r.bit_generator.state for r in self.rngs]

    def restore(self, states: list[dict[str, Any]]) -> None:
        for r, st in zip(self.rngs, states, strict=True):
            r.bit_generator.state = st

    def update(self, step: Step) -> list[np.random.Generator]:
        """Reseed the envs that start a trial; returns the generators, one per env."""
        if step.trial_seed is not None:
            for i in np.flatnonzero(np.asarray(step.new_trial, bool)):
                self.rngs[i] = np.random.default_rng(int(step.trial_seed[i]))
        return self.rngs


class RandomAgent:
    """Uniform random actions from the unified action space, drawn from per-trial generators."""

    name = "random"

    def __init__(self) -> None:
        self.spec: EnvSpec | None = None

    def start(self, spec: EnvSpec, seed: int) -> None:
        space = spec.action_space
        if not isinstance(space, (gym.spaces.Discrete, gym.spaces.Box)):
            raise AgentLoadError(f"agent 'random' supports Discrete and Box action spaces, not {space}")
        self.spec = spec
        self.rngs = TrialRngs(spec.num_envs, seed)

    def act(self, step: Step) -> np.ndarray:
        assert self.spec is not None, "call start() first"
        space = self.spec.action_space
        rngs = self.rngs.update(step)
        if isinstance(space, gym.spaces.Discrete):
            return np.array([r.integers(space.start, space.start + space.n) for r in rngs], np.int64)
        return np.stack([r.uniform(space.low, space.high).astype(space.dtype) for r in rngs])


class ProbeOracle:
    """The optimal in-context strategy for the scale-probe bandit.

    Sweeps the arms in order until one pays, then pulls that arm for the rest of the trial.
    It uses only what any agent sees (previous action and reward) and keeps one remembered
    arm per env, cleared on ``new_trial``: a worked example of the memory protocol.
    """

    name = "probe-oracle"

    def start(self, spec: EnvSpec, seed: int) -> None:
        if not isinstance(spec.action_space, gym.spaces.Discrete):
            raise TypeError("ProbeOracle needs a Discrete action space (the scale-probe suite)")
        self.n_arms = int(spec.action_space.n)
        self.known = np.full(spec.num_envs, -1)
        self.next_arm = np.zeros(spec.num_envs, dtype=np.int64)

    def act(self, step: Step) -> np.ndarray:
        self.known[step.new_trial] = -1
        self.next_arm[step.new_trial] = 0
        cont = ~step.new_episode
        paid = cont & (step.prev_reward > 0) & (self.known < 0)
        self.known[paid] = step.prev_action[paid]
        searching = self.known < 0
        tried = cont & searching
        self.next_arm[tried] = (step.prev_action[tried] + 1) % self.n_arms
        return np.where(searching, self.next_arm, self.known).astype(np.int64)


BUILTIN_AGENTS: dict[str, str] = {
    "random": "amago_bench.policy:RandomAgent",
    "probe-oracle": "amago_bench.policy:ProbeOracle",
    "amago2": "amago_bench.agents.amago2.agent:from_checkpoint",
    "rl2-ppo-gru": "amago_bench.agents.rl2_ppo.agent:from_checkpoint",
}


def canonical_ref(ref: str, cwd: str | None = None) -> str:
    """One spelling per agent reference, so the same code loaded two ways is one agent.

    ``path/to/mod.py:attr`` becomes the name the file has when imported from the current folder
    (``path.to.mod:attr``, what ``--agent path.to.mod:attr`` loads), or ``mod:attr`` for a file
    outside it (or whose path is no module name); built-in names and ``module:attr`` are
    returned as they are. ``myagent.py:MyAgent`` and ``myagent:MyAgent`` are both
    ``myagent:MyAgent``.
    """
    import os

    target, sep, attr = ref.rpartition(":")
    if not sep or not target.endswith(".py"):
        return ref
    base = os.path.abspath(cwd or os.getcwd())
    path = os.path.abspath(os.path.join(base, target))
    rel = os.path.relpath(path, base)
    parts = rel[:-3].split(os.sep)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if rel.startswith(os.pardir) or not parts or not all(p.isidentifier() for p in parts):
        parts = [os.path.basename(path)[:-3]]
    return f"{'.'.join(parts)}:{attr}"


def load_agent(ref: str, **kwargs: Any) -> Agent:
    """Build an agent from a built-in name, ``module:attr`` or ``path/to/file.py:attr``.

    ``attr`` names a class or a factory; ``kwargs`` (e.g. ``checkpoint=``) go to it. A module
    in the current folder is found without ``PYTHONPATH=.`` (the folder goes first on
    ``sys.path``, as with ``python -m``, when it holds that module or package).
    """
    import os
    import sys
    from importlib.util import module_from_spec, spec_from_file_location

    target = BUILTIN_AGENTS.get(ref, ref)
    if ":" not in target:
        raise AgentLoadError(
            f"unknown agent {ref!r}; use a built-in ({', '.join(sorted(BUILTIN_AGENTS))}), "
            f"'module:attr' or 'path/to/file.py:attr' naming a class or factory"
        )
    mod_name, attr = target.rsplit(":", 1)
    try:
        if mod_name.endswith(".py"):
            path = os.path.abspath(mod_name)
            if not os.path.isfile(path):
                raise AgentLoadError(f"agent file {mod_name} does not exist (agent {ref!r}); fix the path")
            unique = "amago_bench_agent_" + "".join(c if c.isalnum() else "_" for c in path)
            spec = spec_from_file_location(unique, path)
            mod = module_from_spec(spec)
            sys.modules[unique] = mod  # dataclasses and pickling look modules up there
            spec.loader.exec_module(mod)
        else:
            cwd, top = os.getcwd(), mod_name.split(".")[0]
            if os.path.isfile(os.path.join(cwd, top + ".py")) or os.path.isdir(os.path.join(cwd, top)):
                if cwd not in sys.path:
                    sys.path.insert(0, cwd)
            mod = importlib.import_module(mod_name)
    except ImportError as exc:
        from amago_bench.installation import missing_package_hint

        hint = missing_package_hint(exc.name) if isinstance(exc, ModuleNotFoundError) else None
        raise AgentLoadError(f"cannot import module {mod_name!r} for agent {ref!r}: {exc}"
                             + (f"; {hint}" if hint else "")) from exc
    except UserError:
        raise
    except Exception as exc:  # the user's module itself fails to import (SyntaxError, NameError...)
        raise AgentCodeError(ref, f"importing {mod_name}", exc) from exc
    try:
        obj = getattr(mod, attr)
    except AttributeError as exc:
        raise AgentLoadError(f"module {mod_name!r} has no attribute {attr!r} (agent {ref!r})") from exc
    if callable(obj):
        import inspect

        try:
            inspect.signature(obj).bind(**kwargs)
        except TypeError:
            given = ", ".join(f"{k}=" for k in kwargs) or "no arguments"
            what = "--checkpoint" if "checkpoint" in kwargs else "its required arguments"
            raise AgentLoadError(f"agent {ref!r} cannot be built with {given} ({attr}{inspect.signature(obj)}); "
                                 f"{'drop ' + what if kwargs else 'give it defaults or wrap it in a zero-argument factory'}"
                                 ) from None
        except ValueError:
            pass  # no signature (builtins): just call it
        try:
            agent = obj(**kwargs)
        except UserError:
            raise
        except Exception as exc:
            raise AgentCodeError(ref, f"{attr}()", exc) from exc
    else:
        agent = obj
    missing = [m for m in ("start", "act") if not callable(getattr(agent, m, None))]
    if missing:
        raise AgentLoadError(f"agent {ref!r} lacks method(s) {', '.join(missing)}; see amago_bench.policy.Agent")
    if not getattr(agent, "name", None):
        try:
            agent.name = canonical_ref(ref)
        except AttributeError:
            pass
    return agent
