"""The papers' reported numbers: every number of the brief's paper-results.md is a row, once."""

from __future__ import annotations

import shutil

import pytest

from amago_bench.report.paper import COLUMNS, PaperDataError, load_reported
from amago_bench.resources import data_dir
from amago_bench.suite import list_suites

# Transcribed by hand from paper-results.md, independently of the CSV files: (table, suite, split,
# paper agent, task, metric, attempt, env steps or None) -> value.
V = ["Ind/Ind", "Dep.A/Ind.C", "Dep/Dep", "Ind.A/Dep.C"]
EXPECTED: dict[tuple, float] = {}
for metric, steps, vals in [("coverage", 1e8, [43, 41, 30, 19]), ("success_pct", 1e8, [88.8, 80.3, 60.5, 40.3]),
                            ("success_pct", 5e7, [70.8, 54.6, 49.7, 32.4]), ("return", 1e8, [11600, 10200, 7800, 4900])]:
    for a, v in zip(V, vals):
        EXPECTED[("amago2-ml45", "ml45", "train", a, "", metric, "", steps)] = v
EXPECTED[("amago2-ml45", "ml45", "train", "MuZero", "", "success_pct", "", 5e7)] = 77.2
EXPECTED[("amago2-ml45", "ml45", "train", "RL^2-PPO", "", "success_pct", "", 1e8)] = 42.0
for a, vals in [("MAML", [44.4, 31.6, 40.7, 39.9]), ("RL^2", [86.9, 35.8, 70, 33.3]), ("PEARL", [23.2, 13, 14.5, 22])]:
    for (s, sp), v in zip([("ml10", "train"), ("ml10", "test"), ("ml45", "train"), ("ml45", "test")], vals):
        EXPECTED[("metaworld-table1", s, sp, a, "", "success_pct", "", None)] = v
for a, vals in [("Ind/Ind", [38.5, 59.4, 85.2]), ("Dep/Dep", [31.8, 54.2, 69.7]),
                ("PPO-GRU multi-task", [21.8, 30.7, 32.2])]:
    for steps, v in zip([1.5e7, 5e7, 1e8], vals):
        EXPECTED[("amago2-popgym27", "popgym27", "test", a, "", "normalised_pct", "", steps)] = v
for g, vals in {"coinrun": [17.0, 14.8, 17.8, 16.0, 17.9], "leaper": [11.8, 3.2, 15.6, 10.6, 14.0],
                "ninja": [13.9, 5.1, 15.6, 13.5, 17.0], "jumper": [16.3, 3.5, 16.4, 15.1, 16.0],
                "climber": [17.3, 3.4, 21.9, 16.7, 20.0]}.items():
    for (s, a, steps), v in zip([("procgen-easy5", "Dep/Dep", 2.75e8), ("procgen-easy5-rescaled", "Dep/Dep", 2.75e8),
                                 ("procgen-easy5", "Ind/Ind", 2.75e8), ("procgen-easy5-rescaled", "Ind/Ind", 2.75e8),
                                 ("procgen-easy5", "PPO (1 task)", None)], vals):
        EXPECTED[("amago2-procgen-easy5", s, "test", a, g, "return", "", steps)] = v
MEMHARD = {"dodgeball": (.29, .58), "caveflyer": (.52, .69), "heist": (.79, .69), "jumper": (.82, .79),
           "maze": (.91, .93), "miner": (.43, 1.63), "plunder": (.07, .14), "chaser": (.17, .20), "leaper": (.21, .21),
           "bigfish": (.40, .23), "starpilot": (.38, .45), "bossfight": (.56, .34), "ninja": (.62, .59),
           "coinrun": (.56, .65), "climber": (.69, .74)}
for g, (a1, a2) in MEMHARD.items():
    for att, v in (("1", a1), ("2", a2)):
        EXPECTED[("amago2-procgen-memhard16", "procgen-memhard16", "test", "Ind/Ind", g, "normalised", att, 2.7e9)] = v
EXPECTED[("amago2-procgen-memhard16", "procgen-memhard16", "test", "Ind/Ind", "fruitbot", "normalised", "both",
          2.7e9)] = 0.0
ATARI = {"BattleZone": (.06, .54, .05), "Boxing": (6.77, -2.43, 7.85), "Breakout": (3.37, .00, .05),
         "ChopperCommand": (2.17, .31, .49), "CrazyClimber": (2.09, 2.20, 2.59), "Gopher": (2.48, .04, 1.91),
         "MsPacman": (.40, .02, .33), "Pong": (.47, .00, .01), "Qbert": (.82, .01, .29), "Seaquest": (.10, .00, .05)}
for g, vals in ATARI.items():
    for a, v in zip(["Ind/Ind", "Dep/Dep", "Dep/Dep clipped rewards"], vals):
        EXPECTED[("amago2-atari10", "atari10", "test", a, g, "normalised", "", 2.15e8)] = v  # 10 games x 21.5M
for (sp, a), vals in {("train", "Ind/Ind"): (1.66, 1.75, 1.56, 1.85), ("train", "Dep/Dep"): (1.18, 1.21, 0.62, 1.73),
                      ("test", "Ind/Ind"): (1.61, 1.72, 1.64, 1.79), ("test", "Dep/Dep"): (1.32, 1.52, 1.24, 1.65)}.items():
    for m, v in zip(["return_mean", "return_median", "return_q25", "return_q75"], vals):
        EXPECTED[("amago2-babyai", "babyai", sp, a, "", m, "", 1.3e8)] = v


def _key(r):
    steps = None if r.env_steps != r.env_steps else r.env_steps  # NaN: not stated
    return (r.table, r.suite, r.split, r.agent, r.task, r.metric, r.attempt, steps)


def test_every_reported_number_is_present_exactly_once():
    df = load_reported(known_suites=set(list_suites()))
    keys = [_key(r) for r in df.itertuples(index=False)]
    assert len(keys) == len(set(keys))
    got = {k: v for k, v in zip(keys, df["value"])}
    assert set(got) == set(EXPECTED), (sorted(set(EXPECTED) - set(got))[:5], sorted(set(got) - set(EXPECTED))[:5])
    assert all(got[k] == pytest.approx(v) for k, v in EXPECTED.items())
    assert len(df) == 141 == len(EXPECTED)
    assert set(df["tag"]) == {"T", "D"} and (df["source"].str.len() > 10).all()
    # text vs figure tags as the brief gives them
    assert set(df.loc[df["table"] == "metaworld-table1", "tag"]) == {"T"}
    easy = df[df["table"] == "amago2-procgen-easy5"]
    assert set(easy.loc[easy["agent"] == "PPO (1 task)", "tag"]) == {"D"}
    assert set(easy.loc[easy["agent"] != "PPO (1 task)", "tag"]) == {"T"}
    # approximate and bounded numbers keep their qualifier
    assert set(df.loc[df["metric"] == "return", "qualifier"]) >= {"~"}
    assert df.loc[df["task"] == "fruitbot", "qualifier"].tolist() == ["<="]
    # the paper's variants map onto this harness's agent configs
    ours = dict(zip(df["agent"], df["our_agent"]))
    assert ours["Ind/Ind"] == "amago2" and ours["Dep/Dep"] == "dep-dep" and ours["MuZero"] == ""
    assert ours["Dep.A/Ind.C"] == "dep-actor-ind-critic" and ours["Ind.A/Dep.C"] == "ind-actor-dep-critic"


def test_reported_tasks_exist_in_their_suites():
    from amago_bench.suite import get_suite

    df = load_reported()
    for r in df[df["task"] != ""].itertuples(index=False):
        assert r.task in get_suite(r.suite).task_names(), (r.suite, r.task)


@pytest.fixture
def paper_copy(tmp_path):
    d = tmp_path / "paper"
    shutil.copytree(data_dir("paper"), d)
    return d


@pytest.mark.parametrize("edit, message", [
    (lambda line: line.replace(",43,", ",4x3,"), "is not a number"),
    (lambda line: line.replace(",coverage,", ",covrage,"), "unknown metric 'covrage'"),
    (lambda line: line.replace(",D,", ",X,"), "tag 'X'"),
    (lambda line: line.replace("ml45,train", "ml46,train"), "unknown suite 'ml46'"),
    (lambda line: line + ",extra", "too many cells"),
    (lambda line: ",".join(line.split(",")[:5]), "too few cells"),
])
def test_a_malformed_row_is_named(paper_copy, edit, message):
    path = paper_copy / "amago2-ml45.csv"
    lines = path.read_text().splitlines()
    lines[1] = edit(lines[1])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(PaperDataError) as exc:
        load_reported(paper_copy, known_suites=set(list_suites()))
    assert f"amago2-ml45.csv:2" in str(exc.value) and message in str(exc.value)


def test_a_number_given_twice_or_a_wrong_header_is_refused(paper_copy):
    path = paper_copy / "amago2-popgym27.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines + [lines[1]]) + "\n")
    with pytest.raises(PaperDataError, match=r"amago2-popgym27.csv:11: the same number as amago2-popgym27.csv:2"):
        load_reported(paper_copy)
    path.write_text("\n".join([lines[0].replace("suite,", "suit,")] + lines[1:]) + "\n")
    with pytest.raises(PaperDataError, match=r"amago2-popgym27.csv:1: header .* must be " + ", ".join(COLUMNS)):
        load_reported(paper_copy)
