"""The acting AMAGO-2 agent: implements :class:`amago_bench.policy.Agent` on top of the model's
per-env memory (key/value cache, GRU state, or none).

One trial (k episodes) is one sequence: ``new_trial[i]`` clears env i's cache, ``new_episode[i]``
alone keeps it (in-context adaptation). A trial longer than the model's context keeps a
sliding window: when env i's cache is full, its newer half is kept and re-encoded at positions
0..context/2-1 (exactly what a training window that starts mid-trajectory sees), so the model
always acts on the last context/2 .. context tokens at a flat O(context) cost per step.

Load a trained agent with ``amago_bench.policy.load_agent("amago2", checkpoint=PATH)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from amago_bench.agents.amago2.config import AgentConfig
from amago_bench.agents.amago2.learner import learner_from_checkpoint, read_checkpoint
from amago_bench.agents.amago2.model import LOG_STD_MAX, LOG_STD_MIN, AmagoModel
from amago_bench.agents.checkpoint import CheckpointError, check_env_spec
from amago_bench.agents.device import pick_device
from amago_bench.agents.inputs import (actions_from_unit, actions_to_unit, memory_tree, obs_to_torch,
                                       restore_memory_tree, time_features)
from amago_bench.policy import EnvSpec, Step, TrialRngs


class Amago2Agent:
    """Batched in-context agent over a trained (or training) :class:`AmagoModel`.

    ``sample``: draw from pi (else take the most likely action / the mean); ``epsilon``: the
    probability of a uniformly random action (discrete) or the std of added noise (continuous),
    used by training-time collection. With ``cfg.train.explore_randomize`` each env's epsilon is
    ``epsilon`` times a factor drawn from U(0, 1) at the start of each of its trials.
    """

    name = "amago2"

    def __init__(self, model: AmagoModel, cfg: AgentConfig, suite: str | None = None, sample: bool = True,
                 epsilon: float = 0.0) -> None:
        self.model, self.cfg, self.suite = model, cfg, suite
        self.name = cfg.name
        self.sample, self.epsilon = sample, epsilon
        self.gamma_index = list(cfg.model.gammas).index(cfg.model.act_gamma)
        self.state: Any = None
        self.n = 0
        self.amp: bool | None = None
        """bf16 autocast while acting; None: on CUDA only."""

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def start(self, spec: EnvSpec, seed: int) -> None:
        check_env_spec(spec, self.suite, self.model.shapes, "amago2")
        self.n = spec.num_envs
        self.state = self.model.init_state(self.n, self.device)
        self.rngs = TrialRngs(self.n, seed)
        self.eps_scale = np.ones(self.n)

    def memory(self) -> dict[str, Any]:
        """Everything the agent carries between steps (the model's per-env memory, the per-trial
        generators, the exploration factors), as a tree of tensors and JSON values, so a
        training run's collection can continue exactly after a resume."""
        return {"state": memory_tree(self.state), "rngs": self.rngs.states(), "eps_scale": self.eps_scale.copy()}

    def restore_memory(self, mem: dict[str, Any]) -> None:
        """Load :meth:`memory` into an agent started with the same number of envs."""
        self.state = restore_memory_tree(self.state, mem["state"])
        self.rngs.restore(mem["rngs"])
        self.eps_scale = np.array(mem["eps_scale"], dtype=float)

    @torch.no_grad()
    def act(self, step: Step) -> np.ndarray:
        model, dev, shapes = self.model, self.device, self.model.shapes
        model.eval()
        clear = np.asarray(step.new_trial, bool)
        if step.active is not None:
            clear = clear | ~np.asarray(step.active, bool)  # parked slots keep no memory
        if clear.any():
            self.state = model.reset(self.state, torch.as_tensor(clear, device=dev))
        rngs = self.rngs.update(step)  # per-env, per-trial generators: every draw below uses them
        eps = self._epsilon(np.asarray(step.new_trial, bool), rngs)
        time = time_features(step.step_in_episode, step.episode_index, step.new_episode, shapes)
        prev_action = actions_to_unit(np.asarray(step.prev_action), shapes)
        amp = dev.type == "cuda" if self.amp is None else self.amp
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            h, self.state = model.step(obs_to_torch(step.obs, dev), torch.as_tensor(prev_action, device=dev),
                                       torch.as_tensor(step.prev_reward, device=dev, dtype=torch.float32),
                                       torch.as_tensor(time, device=dev), self.state)
            params = model.actor(h)[:, self.gamma_index : self.gamma_index + 1].float()  # (N, 1, A[, 2])
        self.last_params = params[:, 0].cpu()  # the policy of the last step (N, A[, 2]), for inspection
        a = draw_actions(self.last_params.double().numpy(), shapes.discrete, rngs, greedy=not self.sample)  # on the CPU
        if shapes.discrete:
            if self.epsilon > 0:
                for i, r in enumerate(rngs):
                    if r.random() < eps[i]:
                        a[i] = r.integers(0, shapes.action_dim)
            return a.astype(np.int64)
        if self.epsilon > 0:
            noise = np.stack([r.standard_normal(a.shape[1:]) for r in rngs])
            a = np.clip(a + eps[:, None] * noise, -1, 1)
        return actions_from_unit(a, shapes).astype(np.float32)

    def _epsilon(self, new_trial: np.ndarray, rngs: list[np.random.Generator]) -> np.ndarray:
        """Each env's exploration rate for this step (N,): new per-trial factors drawn first."""
        if self.epsilon <= 0:
            return np.zeros(self.n)
        if not self.cfg.train.explore_randomize:
            return np.full(self.n, self.epsilon)
        for i in np.flatnonzero(new_trial):
            self.eps_scale[i] = rngs[i].random()
        return self.epsilon * self.eps_scale


def draw_actions(params: np.ndarray, discrete: bool, rngs: list[np.random.Generator], greedy: bool) -> np.ndarray:
    """One action per env from its policy parameters ``params`` (N, A) logits, or (N, A, 2) mean and
    log-std of a tanh-Gaussian; env i's draw uses ``rngs[i]`` only. Returns (N,) ints or (N, A) in [-1, 1]."""
    if discrete:
        if greedy:
            return params.argmax(-1)
        probs = np.exp(params - params.max(-1, keepdims=True))
        cdf = np.cumsum(probs, -1)
        u = np.array([r.random() for r in rngs]) * cdf[:, -1]
        return np.minimum((cdf <= u[:, None]).sum(-1), params.shape[-1] - 1)
    mean, log_std = params[..., 0], np.clip(params[..., 1], LOG_STD_MIN, LOG_STD_MAX)
    if greedy:
        return np.tanh(mean)
    eps = np.stack([r.standard_normal(mean.shape[1:]) for r in rngs])
    return np.tanh(mean + np.exp(log_std) * eps)


def from_checkpoint(checkpoint: str | None = None, device: str | None = None, sample: bool | None = None) -> Amago2Agent:
    """The ``amago2`` factory for :func:`amago_bench.policy.load_agent`: config + weights from a
    checkpoint written by ``amago-bench train``."""
    if checkpoint is None:
        raise CheckpointError("agent 'amago2' needs a trained checkpoint: pass checkpoint=PATH "
                              "(e.g. runs/<suite>/amago2-small-seed0/checkpoint.pt from `amago-bench train`)")
    data = read_checkpoint(checkpoint)
    learner = learner_from_checkpoint(data, pick_device(device), weights_only=True)
    use_sample = learner.cfg.train.eval_sample if sample is None else sample
    return Amago2Agent(learner.model, learner.cfg, suite=data["suite"], sample=use_sample)
