"""The learner: model + target critics + optimiser (AdamW, warm-up, clipping, Polyak), and
checkpoints in the shared format (:mod:`amago_bench.agents.checkpoint`: written then renamed, so
a killed run always leaves a loadable file).
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from amago_bench.agents.amago2.config import AgentConfig, OptimConfig
from amago_bench.agents.amago2.losses import Batch, PopArt, TwoHot, amago_loss
from amago_bench.agents.amago2.model import AmagoModel, Shapes
from amago_bench.agents.checkpoint import (CheckpointError, CheckpointFormat, check_same_config, check_suite_and_shapes,
                                           rng_state, set_rng_state)
from amago_bench.agents.device import default_threads, pick_device, set_threads
from amago_bench.agents.distributed import Ranks

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "CheckpointError", "Learner", "save_checkpoint", "read_checkpoint",
           "learner_from_checkpoint", "check_compatible", "default_threads", "set_threads", "pick_device", "rng_state",
           "set_rng_state"]

CHECKPOINT_FORMAT = "amago-bench/amago2-checkpoint"
CHECKPOINT_VERSION = 1
FORMAT = CheckpointFormat(CHECKPOINT_FORMAT, agent="amago2", train_agent="amago2", kind="amago2",
                          version=CHECKPOINT_VERSION)


class _Loss(torch.nn.Module):
    """:func:`amago_loss` of a batch as a module, for DistributedDataParallel to wrap: DDP
    all-reduces the gradients of the parameters its forward uses (the model's), and makes all of
    its state (model, target critics, two-hot bins, PopArt) rank 0's when it wraps it."""

    def __init__(self, learner: "Learner") -> None:
        super().__init__()
        self.model, self.target_critics, self.target_actor = learner.model, learner.target_critics, learner.target_actor
        self.twohot, self.popart = learner.twohot, learner.popart
        self.cfg, self.generator = learner.cfg.loss, learner.generator

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        return amago_loss(self.model, self.target_critics, self.twohot, self.popart, batch, self.cfg, self.generator,
                          self.target_actor)


def lr_factor(update: int, o: OptimConfig) -> float:
    """The learning rate of update ``update`` (0-based) as a fraction of ``o.lr``: a linear warm-up
    over ``o.warmup`` updates times a linear fall to ``o.lr_end / o.lr`` over ``o.lr_anneal`` updates."""
    warm = min(1.0, (update + 1) / max(1, o.warmup))
    if o.lr_end is None or o.lr_anneal == 0:
        return warm
    return warm * (1.0 - (1.0 - o.lr_end / o.lr) * min(1.0, update / o.lr_anneal))


def param_groups(model: AmagoModel, o: OptimConfig) -> Any:
    """What AdamW optimises: every parameter at ``o.lr``, or with ``o.mlp_lr`` two groups, the
    trajectory encoder at ``o.lr`` and the rest (timestep encoder, actor, critics) at ``o.mlp_lr``."""
    if o.mlp_lr is None:
        return model.parameters()
    traj = {id(p) for p in model.traj.parameters()}
    return [{"params": [p for p in model.parameters() if id(p) in traj], "lr": o.lr},
            {"params": [p for p in model.parameters() if id(p) not in traj], "lr": o.mlp_lr}]


class Learner:
    """Owns the trainable state of one AMAGO-2 agent."""

    def __init__(self, cfg: AgentConfig, shapes: Shapes, device: torch.device | str = "cpu", seed: int = 0) -> None:
        self.cfg, self.shapes = cfg, shapes
        self.device = torch.device(device)
        torch.manual_seed(seed)
        outputs = cfg.model.bins if cfg.loss.critic == "ind" else 1
        self.model = AmagoModel(shapes, cfg.model, outputs).to(self.device)
        self.target_critics = copy.deepcopy(self.model.critics).requires_grad_(False)
        self.target_actor = copy.deepcopy(self.model.actor).requires_grad_(False) if cfg.loss.target_actor else None
        self.twohot = TwoHot(cfg.model.bins, cfg.loss.value_range).to(self.device)
        self.popart = PopArt(cfg.loss.popart_beta).to(self.device)
        o = cfg.optim
        self.optimizer = torch.optim.AdamW(param_groups(self.model, o), lr=o.lr, weight_decay=o.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda n: lr_factor(n, o))
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.updates = 0
        self.amp = o.precision == "bf16" or (o.precision == "auto" and self.device.type == "cuda")
        self.ddp: Any = None
        """The loss module in DistributedDataParallel after :meth:`distribute`; None in one process."""

    def distribute(self, ranks: Ranks) -> None:
        """Train as one of ``ranks``: the loss runs in DistributedDataParallel (gradients averaged
        over ranks in the backward pass) and PopArt moves its statistics by the targets of every
        rank's batch, so the critics' output layers it rescales stay equal. Call it after loading
        a checkpoint: DDP makes every rank's model, target critics and PopArt rank 0's when it
        wraps them (the optimiser's state is each rank's own: equal when loaded from the checkpoint
        or fresh)."""
        if ranks.distributed:
            self.ddp = ranks.wrap(_Loss(self))
            self.popart.all_sum = ranks.all_sum

    def loss(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss of a batch and its metrics: :func:`amago_loss`, through DDP when distributed."""
        if self.ddp is not None:
            return self.ddp(batch)
        return amago_loss(self.model, self.target_critics, self.twohot, self.popart, batch, self.cfg.loss, self.generator,
                          self.target_actor)

    def update(self, batch: Batch) -> dict[str, float]:
        """One gradient step on a batch; returns metrics."""
        self.model.train()
        if self.model.tstep.norm is not None:  # the input statistics move with the real tokens of each batch
            real = batch.valid.clone()
            real[:, 1:] |= batch.valid[:, :-1]  # a transition's both tokens
            flat = self.model.tstep.flat_inputs(batch.obs, batch.prev_action, batch.prev_reward)
            self.model.tstep.norm.observe(flat[real])
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            loss, metrics = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        with torch.no_grad():  # Polyak averaging of the target critics (and actor)
            targets, online = list(self.target_critics.parameters()), list(self.model.critics.parameters())
            if self.target_actor is not None:
                targets, online = targets + list(self.target_actor.parameters()), online + list(self.model.actor.parameters())
            torch._foreach_lerp_(targets, online, self.cfg.loss.tau)
        self.updates += 1
        metrics["optim/grad_norm"] = float(norm)
        metrics["optim/lr"] = float(self.scheduler.get_last_lr()[0])
        return metrics

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "target_critics": self.target_critics.state_dict(),
            **({} if self.target_actor is None else {"target_actor": self.target_actor.state_dict()}),
            "popart": self.popart.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any], weights_only: bool = False) -> None:
        self.model.load_state_dict(state["model"])
        self.target_critics.load_state_dict(state["target_critics"])
        if self.target_actor is not None:
            self.target_actor.load_state_dict(state["target_actor"])
        self.popart.load_state_dict(state["popart"])
        if weights_only:
            return
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        self.updates = int(state["updates"])


save_checkpoint = FORMAT.save
read_checkpoint = FORMAT.read


def learner_from_checkpoint(data: dict[str, Any], device: torch.device | str = "cpu", weights_only: bool = False) -> Learner:
    return FORMAT.load_learner(data, AgentConfig.from_dict, Learner, device, weights_only)


def check_compatible(data: dict[str, Any], suite: str, suite_hash: str | None, shapes: Shapes, cfg: AgentConfig | None = None) -> None:
    """Refuse a checkpoint trained on another suite, another observation/action layout, or (when
    ``cfg`` is given) another model or loss config; run-length settings may change on resume."""
    check_suite_and_shapes(data, suite, shapes)
    if cfg is not None:
        check_same_config(AgentConfig.from_dict(data["config"]).to_dict(), cfg.to_dict(), ("model", "loss"))
