"""Trees of arrays in one ``.npz`` file, loaded without pickle: how a training run saves the state
of its collection (the rollout, the acting agent's memory, partial trajectories) next to each
checkpoint, so that a resumed run continues exactly where the checkpoint left it.

A tree is nested dicts (string keys) and lists whose leaves are numpy arrays, torch tensors,
numpy generators' states, or JSON values (None, bool, int, float, str). The structure goes into
the file as JSON; each array is one entry. Loading uses ``allow_pickle=False``: nothing in the
file can run code. Tensors come back as tensors of their dtype (bfloat16 included) on the CPU.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

_TREE = "__tree__"


def save_tree(path: str | Path, tree: Any) -> None:
    """Write ``tree`` to ``path`` atomically (a temporary file, then a rename)."""
    arrays: dict[str, np.ndarray] = {}

    def enc(x: Any) -> Any:
        if isinstance(x, dict):
            return {"$d": {str(k): enc(v) for k, v in x.items()}}
        if isinstance(x, (list, tuple)):
            return {"$l": [enc(v) for v in x]}
        if isinstance(x, np.ndarray):
            key = f"a{len(arrays)}"
            arrays[key] = np.ascontiguousarray(x)
            return {"$a": key}
        if type(x).__module__.startswith("torch") and hasattr(x, "detach"):
            key = f"a{len(arrays)}"
            t = x.detach().cpu()
            dtype = str(t.dtype).removeprefix("torch.")
            if dtype == "bfloat16":
                t = t.float()
            arrays[key] = t.numpy().copy()
            return {"$t": key, "dtype": dtype}
        if isinstance(x, np.generic):
            return x.item()
        if x is None or isinstance(x, (bool, int, float, str)):
            return x
        raise TypeError(f"cannot save a {type(x).__name__} in a state file; convert it to arrays first")

    doc = json.dumps(enc(tree))
    path = Path(path)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays, **{_TREE: np.frombuffer(doc.encode(), np.uint8)})
    os.replace(tmp, path)


def load_tree(path: str | Path) -> Any:
    """The tree saved by :func:`save_tree` (arrays as numpy arrays, tensors as CPU tensors)."""
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    doc = json.loads(arrays.pop(_TREE).tobytes().decode())

    def dec(x: Any) -> Any:
        if isinstance(x, dict):
            if "$d" in x:
                return {k: dec(v) for k, v in x["$d"].items()}
            if "$l" in x:
                return [dec(v) for v in x["$l"]]
            if "$a" in x:
                return arrays[x["$a"]]
            if "$t" in x:
                import torch

                return torch.from_numpy(arrays[x["$t"]]).to(getattr(torch, x["dtype"]))
        return x

    return dec(doc)


def rng_states(rngs: list[np.random.Generator]) -> list[dict[str, Any]]:
    """The bit-generator states of ``rngs`` (JSON values)."""
    return [r.bit_generator.state for r in rngs]


def rngs_from(states: list[dict[str, Any]]) -> list[np.random.Generator]:
    out = []
    for st in states:
        bg = getattr(np.random, st["bit_generator"])()
        bg.state = st
        out.append(np.random.Generator(bg))
    return out
