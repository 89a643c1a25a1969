"""The timestep encoder every agent shares: one token per step = observation + previous action
+ previous reward + time features (amago2 feeds it to its trajectory encoder, rl2-ppo to its GRU).

Shapes: B sequences, L steps, T = tstep_dim, A action dim (number of actions when discrete).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from amago_bench.agents.shapes import Shapes


class TimestepConfig(Protocol):
    """The model-config fields the encoder reads (amago2's and rl2-ppo's ModelConfig have them;
    ``input_norm`` is optional, off where absent)."""

    tstep_dim: int
    tstep_hidden: int
    cnn: str


class InputNorm(nn.Module):
    """Running per-feature mean and second moment of the flat inputs, updated only by
    :meth:`observe` (the learner's batches, real tokens only), read by every forward.

    rate per update = beta / (1 - (1 - beta)^t) (a plain running mean for the first ~1/beta
    updates, then an exponential average); a feature whose std is below 0.01 (constant, such as
    a hidden goal's zeros) is only centred. The reference AMAGO's FFTstepEncoder does the same."""

    def __init__(self, dim: int, beta: float = 1e-4) -> None:
        super().__init__()
        self.beta = beta
        self.register_buffer("mu", torch.zeros(dim))
        self.register_buffer("nu", torch.ones(dim))
        self.register_buffer("count", torch.zeros(()))

    @property
    def sigma(self) -> torch.Tensor:
        return (self.nu - self.mu**2).clamp(min=0).add(1e-5).sqrt()

    @torch.no_grad()
    def observe(self, x: torch.Tensor) -> None:
        """x: (M, dim) rows to learn from (M >= 1)."""
        self.count += 1
        rate = self.beta / (1.0 - (1.0 - self.beta) ** float(self.count))
        self.mu.mul_(1 - rate).add_(rate * x.float().mean(0))
        self.nu.mul_(1 - rate).add_(rate * x.float().pow(2).mean(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sigma = self.sigma
        return torch.where(sigma > 0.01, (x - self.mu) / sigma, x - self.mu)


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.expm1(x.abs())


def _cnn(kind: str, shape: tuple[int, ...]) -> tuple[nn.Module, bool]:
    """A CNN for an image of ``shape`` (HWC when the last dim is <= 4, else CHW); returns (net, hwc)."""
    hwc = shape[-1] <= 4
    c, h = (shape[-1], shape[0]) if hwc else (shape[0], shape[1])
    if kind == "auto":
        kind = "nature" if h >= 84 else "impala" if h >= 32 else "grid"
    if kind == "nature":  # Atari (Mnih et al. 2015)
        net = nn.Sequential(nn.Conv2d(c, 32, 8, 4), nn.ReLU(), nn.Conv2d(32, 64, 4, 2), nn.ReLU(),
                            nn.Conv2d(64, 64, 3, 1), nn.ReLU(), nn.Flatten())
    elif kind == "impala":  # Procgen (Espeholt et al. 2018), residual stacks 16-32-32
        layers: list[nn.Module] = []
        cin = c
        for cout in (16, 32, 32):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.MaxPool2d(3, 2, padding=1), _Residual(cout), _Residual(cout)]
            cin = cout
        net = nn.Sequential(*layers, nn.ReLU(), nn.Flatten())
    elif kind == "grid":  # BabyAI partial grid (small kernels, no pooling)
        net = nn.Sequential(nn.Conv2d(c, 32, 2), nn.LeakyReLU(), nn.Conv2d(32, 64, 2), nn.LeakyReLU(), nn.Flatten())
    else:
        raise ValueError(f"unknown cnn {kind!r}; valid: auto, nature, impala, grid")
    return net, hwc


class _Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.c2(F.relu(self.c1(F.relu(x))))


class TimestepEncoder(nn.Module):
    """Embeds one step: observation parts + prev action (one-hot if discrete) + symlog(prev reward)
    + time features (step / max steps, episode / episodes per trial, new-episode flag).

    Input tensors are (B, L, ...); output (B, L, T).
    """

    def __init__(self, shapes: Shapes, cfg: TimestepConfig) -> None:
        super().__init__()
        self.shapes = shapes
        self.cnns = nn.ModuleDict()
        self.embeds = nn.ModuleDict()
        self.hwc: dict[str, bool] = {}
        width = 0
        for p in shapes.obs:
            name = p.key or "obs"
            if p.kind == "image":
                net, hwc = _cnn(cfg.cnn, p.shape)
                self.cnns[name], self.hwc[name] = net, hwc
                with torch.no_grad():
                    dummy = torch.zeros(1, *(p.shape if not hwc else (p.shape[2], p.shape[0], p.shape[1])))
                    width += net(dummy).shape[-1]
            elif p.kind == "tokens":
                self.embeds[name] = nn.Embedding(p.vocab, 32)
                width += 32
        self.flat_widths = [int(np.prod(p.shape)) for p in shapes.obs if p.kind not in ("image", "tokens")]
        self.flat_widths += [shapes.action_dim, 1]
        """Widths of the flat inputs (see :meth:`flat_inputs`): each vector observation part, the action, the reward."""
        width += sum(self.flat_widths) + 3  # and the time features
        self.norm = InputNorm(sum(self.flat_widths)) if getattr(cfg, "input_norm", False) else None
        """With ``input_norm``: the flat inputs (vector observations, prev action, prev reward; not
        images, tokens or time features) standardised by running statistics instead of symlog."""
        self.mlp = nn.Sequential(nn.Linear(width, cfg.tstep_hidden), nn.LeakyReLU(),
                                 nn.Linear(cfg.tstep_hidden, cfg.tstep_dim), nn.LayerNorm(cfg.tstep_dim))

    def forward(self, obs: Any, prev_action: torch.Tensor, prev_reward: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        """obs (B, L, *shape) or dict of such; prev_action (B, L) long or (B, L, A); prev_reward (B, L);
        time (B, L, 3) -> (B, L, T)."""
        B, L = prev_reward.shape
        flat = self.flat_inputs(obs, prev_action, prev_reward)
        if self.norm is not None:
            flat = self.norm(flat)
        *vectors, action, reward = torch.split(flat, self.flat_widths, dim=-1)
        if self.norm is None:  # symlog of the vector observations and the reward; the previous action as it is
            vectors, reward = [symlog(v) for v in vectors], symlog(reward)
        vectors = iter(vectors)
        feats = []
        for p in self.shapes.obs:  # in the suite's order of observation parts
            name = p.key or "obs"
            x = obs[p.key] if p.key else obs
            if p.kind == "image":
                x = x.reshape(B * L, *p.shape).float() / 255.0
                if self.hwc[name]:
                    x = x.permute(0, 3, 1, 2)
                feats.append(self.cnns[name](x).reshape(B, L, -1))
            elif p.kind == "tokens":
                feats.append(self.embeds[name](x.reshape(B, L, -1).long()).mean(dim=2))  # mean of token embeddings
            else:
                feats.append(next(vectors))
        return self.mlp(torch.cat([*feats, action, reward, time.float()], dim=-1))

    def flat_inputs(self, obs: Any, prev_action: torch.Tensor, prev_reward: torch.Tensor) -> torch.Tensor:
        """The raw flat inputs, (B, L, width - 3): the vector observations (in the suite's order),
        the previous action (one-hot if discrete) and the previous reward."""
        B, L = prev_reward.shape
        parts = [(obs[p.key] if p.key else obs).reshape(B, L, -1).float() for p in self.shapes.obs
                 if p.kind not in ("image", "tokens")]
        a = F.one_hot(prev_action.long(), self.shapes.action_dim).float() if self.shapes.discrete else prev_action.float()
        return torch.cat([*parts, a, prev_reward.float().unsqueeze(-1)], dim=-1)
