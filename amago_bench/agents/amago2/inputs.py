"""From env data to model inputs: replay windows to a :class:`Batch` (learner); the per-step
helpers every agent shares (time features, action scaling, observations to torch) live in
:mod:`amago_bench.agents.inputs` and are re-exported here."""

from __future__ import annotations

import numpy as np
import torch

from amago_bench.agents.amago2.losses import Batch
from amago_bench.agents.inputs import actions_from_unit, actions_to_unit, obs_to_torch, time_features
from amago_bench.agents.shapes import Shapes

__all__ = ["time_features", "actions_to_unit", "actions_from_unit", "obs_to_torch", "to_batch"]


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
