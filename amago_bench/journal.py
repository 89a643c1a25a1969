"""Results journals: how a job that runs away from the results database records its results.

A job on a Ray worker must not write the SQLite database (only the driver does, and never over
a network filesystem). It writes a *journal* instead: a JSON-lines file in the shared runs
folder, one line per store operation (a run opened, a trial stored, a run finished), flushed
and fsynced as it goes. :class:`JournalStore` is what the job's trainer and evaluator use in
place of :class:`~amago_bench.store.ResultsStore`: every write goes to a node-local SQLite copy
(so reads such as "which trials are stored" answer as the database would) and to the journal.
A job that is started again after its worker died rebuilds that copy from the journal and goes
on where it stopped. The driver replays each finished job's journal into the real database
(:func:`replay`); replaying is idempotent, so a re-run matrix writes nothing it already has.

:func:`open_store` picks the kind from the ``--db`` path: a path ending in
:data:`JOURNAL_SUFFIX` is a journal, anything else an SQLite database.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from amago_bench.store import ResultsStore, RunManifest, StoreError

JOURNAL_SUFFIX = ".journal.jsonl"


def open_store(db: str | Path | None) -> Any:
    """The store for ``db``: a :class:`JournalStore` for a journal path, else a ResultsStore."""
    if db is not None and str(db).endswith(JOURNAL_SUFFIX):
        return JournalStore(db)
    return ResultsStore(db)


def _plain(v: Any) -> Any:
    """Episode values as JSON: numpy scalars to Python, NaN kept (json writes it as NaN)."""
    if hasattr(v, "item"):
        v = v.item()
    return v


def read_ops(path: str | Path) -> Iterator[dict[str, Any]]:
    """The operations of a journal, in order. A last line cut short (the worker died while
    writing it) is not an operation; a bad line elsewhere is an error naming the line."""
    path = Path(path)
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").split("\n")
    complete = lines[:-1]  # the text after the last newline was never finished
    for i, line in enumerate(complete, 1):
        if not line:
            continue
        try:
            yield json.loads(line)
        except ValueError:
            raise StoreError(f"{path}:{i}: not a journal line; the journal was edited or damaged: delete the "
                             "job's folder under <runs>/jobs to run the job again") from None


def replay(path: str | Path, store: ResultsStore) -> dict[str, int]:
    """Apply a journal's operations to ``store`` (the driver's database); returns counts.

    Idempotent: a run already finished there is left as it is, a stored trial is skipped, a
    status already recorded is not written again, so a journal replayed twice changes nothing.
    """
    counts = {"runs": 0, "trials": 0}
    status: dict[str, str] = {}
    for op in read_ops(path):
        kind = op.get("op")
        if kind == "open_run":
            m = RunManifest.from_json(op["manifest"])
            found = store.find_run(m)
            if found is not None and found[1] == "finished":
                status[found[0]] = "finished"
                continue
            run_id = store.open_run(m)
            status[run_id] = "running"
            counts["runs"] += 1
        elif kind == "add_trial":
            if (op["task"], int(op["trial"])) in store.completed_trials(op["run_id"]):
                continue
            store.add_trial(op["run_id"], op["task"], int(op["trial"]), _episodes(op["episodes"]), op["env_steps"])
            counts["trials"] += 1
        elif kind == "finish_run":
            info = store.run_info(op["run_id"])
            if info["status"] == op["status"] and info.get("reason") == op["reason"]:
                continue
            store.finish_run(op["run_id"], op["status"], reason=op["reason"])
        elif kind == "delete_run":
            store.delete_run(op["run_id"])
        else:
            raise StoreError(f"{path}: unknown journal operation {kind!r}; it was written by a newer amago-bench")
    return counts


def _episodes(eps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in eps:
        e = dict(e)
        e["success"] = math.nan if e["success"] is None else float(e["success"])
        out.append(e)
    return out


class JournalStore:
    """A ResultsStore stand-in that journals every write (see the module docstring). Reads go to
    the node-local copy; ``path`` is the journal."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_torn_tail()
        self._tmp = Path(tempfile.mkdtemp(prefix="amago-bench-journal-"))
        try:
            self._store = ResultsStore(self._tmp / "job.db")
            replay(self.path, self._store)
        except BaseException:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise

    def _drop_torn_tail(self) -> None:
        """Cut a last line the previous worker did not finish, so new lines start clean."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)

    def _append(self, op: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(op, default=_plain) + "\n")
            f.flush()
            os.fsync(f.fileno())

    # -- writes: the local copy first (it validates), then the journal --------------------------
    def open_run(self, m: RunManifest) -> str:
        run_id = self._store.open_run(m)
        self._append({"op": "open_run", "manifest": m.to_json()})
        return run_id

    def add_trial(self, run_id: str, task: str, trial: int, episodes: list[dict], env_steps: int | None = None) -> None:
        if (task, int(trial)) in self._store.completed_trials(run_id):
            return
        self._store.add_trial(run_id, task, trial, episodes, env_steps)
        eps = [{k: (None if k == "success" and _plain(v) != _plain(v) else _plain(v)) for k, v in e.items()}
               for e in episodes]
        self._append({"op": "add_trial", "run_id": run_id, "task": task, "trial": int(trial), "episodes": eps,
                      "env_steps": None if env_steps is None else int(env_steps)})

    def finish_run(self, run_id: str, status: str = "finished", reason: str | None = None) -> None:
        self._store.finish_run(run_id, status, reason=reason)
        self._append({"op": "finish_run", "run_id": run_id, "status": status, "reason": reason})

    def delete_run(self, run_id: str) -> int:
        n = self._store.delete_run(run_id)
        self._append({"op": "delete_run", "run_id": run_id})
        return n

    # -- reads --------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._store, name)

    def close(self) -> None:
        self._store.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "JournalStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
