"""The numbers the papers report, as data: one loader over ``results/paper/*.csv``.

Each CSV file is one source table or figure (its stem is the ``table`` id); each row is one
reported number with its source, its tag (``T`` seen as text, ``D`` read off a figure) and
the budget (env steps) behind it. Columns:

    suite, split, agent, our_agent, task, metric, attempt, env_steps, value, qualifier, tag, source, note

``task`` empty = an aggregate over the suite's tasks; ``our_agent`` is the agent config of this
harness that the paper's variant corresponds to (empty for baselines we do not run);
``qualifier`` is ``""``, ``"~"`` (approximate) or ``"<="`` (an upper bound); ``env_steps``
empty = not stated by the source (the note says so).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from amago_bench.errors import UserError
from amago_bench.scoring import format_steps  # noqa: F401  (re-exported: tables and figures label budgets with it)
from amago_bench.resources import data_dir

COLUMNS: tuple[str, ...] = ("suite", "split", "agent", "our_agent", "task", "metric", "attempt", "env_steps", "value",
                            "qualifier", "tag", "source", "note")

#: Quantities a reported number can be, with how the harness measures the same thing.
METRICS: dict[str, str] = {
    "coverage": "tasks whose mean trial success reaches 2/3 (mean over seeds)",
    "success_pct": "mean trial success over tasks, in %",
    "return": "mean trial return in the game's own reward units (reward_scale undone)",
    "normalised": "mean normalised trial score (human-normalised for Atari; per attempt when `attempt` is set)",
    "normalised_pct": "mean normalised trial score over tasks, in %",
    "return_mean": "mean over tasks of the per-task mean trial return",
    "return_median": "median over tasks of the per-task mean trial return",
    "return_q25": "25th percentile over tasks of the per-task mean trial return",
    "return_q75": "75th percentile over tasks of the per-task mean trial return",
}
TAGS: dict[str, str] = {"T": "seen as text in the source", "D": "read off the source's figure (about +-1% of the axis)"}
QUALIFIERS: tuple[str, ...] = ("", "~", "<=")
ATTEMPTS: tuple[str, ...] = ("", "1", "2", "both")


class PaperDataError(UserError, ValueError):
    """A reported-numbers file is malformed; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Reported:
    """One number a paper reports."""

    table: str
    """The file it comes from (stem), e.g. ``amago2-ml45``."""
    suite: str
    split: str
    agent: str
    """The paper's name for the method, e.g. ``Ind/Ind`` or ``MuZero``."""
    our_agent: str
    task: str
    metric: str
    attempt: str
    env_steps: float | None
    value: float
    qualifier: str
    tag: str
    source: str
    note: str
    line: int
    """Line in its file (1 = header), for messages."""

    def label(self) -> str:
        """``reported, 100M steps [D]`` - the text a figure or table shows next to the number."""
        return f"reported, {format_steps(self.env_steps)} [{self.tag}]"


def _parse_row(raw: dict, path: Path, line: int, known_suites: set[str] | None) -> Reported:
    where = f"{path}:{line}"
    extra = [k for k in raw if k not in COLUMNS]
    if extra or None in raw:
        raise PaperDataError(f"{where}: unexpected column(s) or too many cells {extra}; columns are {', '.join(COLUMNS)}")
    missing = [c for c in COLUMNS if raw.get(c) is None]
    if missing:
        raise PaperDataError(f"{where}: row has too few cells (missing {', '.join(missing)}); give every column, "
                             "empty where unknown")
    r = {k: (v or "").strip() for k, v in raw.items()}
    for col in ("suite", "split", "agent", "metric", "value", "tag", "source"):
        if not r[col]:
            raise PaperDataError(f"{where}: column {col!r} is empty; every reported number needs it")
    if known_suites is not None and r["suite"] not in known_suites:
        raise PaperDataError(f"{where}: unknown suite {r['suite']!r}; known: {', '.join(sorted(known_suites))}")
    if r["split"] not in ("train", "test"):
        raise PaperDataError(f"{where}: split {r['split']!r} must be train or test")
    if r["metric"] not in METRICS:
        raise PaperDataError(f"{where}: unknown metric {r['metric']!r}; valid: {', '.join(METRICS)}")
    if r["tag"] not in TAGS:
        raise PaperDataError(f"{where}: tag {r['tag']!r} must be T (text) or D (read off a figure)")
    if r["qualifier"] not in QUALIFIERS:
        raise PaperDataError(f"{where}: qualifier {r['qualifier']!r} must be empty, '~' or '<='")
    if r["attempt"] not in ATTEMPTS:
        raise PaperDataError(f"{where}: attempt {r['attempt']!r} must be empty, 1, 2 or both")
    try:
        value = float(r["value"])
    except ValueError:
        raise PaperDataError(f"{where}: value {r['value']!r} is not a number; write it as a plain number "
                             "(approximations: qualifier '~')") from None
    steps = None
    if r["env_steps"]:
        try:
            steps = float(r["env_steps"])
        except ValueError:
            raise PaperDataError(f"{where}: env_steps {r['env_steps']!r} is not a number; leave it empty when the "
                                 "source does not state it") from None
        if steps <= 0:
            raise PaperDataError(f"{where}: env_steps must be > 0, got {r['env_steps']}")
    return Reported(table=path.stem, suite=r["suite"], split=r["split"], agent=r["agent"], our_agent=r["our_agent"],
                    task=r["task"], metric=r["metric"], attempt=r["attempt"], env_steps=steps, value=value,
                    qualifier=r["qualifier"], tag=r["tag"], source=r["source"], note=r["note"], line=line)


def load_reported(directory: Path | None = None, known_suites: set[str] | None = None) -> pd.DataFrame:
    """Every reported number, one row each: the :class:`Reported` fields as columns.

    Reads every ``*.csv`` under ``directory`` (default: the shipped ``results/paper``). A
    malformed row raises :class:`PaperDataError` naming its file and line; the same number
    given twice (same table, suite, split, agent, task, metric, attempt, budget) is refused.
    """
    directory = Path(directory) if directory is not None else data_dir("paper")
    files = sorted(directory.glob("*.csv"))
    if not files:
        raise PaperDataError(f"no reported-number files (*.csv) in {directory}; reinstall the package")
    rows: list[Reported] = []
    seen: dict[tuple, str] = {}
    for path in files:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = tuple(reader.fieldnames or ())
            if header != COLUMNS:
                raise PaperDataError(f"{path}:1: header is {', '.join(header) or '(empty)'}; it must be "
                                     f"{', '.join(COLUMNS)}")
            for i, raw in enumerate(reader, start=2):
                rep = _parse_row(raw, path, i, known_suites)
                key = (rep.table, rep.suite, rep.split, rep.agent, rep.task, rep.metric, rep.attempt, rep.env_steps)
                if key in seen:
                    raise PaperDataError(f"{path}:{i}: the same number as {seen[key]} (suite {rep.suite}, agent "
                                         f"{rep.agent}, task {rep.task or 'all'}, metric {rep.metric}); keep one")
                seen[key] = f"{path.name}:{i}"
                rows.append(rep)
    cols = list(Reported.__dataclass_fields__)
    return pd.DataFrame([[getattr(r, c) for c in cols] for r in rows], columns=cols)
