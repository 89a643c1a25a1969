"""The checkpoint file every agent's trainer writes, and what a checkpoint must match.

A checkpoint is one ``torch.save`` of a dict, loaded with ``weights_only=True`` (no pickled code):

    format      the agent's format name (e.g. ``amago-bench/amago2-checkpoint``)
    version     the format version (1)
    suite       the suite trained on
    suite_hash  that suite's spec hash
    config      the agent config (``cfg.to_dict()``)
    shapes      the model's :class:`~amago_bench.agents.shapes.Shapes` (``to_dict()``)
    learner     the learner's state dict (model, optimiser, ...)
    extra       the trainer's counters, RNG state and run settings

It is written to a temporary file, fsynced, then renamed over the old one, so a run killed at
any point (even SIGKILL) leaves a loadable file.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from amago_bench.agents.configfile import ConfigError
from amago_bench.agents.shapes import Shapes, shapes_from_spaces
from amago_bench.errors import UserError


class CheckpointError(UserError, ValueError):
    """A checkpoint is missing, truncated, or belongs to another suite/model shape."""


@dataclass(frozen=True)
class CheckpointFormat:
    """One agent's checkpoint format: its ``format`` name and version, and how messages name it."""

    name: str
    """The ``format`` entry, e.g. ``amago-bench/amago2-checkpoint``."""
    agent: str
    """What the messages call the agent ("amago2", "RL^2-PPO")."""
    train_agent: str
    """The ``--agent`` of the train command a missing checkpoint's message suggests."""
    kind: str
    """The agent config kind ("amago2", "rl2-ppo"), named when a checkpoint's config is not valid."""
    version: int = 1

    def save(self, path: str | Path, learner: Any, suite: str, suite_hash: str, extra: dict[str, Any]) -> None:
        """Write ``learner`` (its ``cfg``, ``shapes`` and ``state_dict()``) and ``extra`` to ``path``
        atomically: to a temporary file first, fsync, then rename over the old one."""
        import torch

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"format": self.name, "version": self.version, "suite": suite, "suite_hash": suite_hash,
                   "config": learner.cfg.to_dict(), "shapes": learner.shapes.to_dict(), "learner": learner.state_dict(),
                   "extra": extra}
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def read(self, path: str | Path) -> dict[str, Any]:
        """Load a checkpoint (weights only, no pickled code); a missing, truncated or foreign file
        is a :class:`CheckpointError`."""
        import torch

        path = Path(path)
        refuse_folder(path)
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path} does not exist; train one with "
                                  f"`amago-bench train --suite S --agent {self.train_agent}`")
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, io.UnsupportedOperation) as exc:
            raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({type(exc).__name__}: {_first_line(exc)}); "
                                  f"delete it and re-run training, or point to an intact checkpoint") from exc
        except Exception as exc:  # unpickling garbage raises many kinds of errors
            raise CheckpointError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {_first_line(exc)}); "
                                  f"it is not an {self.agent} checkpoint or it is damaged") from exc
        if not isinstance(data, dict) or data.get("format") != self.name:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise CheckpointError(f"{path} is not an {self.agent} checkpoint (format {got!r}); "
                                  f"load it with the agent that wrote it")
        if data.get("version") != self.version:
            raise CheckpointError(f"{path}: checkpoint version {data.get('version')} is not supported (expected {self.version})")
        return data


    def load_learner(self, data: Mapping[str, Any], config_from_dict: Callable[[dict[str, Any]], Any],
                     make_learner: Callable[[Any, Shapes, Any], Any], device: Any = "cpu", weights_only: bool = False) -> Any:
        """The learner of a read checkpoint: ``make_learner(config, shapes, device)`` with the saved
        state loaded (the weights alone when ``weights_only``)."""
        try:
            cfg = config_from_dict(data["config"])
        except ConfigError as exc:
            raise CheckpointError(f"checkpoint config is not valid for this version of {self.kind}: {exc}") from exc
        learner = make_learner(cfg, Shapes.from_dict(data["shapes"]), device)
        try:
            learner.load_state_dict(data["learner"], weights_only=weights_only)
        except (RuntimeError, KeyError) as exc:
            raise CheckpointError(f"checkpoint weights do not match the model shape in its own config: {exc}") from exc
        return learner


def same_shapes(a: Shapes, b: Shapes) -> bool:
    """Whether two Shapes describe the same model inputs, compared by value (``to_dict()``), so
    that a Shapes made by a process's earlier import of this class compares equal too."""
    return a.to_dict() == b.to_dict()


def check_suite_and_shapes(data: Mapping[str, Any], suite: str, shapes: Shapes) -> None:
    """Refuse a checkpoint trained on another suite or another observation/action layout."""
    if data["suite"] != suite:
        raise CheckpointError(f"checkpoint was trained on suite {data['suite']!r}, not {suite!r}; "
                              f"use a checkpoint from runs/{suite}/... or train one")
    saved = Shapes.from_dict(data["shapes"])
    if not same_shapes(saved, shapes):
        raise CheckpointError(f"checkpoint model shape {saved} does not match suite {suite!r} ({shapes}); "
                              f"the suite's spaces changed since training: retrain")


def check_same_config(old: Mapping[str, Any], new: Mapping[str, Any], tables: tuple[str, ...]) -> None:
    """Refuse to resume when a key of ``tables`` (the model and loss sections) differs between the
    checkpoint's config ``old`` and the current one ``new``; other sections (run length) may change."""
    diff = sorted(f"{t}.{k}" for t in tables for k in new[t] if old[t].get(k) != new[t][k])
    if diff:
        raise CheckpointError(f"the checkpoint's config differs from the current one in {', '.join(diff)}; "
                              f"resume with the same config, or start afresh with --fresh")


def check_env_spec(spec: Any, suite: str | None, shapes: Shapes, agent: str) -> None:
    """Refuse to act in an env (an :class:`amago_bench.policy.EnvSpec`) of another suite than the
    one the model was trained on (``suite``; None: any), or whose spaces are not the model's."""
    if suite is not None and spec.suite != suite:
        raise CheckpointError(f"this {agent} agent was trained on suite {suite!r}, not {spec.suite!r}; "
                              f"use a checkpoint trained on {spec.suite!r}")
    got = shapes_from_spaces(spec.observation_space, spec.action_space, spec.max_episode_steps, spec.episodes_per_trial)
    if not same_shapes(got, shapes):
        raise CheckpointError(f"suite {spec.suite!r} spaces {got} do not match the model's {shapes}")


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The state of a numpy Generator, as stored in a checkpoint's ``extra``."""
    return rng.bit_generator.state


def set_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    rng.bit_generator.state = state


def refuse_folder(path: Path) -> None:
    """A ``--checkpoint`` that names a folder: say so, with a checkpoint found inside it."""
    if path.is_dir():
        found = sorted(path.rglob("checkpoint.pt"))
        raise CheckpointError(f"--checkpoint {path} is a folder; pass the checkpoint file itself"
                              + (f", e.g. {found[0]}" if found else " (a checkpoint.pt that `amago-bench train` wrote)"))


def _first_line(exc: BaseException) -> str:
    """The first line of an error's text (PyTorch's unpickler explains itself over many lines)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0].strip() if lines else type(exc).__name__
