"""The results store: ledger semantics, bad files, migration from the first schema, export and
import, concurrent writers, and a real SIGKILL-and-resume of `amago-bench evaluate`."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from amago_bench.cli import main
from amago_bench.store import (
    SCHEMA_VERSION,
    ResultsStore,
    RunManifest,
    StoreError,
    config_hash,
)

MANIFEST = RunManifest(kind="evaluate", agent="random", agent_config={"x": 1}, suite="scale-probe",
                       suite_hash="abc", split="train", seed=0, trials_per_task=2, num_envs=4, backend="official",
                       trial_protocol="k=2 scored=[1]")
ENV_FIELDS = ["task", "trial", "episode", "return", "length", "success", "scored", "truncated", "variant"]


def episodes_for(task: str, trial: int, k: int = 2, ret: float = 1.0) -> list[dict]:
    return [dict(task=task, trial=trial, episode=e, length=4, success=float("nan") if e == 0 else 1.0,
                 scored=e == k - 1, truncated=False, variant=100 + trial, **{"return": ret + e}) for e in range(k)]


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- ledger -----------------------------------------------------------------------------


def test_open_add_resume_and_read(tmp_path):
    db = tmp_path / "r.db"
    with ResultsStore(db) as st:
        rid = st.open_run(MANIFEST)
        assert st.completed_trials(rid) == set()
        st.add_trial(rid, "bandit-x1", 0, episodes_for("bandit-x1", 0))
        st.add_trial(rid, "bandit-x1", 0, episodes_for("bandit-x1", 0, ret=99.0))  # duplicate: no-op
        st.add_trial(rid, "bandit-x1", 1, episodes_for("bandit-x1", 1), env_steps=123)
        assert st.open_run(MANIFEST) == rid  # same config -> same run
        assert st.open_run(replace(MANIFEST, seed=1)) != rid
        assert st.completed_trials(rid) == {("bandit-x1", 0), ("bandit-x1", 1)}
        st.finish_run(rid)
    with ResultsStore(db) as st:  # reopen: persisted
        eps = st.episodes(run_ids=[rid])
        assert len(eps) == 4 and eps["return"].tolist() == [1.0, 2.0, 1.0, 2.0]
        assert math.isnan(eps["success"].iloc[0]) and eps["success"].iloc[1] == 1.0
        assert eps["env_steps"].tolist()[2:] == [123, 123]
        assert set(eps["agent"]) == {"random"} and set(eps["seed"]) == {0}
        runs = st.runs(suite="scale-probe").set_index("run_id")
        assert runs.loc[rid, "status"] == "finished" and runs.loc[rid, "trials"] == 2
        assert runs.loc[rid, "episodes"] == 4 and runs.loc[rid, "ended"]
        info = st.run_info(rid)
        assert info["manifest"]["agent_config"] == {"x": 1}
        assert len(info["sessions"]) == 2 and json.loads(info["versions"])["python"]
        assert st.manifest(rid) == MANIFEST


def test_add_trial_validates_and_is_atomic(tmp_path):
    with ResultsStore(tmp_path / "r.db") as st:
        rid = st.open_run(MANIFEST)
        bad = episodes_for("bandit-x1", 0)
        del bad[1]["length"]
        with pytest.raises(ValueError, match="lacks key"):
            st.add_trial(rid, "bandit-x1", 0, bad)
        with pytest.raises(ValueError, match="duplicate episode"):
            st.add_trial(rid, "bandit-x1", 0, episodes_for("bandit-x1", 0) * 2)
        with pytest.raises(StoreError, match="no run 'nope'"):
            st.add_trial("nope", "bandit-x1", 0, episodes_for("bandit-x1", 0))
        assert st.completed_trials(rid) == set() and st.episodes().empty
        with pytest.raises(ValueError, match="unknown run status"):
            st.finish_run(rid, "done")


def test_config_hash_is_stable_and_complete():
    h = config_hash(MANIFEST)
    assert h == config_hash(RunManifest(**{**MANIFEST.__dict__}))
    with_tasks = replace(MANIFEST, tasks=("b", "a"))
    assert config_hash(with_tasks) == config_hash(replace(MANIFEST, tasks=("a", "b")))
    for change in [dict(seed=1), dict(agent="x"), dict(agent_config={"x": 2}), dict(suite_hash="abd"),
                   dict(split="test"), dict(trials_per_task=3), dict(num_envs=8), dict(backend="fast"),
                   dict(budget="small"), dict(tasks=("a",)), dict(trial_protocol="k=3"), dict(kind="train")]:
        assert config_hash(replace(MANIFEST, **change)) != h, change


# -- bad files: clear errors, nothing modified --------------------------------------------


def test_corrupt_file_is_refused_untouched(tmp_path):
    p = tmp_path / "junk.db"
    p.write_bytes(os.urandom(4096))
    before = file_digest(p)
    with pytest.raises(StoreError, match="not an SQLite database"):
        ResultsStore(p)
    assert file_digest(p) == before


def test_damaged_sqlite_file_is_refused(tmp_path):
    p = tmp_path / "r.db"
    with ResultsStore(p) as st:
        st.open_run(MANIFEST)
    data = bytearray(p.read_bytes())
    data[100:len(data)] = os.urandom(len(data) - 100)  # keep the header, destroy the pages
    p.write_bytes(bytes(data))
    before = file_digest(p)
    with pytest.raises(StoreError, match="damaged|not an amago-bench"):
        ResultsStore(p)
    assert file_digest(p) == before


def test_foreign_sqlite_database_is_refused_untouched(tmp_path):
    p = tmp_path / "other.db"
    conn = sqlite3.connect(p)
    conn.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    conn.execute("INSERT INTO customers VALUES (1, 'x')")
    conn.commit()
    conn.close()
    before = file_digest(p)
    with pytest.raises(StoreError, match="not an amago-bench results database.*customers"):
        ResultsStore(p)
    assert file_digest(p) == before
    assert not Path(str(p) + "-wal").exists()


def test_newer_schema_is_refused_untouched(tmp_path):
    p = tmp_path / "r.db"
    ResultsStore(p).close()
    conn = sqlite3.connect(p)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = file_digest(p)
    with pytest.raises(StoreError, match="newer than this amago-bench"):
        ResultsStore(p)
    assert file_digest(p) == before


def test_missing_database_not_created_for_reading(tmp_path):
    p = tmp_path / "none.db"
    with pytest.raises(StoreError, match="no results database"):
        ResultsStore(p, create=False)
    assert not p.exists()
    with pytest.raises(StoreError, match="is a directory"):
        ResultsStore(tmp_path)


# -- migration from the first schema ----------------------------------------------------


def test_migration_from_first_schema(tmp_path):
    p = tmp_path / "v1.db"
    ResultsStore(p, upto=1).close()
    h = config_hash(MANIFEST)
    doc = {"manifest": MANIFEST.to_json(), "config_hash": h,
           "provenance": {"versions": {"python": "3.11"}, "git_commit": "deadbeef", "git_dirty": True, "host": "h"}}
    conn = sqlite3.connect(p)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                 ("r1", h, "evaluate", "random", "scale-probe", "abc", "train", 0, json.dumps(doc), "finished",
                  "2025-01-01T00:00:00+00:00", "2025-01-01T00:01:00+00:00"))
    for trial in range(2):
        for ep in episodes_for("bandit-x1", trial):
            conn.execute("INSERT INTO episodes VALUES (?,?,?,?,?,?,?,?,?,?)",
                         ("r1", ep["task"], trial, ep["episode"], ep["return"], ep["length"],
                          None if math.isnan(ep["success"]) else ep["success"], int(ep["scored"]), 0, ep["variant"]))
    conn.commit()
    conn.close()

    with ResultsStore(p) as st:
        assert st.schema_version() == SCHEMA_VERSION
        assert st.completed_trials("r1") == {("bandit-x1", 0), ("bandit-x1", 1)}
        assert st.open_run(MANIFEST) == "r1"  # the ledger still resumes the old run
        run = st.runs().iloc[0]
        assert (run["backend"], run["trials_per_task"], run["num_envs"]) == ("official", 2, 4)
        assert (run["git_commit"], run["git_dirty"], run["host"]) == ("deadbeef", True, "h")
        eps = st.episodes()
        assert len(eps) == 4 and eps["env_steps"].isna().all()
        st.add_trial("r1", "bandit-x1", 2, episodes_for("bandit-x1", 2))
        assert len(st.completed_trials("r1")) == 3


# -- export / import --------------------------------------------------------------------


def _filled_store(path: Path) -> ResultsStore:
    st = ResultsStore(path)
    for seed in (0, 1):
        rid = st.open_run(replace(MANIFEST, seed=seed))
        for trial in range(2):
            for task in ("bandit-x1", "bandit-x100"):
                st.add_trial(rid, task, trial, episodes_for(task, trial, ret=seed * 10.0), env_steps=trial * 8)
        st.finish_run(rid)
    return st


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_import_round_trip(tmp_path, fmt):
    out = tmp_path / f"eps.{fmt}"
    with _filled_store(tmp_path / "a.db") as st:
        assert st.export(out, fmt) == 16
        want = st.episodes()
    exported = pd.read_parquet(out) if fmt == "parquet" else pd.read_csv(out)
    assert {"agent", "suite", "split", "seed", "run_id", "return"} <= set(exported.columns)
    with ResultsStore(tmp_path / "b.db") as st:
        counts = st.import_file(out)
        assert counts == dict(runs_new=2, runs_merged=0, trials_added=8, trials_skipped=0)
        again = st.import_file(out)
        assert again == dict(runs_new=0, runs_merged=2, trials_added=0, trials_skipped=8)
        got = st.episodes()
        assert set(st.runs()["status"]) == {"finished"}
    cols = ["run_id", "agent", "seed", *ENV_FIELDS, "env_steps"]
    pd.testing.assert_frame_equal(got[cols].reset_index(drop=True), want[cols].reset_index(drop=True),
                                  check_dtype=False)


def test_bad_import_changes_nothing(tmp_path):
    out = tmp_path / "eps.csv"
    with _filled_store(tmp_path / "a.db") as st:
        st.export(out, "csv")
    df = pd.read_csv(out)
    target = tmp_path / "b.db"
    with ResultsStore(target) as st:
        st.open_run(MANIFEST)
    before = ResultsStore(target).episodes().shape, ResultsStore(target).runs().shape
    edited = df.copy()
    doc = json.loads(edited.loc[0, "run_record"])
    doc["manifest"]["seed"] = 7  # manifest no longer matches its hash
    edited.loc[edited["run_id"] == edited.loc[0, "run_id"], "run_record"] = json.dumps(doc)
    edited.to_csv(tmp_path / "edited.csv", index=False)
    df.drop(columns=["run_record"]).to_csv(tmp_path / "foreign.csv", index=False)
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with ResultsStore(target) as st:
        with pytest.raises(StoreError, match="does not match its config hash"):
            st.import_file(tmp_path / "edited.csv")
        with pytest.raises(StoreError, match=r"lacks column\(s\) \['run_record'\]"):
            st.import_file(tmp_path / "foreign.csv")
        with pytest.raises(StoreError, match="cannot read"):
            st.import_file(tmp_path / "junk.parquet")
        assert (st.episodes().shape, st.runs().shape) == before


# -- several processes at once ----------------------------------------------------------

WRITER = r"""
import sys
from dataclasses import replace
from amago_bench.store import ResultsStore, RunManifest
db, worker, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
base = RunManifest(kind="evaluate", agent="shared", agent_config={}, suite="scale-probe", suite_hash="abc",
                   split="train", seed=0, trials_per_task=n, num_envs=1, backend="official")
st = ResultsStore(db)
shared = st.open_run(base)
own = st.open_run(replace(base, agent=f"w{worker}"))
for j in range(n):
    eps = [dict(task="t", trial=j, episode=e, length=3, success=1.0, scored=True, truncated=False, variant=j,
                **{"return": float(j * 10 + e)}) for e in range(2)]
    st.add_trial(shared, "t", j, eps)   # every worker writes the same trials here: stored once
    st.add_trial(own, "t", j, eps)
st.finish_run(own)
st.close()
"""


def test_concurrent_writers_lose_nothing(tmp_path):
    db, n, workers = tmp_path / "c.db", 60, 4
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    procs = [subprocess.Popen([sys.executable, str(script), str(db), str(w), str(n)], stderr=subprocess.PIPE)
             for w in range(workers)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    with ResultsStore(db) as st:
        runs = st.runs().set_index("agent")
        assert len(runs) == workers + 1
        assert (runs["trials"] == n).all() and (runs["episodes"] == 2 * n).all()
        eps = st.episodes()
        assert not eps.duplicated(["run_id", "task", "trial", "episode"]).any()
        shared = eps[eps["agent"] == "shared"].sort_values(["trial", "episode"])
        assert shared["return"].tolist() == [float(j * 10 + e) for j in range(n) for e in range(2)]
        assert len(json.loads(json.dumps(st.run_info(runs.loc["shared", "run_id"])["sessions"], default=str))) == workers


# -- killed with SIGKILL midway, then resumed -------------------------------------------

EVAL = "import sys; from amago_bench.cli import main; sys.exit(main())"


def _evaluate_cmd(db: Path, trials: int, agent: tuple[str, ...] = ("probe-oracle",)) -> list[str]:
    return [sys.executable, "-c", EVAL, "evaluate", "--suite", "scale-probe", "--agent", *agent,
            "--split", "train", "--seeds", "0", "--trials-per-task", str(trials), "--num-envs", "8",
            "--no-progress", "--db", str(db)]


def _stored_trials(db: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0  # not created yet


def _kill_then_resume(tmp_path, capsys, agent: tuple[str, ...], sig: int, trials_per_task: int, kill_at: int) -> None:
    """Stop an evaluation with ``sig`` once ``kill_at`` trials are stored, resume it, and compare every
    stored episode value with an uninterrupted run of the same command."""
    n_tasks = 4
    total = trials_per_task * n_tasks
    killed_db, ref_db = tmp_path / "killed.db", tmp_path / "ref.db"

    proc = subprocess.Popen(_evaluate_cmd(killed_db, trials_per_task, agent), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while _stored_trials(killed_db) < kill_at and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    os.kill(proc.pid, sig)
    proc.communicate(timeout=60)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed; raise trials_per_task"
    else:
        assert proc.returncode == 128 + sig, "the signal did not stop the run as an interruption (exit 128 + signal)"
    partial = _stored_trials(killed_db)
    assert kill_at <= partial < total
    with ResultsStore(killed_db) as st:
        status = st.runs()["status"].tolist()
    if sig == signal.SIGKILL:
        assert status == ["running"]  # as stored; `runs` shows the process is gone:
        assert main(["runs", "--db", str(killed_db)]) == 0
        assert "interrupted" in capsys.readouterr().out
    else:
        assert status == ["interrupted"]

    resumed = subprocess.run(_evaluate_cmd(killed_db, trials_per_task, agent), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert re.search(rf"resuming, {partial}\b.*already stored", resumed.stderr), resumed.stderr
    ref = subprocess.run(_evaluate_cmd(ref_db, trials_per_task, agent), capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr

    with ResultsStore(killed_db) as a, ResultsStore(ref_db) as b:
        got, want = a.episodes(), b.episodes()
        assert a.runs()["status"].tolist() == ["finished"]
        assert a.runs()["run_id"].tolist() == b.runs()["run_id"].tolist()  # same ledger key
        assert len(a.run_info(a.runs()["run_id"][0])["sessions"]) == 2
    assert len(want) == total * 2
    assert not got.duplicated(["task", "trial", "episode"]).any()
    key = ["task", "trial", "episode"]
    pd.testing.assert_frame_equal(got[ENV_FIELDS].sort_values(key).reset_index(drop=True),
                                  want[ENV_FIELDS].sort_values(key).reset_index(drop=True))


@pytest.mark.parametrize("agent,sig", [("probe-oracle", signal.SIGKILL), ("random", signal.SIGKILL),
                                       ("random", signal.SIGINT), ("random", signal.SIGTERM)],
                         ids=["oracle-kill", "random-kill", "random-ctrl-c", "random-sigterm"])
def test_stopped_midway_then_resumed_equals_the_uninterrupted_run(tmp_path, capsys, agent, sig):
    _kill_then_resume(tmp_path, capsys, (agent,), sig, trials_per_task=1500, kill_at=200)


def test_sampling_amago2_killed_midway_then_resumed_equals_the_uninterrupted_run(tmp_path, capsys):
    pytest.importorskip("torch")
    runs = tmp_path / "runs"
    trained = subprocess.run([sys.executable, "-c", EVAL, "train", "--suite", "scale-probe", "--budget", "smoke",
                              "--runs", str(runs), "--no-store", "--threads", "1"], capture_output=True, text=True,
                             timeout=300)
    assert trained.returncode == 0, trained.stderr
    ckpt = runs / "scale-probe" / "amago2-smoke-seed0" / "checkpoint.pt"
    _kill_then_resume(tmp_path, capsys, ("tests.cli.agents:amago2_sampling", "--checkpoint", str(ckpt)), signal.SIGKILL,
                      trials_per_task=300, kill_at=60)
