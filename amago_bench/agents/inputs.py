"""From env data to model inputs, shared by every agent's acting and learning: time features,
action scaling to the model's [-1, 1], observations to torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from amago_bench.agents.shapes import Shapes


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


def memory_tree(state: Any) -> Any:
    """A model's per-env acting memory (a tensor, None, or an object of tensors such as a
    key/value cache) as a tree of tensors, for saving with :mod:`amago_bench.snapshot`."""
    if state is None or isinstance(state, torch.Tensor):
        return state
    return {k: v for k, v in vars(state).items()}


def restore_memory_tree(state: Any, tree: Any) -> Any:
    """Copy a saved :func:`memory_tree` into ``state`` (the same model's fresh memory); returns it."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        state.copy_(tree.to(state.device, state.dtype))
        return state
    for k, v in tree.items():
        getattr(state, k).copy_(v.to(getattr(state, k).device, getattr(state, k).dtype))
    return state
