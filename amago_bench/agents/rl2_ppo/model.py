"""The RL^2-PPO network, top to bottom.

    tokens ──► TimestepEncoder ──► GRU ──► h ──► policy MLP  (logits (A) | Gaussian mean (A))
    (obs, prev action,  (B, L, T)   (state     (B, L, D)  └─► value MLP (1)
     prev reward, time)              carried)

The timestep encoder is the one amago2 uses (:mod:`amago_bench.agents.timestep`; the same inputs:
observation, previous action one-hot or in [-1, 1], symlog previous reward, time features); there
is no task id. Continuous actions are a Gaussian over the model's [-1, 1] scale with a state-independent log std (the env gets the
sample clipped to [-1, 1] and mapped to its bounds).

Shapes: B sequences, L steps, N parallel envs when acting, T = tstep_dim, D = d_model (GRU
hidden), A = action dim (number of actions when discrete), H = GRU layers. The recurrent state
is (H, B, D). ``reset`` (B,) bool rows are zeroed *before* their step is read: a step whose
``reset`` is set is the first step of a trial.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from amago_bench.agents.rl2_ppo.config import ModelConfig
from amago_bench.agents.shapes import Shapes
from amago_bench.agents.timestep import TimestepEncoder


def _mlp(d_in: int, hidden: int, d_out: int, out_gain: float) -> nn.Sequential:
    net = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, d_out))
    for layer in net:
        if isinstance(layer, nn.Linear):  # orthogonal init as in most PPO implementations
            nn.init.orthogonal_(layer.weight, math.sqrt(2))
            nn.init.zeros_(layer.bias)
    nn.init.orthogonal_(net[-1].weight, out_gain)
    return net


class RL2Model(nn.Module):
    def __init__(self, shapes: Shapes, cfg: ModelConfig) -> None:
        super().__init__()
        self.shapes, self.cfg = shapes, cfg
        self.encoder = TimestepEncoder(shapes, cfg)  # reads cnn, tstep_hidden, tstep_dim
        self.gru = nn.GRU(cfg.tstep_dim, cfg.d_model, num_layers=cfg.layers, batch_first=True)
        self.policy = _mlp(cfg.d_model, cfg.head_hidden, shapes.action_dim, 0.01)
        self.value = _mlp(cfg.d_model, cfg.head_hidden, 1, 1.0)
        self.log_std = None if shapes.discrete else nn.Parameter(torch.full((shapes.action_dim,), cfg.init_log_std))

    def init_state(self, n: int, device: torch.device | str) -> torch.Tensor:
        return torch.zeros(self.cfg.layers, n, self.cfg.d_model, device=device)

    def forward(self, obs, prev_action: torch.Tensor, prev_reward: torch.Tensor, time: torch.Tensor,
                reset: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run L steps: inputs (B, L, ...), ``reset`` (B, L) bool, ``state`` (H, B, D) before step 0.

        Returns (policy params (B, L, A), values (B, L), state after the last step (H, B, D)).
        The GRU runs one step at a time so that rows whose trial starts mid-sequence start from zero.
        """
        x = self.encoder(obs, prev_action, prev_reward, time)  # (B, L, T)
        keep = (~reset).to(x.dtype)  # (B, L)
        outs = []
        for t in range(x.shape[1]):
            state = state * keep[None, :, t, None]
            out, state = self.gru(x[:, t : t + 1], state)
            outs.append(out)
        h = torch.cat(outs, dim=1)  # (B, L, D)
        return self.policy(h), self.value(h)[..., 0], state

    # -- the policy distribution ---------------------------------------------------------------

    def log_prob_entropy(self, params: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log pi(a) and the entropy of pi: params (..., A), actions (...) long or (..., A) -> (...), (...)."""
        if self.shapes.discrete:
            logp = params.log_softmax(-1)
            return logp.gather(-1, actions.long()[..., None])[..., 0], -(logp.exp() * logp).sum(-1)
        log_std = self.log_std.expand_as(params)
        lp = -0.5 * ((actions - params) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
        ent = (log_std + 0.5 * (1 + math.log(2 * math.pi))).sum(-1)
        return lp.sum(-1), ent
