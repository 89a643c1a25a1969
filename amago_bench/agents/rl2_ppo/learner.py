"""The RL^2-PPO learner: model, Adam, the reward scaler, PPO epochs over minibatches of
env-sequences, and checkpoints in the shared format (:mod:`amago_bench.agents.checkpoint`:
written then renamed, a killed run leaves a loadable file).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from amago_bench.agents.checkpoint import CheckpointError, CheckpointFormat, check_same_config, check_suite_and_shapes
from amago_bench.agents.distributed import Ranks
from amago_bench.agents.rl2_ppo.config import RL2Config
from amago_bench.agents.rl2_ppo.losses import Segments, ppo_loss
from amago_bench.agents.rl2_ppo.model import RL2Model
from amago_bench.agents.shapes import Shapes

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "CheckpointError", "RewardScaler", "Learner", "save_checkpoint",
           "read_checkpoint", "learner_from_checkpoint", "check_compatible"]

CHECKPOINT_FORMAT = "amago-bench/rl2-ppo-checkpoint"
CHECKPOINT_VERSION = 1
FORMAT = CheckpointFormat(CHECKPOINT_FORMAT, agent="RL^2-PPO", train_agent="rl2-ppo-gru", kind="rl2-ppo",
                          version=CHECKPOINT_VERSION)


class RewardScaler:
    """Rewards divided by a running std of the discounted return (one global statistic).

    Per env: G <- gamma * G * (1 - done_prev) + r; the variance of every G seen so far is kept
    with the parallel (Chan et al.) update; ``scale(r) = r / sqrt(var + 1e-8)``. Disabled:
    ``scale`` returns r unchanged.
    """

    def __init__(self, gamma: float, enabled: bool = True) -> None:
        self.gamma, self.enabled = gamma, enabled
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4
        self.ret: np.ndarray | None = None

    def __call__(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        """reward, done (N,) of one vector step -> scaled rewards (N,) float32; updates the statistics."""
        if not self.enabled:
            return reward.astype(np.float32)
        if self.ret is None or self.ret.shape != reward.shape:
            self.ret = np.zeros(reward.shape, np.float64)
        self.ret = self.ret * self.gamma + reward
        m, v, k = float(self.ret.mean()), float(self.ret.var()), self.ret.size
        total = self.count + k
        delta = m - self.mean
        self.mean += delta * k / total
        self.var = (self.var * self.count + v * k + delta**2 * self.count * k / total) / total
        self.count = total
        self.ret[done] = 0.0
        return (reward / np.sqrt(self.var + 1e-8)).astype(np.float32)

    def state_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "var": self.var, "count": self.count}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.mean, self.var, self.count = float(state["mean"]), float(state["var"]), float(state["count"])


class _Loss(torch.nn.Module):
    """:func:`ppo_loss` of a minibatch as a module whose one submodule is the model, for
    DistributedDataParallel to wrap (DDP all-reduces the gradients of what its forward uses)."""

    def __init__(self, model: RL2Model, cfg: RL2Config) -> None:
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, seg: Segments) -> tuple[torch.Tensor, dict[str, float]]:
        return ppo_loss(self.model, seg, self.cfg.ppo)


class Learner:
    """Owns the trainable state of one RL^2-PPO agent."""

    def __init__(self, cfg: RL2Config, shapes: Shapes, device: torch.device | str = "cpu", seed: int = 0) -> None:
        self.cfg, self.shapes = cfg, shapes
        self.device = torch.device(device)
        torch.manual_seed(seed)
        self.model = RL2Model(shapes, cfg.model).to(self.device)
        o = cfg.optim
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=o.lr, eps=o.adam_eps, weight_decay=o.weight_decay)
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.reward_scaler = RewardScaler(cfg.ppo.gamma, cfg.ppo.reward_norm)
        self.updates = 0
        self.ddp: Any = None
        """The loss module in DistributedDataParallel after :meth:`distribute`; None in one process."""

    def distribute(self, ranks: Ranks) -> None:
        """Train as one of ``ranks``: every minibatch's loss runs in DistributedDataParallel, so the
        gradients are averaged over ranks (each rank's minibatch is its share of its own segments;
        all ranks take the same number of minibatch steps). The reward scaler stays per rank: it
        scales the rank's own rewards, and rank 0's is the one checkpointed. Call it after loading
        a checkpoint; DDP makes every rank's weights rank 0's when it wraps the model."""
        if ranks.distributed:
            self.ddp = ranks.wrap(_Loss(self.model, self.cfg))

    def set_progress(self, frac: float) -> None:
        """Learning rate for a run ``frac`` done (linear decay to 0 when ``optim.anneal_lr``)."""
        lr = self.cfg.optim.lr * (max(0.0, 1.0 - frac) if self.cfg.optim.anneal_lr else 1.0)
        for g in self.optimizer.param_groups:
            g["lr"] = lr

    def update(self, seg: Segments) -> dict[str, list[float]]:
        """``ppo_epochs`` passes over ``seg``, each in ``minibatches`` minibatches of whole env-sequences."""
        self.model.train()
        o = self.cfg.optim
        metrics: dict[str, list[float]] = {}
        B = seg.valid.shape[0]
        for _ in range(o.ppo_epochs):
            for idx in torch.randperm(B, generator=self.generator).chunk(o.minibatches):
                rows = seg.rows(idx.to(self.device))
                loss, m = self.ddp(rows) if self.ddp is not None else ppo_loss(self.model, rows, self.cfg.ppo)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                m["optim/grad_norm"] = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), o.grad_clip))
                self.optimizer.step()
                self.updates += 1
                for k, v in m.items():
                    metrics.setdefault(k, []).append(v)
        return metrics

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(), "reward_scaler": self.reward_scaler.state_dict(),
                "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any], weights_only: bool = False) -> None:
        self.model.load_state_dict(state["model"])
        if weights_only:
            return
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.reward_scaler.load_state_dict(state["reward_scaler"])
        self.updates = int(state["updates"])


save_checkpoint = FORMAT.save
read_checkpoint = FORMAT.read


def learner_from_checkpoint(data: dict[str, Any], device: torch.device | str = "cpu", weights_only: bool = False) -> Learner:
    return FORMAT.load_learner(data, lambda d: RL2Config.from_dict({k: v for k, v in d.items() if k != "kind"}), Learner,
                               device, weights_only)


def check_compatible(data: dict[str, Any], suite: str, shapes: Shapes, cfg: RL2Config) -> None:
    """Refuse to resume from a checkpoint of another suite, observation/action layout, or model/loss
    config; run-length settings (train, optim) may change on resume."""
    check_suite_and_shapes(data, suite, shapes)
    check_same_config(data["config"], cfg.to_dict(), ("model", "ppo"))
