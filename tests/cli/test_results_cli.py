"""CLI: leaderboard (ranking, groups, stale specs, formats), runs (list/show/delete), export/import, bad input."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3

import pandas as pd
import pytest

from amago_bench.cli import main
from amago_bench.store import ResultsStore


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def evaluate(capsys, db, agent, seeds=("0", "1", "2"), trials=2, *extra):
    code, _, err = run(capsys, "evaluate", "--suite", "scale-probe", "--agent", agent, "--split", "train",
                       "--trials-per-task", trials, "--seeds", *seeds, "--num-envs", 4, "--no-progress",
                       "--db", db, *extra)
    assert code == 0, err


@pytest.fixture(scope="module")
def base_db(tmp_path_factory):
    """scale-probe/train: probe-oracle and random, 3 seeds x 2 trials per task each."""
    db = tmp_path_factory.mktemp("db") / "r.db"
    for agent in ("probe-oracle", "random"):
        assert main(["evaluate", "--suite", "scale-probe", "--agent", agent, "--split", "train", "--trials-per-task",
                     "2", "--seeds", "0", "1", "2", "--num-envs", "4", "--no-progress", "--json", "--db", str(db)]) == 0
    return db


@pytest.fixture
def db(base_db, tmp_path):
    out = tmp_path / "r.db"
    with ResultsStore(base_db) as st:  # checkpoint the WAL so one file holds everything
        st._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(base_db, out)
    return out


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_leaderboard_ranks_with_cis_seeds_and_trials(capsys, db):
    code, out, err = run(capsys, "leaderboard", "--suite", "scale-probe", "--db", db)
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if ln.startswith(("1 ", "2 "))]
    assert lines[0].split()[1] == "probe-oracle" and lines[1].split()[1] == "random"
    assert lines[0].split()[-2:] == ["3", "24"]  # 3 seeds, 3 x 4 tasks x 2 trials
    assert "IQM" in out and "95% CI" in out and "stratified bootstrap" in out

    code, out, _ = run(capsys, "leaderboard", "--suite", "scale-probe", "--db", db, "--format", "json",
                       "--metric", "mean")
    rows = json.loads(out)
    assert [r["agent"] for r in rows] == ["probe-oracle", "random"] and [r["rank"] for r in rows] == [1, 2]
    assert rows[0]["estimate"] == pytest.approx(1.0)
    for r in rows:
        assert r["lower"] <= r["estimate"] <= r["upper"] and r["seeds"] == 3 and r["trials"] == 24

    code, out, _ = run(capsys, "leaderboard", "--suite", "scale-probe", "--db", db, "--format", "csv",
                       "--metric", "optimality-gap")
    table = pd.read_csv(io.StringIO(out))
    assert table.sort_values("rank")["agent"].tolist() == ["probe-oracle", "random"]
    assert table.loc[table["agent"] == "probe-oracle", "estimate"].item() == pytest.approx(0.0)

    code, out, _ = run(capsys, "leaderboard", "--suite", "scale-probe", "--db", db, "--format", "md")
    assert "| rank | agent | IQM | 95% CI | seeds | trials |" in out


def test_leaderboard_is_reproducible_from_its_ci_seed(capsys, db):
    args = ["leaderboard", "--suite", "scale-probe", "--db", db, "--format", "json", "--reps", 300]
    a = json.loads(run(capsys, *args, "--ci-seed", 1)[1])
    b = json.loads(run(capsys, *args, "--ci-seed", 1)[1])
    assert a == b


def test_incomparable_results_are_never_ranked_together(capsys, db):
    evaluate(capsys, db, "random", ("0",), 3)  # another evaluation size
    code, out, err = run(capsys, "leaderboard", "--suite", "scale-probe", "--db", db)
    assert code == 0, err
    assert "2 groups of results differ in trials_per_task" in out
    groups = out.split("== ")[1:]
    assert "2 trials per task" in groups[0] and "3 trials per task" in groups[1]
    assert "random" in groups[1] and "probe-oracle" not in groups[1]
    rows = json.loads(run(capsys, "leaderboard", "--suite", "scale-probe", "--db", db, "--format", "json")[1])
    assert sorted({r["group"] for r in rows}) == [1, 2]


def test_stale_spec_runs_are_flagged_not_mixed(capsys, db):
    conn = sqlite3.connect(db)
    conn.execute("UPDATE runs SET suite_hash='0000000000000000' WHERE agent='random'")
    conn.commit()
    conn.close()
    code, out, err = run(capsys, "leaderboard", "--suite", "scale-probe", "--db", db)
    assert code == 0 and "random" not in out and "0000000000000000" in err and "left out" in err
    code, out, err = run(capsys, "leaderboard", "--suite", "scale-probe", "--db", db, "--include-stale")
    assert code == 0 and "STALE" in out and "differ in suite_hash" in out
    conn = sqlite3.connect(db)
    conn.execute("UPDATE runs SET suite_hash='0000000000000000'")
    conn.commit()
    conn.close()
    before = digest(db)
    code, out, err = run(capsys, "leaderboard", "--suite", "scale-probe", "--db", db)
    assert code == 2 and "nothing matches the current spec" in err
    assert digest(db) == before


def test_incomplete_run_gives_an_explicit_warning(capsys, db):
    conn = sqlite3.connect(db)
    rid = conn.execute("SELECT run_id FROM runs WHERE agent='random' AND seed=1").fetchone()[0]
    conn.execute("DELETE FROM episodes WHERE run_id=? AND task='bandit-x100' AND trial=1", (rid,))
    conn.execute("DELETE FROM trials WHERE run_id=? AND task='bandit-x100' AND trial=1", (rid,))
    conn.commit()
    conn.close()
    code, out, err = run(capsys, "leaderboard", "--suite", "scale-probe", "--db", db, "--format", "json")
    assert code == 0
    assert "warning: random: seed 1 left out: missing bandit-x100 (1/2 trials)" in err
    rows = {r["agent"]: r for r in json.loads(out)}
    assert rows["random"]["seeds"] == 2 and rows["probe-oracle"]["seeds"] == 3


def test_bad_metric_and_missing_results(capsys, db, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["leaderboard", "--suite", "scale-probe", "--metric", "best", "--db", str(db)])
    assert exc.value.code == 2
    assert "invalid choice: 'best'" in capsys.readouterr().err
    code, _, err = run(capsys, "leaderboard", "--suite", "popgym27", "--db", db)
    assert code == 2 and "no results for suite 'popgym27'" in err
    missing = tmp_path / "none.db"
    code, _, err = run(capsys, "leaderboard", "--suite", "scale-probe", "--db", missing)
    assert code == 2 and "no results database" in err and not missing.exists()


@pytest.mark.parametrize("content", [b"\x00garbage" * 100, None])
def test_corrupt_or_foreign_db_is_refused_untouched(capsys, tmp_path, content):
    p = tmp_path / "bad.db"
    if content is None:
        conn = sqlite3.connect(p)
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
        conn.close()
    else:
        p.write_bytes(content)
    before = digest(p)
    for argv in (["leaderboard", "--suite", "scale-probe"], ["runs"], ["export", "--out", tmp_path / "x.csv"],
                 ["evaluate", "--suite", "scale-probe", "--trials-per-task", 1, "--no-progress"]):
        code, _, err = run(capsys, *argv, "--db", p)
        assert code == 2 and ("not an SQLite database" in err or "not an amago-bench results database" in err), err
    assert digest(p) == before


def test_runs_list_show_delete(capsys, db):
    code, out, _ = run(capsys, "runs", "--db", db)
    assert code == 0 and out.count("finished") == 6 and "probe-oracle" in out
    rows = json.loads(run(capsys, "runs", "list", "--db", db, "--agent", "random", "--format", "json")[1])
    assert len(rows) == 3 and {r["seed"] for r in rows} == {0, 1, 2}
    rid = rows[0]["run_id"]
    code, out, _ = run(capsys, "runs", "show", rid, "--db", db)
    info = json.loads(out)
    assert info["manifest"]["agent"] == "random" and info["config_hash"].startswith(rid)
    assert info["versions"]["python"] and info["sessions"]

    code, out, _ = run(capsys, "runs", "delete", rid, "--db", db)
    assert code == 1 and "pass --yes" in out
    assert len(json.loads(run(capsys, "runs", "--db", db, "list", "--format", "json")[1])) == 6
    code, _, err = run(capsys, "runs", "delete", "nope", rid, "--yes", "--db", db)
    assert code == 2 and "nope" in err
    code, out, _ = run(capsys, "runs", "delete", rid, "--yes", "--db", db)
    assert code == 0 and "(16 episodes)" in out
    assert len(json.loads(run(capsys, "runs", "list", "--db", db, "--format", "json")[1])) == 5


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_then_import_reproduces_the_leaderboard(capsys, db, tmp_path, fmt):
    out = tmp_path / f"eps.{fmt}"
    code, msg, err = run(capsys, "export", "--format", fmt, "--out", out, "--db", db)
    assert code == 0, err
    assert "wrote 96 episode rows" in msg  # 2 agents x 3 seeds x 4 tasks x 2 trials x 2 episodes
    df = pd.read_parquet(out) if fmt == "parquet" else pd.read_csv(out)
    assert len(df) == 96 and {"agent", "suite", "split", "seed", "task", "trial", "episode", "return"} <= set(df)
    code, msg, _ = run(capsys, "export", "--out", tmp_path / "r.csv", "--agent", "random", "--db", db)
    assert "wrote 48 episode rows" in msg and "(csv)" in msg

    other = tmp_path / "other.db"
    code, msg, err = run(capsys, "import", out, "--db", other)
    assert code == 0 and "6 new run(s)" in msg and "48 trial(s) added" in msg, err
    lb = ["leaderboard", "--suite", "scale-probe", "--format", "json", "--reps", 300]
    assert json.loads(run(capsys, *lb, "--db", other)[1]) == json.loads(run(capsys, *lb, "--db", db)[1])
    code, _, err = run(capsys, "import", tmp_path / "nope.csv", "--db", other)
    assert code == 2 and "no such file" in err


def test_an_agents_interval_does_not_depend_on_other_agents(capsys, db):
    """Issue 10 item 5: the same agent, data and --ci-seed give the same interval whoever else is listed."""
    def row(*agents):
        code, out, err = run(capsys, "leaderboard", "--suite", "scale-probe", "--format", "json", "--reps", 300,
                             "--metric", "mean", "--db", db, "--agent", *agents)
        assert code == 0, err
        return {r["agent"]: (r["estimate"], r["lower"], r["upper"]) for r in json.loads(out)}

    alone = row("random")
    both = row("random", "probe-oracle")
    assert set(both) == {"random", "probe-oracle"}
    assert both["random"] == alone["random"]
    assert alone["random"][1] < alone["random"][2]  # a real interval, not a degenerate one
    code, out, _ = run(capsys, "leaderboard", "--suite", "scale-probe", "--format", "json", "--reps", 300,
                       "--metric", "mean", "--db", db, "--agent", "random", "--ci-seed", 1)
    assert json.loads(out)[0]["lower"] != alone["random"][1]  # the seed still matters
