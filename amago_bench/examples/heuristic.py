"""A heuristic agent written against the agent protocol: win-stay, lose-shift on scale-probe.

Score it (from any folder: it ships with the package; a copy of this file works by path too)::

    amago-bench evaluate --suite scale-probe --agent amago_bench.examples.heuristic:WinStayLoseShift --trials-per-task 8
    amago-bench evaluate --suite scale-probe --agent path/to/heuristic.py:WinStayLoseShift

scale-probe is a 4-armed bandit: each trial hides one paying arm, and a trial is 2 episodes of
4 pulls on the same arm; only the second episode is scored. The rule: pull the arm that paid on
the last pull, else the next arm in order. It needs no memory of its own, because the harness
hands every agent the previous action and reward, and at the first step of a later episode of
the same trial these are the last action and reward of the episode that just ended (they are
zero only at a trial start). Four pulls always find the arm, so the second episode pulls it
every time: the normalised score is 1 on every reward scale.

What the protocol asks of an agent (see ``amago_bench/policy.py``):

* ``name``: how results are labelled;
* ``start(spec, seed)``: called once per evaluation with the spaces and the number of envs N;
* ``act(step)``: one batched call for all N envs; return N actions. ``step.new_trial[i]``
  means "forget everything about env i"; ``step.new_episode[i]`` alone means "a new episode
  of the same task variant: keep what you learnt".
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from amago_bench.policy import EnvSpec, Step


class WinStayLoseShift:
    name = "win-stay-lose-shift"
    version = "1"  # bump when the rule changes, so new results are not mixed with old ones

    def start(self, spec: EnvSpec, seed: int) -> None:
        if not isinstance(spec.action_space, gym.spaces.Discrete):
            raise TypeError(f"WinStayLoseShift needs a Discrete action space; suite {spec.suite!r} has {spec.action_space}")
        self.n_arms = int(spec.action_space.n)

    def act(self, step: Step) -> np.ndarray:
        prev = np.asarray(step.prev_action, np.int64)
        stay = step.prev_reward > 0  # also across an inner-episode boundary: prev_* carry over
        actions = np.where(stay, prev, (prev + 1) % self.n_arms)
        return np.where(step.new_trial, 0, actions)  # a new trial: nothing known, start the sweep at arm 0
