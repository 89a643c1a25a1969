"""The paper's experiments as data: ``results/paper/experiments.toml``.

Each :class:`Experiment` is one table or figure of the AMAGO-2 paper: the suite, our agent
configs, the seeds, the training budget in env steps, the env-step counts at which the paper
reports, the evaluation splits, the metrics, and the reported-numbers file it is set beside.
``amago-bench reproduce --budget paper`` runs exactly these (:func:`paper_jobs`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from amago_bench.errors import UserError
from amago_bench.resources import data_dir

EXPERIMENTS_FILE = "experiments.toml"
SPLITS = ("train", "test")
_KEYS = {"table", "title", "reported", "suite", "agents", "seeds", "env_steps", "report_at", "splits", "metrics", "note"}


class ExperimentError(UserError, ValueError):
    """The experiments file is malformed; the message names the file, the experiment and the fix."""


@dataclass(frozen=True)
class Experiment:
    table: str
    """The name ``reproduce --table`` takes."""
    title: str
    reported: str
    """The reported-numbers file (stem) it is set beside."""
    suite: str
    agents: tuple[str, ...]
    seeds: int
    """Training seeds 0..seeds-1."""
    env_steps: int
    """Training env steps per job."""
    report_at: tuple[int, ...]
    """Env-step counts evaluated (ascending; the last equals ``env_steps``)."""
    splits: tuple[str, ...]
    metrics: tuple[str, ...]
    note: str = ""


def experiments_path() -> Path:
    return data_dir("paper") / EXPERIMENTS_FILE


def _parse(raw: dict, where: str) -> Experiment:
    from amago_bench.report.paper import METRICS

    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise ExperimentError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(_KEYS))}")
    missing = sorted(_KEYS - {"note"} - set(raw))
    if missing:
        raise ExperimentError(f"{where}: missing key(s) {', '.join(missing)}")
    for key in ("seeds", "env_steps"):
        if not isinstance(raw[key], int) or raw[key] < 1:
            raise ExperimentError(f"{where}: {key} must be an integer >= 1, got {raw[key]!r}")
    report_at = tuple(raw["report_at"])
    if (not report_at or any(not isinstance(s, int) or s < 1 for s in report_at) or list(report_at) != sorted(set(report_at))
            or report_at[-1] != raw["env_steps"]):
        raise ExperimentError(f"{where}: report_at must be ascending positive env-step counts ending at env_steps "
                              f"({raw['env_steps']}), got {list(report_at)}")
    splits = tuple(raw["splits"])
    if not splits or any(s not in SPLITS for s in splits) or len(set(splits)) != len(splits):
        raise ExperimentError(f"{where}: splits must name train and/or test once each, got {list(splits)}")
    metrics = tuple(raw["metrics"])
    bad = [m for m in metrics if m not in METRICS]
    if not metrics or bad:
        raise ExperimentError(f"{where}: unknown metric(s) {bad or '(none given)'}; valid: {', '.join(METRICS)}")
    agents = tuple(raw["agents"])
    if not agents or len(set(agents)) != len(agents):
        raise ExperimentError(f"{where}: agents must name each agent config once, got {list(agents)}")
    return Experiment(table=str(raw["table"]), title=str(raw["title"]), reported=str(raw["reported"]),
                      suite=str(raw["suite"]), agents=agents, seeds=int(raw["seeds"]), env_steps=int(raw["env_steps"]),
                      report_at=report_at, splits=splits, metrics=metrics, note=str(raw.get("note", "")))


def load_experiments(path: Path | None = None) -> dict[str, Experiment]:
    """Every experiment of the file (default: the shipped one), by table name, in file order."""
    path = Path(path) if path is not None else experiments_path()
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExperimentError(f"{path} is missing; reinstall the package") from None
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{path}: not valid TOML ({exc})") from None
    out: dict[str, Experiment] = {}
    for i, raw in enumerate(doc.get("experiments", [])):
        where = f"{path} [[experiments]] #{i + 1} ({raw.get('table', '?')})"
        exp = _parse(raw, where)
        if exp.table in out:
            raise ExperimentError(f"{where}: table {exp.table!r} is defined twice; keep one")
        out[exp.table] = exp
    if not out:
        raise ExperimentError(f"{path} defines no [[experiments]]")
    return out


def select(tables: tuple[str, ...] | None = None, path: Path | None = None) -> list[Experiment]:
    """The experiments named by ``tables`` (all when None or empty), in file order."""
    exps = load_experiments(path)
    if tables:
        unknown = [t for t in tables if t not in exps]
        if unknown:
            raise UserError(f"unknown --table {', '.join(unknown)}; the paper's tables: {', '.join(exps)}")
        return [e for e in exps.values() if e.table in tables]
    return list(exps.values())
