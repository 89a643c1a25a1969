"""The learner: model + target critics + optimiser (AdamW, warm-up, clipping, Polyak), and
checkpoints that are written then renamed, so a killed run always leaves a loadable file.
"""

from __future__ import annotations

import copy
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from amago_bench.agents.amago2.config import AgentConfig, ConfigError
from amago_bench.agents.amago2.losses import Batch, PopArt, TwoHot, amago_loss
from amago_bench.agents.amago2.model import AmagoModel, Shapes
from amago_bench.errors import UserError

CHECKPOINT_FORMAT = "amago-bench/amago2-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(UserError, ValueError):
    """A checkpoint is missing, truncated, or belongs to another suite/model shape."""


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when set, else ``min(2, idle cores)``: the cores not already busy by the
    1-minute load average, at least 1. More threads rarely help these small models, and threads
    that fight other processes for busy cores slow everything down many times over."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        busy = 0.0
    return max(1, min(2, cores - int(round(busy))))


def set_threads(threads: int | None = None) -> int:
    """Set torch's CPU threads and return the number used: ``threads`` when given, else
    :func:`default_threads`."""
    if threads is None or threads <= 0:
        threads = default_threads()
    torch.set_num_threads(int(threads))
    return int(threads)


def pick_device(device: str | None = None) -> torch.device:
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise UserError(f"unknown torch device {device!r}; use auto, cpu, cuda or cuda:N") from None


class Learner:
    """Owns the trainable state of one AMAGO-2 agent."""

    def __init__(self, cfg: AgentConfig, shapes: Shapes, device: torch.device | str = "cpu", seed: int = 0) -> None:
        self.cfg, self.shapes = cfg, shapes
        self.device = torch.device(device)
        torch.manual_seed(seed)
        outputs = cfg.model.bins if cfg.loss.critic == "ind" else 1
        self.model = AmagoModel(shapes, cfg.model, outputs).to(self.device)
        self.target_critics = copy.deepcopy(self.model.critics).requires_grad_(False)
        self.twohot = TwoHot(cfg.model.bins, cfg.loss.value_range).to(self.device)
        self.popart = PopArt(cfg.loss.popart_beta).to(self.device)
        o = cfg.optim
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda n: min(1.0, (n + 1) / max(1, o.warmup)))
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.updates = 0
        self.amp = o.precision == "bf16" or (o.precision == "auto" and self.device.type == "cuda")

    def update(self, batch: Batch) -> dict[str, float]:
        """One gradient step on a batch; returns metrics."""
        self.model.train()
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            loss, metrics = amago_loss(self.model, self.target_critics, self.twohot, self.popart, batch,
                                       self.cfg.loss, self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        with torch.no_grad():  # Polyak averaging of the target critics
            torch._foreach_lerp_(list(self.target_critics.parameters()), list(self.model.critics.parameters()),
                                 self.cfg.loss.tau)
        self.updates += 1
        metrics["optim/grad_norm"] = float(norm)
        metrics["optim/lr"] = float(self.scheduler.get_last_lr()[0])
        return metrics

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "target_critics": self.target_critics.state_dict(),
            "popart": self.popart.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any], weights_only: bool = False) -> None:
        self.model.load_state_dict(state["model"])
        self.target_critics.load_state_dict(state["target_critics"])
        self.popart.load_state_dict(state["popart"])
        if weights_only:
            return
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        self.updates = int(state["updates"])


def save_checkpoint(path: str | Path, learner: Learner, suite: str, suite_hash: str, extra: dict[str, Any]) -> None:
    """Write ``path`` atomically: to a temporary file first, fsync, then rename over the old one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "suite": suite,
        "suite_hash": suite_hash,
        "config": learner.cfg.to_dict(),
        "shapes": learner.shapes.to_dict(),
        "learner": learner.state_dict(),
        "extra": extra,
    }
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint file; a missing, truncated or foreign file is a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; train one with `amago-bench train --suite S --agent amago2`")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, io.UnsupportedOperation) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({type(exc).__name__}: {exc}); "
                              f"delete it and re-run training, or point to an intact checkpoint") from exc
    except Exception as exc:  # unpickling garbage raises many kinds of errors
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); "
                              f"it is not an amago2 checkpoint or it is damaged") from exc
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not an amago2 checkpoint (format {data.get('format') if isinstance(data, dict) else type(data).__name__!r})")
    if data.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {data.get('version')} is not supported (expected {CHECKPOINT_VERSION})")
    return data


def learner_from_checkpoint(data: dict[str, Any], device: torch.device | str = "cpu", weights_only: bool = False) -> Learner:
    try:
        cfg = AgentConfig.from_dict(data["config"])
    except ConfigError as exc:
        raise CheckpointError(f"checkpoint config is not valid for this version of amago2: {exc}") from exc
    learner = Learner(cfg, Shapes.from_dict(data["shapes"]), device)
    try:
        learner.load_state_dict(data["learner"], weights_only=weights_only)
    except (RuntimeError, KeyError) as exc:
        raise CheckpointError(f"checkpoint weights do not match the model shape in its own config: {exc}") from exc
    return learner


def check_compatible(data: dict[str, Any], suite: str, suite_hash: str | None, shapes: Shapes, cfg: AgentConfig | None = None) -> None:
    """Refuse a checkpoint trained on another suite, another observation/action layout, or (when
    ``cfg`` is given) another model or loss config; run-length settings may change on resume."""
    if data["suite"] != suite:
        raise CheckpointError(f"checkpoint was trained on suite {data['suite']!r}, not {suite!r}; "
                              f"use a checkpoint from runs/{suite}/... or train one")
    saved = Shapes.from_dict(data["shapes"])
    if saved != shapes:
        raise CheckpointError(f"checkpoint model shape {saved} does not match suite {suite!r} ({shapes}); "
                              f"the suite's spaces changed since training: retrain")
    if cfg is not None:
        old = AgentConfig.from_dict(data["config"]).to_dict()
        new = cfg.to_dict()
        diff = sorted(f"{t}.{k}" for t in ("model", "loss") for k in new[t] if old[t].get(k) != new[t][k])
        if diff:
            raise CheckpointError(f"the checkpoint's config differs from the current one in {', '.join(diff)}; "
                                  f"resume with the same config, or start afresh with --fresh")


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    return rng.bit_generator.state


def set_rng_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    rng.bit_generator.state = state
