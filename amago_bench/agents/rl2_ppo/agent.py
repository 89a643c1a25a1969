"""The acting RL^2-PPO agent: implements :class:`amago_bench.policy.Agent` over a :class:`RL2Model`.

Memory (RL^2): env i's GRU state is zeroed when ``new_trial[i]`` (and while its slot is parked)
and carried across ``new_episode[i]``, so the policy adapts within a trial from what earlier
episodes showed it.

Randomness: env i's actions are drawn from a numpy Generator seeded with ``trial_seed[i]`` when
its trial starts (inverse CDF on ``rng_i.random()`` for a categorical, ``rng_i.standard_normal``
for a Gaussian), so a trial's actions are a pure function of the trial and the weights, whatever
ran before it or in which slot.

Load a trained agent with ``load_agent("amago_bench.agents.rl2_ppo.agent:from_checkpoint", checkpoint=PATH)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from amago_bench.agents.checkpoint import CheckpointError, check_env_spec
from amago_bench.agents.device import pick_device
from amago_bench.agents.inputs import (actions_from_unit, actions_to_unit, memory_tree, obs_to_torch,
                                       restore_memory_tree, time_features)
from amago_bench.agents.rl2_ppo.config import RL2Config
from amago_bench.agents.rl2_ppo.learner import learner_from_checkpoint, read_checkpoint
from amago_bench.agents.rl2_ppo.model import RL2Model
from amago_bench.policy import EnvSpec, Step, TrialRngs


def _unsqueeze(obs: Any) -> Any:
    return {k: v[:, None] for k, v in obs.items()} if isinstance(obs, dict) else obs[:, None]


class RL2Agent:
    """Batched RL^2 agent. ``sample``: draw from pi (else the most likely action / the mean).

    After each :meth:`act`, ``last`` holds what an on-policy collector stores for that step:
    ``state`` (H, N, D) the GRU state the step started from (after resets), ``reset`` (N,) the
    rows zeroed before the step (new trial or parked), ``prev_action``
    (model scale), ``time`` (N, 3), ``action`` (N,) or (N, A) unclipped model-scale sample,
    ``logp`` (N,) and ``value`` (N,).
    """

    name = "rl2-ppo-gru"

    def __init__(self, model: RL2Model, cfg: RL2Config, suite: str | None = None, sample: bool = True) -> None:
        self.model, self.cfg, self.suite, self.sample = model, cfg, suite, sample
        self.name = cfg.name
        self.n = 0
        self.state: torch.Tensor | None = None
        self.rngs: TrialRngs | None = None
        self.last: dict[str, Any] = {}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def start(self, spec: EnvSpec, seed: int) -> None:
        check_env_spec(spec, self.suite, self.model.shapes, self.name)
        self.n = spec.num_envs
        self.state = self.model.init_state(self.n, self.device)
        self.rngs = TrialRngs(self.n, seed)

    def memory(self) -> dict[str, Any]:
        """The GRU state and the per-trial generators (see Amago2Agent.memory)."""
        return {"state": memory_tree(self.state), "rngs": self.rngs.states()}

    def restore_memory(self, mem: dict[str, Any]) -> None:
        self.state = restore_memory_tree(self.state, mem["state"])
        self.rngs.restore(mem["rngs"])

    @staticmethod
    def _reset_mask(step: Step) -> np.ndarray:
        """(N,) bool: the rows whose memory is cleared before this step (a trial starts; parked slots keep none)."""
        reset = np.asarray(step.new_trial, bool)
        return reset if step.active is None else reset | ~np.asarray(step.active, bool)

    def _forward(self, step: Step, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
        """One GRU step from ``state`` (reset rows zeroed first): (params (N, A), value (N,), new
        state, prev_action (model scale), time features), tensors on the model's device."""
        shapes, dev = self.model.shapes, self.device
        time = time_features(step.step_in_episode, step.episode_index, step.new_episode, shapes)
        prev = actions_to_unit(np.asarray(step.prev_action), shapes)
        params, value, new_state = self.model(
            _unsqueeze(obs_to_torch(step.obs, dev)), torch.as_tensor(prev, device=dev)[:, None],
            torch.as_tensor(step.prev_reward, device=dev, dtype=torch.float32)[:, None],
            torch.as_tensor(time, device=dev)[:, None], torch.as_tensor(self._reset_mask(step), device=dev)[:, None], state)
        return params[:, 0], value[:, 0], new_state, prev, time

    @torch.no_grad()
    def act(self, step: Step) -> np.ndarray:
        self.model.eval()
        shapes, dev = self.model.shapes, self.device
        rngs = self.rngs.update(step)  # env i's generator, reseeded from its trial seed at its trial start
        reset = self._reset_mask(step)
        state_in = self.state * torch.as_tensor(~reset, device=dev, dtype=self.state.dtype)[None, :, None]
        params, value, self.state, prev, time = self._forward(step, self.state)
        if shapes.discrete:
            probs = params.float().softmax(-1).cpu().numpy().astype(np.float64)
            if self.sample:  # inverse CDF on one uniform per env from its own generator
                u = np.array([rng.random() for rng in rngs])
                cdf = np.cumsum(probs, -1)
                a = np.minimum((cdf < (u * cdf[:, -1])[:, None]).sum(-1), shapes.action_dim - 1)
            else:
                a = probs.argmax(-1)
            raw = torch.as_tensor(a, dtype=torch.long, device=dev)
            env_action = a.astype(np.int64)
        else:
            raw = params.float()  # the mean
            if self.sample:
                z = np.stack([rng.standard_normal(shapes.action_dim) for rng in rngs]).astype(np.float32)
                raw = raw + self.model.log_std.exp() * torch.from_numpy(z).to(dev)
            env_action = actions_from_unit(np.clip(raw.cpu().numpy(), -1.0, 1.0), shapes).astype(np.float32)
        logp, _ = self.model.log_prob_entropy(params.float(), raw)
        self.last = {"state": state_in, "reset": reset, "prev_action": prev, "time": time, "action": raw.cpu().numpy(),
                     "logp": logp.cpu().numpy(), "value": value.float().cpu().numpy()}
        return env_action

    @torch.no_grad()
    def value(self, step: Step) -> np.ndarray:
        """V of ``step`` for every env (N,), from the current memory, which is left unchanged (the
        bootstrap value after a segment)."""
        self.model.eval()
        _, value, _, _, _ = self._forward(step, self.state.clone())
        return value.float().cpu().numpy()


def from_checkpoint(checkpoint: str | None = None, device: str | None = None, sample: bool | None = None) -> RL2Agent:
    """Factory for :func:`amago_bench.policy.load_agent`: config + weights from a checkpoint
    written by the RL^2-PPO trainer."""
    if checkpoint is None:
        raise CheckpointError("agent 'rl2-ppo-gru' needs a trained checkpoint: pass checkpoint=PATH "
                              "(e.g. runs/<suite>/rl2-ppo-gru-small-seed0/checkpoint.pt from `amago-bench train`)")
    data = read_checkpoint(checkpoint)
    learner = learner_from_checkpoint(data, pick_device(device), weights_only=True)
    use_sample = learner.cfg.train.eval_sample if sample is None else sample
    return RL2Agent(learner.model, learner.cfg, suite=data["suite"], sample=use_sample)
