"""Unified spaces described as data in suite files, and action validation.

A layout is a small table, e.g. ``{kind = "box", shape = [30], low = -1.0, high = 1.0}``,
``{kind = "discrete", n = 26}`` or ``{kind = "dict", keys = {grid = {...}, mission = {...}}}``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from gymnasium import spaces

from amago_bench.errors import UserError
from amago_bench.suite import SuiteError

_DTYPES = {"float32": np.float32, "uint8": np.uint8, "int64": np.int64, "int32": np.int32}


def space_from_spec(spec: Mapping[str, Any], where: str = "spaces") -> spaces.Space:
    """Build a Gymnasium space from a layout table; errors name the key to fix."""
    kind = spec.get("kind")
    if kind == "discrete":
        n = spec.get("n")
        if not isinstance(n, int) or n < 1:
            raise SuiteError(f"{where}: discrete space needs an integer n >= 1, got {n!r}")
        return spaces.Discrete(n)
    if kind == "box":
        shape = spec.get("shape")
        if not isinstance(shape, list) or not all(isinstance(s, int) and s > 0 for s in shape):
            raise SuiteError(f"{where}: box space needs shape = [positive ints], got {shape!r}")
        dtype_name = spec.get("dtype", "float32")
        if dtype_name not in _DTYPES:
            raise SuiteError(f"{where}: dtype {dtype_name!r} is not one of {', '.join(_DTYPES)}")
        dtype = _DTYPES[dtype_name]
        default_low, default_high = (0, 255) if dtype is np.uint8 else (-np.inf, np.inf)
        low = spec.get("low", default_low)
        high = spec.get("high", default_high)
        return spaces.Box(low=low, high=high, shape=tuple(shape), dtype=dtype)
    if kind == "dict":
        keys = spec.get("keys")
        if not isinstance(keys, Mapping) or not keys:
            raise SuiteError(f"{where}: dict space needs a non-empty 'keys' table")
        return spaces.Dict({k: space_from_spec(v, f"{where}.{k}") for k, v in keys.items()})
    raise SuiteError(f"{where}: kind {kind!r} is not one of box, discrete, dict")


class ActionError(UserError, ValueError):
    """An agent returned actions the suite cannot take; the message names task and step."""

    def __init__(self, message: str, env_index: int | None = None) -> None:
        super().__init__(message)
        self.env_index = env_index


def check_actions(actions: Any, space: spaces.Space, num_envs: int, where: str) -> np.ndarray:
    """Validate a batch of actions for ``num_envs`` envs against the unified action space.

    Returns the actions as an array of shape (num_envs,) for Discrete or (num_envs, *shape)
    for Box. Raises :class:`ActionError` on a wrong shape, NaN/inf or out-of-range value.
    """
    arr = np.asarray(actions)
    if isinstance(space, spaces.Discrete):
        want = (num_envs,)
        if arr.shape != want:
            raise ActionError(f"{where}: expected actions of shape {want} for Discrete({space.n}), got {arr.shape}")
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)):
                env = int(np.flatnonzero(~np.isfinite(arr))[0])
                raise ActionError(f"{where}: action for env {env} is NaN or inf", env)
            if not np.all(arr == np.round(arr)):
                raise ActionError(f"{where}: discrete actions must be integers, got {arr.tolist()}")
        elif arr.dtype.kind not in "iu":
            raise ActionError(f"{where}: discrete actions must be integers, got dtype {arr.dtype}")
        arr = arr.astype(np.int64)  # always a new array: the caller may keep it
        lo = int(space.start)
        values = arr.tolist()  # (min/max of a short list in Python: cheaper than numpy's per-call overhead)
        if values and (min(values) < lo or max(values) >= lo + int(space.n)):
            env = int(np.flatnonzero((arr < lo) | (arr >= lo + int(space.n)))[0])
            raise ActionError(f"{where}: action {arr[env]} for env {env} is out of range [0, {space.n})", env)
        return arr
    if isinstance(space, spaces.Box):
        want = (num_envs, *space.shape)
        if arr.shape != want:
            raise ActionError(f"{where}: expected actions of shape {want} for {space}, got {arr.shape}")
        if arr.dtype.kind not in "fiu":
            raise ActionError(f"{where}: continuous actions must be numbers, got dtype {arr.dtype}")
        arr = arr.astype(space.dtype)
        if not np.all(np.isfinite(arr)):
            env = int(np.flatnonzero(~np.isfinite(arr).reshape(num_envs, -1).all(axis=1))[0])
            raise ActionError(f"{where}: action for env {env} contains NaN or inf", env)
        low, high = space.low, space.high
        tol = 1e-6
        bad = ((arr < low - tol) | (arr > high + tol)).reshape(num_envs, -1).any(axis=1)
        if bad.any():
            env = int(np.flatnonzero(bad)[0])
            raise ActionError(
                f"{where}: action for env {env} is out of range [{low.min()}, {high.max()}]: {arr[env].tolist()}", env
            )
        return np.clip(arr, low, high)
    raise ActionError(f"{where}: unsupported action space {space}")


def zeros_like_space(space: spaces.Space, batch: int) -> Any:
    """A batch of zero actions/observations for ``space`` (used for "no previous action")."""
    if isinstance(space, spaces.Discrete):
        return np.zeros((batch,), dtype=np.int64)
    if isinstance(space, spaces.Box):
        return np.zeros((batch, *space.shape), dtype=space.dtype)
    if isinstance(space, spaces.Dict):
        return {k: zeros_like_space(s, batch) for k, s in space.spaces.items()}
    raise TypeError(f"unsupported space {space}")
