"""The Ray executor: a local Ray cluster of 2 worker processes runs the smoke matrix, one worker
is killed (SIGKILL) in the middle of a job (during its training, or during its evaluation), Ray
starts the job again, it resumes, and the driver's database equals the local executor's in every
stored episode value. Plus the journals that carry a worker's results to the driver."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("torch")
ray = pytest.importorskip("ray")

from amago_bench.journal import JournalStore, read_ops, replay  # noqa: E402
from amago_bench.matrix import MatrixConfig, run  # noqa: E402
from amago_bench.ray_executor import JOURNAL_NAME, WORKER_NAME, job_folder  # noqa: E402
from amago_bench.store import ResultsStore, RunManifest  # noqa: E402

EPISODE_VALUES = ["kind", "agent", "suite", "split", "seed", "task", "trial", "episode", "return", "length", "success",
                  "scored", "truncated", "variant", "env_steps"]


def stored_values(db: Path) -> pd.DataFrame:
    """Every stored episode with what identifies it, without run ids (an evaluation's run id
    hashes its checkpoint's path, which differs between the two runs folders)."""
    with sqlite3.connect(db) as c:
        df = pd.read_sql_query(
            'SELECT r.kind, r.agent, r.suite, r.split, r.seed, e.task, e.trial, e.episode, e."return", e.length, '
            "e.success, e.scored, e.truncated, e.variant, t.env_steps FROM episodes e JOIN runs r USING (run_id) "
            "JOIN trials t ON t.run_id = e.run_id AND t.task = e.task AND t.trial = e.trial", c)
    return df.sort_values(EPISODE_VALUES[:8]).reset_index(drop=True)


def _matrix(root: Path, name: str, **kw) -> MatrixConfig:
    return MatrixConfig(agents=("amago2", "rl2-ppo-gru", "random"), suites=("scale-probe",), seeds=(0,), budget="smoke",
                        eval_trials_per_task=32, runs_root=str(root / name / "runs"), db=str(root / name / "r.db"),
                        threads=1, **kw)


def _kill_in_the_middle_of(folder: Path, run_folder: Path, when: str, killed: dict, stop: threading.Event) -> None:
    """SIGKILL the worker of the job in ``folder``: during training (its first checkpoint is
    written, epoch 2 of 2 is running) or during its checkpoint's evaluation (the first trial
    stored, most still to run)."""
    journal, info = folder / JOURNAL_NAME, folder / WORKER_NAME
    while not stop.is_set():
        try:
            ops = list(read_ops(journal))
            if when == "training":
                due = (run_folder / "checkpoint.pt").exists() and not ops
            else:
                due = any(o["op"] == "open_run" and o["manifest"]["kind"] == "evaluate" for o in ops) and \
                    ops[-1]["op"] == "add_trial"
            if due:
                w = json.loads(info.read_text())
                os.kill(int(w["pid"]), signal.SIGKILL)
                killed.update(w, stored_before=sum(o["op"] == "add_trial" for o in ops))
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.002)


@pytest.mark.parametrize("when", ["training", "evaluation"])
def test_ray_matrix_survives_a_killed_worker_and_equals_the_local_run(tmp_path, when):
    local = _matrix(tmp_path, "local")
    run(local, log=lambda m: None, progress=False)

    remote = _matrix(tmp_path, "ray", executor="ray", max_retries=2)
    from amago_bench.matrix import plan

    job = next(j for j in plan(remote) if j.agent == "amago2")
    target = job_folder(remote.runs_root, job)
    run_folder = Path(remote.runs_root) / "scale-probe" / "amago2-smoke-seed0"
    killed: dict = {}
    stop = threading.Event()
    watcher = threading.Thread(target=_kill_in_the_middle_of, args=(target, run_folder, when, killed, stop), daemon=True)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # a local cluster: 2 worker processes
    try:
        watcher.start()
        lines = []
        run(remote, log=lines.append, progress=False)
    finally:
        stop.set()
        ray.shutdown()
    assert killed, "the watcher never saw the job evaluating; nothing was killed"
    info = json.loads((target / WORKER_NAME).read_text())
    assert info["attempt"] == 2 and info["pid"] != killed["pid"]  # Ray ran the job again in a new worker
    assert "--- attempt 2" in (target / "log.txt").read_text()
    assert any("3/3" in m for m in lines)
    # only the driver wrote SQLite: no database under the workers' runs folder
    assert not list(Path(remote.runs_root).rglob("*.db"))
    a, b = stored_values(Path(local.db)), stored_values(Path(remote.db))
    assert len(a) > killed["stored_before"] > (0 if when == "evaluation" else -1)
    pd.testing.assert_frame_equal(a, b)
    with sqlite3.connect(remote.db) as c:
        assert {s for (s,) in c.execute("SELECT status FROM runs")} == {"finished"}


def _manifest(**kw) -> RunManifest:
    base = dict(kind="evaluate", agent="random", agent_config={"ref": "random"}, suite="scale-probe", suite_hash="x",
                split="test", seed=0, trials_per_task=2, num_envs=1, backend="official")
    return RunManifest(**{**base, **kw})


def _episode(task: str, trial: int, ret: float) -> dict:
    return {"task": task, "trial": trial, "episode": 0, "return": ret, "length": 4, "success": float("nan"),
            "scored": True, "truncated": False, "variant": None}


def test_a_journal_replays_into_the_database_once_and_survives_a_torn_last_line(tmp_path):
    path = tmp_path / ("job" + ".journal.jsonl")
    j = JournalStore(path)
    rid = j.open_run(_manifest())
    j.add_trial(rid, "bandit-x1", 0, [_episode("bandit-x1", 0, 1.5)])
    j.close()
    with open(path, "a") as f:  # a worker killed while writing its next line
        f.write('{"op": "add_trial", "run_id"')
    j = JournalStore(path)  # the job started again: its local copy is rebuilt, the torn line dropped
    assert j.completed_trials(rid) == {("bandit-x1", 0)}
    j.add_trial(rid, "bandit-x1", 0, [_episode("bandit-x1", 0, 9.0)])  # stored already: not journalled again
    j.add_trial(rid, "bandit-x1", 1, [_episode("bandit-x1", 1, 2.5)])
    j.finish_run(rid)
    j.close()
    assert [o["op"] for o in read_ops(path)] == ["open_run", "add_trial", "add_trial", "finish_run"]
    db = tmp_path / "r.db"
    with ResultsStore(db) as store:
        assert replay(path, store) == {"runs": 1, "trials": 2}
        eps = store.episodes()
        assert sorted(eps["return"]) == [1.5, 2.5] and store.run_info(rid)["status"] == "finished"
    before = db.read_bytes()
    with ResultsStore(db) as store:
        assert replay(path, store) == {"runs": 0, "trials": 0}  # idempotent: nothing written again
    assert db.read_bytes() == before


def test_ray_options_are_checked_before_anything_runs(tmp_path):
    from amago_bench.errors import UserError
    from amago_bench.matrix import plan

    for bad in (dict(executor="slurm"), dict(ray_address="h:6379"), dict(cpus_per_job=0),
                dict(tables=("ml45",))):
        with pytest.raises(UserError):
            plan(_matrix(tmp_path, "x", **bad))
