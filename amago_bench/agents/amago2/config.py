"""AMAGO-2 configuration: frozen dataclasses, and agent configs as data in ``baselines/*.toml``.

A config file has four tables (``[model]``, ``[loss]``, ``[optim]``, ``[train]``) whose keys are
the fields below, plus per-suite and per-budget overrides layered as every agent config's (see
:mod:`amago_bench.agents.configfile`): ``[suites.<suite name or family>.<table>]`` (the paper's
per-suite settings), then ``[budgets.<smoke|small|paper>.<table>]`` (the compute budget: model
size, run length), then ``[budgets.<budget>.suites.<suite name or family>.<table>]``.

``extends = "amago2"`` starts from another baseline file (the loss variants are two switches
on the same agent: ``dep-dep.toml`` is ``amago2`` with ``[loss] critic = "dep"``, ``actor = "dep"``);
``extends = "other.toml"`` starts from a file beside this one (a relative path is read from the
extending file's folder, not the working folder).
An unknown key is an error that lists the valid ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, get_args

from amago_bench.agents import AgentConfigError, config_path, extends_target, read_config
from amago_bench.agents.configfile import (BUDGETS, Budget, ConfigError, apply_layers, build_sections, check_budget,
                                           check_keys)

__all__ = ["BUDGETS", "Budget", "ConfigError", "PRECISIONS", "Precision", "ModelConfig", "LossConfig", "OptimConfig",
           "TrainConfig", "AgentConfig", "load_config", "validate"]

Precision = Literal["auto", "bf16", "fp32"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


@dataclass(frozen=True)
class ModelConfig:
    """The network (see model.py)."""

    tstep_dim: int = 256
    """Width of one timestep embedding (input of the trajectory encoder)."""
    tstep_hidden: int = 256
    """Hidden width of the timestep MLP (vector observations)."""
    cnn: Literal["auto", "nature", "impala", "grid"] = "auto"
    """CNN for image observations; auto: nature for >= 84 px, impala for >= 32 px, else grid."""
    traj_encoder: Literal["transformer", "gru", "ff"] = "transformer"
    """Trajectory encoder: causal Transformer, GRU (RL^2-style) or feed-forward (no memory)."""
    d_model: int = 256
    d_ff: int = 1024
    layers: int = 3
    heads: int = 8
    context: int = 128
    """Tokens the model sees at once (training windows and the acting cache)."""
    dropout: float = 0.05
    """Dropout on the token embedding and on each block's feed-forward output, as the reference
    AMAGO (dropout_emb = dropout_ff = 0.05; none on the attention weights or inside the FF)."""
    positions: Literal["learned", "sinusoidal"] = "learned"
    """learned: a (context, d_model) table initialised N(0, 1), on the scale of the token it is
    added to (an init of N(0, 0.02^2) left positions at ~3% of the token and slowed learning
    which step of the history to read); sinusoidal: a fixed table."""
    sigma_reparam: bool = True
    """sigma-reparam linear layers in the Transformer (W * gamma / sigma_max(W))."""
    head_hidden: int = 256
    """Hidden width of the actor and critic MLPs (two hidden layers each)."""
    input_norm: bool = False
    """True: the timestep encoder standardises the flat inputs (vector observations, previous
    action and reward) by running statistics of the learner's batches (the reference AMAGO's
    InputNorm); false: symlog of the observations and reward, as they come."""
    critic_head: Literal["auto", "per-action", "action-input", "action-first"] = "auto"
    """How the critic sees the action. action-input (the paper's AMAGO-2 critic): the action
    (one-hot if discrete) enters the critic's second layer, one output per (action, gamma).
    per-action (discrete actions only, as AMAGO-1's critic): one output per action of every gamma
    from the history alone, and the replayed action picks its row, so the value of each action
    is a first-order function of the history. auto: per-action for discrete actions, else
    action-input. action-first: the action (and horizon) enter the first layer beside the history,
    so both hidden layers see them together (the reference AMAGO's continuous critic; costs one
    more hidden layer per evaluated action). See reports/fidelity/ for the measurements behind the default."""
    actor_std: Literal["clamp", "tanh"] = "clamp"
    """Continuous actions: how the actor's raw output becomes the log std of its tanh-Gaussian.
    clamp: the output clamped to [-5, 2] (std 1 at a zero output; no gradient past a bound);
    tanh: -5 + 3.5 (tanh(output) + 1), smooth inside the bounds (the reference AMAGO's TanhGaussian;
    std 0.22 at a zero output)."""
    critics: int = 4
    bins: int = 64
    """Two-hot bins B of the Ind. critic."""
    gammas: tuple[float, ...] = (0.1, 0.9, 0.95, 0.97, 0.99, 0.995, 0.999)
    act_gamma: float = 0.999
    """The discount whose actor output is used to act; must be one of ``gammas``."""


@dataclass(frozen=True)
class LossConfig:
    """The two switches and the shared loss settings (see losses.py)."""

    critic: Literal["ind", "dep"] = "ind"
    """ind: two-hot cross-entropy over symlog bins; dep: MSE on PopArt-normalised targets."""
    actor: Literal["ind", "dep"] = "ind"
    """ind: binary filtered BC; dep: -Q(h, a ~ pi)."""
    online_weight: float = 0.0
    """Ind. actor only: weight of an added "online" term, -E_{a~pi} Q(h, a) through the frozen
    critics divided by the batch's spread of TD targets per discount (reparameterised for
    continuous actions, the exact sum over actions for discrete ones). 0: the paper's AMAGO-2
    (filtered BC alone); the reference AMAGO's AMAGO-1 `agent` type uses 1.0 with bc_weight 0.1."""
    bc_weight: float = 1.0
    """Ind. actor only: weight of the filtered BC term."""
    critic_weight: float = 10.0
    reward_multiplier: float = 1.0
    reward_clip: float = 0.0
    """0: rewards as the env gives them; c > 0: each reward clipped to [-c, c] before the
    multiplier (the paper's "Dep/Dep clipped rewards" Atari baseline, DQN-style clipping at 1)."""
    tau: float = 0.003
    """Polyak rate of the target critics."""
    target_critics: int = 2
    """The TD target combines this many of the target critics, chosen at random per update."""
    ensemble: Literal["mean", "min"] = "mean"
    """How critics combine in the TD target (over the chosen target critics) and in the online
    actor term (over all critics): mean, or min (clipped double Q, as the reference AMAGO does
    whenever its online term is on; without an online term the min underestimates)."""
    target_actor: bool = False
    """True: the TD target's next actions come from a target actor (a Polyak copy of the actor at
    rate tau, as the reference AMAGO's use_target_actor does); False: from the actor itself."""
    bc_action_clip: float = 0.999
    """Continuous actions: the filtered-BC log-likelihood reads replay actions clipped to
    [-c, c] (exploration noise clips many to +-1, where tanh's inverse is infinite); the
    reference AMAGO clips at 0.99."""
    baseline_samples: int = 3
    """Actions sampled from pi for the Ind. actor's value baseline E_pi Q(h, a')."""
    expectation: Literal["sample", "exact"] = "sample"
    """Discrete actions: how E_{a~pi} enters the TD target (at h') and the Ind. actor's baseline (at
    h). sample: 1 next action for the target, baseline_samples for the baseline; exact: the sum
    over every action weighted by pi (expected SARSA; the reference AMAGO's discrete agent). No
    effect with continuous actions, which always sample."""
    value_range: float = 1e5
    """Bins span symlog(-value_range) .. symlog(+value_range)."""
    popart_beta: float = 5e-4
    """PopArt running-statistics rate (Dep. critic)."""


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-4
    warmup: int = 500
    """Linear learning-rate warm-up, in updates."""
    lr_end: float | None = None
    """With ``lr_anneal`` > 0: the learning rate falls linearly from ``lr`` to this over the first
    ``lr_anneal`` updates, then holds (the warm-up multiplies it). None: a constant ``lr``."""
    lr_anneal: int = 0
    """Updates over which the learning rate falls from ``lr`` to ``lr_end``."""
    mlp_lr: float | None = None
    """The learning rate of the MLPs around the trajectory encoder (the timestep encoder, the actor
    and the critics); None: ``lr``. The warm-up and the anneal scale it as they scale ``lr``."""
    grad_clip: float = 1.0
    weight_decay: float = 1e-4
    batch_size: int = 24
    """Sequences per update."""
    precision: Precision = "auto"
    """Arithmetic of the update: bf16 autocast (mixed precision: matmuls in bfloat16, the critic
    head, losses and optimiser in float32) or fp32. auto: bf16 on CUDA, fp32 on CPU (bf16 on a
    CPU is ~1.6x faster where it has AVX512-BF16 or AMX, and much slower where it has neither)."""


@dataclass(frozen=True)
class TrainConfig:
    """The training loop (see amago_bench/agents/amago2/trainer.py)."""

    num_envs: int = 8
    """Parallel actors (vector env slots)."""
    epochs: int = 500
    collect_steps: int = 256
    """Env steps per actor per epoch."""
    updates_per_epoch: int = 500
    start_learning: int = 0
    """Replay steps required before the first update."""
    eval_every: int = 10
    """Evaluate every this many epochs (and after the last)."""
    eval_trials_per_task: int = 4
    eval_envs: int = 8
    eval_sample: bool = False
    """Sample actions from pi at evaluation (else take the most likely action)."""
    replay_capacity: int = 15_000
    replay_unit: Literal["trajectories", "steps"] = "trajectories"
    chunk_len: int = 2048
    """Long rollouts are saved in chunks of this many steps."""
    explore_start: float = 1.0
    """Epsilon (random-action probability) at the start of training."""
    explore_end: float = 0.05
    explore_anneal_steps: int = 1_000_000
    """Env steps over which epsilon falls linearly from start to end."""
    explore_randomize: bool = True
    """Scale each actor's epsilon by a factor drawn from U(0, 1) at the start of every trial (as
    the reference AMAGO), so some actors explore little while others explore a lot; false:
    every actor uses the scheduled epsilon."""
    vector: Literal["sync", "async"] = "sync"
    checkpoint_every: int = 1
    tensorboard: bool = True


@dataclass(frozen=True)
class AgentConfig:
    name: str = "amago2"
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> "AgentConfig":
        """Inverse of :meth:`to_dict` (checks every key)."""
        return AgentConfig(name=str(data.get("name", "amago2")), **build_sections(_TABLES, data))


_TABLES: dict[str, type] = {"model": ModelConfig, "loss": LossConfig, "optim": OptimConfig, "train": TrainConfig}


def load_config(agent: str, suite: str = "", family: str = "", budget: str = "paper", directory: Path | None = None,
                _seen: tuple[str, ...] = ()) -> AgentConfig:
    """Resolve ``baselines/<agent>.toml`` for one suite and budget into an :class:`AgentConfig`."""
    check_budget(budget)
    path = config_path(agent, directory)
    raw = read_config(path)
    check_keys(raw, {"name", "description", "kind", "extends", "suites", "budgets", *_TABLES}, path)
    name = str(raw.get("name", path.stem))
    if "extends" in raw:
        parent = str(raw["extends"])
        if parent in _seen:
            raise ConfigError(f"{path}: 'extends' makes a cycle ({' -> '.join((*_seen, parent))})")
        try:
            cfg = load_config(extends_target(path, parent), suite, family, budget, directory, (*_seen, path.stem))
        except AgentConfigError as exc:  # name the file whose 'extends' led there
            if str(exc).startswith(f"{path}:"):
                raise
            raise ConfigError(f"{path}: extends = {parent!r}: {exc}") from None
    else:
        cfg = AgentConfig()
    where = str(path)
    cfg = apply_layers(cfg, _TABLES, raw, where, suite, family, budget)
    cfg = dataclasses.replace(cfg, name=name)
    validate(cfg, where)
    return cfg


def validate(cfg: AgentConfig, where: str = "config") -> None:
    m = cfg.model
    if m.d_model % m.heads:
        raise ConfigError(f"{where}: d_model {m.d_model} must be divisible by heads {m.heads}")
    if m.act_gamma not in m.gammas:
        raise ConfigError(f"{where}: act_gamma {m.act_gamma} must be one of gammas {list(m.gammas)}")
    if not all(0.0 <= g < 1.0 for g in m.gammas):
        raise ConfigError(f"{where}: gammas must lie in [0, 1), got {list(m.gammas)}")
    if m.context < 2:
        raise ConfigError(f"{where}: context must be >= 2 (a transition needs two tokens), got {m.context}")
    if m.bins < 2:
        raise ConfigError(f"{where}: bins must be >= 2, got {m.bins}")
    if not 1 <= cfg.loss.target_critics <= m.critics:
        raise ConfigError(f"{where}: target_critics must be in [1, critics={m.critics}], got {cfg.loss.target_critics}")
    lo = cfg.loss
    if lo.online_weight < 0 or lo.bc_weight < 0:
        raise ConfigError(f"{where}: [loss] online_weight and bc_weight must be >= 0, got {lo.online_weight} and {lo.bc_weight}")
    if lo.actor == "dep" and (lo.online_weight != 0.0 or lo.bc_weight != 1.0):
        raise ConfigError(f"{where}: [loss] online_weight and bc_weight apply to actor = \"ind\" (the \"dep\" actor is the "
                          "online term alone); remove them or set actor = \"ind\"")
    if lo.actor == "ind" and lo.online_weight + lo.bc_weight == 0:
        raise ConfigError(f"{where}: [loss] online_weight and bc_weight are both 0, so the actor never learns; set one > 0")
    if not 0.0 < lo.bc_action_clip < 1.0:
        raise ConfigError(f"{where}: [loss] bc_action_clip must be in (0, 1) (tanh reaches neither -1 nor 1), got {lo.bc_action_clip}")
    o = cfg.optim
    if (o.lr_end is None) != (o.lr_anneal == 0):
        raise ConfigError(f"{where}: [optim] lr_end and lr_anneal go together (set both, or neither for a constant lr), "
                          f"got lr_end {o.lr_end} and lr_anneal {o.lr_anneal}")
    if o.lr_anneal < 0 or (o.lr_end is not None and not 0.0 < o.lr_end <= o.lr):
        raise ConfigError(f"{where}: [optim] lr_anneal must be >= 0 and lr_end in (0, lr={o.lr}], "
                          f"got {o.lr_anneal} and {o.lr_end}")
    if o.mlp_lr is not None and not o.mlp_lr > 0:
        raise ConfigError(f"{where}: [optim] mlp_lr must be > 0 (or left out: the same as lr), got {o.mlp_lr}")
    if not cfg.loss.reward_clip >= 0:
        raise ConfigError(f"{where}: [loss] reward_clip must be >= 0 (0 = no clipping), got {cfg.loss.reward_clip}")
    positive = {"model": ("d_model", "d_ff", "layers", "heads", "critics", "tstep_dim", "tstep_hidden", "head_hidden"),
                "optim": ("batch_size",),
                "train": ("num_envs", "eval_envs", "eval_trials_per_task", "eval_every", "checkpoint_every",
                          "collect_steps", "chunk_len")}
    for table, keys in positive.items():
        section = getattr(cfg, table)
        for key in keys:
            value = getattr(section, key, None)
            if value is not None and value < 1:
                raise ConfigError(f"{where}: [{table}] {key} must be >= 1, got {value}")
    if cfg.train.epochs < 0 or cfg.train.updates_per_epoch < 0:
        raise ConfigError(f"{where}: [train] epochs and updates_per_epoch must be >= 0")
