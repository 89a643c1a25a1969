"""The AMAGO-2 losses, top to bottom: two switches on one agent.

    critic = "ind": -twohot_B(symlog y)^T log softmax Q_B(h, a)     (bins evenly spaced in symlog space)
    critic = "dep": (Q(h, a) - PopArt(y))^2                          (one global PopArt layer)
    actor  = "ind": -1{Q(h, a) - E_{a'~pi} Q(h, a') > 0} * log pi(a | h)   (binary filtered BC)
    actor  = "dep": -Q(h, a ~ pi)                                    (expectation over pi if discrete,
                                                                      reparameterised if continuous)
    "ind" with online_weight w > 0 (AMAGO-1's mix, off by default):
             bc_weight * (filtered BC above) + w * -Q(h, a ~ pi) / std(y)   (std per discount, over the batch)
    y = reward_multiplier * clip(r) + gamma * (1 - done) * mean (or min) of 2 random target critics at (h', a' ~ pi(h'))
        (a' from a Polyak copy of the actor when target_actor is on)
    expectation = "exact" (discrete actions): E_{a'~pi} and the baseline's E_{a'~pi} are sums over every action
        weighted by pi instead of samples
    ensemble = "min": the TD target and the online term take the min over critics (clipped double Q)
    total = mean over valid transitions, gammas and critics of  L_actor + critic_weight * L_critic

A batch holds B windows of L tokens; transition t goes from token t to token t+1, so the
losses cover positions 0..L-2 and ``valid`` (B, L) marks real transitions: padding and the
last token of a window never reach a loss (they are selected out with ``torch.where``, so
even garbage in padded tokens cannot leak in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from amago_bench.agents.amago2.config import LossConfig
from amago_bench.agents.amago2.model import (AmagoModel, CriticEnsemble, log_prob, log_std_of, rsample_actions, sample_actions,
                                             symexp, symlog)


class TwoHot(nn.Module):
    """B bins evenly spaced in symlog space on [symlog(-R), symlog(R)]."""

    def __init__(self, bins: int, value_range: float) -> None:
        super().__init__()
        lim = float(symlog(torch.tensor(value_range)))
        self.register_buffer("centers", torch.linspace(-lim, lim, bins))

    def encode(self, y: torch.Tensor) -> torch.Tensor:
        """Scalars (...) -> two-hot probabilities (..., B): mass on the two bins around symlog(y)."""
        c = self.centers
        B = c.shape[0]
        x = symlog(y).clamp(c[0], c[-1])
        pos = (x - c[0]) / (c[-1] - c[0]) * (B - 1)
        lo = pos.floor().clamp(max=B - 2)
        w_hi = (pos - lo).unsqueeze(-1)
        lo = lo.long().unsqueeze(-1)
        out = torch.zeros(*y.shape, B, device=y.device, dtype=y.dtype)
        out.scatter_(-1, lo, 1.0 - w_hi)
        out.scatter_add_(-1, lo + 1, w_hi)
        return out

    def decode(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits (..., B) -> scalars (...) = symexp(sum_i p_i b_i)."""
        return symexp((logits.float().softmax(-1) * self.centers).sum(-1))


class PopArt(nn.Module):
    """One global running mean/std of TD targets; rescales the critics' output layers on every
    update so their de-normalised outputs are preserved (van Hasselt et al. 2016).

    ``all_sum`` (a tensor -> its sum over data-parallel ranks; None in one process) makes the
    statistics those of every rank's targets, so every rank rescales its critics alike."""

    def __init__(self, beta: float) -> None:
        super().__init__()
        self.beta = beta
        self.all_sum: Any = None
        self.register_buffer("mu", torch.zeros(()))
        self.register_buffer("nu", torch.ones(()))
        self.register_buffer("count", torch.zeros(()))

    @property
    def sigma(self) -> torch.Tensor:
        return (self.nu - self.mu**2).clamp(min=1e-8).sqrt().clamp(min=1e-4, max=1e6)

    def normalise(self, y: torch.Tensor) -> torch.Tensor:
        return (y - self.mu) / self.sigma

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.sigma + self.mu

    @torch.no_grad()
    def update(self, y: torch.Tensor, critics: list[CriticEnsemble]) -> None:
        """y: the valid targets (M,), M >= 0; no targets (on any rank): no change. The rate is
        max(beta, 1/updates) so early stats are plain means."""
        if self.all_sum is None:
            if y.numel() == 0:
                return
            mean, mean_sq = y.float().mean(), y.float().pow(2).mean()
        else:  # sums and counts over ranks: the moments of all ranks' targets
            sums = self.all_sum(torch.stack([y.float().sum(), y.float().pow(2).sum(), y.new_tensor(y.numel(), dtype=torch.float32)]))
            if float(sums[2]) == 0:
                return
            mean, mean_sq = sums[0] / sums[2], sums[1] / sums[2]
        self.count += 1
        b = max(self.beta, 1.0 / float(self.count))
        old_mu, old_sigma = self.mu.clone(), self.sigma.clone()
        self.mu.mul_(1 - b).add_(b * mean)
        self.nu.mul_(1 - b).add_(b * mean_sq)
        new_sigma = self.sigma
        for c in critics:
            c.out.weight.mul_(old_sigma / new_sigma)
            c.out.bias.mul_(old_sigma).add_(old_mu - self.mu).div_(new_sigma)


@dataclass
class Batch:
    """B windows of L tokens (torch tensors on the learner's device).

    obs (B, L, *obs_shape) or dict; prev_action (B, L) long or (B, L, A); prev_reward (B, L);
    time (B, L, 3); action (B, L) long or (B, L, A) (the action taken at token t); reward (B, L);
    done (B, L) float (1 where the transition ends the trial); valid (B, L) bool (transition
    t -> t+1 exists inside the window).
    """

    obs: Any
    prev_action: torch.Tensor
    prev_reward: torch.Tensor
    time: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    done: torch.Tensor
    valid: torch.Tensor


def _masked_mean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean of x (B, L, ...) over valid (B, L) positions (and all trailing dims)."""
    v = valid.reshape(*valid.shape, *([1] * (x.dim() - valid.dim()))).expand_as(x)
    return torch.where(v, x, torch.zeros((), device=x.device, dtype=x.dtype)).sum() / v.sum().clamp(min=1)


def amago_loss(
    model: AmagoModel,
    target_critics: CriticEnsemble,
    twohot: TwoHot,
    popart: PopArt,
    batch: Batch,
    cfg: LossConfig,
    generator: torch.Generator | None = None,
    target_actor: nn.Module | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The total loss of one batch and its metrics. ``target_actor`` (when the config's
    target_actor is on): the Polyak copy of the actor that picks the TD target's next actions."""
    discrete = model.shapes.discrete
    gammas = target_critics.horizon.new_tensor(model.cfg.gammas)  # (G,)
    C = model.cfg.critics

    def value(q: torch.Tensor) -> torch.Tensor:  # critic outputs (..., O) -> scalar values (...)
        return twohot.decode(q) if cfg.critic == "ind" else popart.denormalise(q[..., 0].float())

    # -- sequence model: every token, then split into (t, t+1) pairs --------------------------
    h = model.encode(batch.obs, batch.prev_action, batch.prev_reward, batch.time)  # (B, L, D)
    pi = model.actor(h)  # (B, L, G, A[, 2])
    h_t, h_next = h[:, :-1], h[:, 1:]  # (B, L-1, D)
    pi_t, pi_next = pi[:, :-1], pi[:, 1:]
    valid = batch.valid[:, :-1]  # (B, L-1)
    a_t = batch.action[:, :-1]  # (B, L-1) or (B, L-1, A)
    G = gammas.shape[0]

    def combine(q: torch.Tensor) -> torch.Tensor:  # critics first (C', ...) -> (...)
        return q.min(0).values if cfg.ensemble == "min" else q.mean(0)

    def every_action(critics: CriticEnsemble, z_: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
        """Values of every discrete action, no gradients: z_ (C', B*(L-1), H) -> (C', B, L-1, A, G)."""
        A = model.shapes.action_dim
        every = torch.arange(A, device=h.device).reshape(1, 1, A, 1).expand(*h_t.shape[:2], A, G)
        return critics.values(z_, every, value, idx=idx)

    def expected(q_all: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:  # (..., A, G), pi (..., G, A) -> (..., G)
        return (logits.float().softmax(-1) * q_all.transpose(-1, -2)).sum(-1)

    exact = discrete and cfg.expectation == "exact"

    # -- TD target: y (B, L-1, G) ----------------------------------------------------------------
    with torch.no_grad():
        pi_prime = pi_next if target_actor is None else target_actor(h_next)
        if not exact:
            a_next = sample_actions(pi_prime.float(), discrete, 1, generator)  # (B, L-1, 1, G[, A])
        pick = torch.randperm(C, generator=generator, device="cpu")[: cfg.target_critics].to(h.device)
        z_next = target_critics.trunk(h_next.detach(), idx=pick)
        if exact:
            q_next = combine(expected(every_action(target_critics, z_next, pick), pi_prime[None]))  # (B, L-1, G)
        else:
            q_next = combine(target_critics.values(z_next, a_next, value, idx=pick))[:, :, 0]  # (B, L-1, G)
        r = batch.reward[:, :-1].float()
        if cfg.reward_clip > 0:
            r = r.clamp(-cfg.reward_clip, cfg.reward_clip)
        r = (r * cfg.reward_multiplier)[..., None]
        not_done = 1.0 - batch.done[:, :-1].float()[..., None]
        y = r + gammas * not_done * q_next
        y = torch.where(valid[..., None], y, torch.zeros((), device=y.device))

    # -- critic loss ----------------------------------------------------------------------------
    if cfg.critic == "dep":  # move the statistics first; output layers are rescaled to match (no valid targets: no change)
        popart.update(y[valid], [model.critics, target_critics])
    z = model.critics.trunk(h_t)  # (C, B*(L-1), H)
    if cfg.critic == "ind":  # the replay action for every gamma; the logits are never stored whole
        target = twohot.encode(y)  # (B, L-1, G, O)
        critic_loss, q_values = model.critics.twohot_shared(z, a_t, target, value)  # (C, B, L-1, G) each
    else:
        q = model.critics.head_shared(z, a_t).float()  # (C, B, L-1, G, 1)
        critic_loss = (q[..., 0] - popart.normalise(y)[None]) ** 2
        q_values = value(q.detach())  # (C, B, L-1, G)
    critic_loss = _masked_mean(critic_loss.permute(1, 2, 0, 3), valid)

    # -- actor loss -----------------------------------------------------------------------------
    def online() -> torch.Tensor:  # -E_{a~pi} Q(h, a), critics frozen: (B, L-1, G)
        if discrete:
            with torch.no_grad():
                q_all = combine(every_action(model.critics, z.detach()))  # (B, L-1, A, G)
            return -expected(q_all, pi_t)
        a_new = rsample_actions(pi_t.float(), 1)  # (B, L-1, 1, G, A)
        return -combine(value(model.critics(h_t.detach(), a_new, frozen=True).float()))[:, :, 0]

    filtered = torch.tensor(float("nan"))
    if cfg.actor == "ind":
        actor_loss = torch.zeros((), device=h.device)
        if cfg.bc_weight > 0:
            with torch.no_grad():
                q_sa = q_values.mean(0)  # (B, L-1, G) mean over critics
                if exact:
                    q_pi = expected(every_action(model.critics, z.detach()).mean(0), pi_t)  # (B, L-1, G)
                else:
                    a_pi = sample_actions(pi_t.detach().float(), discrete, cfg.baseline_samples, generator)  # (B, L-1, K, G)
                    q_pi = model.critics.values(z.detach(), a_pi, value).mean(0).mean(2)  # (B, L-1, G)
                weight = (q_sa - q_pi > 0).float()
            logp = log_prob(pi_t.float(), a_t, discrete, cfg.bc_action_clip)  # (B, L-1, G)
            actor_loss = actor_loss + cfg.bc_weight * _masked_mean(-weight * logp, valid)
            filtered = _masked_mean(weight, valid)
        if cfg.online_weight > 0:  # scale-free: Q in units of the batch's target spread per discount
            spread = torch.stack([y[..., g][valid].std() if valid.sum() > 1 else y.new_ones(()) for g in range(G)])
            actor_loss = actor_loss + cfg.online_weight * _masked_mean(online() / spread.clamp(min=1e-6), valid)
    else:
        actor_loss = _masked_mean(online(), valid)

    total = actor_loss + cfg.critic_weight * critic_loss
    with torch.no_grad():
        metrics = {
            "loss/total": float(total),
            "loss/critic": float(critic_loss),
            "loss/actor": float(actor_loss),
            "value/q_mean": float(_masked_mean(q_values.mean(0), valid)),
            "value/target_mean": float(_masked_mean(y, valid)),
            "actor/filtered_frac": float(filtered),
            "actor/entropy": float(_masked_mean(_entropy(pi_t.float(), discrete), valid)),
        }
        if cfg.critic == "dep":
            metrics["value/popart_sigma"] = float(popart.sigma)
        if not discrete:  # where the policy sits in [-1, 1] and how wide it is (pre-squash), over gammas and dims
            metrics["actor/mean_abs"] = float(_masked_mean(torch.tanh(pi_t[..., 0].float()).abs(), valid))
            metrics["actor/std"] = float(_masked_mean(log_std_of(pi_t.float()).exp(), valid))
    return total, metrics


def _entropy(params: torch.Tensor, discrete: bool) -> torch.Tensor:
    if discrete:
        lp = params.log_softmax(-1)
        return -(lp.exp() * lp).sum(-1)
    return log_std_of(params).sum(-1)  # Gaussian entropy up to a constant (pre-squash)
