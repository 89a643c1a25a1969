"""From env data to model inputs, shared by acting (agent.py) and learning (learner.py):
time features, action scaling to the model's [-1, 1], observations and replay windows to torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from amago_bench.agents.amago2.losses import Batch
from amago_bench.agents.amago2.model import Shapes


def time_features(step_in_episode: np.ndarray, episode_index: np.ndarray, new_episode: np.ndarray, shapes: Shapes) -> np.ndarray:
    """(N,) ints/bools -> (N, 3) float32: [step / max steps, episode / episodes per trial, new-episode flag]."""
    return np.stack([
        np.asarray(step_in_episode, np.float32) / max(1, shapes.max_episode_steps),
        np.asarray(episode_index, np.float32) / max(1, shapes.episodes_per_trial),
        np.asarray(new_episode, np.float32),
    ], axis=-1).astype(np.float32)


def _finite_bounds(shapes: Shapes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, span, finite) of the bounded action dimensions: low[finite], span = high - low."""
    low, high = np.asarray(shapes.action_low), np.asarray(shapes.action_high)
    finite = np.isfinite(low) & np.isfinite(high)
    return low[finite], high[finite] - low[finite], finite


def actions_to_unit(actions: np.ndarray, shapes: Shapes) -> np.ndarray:
    """Continuous env actions -> the model's [-1, 1] (identity where the bounds are infinite)."""
    if shapes.discrete:
        return actions
    low, span, finite = _finite_bounds(shapes)
    out = np.asarray(actions, np.float32).copy()
    out[..., finite] = 2 * (out[..., finite] - low) / span - 1
    return out


def actions_from_unit(actions: np.ndarray, shapes: Shapes) -> np.ndarray:
    """The inverse of :func:`actions_to_unit`: the model's [-1, 1] -> env actions."""
    if shapes.discrete:
        return actions
    low, span, finite = _finite_bounds(shapes)
    out = np.asarray(actions, np.float32).copy()
    out[..., finite] = low + (out[..., finite] + 1) / 2 * span
    return out


def obs_to_torch(obs: Any, device: torch.device) -> Any:
    if isinstance(obs, dict):
        return {k: torch.as_tensor(np.asarray(v), device=device) for k, v in obs.items()}
    return torch.as_tensor(np.asarray(obs), device=device)


def to_batch(sample: dict[str, np.ndarray], shapes: Shapes, device: torch.device | str) -> Batch:
    """Replay windows (numpy, see replay.Replay.sample) -> a :class:`Batch` on ``device``.
    Continuous actions are mapped to the model's [-1, 1]."""
    dev = torch.device(device)

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x)).to(dev, non_blocking=True)

    if any(p.key for p in shapes.obs):
        obs = {p.key: t(sample[f"obs.{p.key}"]) for p in shapes.obs}
    else:
        obs = t(sample["obs"])
    return Batch(
        obs=obs,
        prev_action=t(actions_to_unit(sample["prev_action"], shapes)),
        prev_reward=t(sample["prev_reward"].astype(np.float32)),
        time=t(sample["time"]),
        action=t(actions_to_unit(sample["action"], shapes)),
        reward=t(sample["reward"].astype(np.float32)),
        done=t(sample["done"].astype(np.float32)),
        valid=t(sample["valid"]),
    )
