"""The agents: which agent configs exist, what kind each is, and which trainer trains it.

Agent configs are TOML files shipped in ``baselines/``. Each names its ``kind``
(or extends a config that does; the default is ``amago2``), and :data:`TRAINERS` maps a kind to
its trainer. Nothing here imports torch: listing agents stays instant.

What every agent shares lives beside the agents' packages: ``configfile.py`` (config files: the
one builder and the suite/budget layers), ``checkpoint.py`` (the checkpoint file format and its
checks), ``shapes.py`` (what a model is told about a suite), ``inputs.py`` (env data to model
inputs), ``timestep.py`` (the timestep encoder) and ``device.py`` (torch threads and device).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from amago_bench.errors import UserError
from amago_bench.resources import data_dir

#: Agent config kind -> its trainer ("module:function"); imported only when used.
TRAINERS: dict[str, str] = {
    "amago2": "amago_bench.agents.amago2.trainer:train",
    "rl2-ppo": "amago_bench.agents.rl2_ppo.trainer:train",
}
#: Agent config kind -> the built-in agent (amago_bench.policy.BUILTIN_AGENTS) that evaluates its checkpoints.
EVAL_AGENTS: dict[str, str] = {"amago2": "amago2", "rl2-ppo": "rl2-ppo-gru"}
#: The kind of a config file that does not say (and does not extend one that does).
DEFAULT_KIND = "amago2"
#: Agents that are evaluated but not trained, listed beside the configs.
UNTRAINED_AGENTS: dict[str, str] = {
    "random": "uniform random actions (the low end of normalisation)",
    "probe-oracle": "the optimal in-context strategy for the scale-probe bandit",
}


class AgentConfigError(UserError, ValueError):
    """An agent config name or file is wrong; the message names the fix."""


def agent_config_files() -> dict[str, Path]:
    """Config name -> file, for every shipped agent config."""
    return {p.stem: p for p in sorted(data_dir("baselines").glob("*.toml"))}


def config_kind(agent: str) -> str:
    """The ``kind`` of an agent config (name or .toml path), following ``extends``."""
    seen: list[str] = []
    path = config_path(agent)
    while True:
        raw = read_config(path)
        if "kind" in raw:
            kind = raw["kind"]
            break
        parent = raw.get("extends")
        if parent is None:
            kind = DEFAULT_KIND
            break
        if parent in seen:
            raise AgentConfigError(f"{path}: 'extends' loops through {seen}; break the cycle")
        seen.append(parent)
        try:
            path = config_path(extends_target(path, parent))
        except AgentConfigError as exc:  # name the file whose 'extends' is wrong
            raise AgentConfigError(f"{path}: extends = {parent!r}: {exc}") from None
    if kind not in TRAINERS:
        raise AgentConfigError(f"{path}: unknown kind {kind!r}; valid: {', '.join(TRAINERS)}")
    return kind


def list_agents() -> list[tuple[str, str, str]]:
    """(name, kind, one-line description) of every shipped config, then the untrained agents."""
    rows = [(name, config_kind(name), str(read_config(p).get("description", "")).strip())
            for name, p in agent_config_files().items()]
    return rows + [(name, "untrained", desc) for name, desc in UNTRAINED_AGENTS.items()]


def config_path(agent: str, directory: Path | None = None) -> Path:
    """The file of agent config ``agent`` (a name in ``directory``, default the shipped configs,
    or a path to a .toml file)."""
    p = Path(agent)
    if p.suffix == ".toml":
        if not p.is_file():
            raise AgentConfigError(f"agent config file {agent} does not exist; give a path to a .toml file "
                                   f"or a config name (`amago-bench agents` lists them)")
        return p
    directory = directory or data_dir("baselines")
    path = directory / f"{agent}.toml"
    if not path.is_file():
        known = sorted(q.stem for q in directory.glob("*.toml"))
        raise AgentConfigError(f"unknown agent config {agent!r}; known: {', '.join(known)} "
                               f"(or a path to a .toml file; `amago-bench agents` lists them)")
    return path


def extends_target(path: Path, parent: str) -> str:
    """What ``extends = parent`` in the config file ``path`` names: a config name as written, or a
    relative .toml path read from the extending file's own folder (so a file and the file it extends
    can move together and be used from any working folder)."""
    p = Path(parent)
    return str(path.parent / p) if p.suffix == ".toml" and not p.is_absolute() else parent


def read_config(path: Path) -> dict[str, Any]:
    """The raw TOML table of one config file."""
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise AgentConfigError(f"{path}: not valid TOML ({exc}); fix the syntax") from None
    except OSError as exc:
        raise AgentConfigError(f"{path}: cannot read the agent config ({exc.strerror})") from None
