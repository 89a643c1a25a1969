"""On-policy collection for RL^2-PPO: a :class:`amago_bench.rollout.Rollout` consumer that turns
``run(collector, max_steps=L)`` into one segment of L steps per env.

Each segment row carries the GRU state its env had before the segment's first step (so the
update re-runs the GRU from there: truncated BPTT over segments), the reset mask of every step
(trials end and start inside a segment), and the value of the state after the segment (the GAE
bootstrap, from :meth:`RL2Agent.value` on the rollout's next step, memory untouched).

Dones: d_t = 1 when the trial ended at step t, whether it terminated or hit its time limit
(a truncated trial is treated as finished: no bootstrap across it; simple, and trial lengths
are fixed by the suite's protocol). An episode ending inside a trial is not a done.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from amago_bench.agents.rl2_ppo.agent import RL2Agent
from amago_bench.agents.rl2_ppo.learner import RewardScaler
from amago_bench.agents.rl2_ppo.losses import Segments, gae
from amago_bench.agents.rl2_ppo.config import PPOConfig
from amago_bench.policy import Step
from amago_bench.rollout import Job, Rollout


def _stack(rows: list[Any]) -> Any:
    """L arrays (N, ...) -> (N, L, ...) (dict observations: per key)."""
    if isinstance(rows[0], dict):
        return {k: np.stack([r[k] for r in rows], axis=1) for k in rows[0]}
    return np.stack(rows, axis=1)


class SegmentCollector:
    """Collects segments with ``agent`` (which must be the rollout's agent)."""

    def __init__(self, agent: RL2Agent, scaler: RewardScaler, ppo: PPOConfig) -> None:
        self.agent, self.scaler, self.ppo = agent, scaler, ppo
        self.returns: dict[str, list[float]] = {}
        self._clear()

    def _clear(self) -> None:
        self.rows: dict[str, list[Any]] = {k: [] for k in
                                           ("obs", "prev_action", "prev_reward", "time", "reset", "action", "logp",
                                            "value", "reward", "done", "valid")}
        self.state0: torch.Tensor | None = None

    # -- the Consumer protocol -----------------------------------------------------------------

    def on_step(self, step: Step, actions: np.ndarray, reward: np.ndarray, ended: np.ndarray, jobs: list[Job | None]) -> None:
        last = self.agent.last
        if self.state0 is None:
            self.state0 = last["state"].clone()
        r = self.rows
        r["obs"].append({k: np.array(v) for k, v in step.obs.items()} if isinstance(step.obs, dict) else np.array(step.obs))
        r["prev_action"].append(last["prev_action"])
        r["prev_reward"].append(np.asarray(step.prev_reward, np.float32).copy())
        r["time"].append(last["time"])
        r["reset"].append(last["reset"])
        r["action"].append(last["action"])
        r["logp"].append(last["logp"])
        r["value"].append(last["value"])
        r["reward"].append(self.scaler(np.asarray(reward, np.float64) * self.ppo.reward_multiplier, ended))
        r["done"].append(ended.astype(np.float32))
        r["valid"].append(np.ones(len(reward), bool) if step.active is None else np.asarray(step.active, bool).copy())

    def on_episode(self, slot: int, job: Job, record: dict[str, Any]) -> None:
        if record["scored"]:
            self.returns.setdefault(record["task"], []).append(record["return"])

    def on_trial(self, slot: int, job: Job, episodes: list[dict[str, Any]], last: Step) -> None:
        pass

    # -- segments ------------------------------------------------------------------------------

    def collect(self, rollout: Rollout, steps: int, device: torch.device) -> tuple[Segments, dict[str, Any]]:
        """Run ``steps`` vector steps and return them as :class:`Segments` with GAE advantages,
        plus stats (env steps, scored train returns per task)."""
        self._clear()
        self.returns = {}
        env_steps = rollout.run(self, max_steps=steps)
        nxt = Step(obs=rollout.obs, prev_action=rollout.prev_action, prev_reward=rollout.prev_reward,
                   new_trial=rollout.new_trial, new_episode=rollout.new_episode, episode_index=rollout.ep_index.copy(),
                   step_in_episode=rollout.t_in_ep.copy(), active=rollout.active.copy(), trial_seed=rollout.trial_seed.copy())
        last_value = self.agent.value(nxt)

        def t(x: Any, dtype=None) -> Any:
            if isinstance(x, dict):
                return {k: torch.as_tensor(v, device=device) for k, v in x.items()}
            return torch.as_tensor(np.ascontiguousarray(x), device=device, dtype=dtype)

        r = self.rows
        reward, value, done = (t(_stack(r[k]), torch.float32) for k in ("reward", "value", "done"))
        adv, ret = gae(reward, value, done, t(last_value, torch.float32), self.ppo.gamma, self.ppo.gae_lambda)
        seg = Segments(obs=t(_stack(r["obs"])), prev_action=t(_stack(r["prev_action"])),
                       prev_reward=t(_stack(r["prev_reward"])), time=t(_stack(r["time"])), reset=t(_stack(r["reset"])),
                       state=self.state0.to(device), action=t(_stack(r["action"])), logp=t(_stack(r["logp"]), torch.float32),
                       value=value, advantage=adv, returns=ret, valid=t(_stack(r["valid"])))
        return seg, {"env_steps": env_steps, "returns": self.returns}
