"""RL^2-PPO configuration: frozen dataclasses, read from ``baselines/rl2-ppo-gru.toml``.

The file has ``kind = "rl2-ppo"`` and four tables (``[model]``, ``[ppo]``, ``[optim]``,
``[train]``) whose keys are the fields below; overrides apply in the same order as for every
agent config (see :mod:`amago_bench.agents.configfile`): ``[suites.<suite or family>.<table>]``, then
``[budgets.<smoke|small|paper>.<table>]``, then ``[budgets.<budget>.suites.<suite or family>.<table>]``.
Keys are checked by the one config builder (:func:`amago_bench.agents.configfile.build`): an
unknown key or a wrong type is an error that lists the valid ones. Every check of a resolved config is in :func:`validate`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

from amago_bench.agents import config_path, read_config
from amago_bench.agents.configfile import ConfigError, apply_layers, build_sections, check_budget, check_keys

KIND = "rl2-ppo"
"""The ``kind`` key of an RL^2-PPO agent config file."""


@dataclass(frozen=True)
class ModelConfig:
    """The network (see model.py): the amago2 timestep encoder, a GRU, policy and value heads."""

    tstep_dim: int = 128
    """Width of one timestep embedding (the GRU's input)."""
    tstep_hidden: int = 128
    """Hidden width of the timestep MLP (vector observations)."""
    cnn: Literal["auto", "nature", "impala", "grid"] = "auto"
    """CNN for image observations (as amago2): auto = nature for >= 84 px, impala for >= 32 px, else grid."""
    d_model: int = 256
    """GRU hidden size."""
    layers: int = 1
    """GRU layers."""
    head_hidden: int = 128
    """Hidden width of the policy and value MLPs (two hidden layers each)."""
    init_log_std: float = -0.5
    """Continuous actions: initial log std of the state-independent Gaussian (in the [-1, 1] action scale)."""


@dataclass(frozen=True)
class PPOConfig:
    """The loss (see losses.py)."""

    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2
    """Policy ratio clip epsilon."""
    value_clip: float = 0.2
    """Clip of the value change from the collected value (in normalised reward units); 0: no clipping."""
    value_weight: float = 0.5
    entropy_weight: float = 0.01
    normalize_advantages: bool = True
    """Standardise advantages per minibatch (over its valid steps)."""
    reward_multiplier: float = 1.0
    """Rewards are multiplied by this before anything else (as amago2's)."""
    reward_norm: bool = True
    """Divide rewards by a running std of the discounted trial return (one global, task-agnostic
    statistic, as the common PPO reward normalisation); false: raw (multiplied) rewards."""


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 3e-4
    anneal_lr: bool = False
    """Linear learning-rate decay to 0 over the run's epochs."""
    adam_eps: float = 1e-5
    grad_clip: float = 0.5
    weight_decay: float = 0.0
    ppo_epochs: int = 4
    """Passes over each collected batch."""
    minibatches: int = 4
    """Each pass splits the num_envs env-sequences into this many minibatches (whole sequences)."""


@dataclass(frozen=True)
class TrainConfig:
    """The training loop (see trainer.py)."""

    num_envs: int = 32
    """Parallel actors; each contributes one sequence of segment_len steps per epoch."""
    segment_len: int = 128
    """Steps per actor per epoch, and the truncated-BPTT length: a segment starts from the GRU
    state its actor had at that step (trials span segments)."""
    epochs: int = 1000
    eval_every: int = 20
    """Evaluate every this many epochs (and after the last)."""
    eval_trials_per_task: int = 4
    eval_envs: int = 8
    eval_sample: bool = True
    """Sample actions from pi at evaluation (else the most likely action / the mean)."""
    vector: Literal["sync", "async"] = "sync"
    checkpoint_every: int = 1
    tensorboard: bool = True


@dataclass(frozen=True)
class RL2Config:
    name: str = "rl2-ppo-gru"
    model: ModelConfig = field(default_factory=ModelConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, **dataclasses.asdict(self)}

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> "RL2Config":
        """Inverse of :meth:`to_dict` (checks every key)."""
        cfg = RL2Config(name=str(data.get("name", "rl2-ppo-gru")), **build_sections(_TABLES, data))
        validate(cfg)
        return cfg


_TABLES: dict[str, type] = {"model": ModelConfig, "ppo": PPOConfig, "optim": OptimConfig, "train": TrainConfig}


def load_config(agent: str = "rl2-ppo-gru", suite: str = "", family: str = "", budget: str = "paper",
                directory: Path | None = None) -> RL2Config:
    """Resolve ``baselines/<agent>.toml`` (``kind = "rl2-ppo"``) for one suite and budget."""
    check_budget(budget)
    path = config_path(agent, directory)
    raw = read_config(path)
    where = str(path)
    if raw.get("kind") != KIND:
        raise ConfigError(f"{where}: kind is {raw.get('kind')!r}, not {KIND!r}; an RL^2-PPO config needs kind = \"{KIND}\"")
    check_keys(raw, {"kind", "name", "description", "suites", "budgets", *_TABLES}, where)
    cfg = apply_layers(RL2Config(), _TABLES, raw, where, suite, family, budget)
    cfg = dataclasses.replace(cfg, name=str(raw.get("name", path.stem)))
    validate(cfg, where)
    return cfg


def validate(cfg: RL2Config, where: str = "config") -> None:
    """Every check of a resolved config, in one place."""
    m, p, o, t = cfg.model, cfg.ppo, cfg.optim, cfg.train
    for key, value in [("model.tstep_dim", m.tstep_dim), ("model.tstep_hidden", m.tstep_hidden), ("model.d_model", m.d_model),
                       ("model.layers", m.layers), ("model.head_hidden", m.head_hidden), ("optim.ppo_epochs", o.ppo_epochs),
                       ("optim.minibatches", o.minibatches), ("train.num_envs", t.num_envs),
                       ("train.segment_len", t.segment_len), ("train.eval_every", t.eval_every),
                       ("train.eval_trials_per_task", t.eval_trials_per_task), ("train.eval_envs", t.eval_envs),
                       ("train.checkpoint_every", t.checkpoint_every)]:
        if value < 1:
            raise ConfigError(f"{where}: {key} must be >= 1, got {value}")
    if t.epochs < 0:
        raise ConfigError(f"{where}: train.epochs must be >= 0, got {t.epochs}")
    if not 0.0 <= p.gamma <= 1.0 or not 0.0 <= p.gae_lambda <= 1.0:
        raise ConfigError(f"{where}: ppo.gamma and ppo.gae_lambda must lie in [0, 1], got {p.gamma}, {p.gae_lambda}")
    if p.clip <= 0 or p.value_clip < 0:
        raise ConfigError(f"{where}: ppo.clip must be > 0 and ppo.value_clip >= 0, got {p.clip}, {p.value_clip}")
    if o.minibatches > t.num_envs:
        raise ConfigError(f"{where}: optim.minibatches ({o.minibatches}) cannot exceed train.num_envs ({t.num_envs}): "
                          f"a minibatch holds whole env-sequences")
    if o.lr <= 0 or o.grad_clip <= 0:
        raise ConfigError(f"{where}: optim.lr and optim.grad_clip must be > 0, got {o.lr}, {o.grad_clip}")
