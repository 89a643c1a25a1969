"""The RL^2-PPO losses, top to bottom.

Shapes: B env-sequences, L steps (one segment), A action dim. Every array is (B, L) unless said.

GAE(lambda) over a segment (Schulman et al. 2016), with d_t = 1 when the TRIAL ended at step t
(an episode ending inside a trial is not a done: in RL^2 the trial is the episode), and V_L the
value of the state after the segment (the bootstrap):

    delta_t = r_t + gamma * (1 - d_t) * V_{t+1} - V_t
    A_t     = delta_t + gamma * lambda * (1 - d_t) * A_{t+1}        (A_L = 0)
    R_t     = A_t + V_t                                              (the value target)

PPO (Schulman et al. 2017), on the valid steps of a minibatch, with rho = exp(log pi - log pi_old)
and A standardised over the minibatch when ``normalize_advantages``:

    policy  = -mean( min(rho * A, clip(rho, 1 - eps, 1 + eps) * A) )
    value   = 0.5 * mean( max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2) )   (c = value_clip; c = 0: plain MSE)
    entropy = mean( H[pi] )
    loss    = policy + value_weight * value - entropy_weight * entropy
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch

from amago_bench.agents.rl2_ppo.config import PPOConfig
from amago_bench.agents.rl2_ppo.model import RL2Model


def gae(rewards: torch.Tensor, values: torch.Tensor, dones: torch.Tensor, last_value: torch.Tensor,
        gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(advantages, returns), each (B, L), from rewards, values, dones (B, L) and last_value (B,)."""
    adv = torch.zeros_like(rewards)
    next_adv = torch.zeros_like(last_value)
    next_value = last_value
    for t in reversed(range(rewards.shape[1])):
        cont = 1.0 - dones[:, t]
        delta = rewards[:, t] + gamma * cont * next_value - values[:, t]
        next_adv = delta + gamma * lam * cont * next_adv
        adv[:, t] = next_adv
        next_value = values[:, t]
    return adv, adv + values


@dataclass
class Segments:
    """Collected on-policy data: B env-sequences of L steps (see collector.py)."""

    obs: Any
    """(B, L, *obs_shape) or a dict of such."""
    prev_action: torch.Tensor
    """(B, L) long, or (B, L, A) in the model's [-1, 1]."""
    prev_reward: torch.Tensor
    """(B, L) the previous reward as the agent saw it (raw: acting and training see the same input)."""
    time: torch.Tensor
    """(B, L, 3) time features."""
    reset: torch.Tensor
    """(B, L) bool: the GRU state is zeroed before the step (a trial starts there, or the slot is parked)."""
    state: torch.Tensor
    """(H, B, D): each sequence's GRU state before its first step (truncated BPTT starts here)."""
    action: torch.Tensor
    """(B, L) long, or (B, L, A) the unclipped Gaussian sample."""
    logp: torch.Tensor
    """(B, L) log pi_old(a)."""
    value: torch.Tensor
    """(B, L) V_old."""
    advantage: torch.Tensor
    """(B, L) GAE advantages (of the normalised rewards)."""
    returns: torch.Tensor
    """(B, L) value targets A + V_old."""
    valid: torch.Tensor
    """(B, L) bool: the env was active (parked slots are masked out of every loss)."""

    def rows(self, idx: torch.Tensor) -> "Segments":
        """The sequences ``idx`` (a minibatch of whole env-sequences)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "state":
                out[f.name] = v[:, idx]
            elif isinstance(v, dict):
                out[f.name] = {k: x[idx] for k, x in v.items()}
            else:
                out[f.name] = v[idx]
        return Segments(**out)


def _mean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    return (x * valid).sum() / valid.sum().clamp(min=1)


def ppo_loss(model: RL2Model, seg: Segments, cfg: PPOConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """The PPO loss of one minibatch (module docstring); re-runs the GRU from ``seg.state``."""
    valid = seg.valid.float()
    params, value, _ = model(seg.obs, seg.prev_action, seg.prev_reward, seg.time, seg.reset, seg.state)
    logp, entropy = model.log_prob_entropy(params, seg.action)

    adv = seg.advantage
    if cfg.normalize_advantages:
        mu = _mean(adv, valid)
        sd = _mean((adv - mu) ** 2, valid).sqrt()
        adv = (adv - mu) / (sd + 1e-8)

    ratio = (logp - seg.logp).exp()
    policy = -_mean(torch.min(ratio * adv, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * adv), valid)

    err = (value - seg.returns) ** 2
    if cfg.value_clip > 0:
        clipped = seg.value + (value - seg.value).clamp(-cfg.value_clip, cfg.value_clip)
        err = torch.max(err, (clipped - seg.returns) ** 2)
    value_loss = 0.5 * _mean(err, valid)

    ent = _mean(entropy, valid)
    loss = policy + cfg.value_weight * value_loss - cfg.entropy_weight * ent

    with torch.no_grad():
        log_ratio = logp - seg.logp
        metrics = {
            "loss/total": float(loss), "loss/policy": float(policy), "loss/value": float(value_loss),
            "loss/entropy": float(ent),
            "ppo/approx_kl": float(_mean((ratio - 1) - log_ratio, valid)),
            "ppo/clip_fraction": float(_mean(((ratio - 1).abs() > cfg.clip).float(), valid)),
        }
    return loss, metrics
