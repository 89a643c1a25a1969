"""What a model is told about a suite: the observation parts, the action space and the trial
length (:class:`Shapes`, saved in every checkpoint; a mismatch is an error). Shared by every agent."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np


@dataclass(frozen=True)
class ObsPart:
    key: str
    """'' for a plain (non-dict) observation."""
    kind: str
    """vector | image | tokens"""
    shape: tuple[int, ...]
    vocab: int = 0
    """tokens: number of token ids."""


@dataclass(frozen=True)
class Shapes:
    obs: tuple[ObsPart, ...]
    discrete: bool
    action_dim: int
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]
    max_episode_steps: int
    episodes_per_trial: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Shapes":
        d = dict(d)
        d["obs"] = tuple(ObsPart(p["key"], p["kind"], tuple(p["shape"]), p.get("vocab", 0)) for p in d["obs"])
        d["action_low"] = tuple(d["action_low"])
        d["action_high"] = tuple(d["action_high"])
        return Shapes(**d)


def _obs_part(key: str, space: gym.Space) -> ObsPart:
    if isinstance(space, gym.spaces.Discrete):
        return ObsPart(key, "tokens", (1,), int(space.n))
    if not isinstance(space, gym.spaces.Box):
        raise TypeError(f"unsupported observation space {space}")
    if space.dtype == np.uint8 and len(space.shape) == 3:
        return ObsPart(key, "image", tuple(space.shape))
    if np.issubdtype(space.dtype, np.integer) and len(space.shape) == 1:
        return ObsPart(key, "tokens", tuple(space.shape), int(np.max(space.high)) + 1)
    return ObsPart(key, "vector", tuple(space.shape))


def shapes_from_spaces(obs_space: gym.Space, act_space: gym.Space, max_episode_steps: int, episodes_per_trial: int) -> Shapes:
    if isinstance(obs_space, gym.spaces.Dict):
        parts = tuple(_obs_part(k, s) for k, s in obs_space.spaces.items())
    else:
        parts = (_obs_part("", obs_space),)
    if isinstance(act_space, gym.spaces.Discrete):
        return Shapes(parts, True, int(act_space.n), (), (), max_episode_steps, episodes_per_trial)
    if isinstance(act_space, gym.spaces.Box) and len(act_space.shape) == 1:
        return Shapes(parts, False, int(act_space.shape[0]), tuple(map(float, act_space.low)),
                      tuple(map(float, act_space.high)), max_episode_steps, episodes_per_trial)
    raise TypeError(f"unsupported action space {act_space}")
