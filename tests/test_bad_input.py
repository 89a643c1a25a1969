"""Bad input through the real CLI: exit code 2, one line that names the fix, no traceback, and
every database and checkpoint file byte-identical afterwards."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GOOD_SUITE = (ROOT / "suites/scale-probe.toml").read_text()


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("AMAGO_BENCH_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "amago_bench.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A folder with a results database holding one finished run, a checkpoint-like file,
    a plain file (for paths under a file), and broken suite/agent files."""
    d = tmp_path_factory.mktemp("bad-input")
    r = _cli(["evaluate", "--suite", "scale-probe", "--trials-per-task", "1", "--db", "r.db", "--no-progress"], d)
    assert r.returncode == 0, r.stderr
    (d / "ckpt.pt").write_bytes(b"not a checkpoint at all")
    (d / "afile").write_text("x")
    (d / "bad-syntax.toml").write_text("name = [")
    (d / "zero-arms.toml").write_text(GOOD_SUITE.replace('name = "scale-probe"', 'name = "zero-arms"', 1)
                                      .replace("n_arms = 4", "n_arms = 0"))
    (d / "agent-num-envs-0.toml").write_text('extends = "amago2"\nname = "zero-envs"\n[train]\nnum_envs = 0\n')
    (d / "agent-typo.toml").write_text('extends = "amago2"\nname = "typo"\n[model]\nd_modle = 3\n')
    (d / "corrupt.db").write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    (d / "agent-extends-nope.toml").write_text('extends = "no-such-parent"\nname = "orphan"\n')
    r = _cli(["train", "--suite", "scale-probe", "--budget", "smoke", "--epochs", "1", "--runs", "truns", "--db", "t.db",
              "--threads", "1"], d)  # a database holding only evaluations made during training
    assert r.returncode == 0, r.stderr
    return d


EVAL = ["evaluate", "--suite", "scale-probe", "--trials-per-task", "1", "--db", "r.db", "--no-progress"]
TRAIN = ["train", "--suite", "scale-probe", "--budget", "smoke", "--epochs", "1", "--runs", "runs", "--db", "r.db"]

# (case id, arguments, words the one-line message must contain: the fix)
CASES = [
    ("seed-negative", [*EVAL, "--seeds", "-1"], ">= 0"),
    ("seed-twice", [*EVAL, "--seeds", "0", "0"], "twice"),
    ("trials-zero", ["evaluate", "--suite", "scale-probe", "--trials-per-task", "0", "--db", "r.db"], ">= 1"),
    ("num-envs-zero", [*EVAL, "--num-envs", "0"], ">= 1"),
    ("task-unknown", [*EVAL, "--tasks", "nope"], "bandit-x1"),
    ("task-twice", [*EVAL, "--tasks", "bandit-x1", "bandit-x1"], "once"),
    ("suite-unknown", ["evaluate", "--suite", "nope", "--db", "r.db"], "known: "),
    ("ids-generated-suite", ["ids", "--suite", "popgym-single-RepeatFirstEasy"], "amago_bench/trial-v0"),
    ("suite-popgym-single-unknown", ["evaluate", "--suite", "popgym-single-Nope", "--db", "r.db"], "RepeatFirstEasy"),
    ("suite-bad-toml", ["evaluate", "--suite", "bad-syntax.toml", "--db", "r.db"], "bad-syntax.toml"),
    ("suite-task-kwargs", ["evaluate", "--suite", "zero-arms.toml", "--db", "r.db", "--no-progress"], "kwargs"),
    ("backend-unknown", [*EVAL, "--backend", "nope"], "valid: "),
    ("split-unknown", [*EVAL, "--split", "nope"], "choose from"),
    ("agent-unknown", [*EVAL, "--agent", "nope"], "module:attr"),
    ("agent-no-module", [*EVAL, "--agent", "no_such_module_xyz:Agent"], "cannot import"),
    ("agent-no-attr", [*EVAL, "--agent", "tests.cli.agents:Missing"], "no attribute"),
    ("agent-ctor-arg", [*EVAL, "--agent", "tests.cli.agents:NeedsArg"], "defaults"),
    ("agent-start-raises", [*EVAL, "--agent", "tests.cli.agents:StartRaises"], "start() raised RuntimeError"),
    ("random-with-checkpoint", [*EVAL, "--checkpoint", "ckpt.pt"], "drop it"),
    ("checkpoint-missing", [*EVAL, "--agent", "amago2", "--checkpoint", "nope.pt"], "fix the path"),
    ("checkpoint-garbage", [*EVAL, "--agent", "amago2", "--checkpoint", "ckpt.pt"], "checkpoint"),
    ("checkpoint-with-user-agent", [*EVAL, "--agent", "tests.cli.agents:NaNAgent", "--checkpoint", "ckpt.pt"], "--checkpoint"),
    ("db-is-folder", [*EVAL[:-3], "--db", ".", "--no-progress"], "file path"),
    ("db-under-file", [*EVAL[:-3], "--db", "afile/x.db", "--no-progress"], "choose another path"),
    ("db-corrupt", [*EVAL[:-3], "--db", "corrupt.db", "--no-progress"], "--db"),
    ("train-device", [*TRAIN, "--device", "tpu"], "cpu"),
    ("train-epochs-negative", [*TRAIN[:-6], "--epochs", "-1", "--runs", "runs", "--db", "r.db"], ">= 0"),
    ("train-agent-unknown", [*TRAIN, "--agent", "nope"], "amago-bench agents"),
    ("train-agent-num-envs-0", [*TRAIN, "--agent", "agent-num-envs-0.toml"], "num_envs"),
    ("train-agent-typo", [*TRAIN, "--agent", "agent-typo.toml"], "d_model"),
    ("train-budget", [*TRAIN, "--budget", "huge"], "choose from"),
    ("train-runs-under-file", [*TRAIN[:-4], "--runs", "afile/runs", "--db", "r.db"], "choose another path"),
    ("train-suite-unknown", ["train", "--suite", "nope", "--runs", "runs", "--db", "r.db"], "known: "),
    ("export-xlsx", ["export", "--out", "x.xlsx", "--db", "r.db"], ".csv or .parquet"),
    ("report-out-under-file", ["report", "--suite", "scale-probe", "--out", "afile/rep", "--db", "r.db"], "--out"),
    ("calibrate-trials-zero", ["calibrate", "--suite", "scale-probe", "--trials-per-task", "0"], ">= 1"),
    ("calibrate-out-under-file", ["calibrate", "--suite", "scale-probe", "--out", "afile/x.json"], "existing folder"),
    ("leaderboard-suite-unknown", ["leaderboard", "--suite", "nope", "--db", "r.db"], "known: "),
    # absurd sizes are refused at once, with the limit (nothing is allocated per env or trial first)
    ("num-envs-huge", [*EVAL, "--num-envs", "1000000000"], "4,096"),
    ("trials-huge", ["evaluate", "--suite", "scale-probe", "--trials-per-task", "1000000000", "--db", "r.db"], "100,000"),
    ("train-threads-negative", [*TRAIN, "--threads", "-1"], "--threads must be between 1"),
    ("train-threads-minus-two", [*TRAIN, "--threads", "-2"], "--threads must be between 1"),
    ("reproduce-threads-negative", ["reproduce", "--threads", "-1", "--dry-run"], "--threads must be between 1"),
    ("reproduce-eval-trials-huge", ["reproduce", "--eval-trials", "1000000000", "--dry-run"], "100,000"),
    # the real cause, naming the option or the file
    ("checkpoint-folder", [*EVAL, "--agent", "amago2", "--checkpoint", "."], "--checkpoint . is a folder"),
    ("suite-file-missing", ["evaluate", "--suite", "no/such/suite.toml", "--db", "r.db"], "does not exist"),
    ("agent-file-missing", [*TRAIN, "--agent", "no/such/agent.toml"], "does not exist"),
    ("agent-extends-wrong", [*TRAIN, "--agent", "agent-extends-nope.toml"], "agent-extends-nope.toml"),
    ("leaderboard-only-training", ["leaderboard", "--suite", "scale-probe", "--db", "t.db"], "--include-training"),
    ("report-suite-without-results", ["report", "--suite", "ml10", "--db", "r.db", "--out", "rep"], "no results"),
]


@pytest.mark.parametrize("args,fix", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line_and_changes_nothing(home, args, fix):
    before = _digests(home)
    r = _cli(args, home)
    after = {k: v for k, v in _digests(home).items() if k in before}
    assert r.returncode == 2, (r.returncode, r.stdout[-500:], r.stderr[-2000:])
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    last = lines[-1]
    assert "Traceback" not in r.stderr, r.stderr
    assert fix in last, last
    assert after == before, "a stored file changed"
    new = set(_digests(home)) - set(before)
    assert not [n for n in new if n.endswith((".db", ".pt"))], new


def test_a_random_bytes_checkpoint_is_named_in_one_line(home):
    r = _cli([*EVAL, "--agent", "amago2", "--checkpoint", "ckpt.pt"], home)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "ckpt.pt" in r.stderr and "WeightsUnpickler" not in r.stderr


def test_huge_sizes_are_refused_before_any_agent_or_env_is_built(home):
    """The bound is checked where the count is parsed: an agent whose start() raises is never
    reached, so nothing was allocated per requested env or trial."""
    for args, limit in ((["--num-envs", "1000000000"], "4,096"), (["--trials-per-task", "1000000000"], "100,000")):
        r = _cli(["evaluate", "--suite", "scale-probe", "--db", "r.db", "--agent", "tests.cli.agents:StartRaises", *args],
                 home)
        assert r.returncode == 2 and limit in r.stderr and "start() raised" not in r.stderr, r.stderr


def test_debug_shows_the_agent_traceback(home):
    env_args = [*EVAL, "--agent", "tests.cli.agents:StartRaises"]
    r = _cli(["--debug", *env_args], home)
    assert r.returncode != 0 and "Traceback" in r.stderr and "my model file is missing" in r.stderr


def test_agent_failing_mid_run_marks_the_run_failed_with_the_reason(home):
    import sqlite3

    r = _cli([*EVAL[:-3], "--db", "fail.db", "--no-progress", "--agent", "tests.cli.agents:ActRaises"], home)
    assert r.returncode == 2 and "act() raised KeyError" in r.stderr.strip().splitlines()[-1]
    with sqlite3.connect(home / "fail.db") as conn:
        rows = conn.execute("SELECT status, reason FROM runs").fetchall()
    assert rows == [] or (rows[0][0] == "failed" and "KeyError" in rows[0][1])


def test_rerun_of_a_finished_evaluation_changes_no_stored_byte(home):
    before = _digests(home)
    r = _cli(EVAL, home)
    assert r.returncode == 0 and "nothing to run" in r.stderr
    assert {k: v for k, v in _digests(home).items() if k in before} == before


def test_the_real_cause_of_os_and_sqlite_faults_is_named():
    import errno
    import sqlite3

    from amago_bench.errors import describe_fault

    full = describe_fault(OSError(errno.ENOSPC, "No space left on device", "out/episodes.parquet"))
    assert "disk is full" in full and "out/episodes.parquet" in full
    assert "disk is full" in describe_fault(sqlite3.OperationalError("database or disk is full"))
    assert "damaged" in describe_fault(sqlite3.DatabaseError("database disk image is malformed"))
    assert "read-only" in describe_fault(sqlite3.OperationalError("attempt to write a readonly database"))
    assert "permission denied" in describe_fault(PermissionError(errno.EACCES, "Permission denied", "x.db"))
    assert "is a folder" in describe_fault(IsADirectoryError(errno.EISDIR, "Is a directory", "runs"))
    import pandas as pd

    wrapped = pd.errors.DatabaseError("Execution failed on sql 'SELECT r.run_id, ...\n FROM episodes e JOIN runs r': "
                                      "database disk image is malformed")
    msg = describe_fault(wrapped)
    assert "damaged" in msg and "SELECT" not in msg and "\n" not in msg
    assert describe_fault(ValueError("x")) is None


def test_export_to_a_full_disk_names_the_file_and_leaves_nothing(home, monkeypatch, capsys, tmp_path):
    import errno

    import pandas as pd

    from amago_bench.cli import main

    def full(self, path, *a, **k):  # writes a little, then the disk is full
        with open(path, "w") as f:
            f.write("run_id,")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    out = tmp_path / "episodes.csv"
    before = _digests(home)
    assert main(["export", "--out", str(out), "--db", str(home / "r.db")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "disk is full" in err[0] and str(out) in err[0]
    assert not list(tmp_path.iterdir())  # no partial file, no temporary
    assert {k: v for k, v in _digests(home).items() if k in before} == before


def test_training_into_a_new_runs_folder_is_a_new_record(home):
    import sqlite3

    r = _cli(["train", "--suite", "scale-probe", "--budget", "smoke", "--epochs", "1", "--runs", "truns2", "--db", "t.db",
              "--threads", "1"], home)
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(home / "t.db") as c:
        rows = c.execute("SELECT run_id, status, ended FROM runs WHERE kind='train'").fetchall()
    assert len(rows) == 2 and all(s == "finished" for _, s, _ in rows)
