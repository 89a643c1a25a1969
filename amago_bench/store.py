"""The results database and run ledger: one SQLite file (WAL mode) holding runs and episodes.

Layout (schema version :data:`SCHEMA_VERSION`, migrations in :data:`MIGRATIONS`):

* ``runs``     one row per evaluation/training job, keyed by :func:`config_hash` of its
               :class:`RunManifest` (the ledger key), with provenance (versions, git, host,
               start, end, status, and the reason a run failed or stopped).
* ``trials``   the ledger of finished trials: (run, task, trial) and env steps so far.
               A trial and all its episodes are written in one transaction, so a trial is
               either fully stored or absent, whatever kills the writer.
* ``episodes`` one row per episode: (run, task, trial, episode) -> return, length, success...
* ``sessions`` one row per process that opened a run (first start and every resume).

Re-running the same job re-opens the same run (same config hash) and the caller skips the
trials listed by :meth:`ResultsStore.completed_trials`; storing a trial twice is a no-op.
Several processes may write at once (WAL + busy timeout + retried ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from amago_bench.errors import UserError
from amago_bench.installation import upgrade_hint
from amago_bench.resources import default_db, repo_root

#: The CLI's ``--db`` default: the checkout's results/amago-bench.db, or for an installed package
#: results/amago-bench.db under the current folder.
DEFAULT_DB = default_db()
#: Marks our files (``PRAGMA application_id``): "amgb".
APPLICATION_ID = 0x616D6762
#: Statuses a run can have.
RUN_STATUSES = ("running", "finished", "failed", "interrupted")
#: Manifest fields whose values must agree before results are ranked together.
COMPARABILITY_FIELDS = ("suite", "suite_hash", "split", "trial_protocol", "backend", "trials_per_task", "tasks")
#: Keys every episode dict passed to :meth:`ResultsStore.add_trial` carries.
EPISODE_KEYS = ("task", "trial", "episode", "return", "length", "success", "scored", "truncated", "variant")
_BUSY_TIMEOUT_MS = 60_000
_SQLITE_HEADER = b"SQLite format 3\x00"


class StoreError(UserError):
    """The results database cannot be used as asked (corrupt/foreign file, too new, bad input)."""


# --------------------------------------------------------------------------------------
# Manifest and ledger key


@dataclass(frozen=True)
class RunManifest:
    """Everything that defines one evaluation or training job (its config hash is the ledger key)."""

    kind: str
    """"evaluate" or "train"."""
    agent: str
    """Agent name, e.g. "random", "amago2", "mypkg.agent:Agent"."""
    agent_config: Mapping[str, Any]
    """JSON-able agent config (checkpoint path and its hash for trained agents, ...)."""
    suite: str
    suite_hash: str
    """``SuiteSpec.spec_hash`` of the suite the job ran on."""
    split: str
    seed: int
    trials_per_task: int
    """Evaluation size: trials per task per seed."""
    num_envs: int
    backend: str
    budget: str | None = None
    """"smoke" | "small" | "paper" for training runs."""
    tasks: tuple[str, ...] | None = None
    """Subset of tasks; None = all tasks of the split."""
    trial_protocol: str = ""
    """e.g. "k=2 scored=[1] score=return"; part of the comparability key."""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["agent_config"] = _jsonable(dict(self.agent_config))
        d["tasks"] = None if self.tasks is None else list(self.tasks)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "RunManifest":
        names = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - names)
        if unknown:
            raise StoreError(f"run manifest has unknown field(s) {unknown}; known: {sorted(names)}")
        d = dict(d)
        d["tasks"] = None if d.get("tasks") is None else tuple(d["tasks"])
        d["agent_config"] = dict(d.get("agent_config") or {})
        try:
            return cls(**d)
        except TypeError as exc:
            raise StoreError(f"run manifest is incomplete ({exc})") from exc

    def comparability_key(self) -> tuple:
        d = self.to_json()
        return tuple(json.dumps(d[f], sort_keys=True) for f in COMPARABILITY_FIELDS)


def _jsonable(obj: Any) -> Any:
    try:
        return json.loads(json.dumps(obj, sort_keys=True))
    except (TypeError, ValueError) as exc:
        raise StoreError(f"agent_config must be JSON-able (str, numbers, lists, dicts): {exc}") from exc


def config_hash(m: RunManifest) -> str:
    """Stable sha256 (24 hex chars) of everything that defines the job: the ledger key.

    Task subsets are hashed as sorted sets (the same tasks in another order are the same job).
    """
    d = m.to_json()
    if d["tasks"] is not None:
        d["tasks"] = sorted(d["tasks"])
    canonical = json.dumps(d, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


# --------------------------------------------------------------------------------------
# Provenance


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@functools.lru_cache(maxsize=1)
def git_state() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout the package runs from; (None, None) outside git or for an
    installed package (whose folder may sit inside someone else's repository)."""
    repo = repo_root()
    if repo is None:
        return None, None
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
        return commit.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None, None


def environment_versions(packages: Iterable[str] = ()) -> dict[str, str | None]:
    """Versions of Python, amago-bench, numpy, gymnasium, torch and the given import names.

    Read from package metadata: nothing is imported (torch stays unloaded).
    """
    from importlib import metadata

    out: dict[str, str | None] = {"python": sys.version.split()[0]}

    def dist_version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    for dist in ("amago-bench", "numpy", "gymnasium", "torch"):
        out[dist] = dist_version(dist)
    packages = list(packages)
    if packages:
        mapping = metadata.packages_distributions()
        for pkg in packages:
            dists = mapping.get(pkg, [pkg])
            out[pkg] = dist_version(dists[0]) if dists else None
    return out


def _suite_packages(suite: str) -> tuple[str, ...]:
    try:
        from amago_bench.suite import get_suite

        return tuple(get_suite(suite).packages)
    except Exception:  # a suite that no longer loads must not stop a run being recorded
        return ()


# --------------------------------------------------------------------------------------
# Schema and migrations

_V1 = """
CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    config_hash TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    agent       TEXT NOT NULL,
    suite       TEXT NOT NULL,
    suite_hash  TEXT NOT NULL,
    split       TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    manifest    TEXT NOT NULL,
    status      TEXT NOT NULL,
    started     TEXT NOT NULL,
    ended       TEXT
);
CREATE TABLE episodes (
    run_id    TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    task      TEXT NOT NULL,
    trial     INTEGER NOT NULL,
    episode   INTEGER NOT NULL,
    "return"  REAL NOT NULL,
    length    INTEGER NOT NULL,
    success   REAL,
    scored    INTEGER NOT NULL,
    truncated INTEGER NOT NULL,
    variant   INTEGER,
    PRIMARY KEY (run_id, task, trial, episode)
);
CREATE INDEX runs_suite ON runs(suite);
"""

_V2_COLUMNS = (
    ("trials_per_task", "INTEGER"), ("num_envs", "INTEGER"), ("backend", "TEXT"), ("budget", "TEXT"),
    ("tasks", "TEXT"), ("trial_protocol", "TEXT"), ("agent_config", "TEXT"), ("versions", "TEXT"),
    ("git_commit", "TEXT"), ("git_dirty", "INTEGER"), ("host", "TEXT"),
)


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """The first schema: runs with the manifest as one JSON column, and episodes."""
    for stmt in _V1.split(";"):
        if stmt.strip():
            conn.execute(stmt)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")


def _migrate_v2(conn: sqlite3.Connection) -> None:
    """Manifest fields as columns, provenance, the trial ledger with env steps, sessions.

    v1 wrote a trial's episodes in one transaction, so every trial with episodes is complete:
    the ledger is backfilled from them (env steps unknown).
    """
    for name, typ in _V2_COLUMNS:
        conn.execute(f"ALTER TABLE runs ADD COLUMN {name} {typ}")
    conn.execute("""
        CREATE TABLE trials (
            run_id    TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
            task      TEXT NOT NULL,
            trial     INTEGER NOT NULL,
            env_steps INTEGER,
            recorded  TEXT,
            PRIMARY KEY (run_id, task, trial)
        )""")
    conn.execute("""
        CREATE TABLE sessions (
            run_id     TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
            started    TEXT NOT NULL,
            host       TEXT,
            pid        INTEGER,
            git_commit TEXT,
            git_dirty  INTEGER,
            versions   TEXT
        )""")
    conn.execute("INSERT INTO trials (run_id, task, trial) SELECT DISTINCT run_id, task, trial FROM episodes")
    for run_id, raw in conn.execute("SELECT run_id, manifest FROM runs").fetchall():
        doc = json.loads(raw)
        m = doc.get("manifest", doc)
        prov = doc.get("provenance", {})
        conn.execute(
            "UPDATE runs SET trials_per_task=?, num_envs=?, backend=?, budget=?, tasks=?, trial_protocol=?, "
            "agent_config=?, versions=?, git_commit=?, git_dirty=?, host=? WHERE run_id=?",
            (m.get("trials_per_task"), m.get("num_envs"), m.get("backend"), m.get("budget"),
             None if m.get("tasks") is None else json.dumps(m["tasks"]), m.get("trial_protocol", ""),
             json.dumps(m.get("agent_config", {}), sort_keys=True), json.dumps(prov.get("versions")),
             prov.get("git_commit"), prov.get("git_dirty"), prov.get("host"), run_id),
        )
    conn.execute("CREATE INDEX trials_run ON trials(run_id)")


def _migrate_v3(conn: sqlite3.Connection) -> None:
    """Why a run ended as it did (a failed run's error, an interrupted run's signal)."""
    conn.execute("ALTER TABLE runs ADD COLUMN reason TEXT")


#: (version, migration): applying them in order from 0 gives the current schema.
MIGRATIONS: tuple[tuple[int, Callable[[sqlite3.Connection], None]], ...] = (
    (1, _migrate_v1), (2, _migrate_v2), (3, _migrate_v3))
SCHEMA_VERSION = MIGRATIONS[-1][0]


# --------------------------------------------------------------------------------------
# The store


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


class ResultsStore:
    """Runs and episodes in one SQLite file. See the module docstring.

    ``create=False`` refuses to create a missing file (read-only commands use it).
    ``upto`` stops migrations at that schema version (tests build first-schema files with it).
    """

    def __init__(self, path: str | Path | None = None, create: bool = True, upto: int | None = None) -> None:
        self.path = Path(path) if path is not None else DEFAULT_DB
        if self.path.is_dir():
            raise StoreError(f"--db {self.path} is a directory; pass a file path such as {self.path / 'amago-bench.db'}")
        exists = self.path.exists() and self.path.stat().st_size > 0
        if not exists and not create:
            raise StoreError(f"no results database at {self.path}; run `amago-bench evaluate ... --db {self.path}` first "
                             "or pass the --db that holds your results")
        if exists:
            with open(self.path, "rb") as fh:
                header = fh.read(len(_SQLITE_HEADER))
            if header != _SQLITE_HEADER:
                raise StoreError(f"{self.path} is not an SQLite database (a corrupt or foreign file); "
                                 "pass another --db, or move this file away")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(str(self.path), timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open results database {self.path}: {exc}") from exc
        try:
            self._check_identity()
            self._conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._retry(lambda: self._conn.execute("PRAGMA journal_mode = WAL").fetchone())
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate(upto if upto is not None else SCHEMA_VERSION)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            from amago_bench.errors import describe_fault

            raise StoreError(f"{self.path}: {describe_fault(exc)}") from exc
        except BaseException:
            self._conn.close()
            raise

    # -- opening ------------------------------------------------------------------------
    def _check_identity(self) -> None:
        """Read-only checks before anything is written: ours, not foreign, not too new.

        The three reads share one read transaction, so a concurrent first-time initialisation
        is seen either entirely or not at all.
        """

        def read() -> tuple[int, int, list[str]]:
            self._conn.execute("BEGIN")
            try:
                app = self._conn.execute("PRAGMA application_id").fetchone()[0]
                ver = self._conn.execute("PRAGMA user_version").fetchone()[0]
                names = [r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            finally:
                self._conn.execute("COMMIT")
            return app, ver, names

        app_id, version, tables = self._retry(read)
        if app_id == 0 and not tables and version == 0:
            return  # empty file: ours to initialise
        if app_id != APPLICATION_ID:
            shown = ", ".join(tables[:8]) or "none"
            raise StoreError(f"{self.path} is an SQLite database but not an amago-bench results database "
                             f"(application_id {app_id:#x}, tables: {shown}); pass another --db")
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {version}, newer than this amago-bench "
                             f"(knows up to {SCHEMA_VERSION}); upgrade amago-bench ({upgrade_hint()})")

    def _migrate(self, target: int) -> None:
        def run() -> None:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                current = self._conn.execute("PRAGMA user_version").fetchone()[0]
                for version, fn in MIGRATIONS:
                    if current < version <= target:
                        fn(self._conn)
                        self._conn.execute(f"PRAGMA user_version = {version}")
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

        if self.schema_version() < target:
            self._retry(run)

    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------
    def _retry(self, fn: Callable[[], Any], attempts: int = 50) -> Any:
        delay = 0.01
        for i in range(attempts):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc) or i == attempts - 1:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)

    def _transaction(self, body: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``body`` inside ``BEGIN IMMEDIATE ... COMMIT``, retried while the file is locked."""

        def run() -> Any:
            if self._conn.in_transaction:  # left open by an earlier call that a signal cut short
                self._conn.execute("ROLLBACK")
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                out = body(self._conn)
                self._conn.execute("COMMIT")
                return out
            except BaseException:
                # A signal (Ctrl-C, SIGTERM) can land anywhere here, even after COMMIT: roll back only
                # an open transaction, and never let the rollback hide the original error.
                if self._conn.in_transaction:
                    try:
                        self._conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise

        return self._retry(run)

    def open_run(self, m: RunManifest) -> str:
        """Create the run for ``m`` (status "running") or return the existing one (resume).

        The run id is the config hash's first 16 characters. Every call records a session
        (start time, host, pid, git, versions); a resumed, unfinished run is marked running.
        """
        if not isinstance(m, RunManifest):
            raise TypeError(f"open_run expects a RunManifest, got {type(m).__name__}")
        h = config_hash(m)
        commit, dirty = git_state()
        versions = environment_versions(_suite_packages(m.suite))
        host = socket.gethostname()
        now = _now()

        def body(conn: sqlite3.Connection) -> str:
            row = conn.execute("SELECT run_id, manifest, status FROM runs WHERE config_hash=?", (h,)).fetchone()
            if row is None:
                run_id = h[:16]
                self._insert_run(conn, run_id, h, m, "running", now, None, versions, commit, dirty, host)
            else:
                run_id, raw, status = row
                stored = RunManifest.from_json(json.loads(raw)["manifest"])
                if config_hash(stored) != h:
                    raise StoreError(f"run {run_id} in {self.path} has config hash {h} but a different manifest; "
                                     "the database was edited by hand: delete the run with `amago-bench runs delete`")
                if status != "finished":
                    conn.execute("UPDATE runs SET status='running', ended=NULL, reason=NULL WHERE run_id=?", (run_id,))
            conn.execute("INSERT INTO sessions VALUES (?,?,?,?,?,?,?)",
                         (run_id, now, host, os.getpid(), commit, dirty, json.dumps(versions)))
            return run_id

        return self._transaction(body)

    @staticmethod
    def _insert_run(conn: sqlite3.Connection, run_id: str, h: str, m: RunManifest, status: str, started: str,
                    ended: str | None, versions: Mapping[str, Any] | None, commit: str | None, dirty: bool | None,
                    host: str | None) -> None:
        doc = {"manifest": m.to_json(), "config_hash": h,
               "provenance": {"versions": versions, "git_commit": commit, "git_dirty": dirty, "host": host}}
        conn.execute(
            "INSERT INTO runs (run_id, config_hash, kind, agent, suite, suite_hash, split, seed, manifest, status, "
            "started, ended, trials_per_task, num_envs, backend, budget, tasks, trial_protocol, agent_config, versions, "
            "git_commit, git_dirty, host) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, h, m.kind, m.agent, m.suite, m.suite_hash, m.split, int(m.seed), json.dumps(doc, sort_keys=True),
             status, started, ended, int(m.trials_per_task), int(m.num_envs), m.backend, m.budget,
             None if m.tasks is None else json.dumps(list(m.tasks)), m.trial_protocol,
             json.dumps(m.to_json()["agent_config"], sort_keys=True), json.dumps(versions), commit,
             None if dirty is None else int(dirty), host),
        )

    def find_run(self, m: RunManifest) -> tuple[str, str] | None:
        """(run id, status) of the run of manifest ``m`` if it exists; reads only."""
        row = self._conn.execute("SELECT run_id, status FROM runs WHERE config_hash=?", (config_hash(m),)).fetchone()
        return None if row is None else (row[0], row[1])

    def _require_run(self, conn: sqlite3.Connection, run_id: str) -> None:
        if conn.execute("SELECT 1 FROM runs WHERE run_id=?", (run_id,)).fetchone() is None:
            raise StoreError(f"no run {run_id!r} in {self.path}; list runs with `amago-bench runs --db {self.path}`")

    def completed_trials(self, run_id: str) -> set[tuple[str, int]]:
        """(task, trial) pairs already stored for ``run_id``."""
        self._require_run(self._conn, run_id)
        rows = self._conn.execute("SELECT task, trial FROM trials WHERE run_id=?", (run_id,)).fetchall()
        return {(t, int(j)) for t, j in rows}

    def add_trial(self, run_id: str, task: str, trial: int, episodes: list[dict], env_steps: int | None = None) -> None:
        """Store one finished trial and all its episodes atomically; a stored trial is a no-op.

        ``episodes``: dicts with EPISODE_KEYS (``success`` NaN = no success signal).
        ``env_steps``: env steps taken by the job so far (training); None for evaluation.
        """
        rows = []
        for ep in episodes:
            missing = [k for k in EPISODE_KEYS if k not in ep]
            if missing:
                raise ValueError(f"episode record lacks key(s) {missing}; has {sorted(ep)}")
            if ep["task"] != task or int(ep["trial"]) != int(trial):
                raise ValueError(f"episode of ({ep['task']!r}, {ep['trial']}) passed for trial ({task!r}, {trial})")
            success = float(ep["success"])
            rows.append((run_id, task, int(trial), int(ep["episode"]), float(ep["return"]), int(ep["length"]),
                         None if math.isnan(success) else success, int(bool(ep["scored"])),
                         int(bool(ep["truncated"])), None if ep["variant"] is None else int(ep["variant"])))
        if len({r[3] for r in rows}) != len(rows):
            raise ValueError(f"trial ({task!r}, {trial}) has duplicate episode indices")
        now = _now()

        def body(conn: sqlite3.Connection) -> None:
            self._require_run(conn, run_id)
            cur = conn.execute("INSERT OR IGNORE INTO trials VALUES (?,?,?,?,?)",
                               (run_id, task, int(trial), None if env_steps is None else int(env_steps), now))
            if cur.rowcount == 0:
                return  # already stored: resume or a concurrent duplicate
            conn.executemany("INSERT INTO episodes VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

        self._transaction(body)

    def finish_run(self, run_id: str, status: str = "finished", reason: str | None = None) -> None:
        """Mark the run ``status`` (one of RUN_STATUSES) with an optional ``reason`` (why it failed
        or stopped) and record its end time."""
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}; valid: {', '.join(RUN_STATUSES)}")

        def body(conn: sqlite3.Connection) -> None:
            self._require_run(conn, run_id)
            conn.execute("UPDATE runs SET status=?, ended=?, reason=? WHERE run_id=?",
                         (status, None if status == "running" else _now(), reason, run_id))

        self._transaction(body)

    def delete_run(self, run_id: str) -> int:
        """Delete a run with its trials, episodes and sessions; returns the episodes removed."""

        def body(conn: sqlite3.Connection) -> int:
            self._require_run(conn, run_id)
            n = conn.execute("SELECT COUNT(*) FROM episodes WHERE run_id=?", (run_id,)).fetchone()[0]
            for table in ("episodes", "trials", "sessions", "runs"):
                conn.execute(f"DELETE FROM {table} WHERE run_id=?", (run_id,))
            return int(n)

        return self._transaction(body)

    # -- reading ------------------------------------------------------------------------
    def manifest(self, run_id: str) -> RunManifest:
        row = self._conn.execute("SELECT manifest FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            self._require_run(self._conn, run_id)
        return RunManifest.from_json(json.loads(row[0])["manifest"])

    def run_info(self, run_id: str) -> dict[str, Any]:
        """The full record of one run: manifest, config hash, provenance, status, sessions, counts."""
        self._require_run(self._conn, run_id)
        df = self.runs(run_ids=[run_id])
        info = df.iloc[0].to_dict()
        info["manifest"] = self.manifest(run_id).to_json()
        info["sessions"] = [
            dict(zip(("started", "host", "pid", "git_commit", "git_dirty"), r))
            for r in self._conn.execute("SELECT started, host, pid, git_commit, git_dirty FROM sessions "
                                        "WHERE run_id=? ORDER BY rowid", (run_id,))
        ]
        return info

    def last_session(self, run_id: str) -> tuple[str | None, int | None]:
        """(host, pid) of the last process that opened ``run_id``."""
        row = self._conn.execute("SELECT host, pid FROM sessions WHERE run_id=? ORDER BY rowid DESC LIMIT 1",
                                 (run_id,)).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def runs(self, suite: str | None = None, run_ids: Sequence[str] | None = None):
        """One row per run (manifest columns, provenance, status, trial and episode counts)."""
        import pandas as pd

        where, params = _where(suite=suite, run_ids=run_ids, prefix="r.")
        sql = f"""
            SELECT r.run_id, r.config_hash, r.kind, r.agent, r.agent_config, r.suite, r.suite_hash, r.split, r.seed,
                   r.trials_per_task, r.num_envs, r.backend, r.budget, r.tasks, r.trial_protocol, r.status,
                   r.started, r.ended, r.git_commit, r.git_dirty, r.host, r.versions,
                   (SELECT COUNT(*) FROM trials t WHERE t.run_id = r.run_id) AS trials,
                   (SELECT COUNT(*) FROM episodes e WHERE e.run_id = r.run_id) AS episodes
            FROM runs r {where} ORDER BY r.suite, r.agent, r.seed, r.started"""
        df = pd.read_sql_query(sql, self._conn, params=params)
        df["git_dirty"] = df["git_dirty"].map(lambda v: None if v is None or v != v else bool(v))
        return df

    def episodes(self, run_ids: Sequence[str] | None = None, suite: str | None = None, agent: str | None = None,
                 split: str | None = None):
        """One row per episode with its run's columns, sorted by run, task, trial, episode.

        Columns: run_id, config_hash, kind, agent, agent_config, suite, suite_hash, split, seed,
        trials_per_task, num_envs, backend, budget, tasks, trial_protocol, status, task, trial,
        episode, return, length, success (NaN = none), scored, truncated, variant, env_steps.
        """
        import pandas as pd

        where, params = _where(suite=suite, run_ids=run_ids, agent=agent, split=split, prefix="r.")
        sql = f"""
            SELECT r.run_id, r.config_hash, r.kind, r.agent, r.agent_config, r.suite, r.suite_hash, r.split, r.seed,
                   r.trials_per_task, r.num_envs, r.backend, r.budget, r.tasks, r.trial_protocol, r.status,
                   e.task, e.trial, e.episode, e."return", e.length, e.success, e.scored, e.truncated, e.variant,
                   t.env_steps
            FROM episodes e JOIN runs r ON r.run_id = e.run_id
            JOIN trials t ON t.run_id = e.run_id AND t.task = e.task AND t.trial = e.trial
            {where} ORDER BY r.run_id, e.task, e.trial, e.episode"""
        df = pd.read_sql_query(sql, self._conn, params=params)
        df["success"] = df["success"].astype(float)
        df["scored"] = df["scored"].astype(bool)
        df["truncated"] = df["truncated"].astype(bool)
        return df

    # -- export / import ----------------------------------------------------------------
    def export(self, out: str | Path, fmt: str = "parquet", **filters: Any) -> int:
        """Write one row per episode (with run columns and the run's full record as JSON in
        ``run_record``) to ``out`` as parquet or csv; returns the number of rows."""
        if fmt not in ("parquet", "csv"):
            raise StoreError(f"unknown export format {fmt!r}; valid: parquet, csv")
        df = self.episodes(**filters)
        records = {}
        for run_id in df["run_id"].unique():
            row = self._conn.execute("SELECT manifest, status, started, ended FROM runs WHERE run_id=?",
                                     (run_id,)).fetchone()
            doc = json.loads(row[0])
            doc.update(status=row[1], started=row[2], ended=row[3])
            records[run_id] = json.dumps(doc, sort_keys=True)
        df["run_record"] = df["run_id"].map(records)
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")  # a failed write (a full disk) leaves no partial file
        try:
            if fmt == "parquet":
                df.to_parquet(tmp, index=False)
            else:
                df.to_csv(tmp, index=False)
            os.replace(tmp, out)
        except BaseException as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError) and exc.filename is None:
                exc.filename = str(out)  # name the file the user asked for
            raise
        return len(df)

    def import_file(self, path: str | Path, fmt: str | None = None) -> dict[str, int]:
        """Merge a file written by :meth:`export` into this database, all or nothing.

        Runs are matched by config hash; trials already present are kept as they are.
        Returns counts: runs_new, runs_merged, trials_added, trials_skipped.
        """
        import pandas as pd

        path = Path(path)
        fmt = fmt or ("csv" if path.suffix.lower() == ".csv" else "parquet")
        if fmt not in ("parquet", "csv"):
            raise StoreError(f"unknown import format {fmt!r}; valid: parquet, csv")
        try:
            df = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
        except FileNotFoundError as exc:
            raise StoreError(f"cannot import {path}: no such file") from exc
        except Exception as exc:  # pyarrow/pandas raise many kinds on foreign files
            raise StoreError(f"cannot read {path} as {fmt} ({type(exc).__name__}: {exc}); "
                             "import takes a file written by `amago-bench export`") from exc
        need = ["run_id", "run_record", "task", "trial", "episode", "return", "length", "success", "scored",
                "truncated", "variant", "env_steps"]
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise StoreError(f"{path} lacks column(s) {missing}; import takes a file written by `amago-bench export`")
        plan = []
        for run_id, g in df.groupby("run_id", sort=True):
            docs = g["run_record"].unique()
            if len(docs) != 1:
                raise StoreError(f"{path}: run {run_id} has {len(docs)} different run records; the file was edited")
            try:
                doc = json.loads(docs[0])
                m = RunManifest.from_json(doc["manifest"])
            except (ValueError, KeyError, TypeError) as exc:
                raise StoreError(f"{path}: run {run_id} has a malformed run record ({exc})") from exc
            if config_hash(m) != doc.get("config_hash"):
                raise StoreError(f"{path}: run {run_id}'s manifest does not match its config hash; the file was edited")
            if g.duplicated(["task", "trial", "episode"]).any():
                raise StoreError(f"{path}: run {run_id} has duplicate (task, trial, episode) rows")
            trials = []
            for (task, trial), tg in g.groupby(["task", "trial"], sort=True):
                eps = [{k: r[k] for k in EPISODE_KEYS} for r in tg.to_dict("records")]
                for ep in eps:
                    ep["variant"] = None if pd.isna(ep["variant"]) else int(ep["variant"])
                    ep["success"] = float("nan") if pd.isna(ep["success"]) else float(ep["success"])
                    ep["scored"] = _as_bool(ep["scored"])
                    ep["truncated"] = _as_bool(ep["truncated"])
                steps = tg["env_steps"].iloc[0]
                trials.append((str(task), int(trial), eps, None if pd.isna(steps) else int(steps)))
            plan.append((m, doc, trials))

        counts = dict(runs_new=0, runs_merged=0, trials_added=0, trials_skipped=0)

        def body(conn: sqlite3.Connection) -> None:
            for m, doc, trials in plan:
                h = config_hash(m)
                row = conn.execute("SELECT run_id FROM runs WHERE config_hash=?", (h,)).fetchone()
                if row is None:
                    run_id = h[:16]
                    prov = doc.get("provenance", {})
                    self._insert_run(conn, run_id, h, m, doc.get("status", "finished"), doc.get("started") or _now(),
                                     doc.get("ended"), prov.get("versions"), prov.get("git_commit"),
                                     prov.get("git_dirty"), prov.get("host"))
                    counts["runs_new"] += 1
                else:
                    run_id = row[0]
                    counts["runs_merged"] += 1
                for task, trial, eps, steps in trials:
                    cur = conn.execute("INSERT OR IGNORE INTO trials VALUES (?,?,?,?,?)",
                                       (run_id, task, trial, steps, _now()))
                    if cur.rowcount == 0:
                        counts["trials_skipped"] += 1
                        continue
                    counts["trials_added"] += 1
                    conn.executemany("INSERT INTO episodes VALUES (?,?,?,?,?,?,?,?,?,?)", [
                        (run_id, task, trial, int(e["episode"]), float(e["return"]), int(e["length"]),
                         None if math.isnan(e["success"]) else e["success"], int(e["scored"]), int(e["truncated"]),
                         e["variant"]) for e in eps])

        self._transaction(body)
        return counts


def _as_bool(v: Any) -> bool:
    if isinstance(v, str):
        if v.lower() in ("true", "1"):
            return True
        if v.lower() in ("false", "0"):
            return False
        raise StoreError(f"expected a boolean, got {v!r}")
    return bool(v)


def _where(prefix: str = "", **filters: Any) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for key, value in filters.items():
        if value is None:
            continue
        if key == "run_ids":
            value = list(value)
            clauses.append(f"{prefix}run_id IN ({','.join('?' * len(value))})" if value else "0")
            params.extend(value)
        else:
            clauses.append(f"{prefix}{key} = ?")
            params.append(value)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
