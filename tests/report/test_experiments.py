"""The paper's experiments file against the reported numbers it is set beside: every number a
paper reports for one of our agents is produced by an experiment (same suite, split, agent,
metric and a step count it evaluates at), and every agent and milestone of an experiment has a
reported number."""

from __future__ import annotations

import pytest

from amago_bench.agents import config_path
from amago_bench.experiments import ExperimentError, load_experiments, select
from amago_bench.report.paper import load_reported
from amago_bench.suite import get_suite

EXPS = load_experiments()
REPORTED = load_reported()


def test_every_reported_number_of_our_agents_is_produced_by_an_experiment():
    ours = REPORTED[(REPORTED["our_agent"] != "") & REPORTED["env_steps"].notna()]
    assert len(ours) > 100
    for r in ours.itertuples(index=False):
        hits = [e for e in EXPS.values() if e.reported == r.table and e.suite == r.suite and r.our_agent in e.agents
                and r.split in e.splits and r.metric in e.metrics and int(r.env_steps) in e.report_at]
        assert hits, f"{r.table}:{r.line} ({r.suite}, {r.split}, {r.our_agent}, {r.metric}, {r.env_steps:.0f}) has no experiment"


def test_every_experiment_cell_has_a_reported_number_and_names_real_things():
    for e in EXPS.values():
        get_suite(e.suite)
        for a in e.agents:
            assert config_path(a).exists()
        rep = REPORTED[(REPORTED["table"] == e.reported) & (REPORTED["suite"] == e.suite)]
        assert not rep.empty, e.table
        for agent in e.agents:  # every agent is reported at the end of training
            cell = rep[(rep["our_agent"] == agent) & (rep["env_steps"] == e.env_steps)]
            assert not cell.empty, (e.table, agent)
            assert set(cell["split"]) == set(e.splits) and set(cell["metric"]) <= set(e.metrics)
        for at in e.report_at:  # and every milestone is reported for some agent of ours
            assert not rep[(rep["our_agent"].isin(e.agents)) & (rep["env_steps"] == at)].empty, (e.table, at)


def test_the_papers_budgets_seeds_and_splits():
    got = {t: (e.env_steps, e.seeds, e.splits, e.report_at) for t, e in EXPS.items()}
    assert got["ml45"] == (100_000_000, 3, ("train",), (50_000_000, 100_000_000))
    assert got["popgym27"] == (100_000_000, 3, ("test",), (15_000_000, 50_000_000, 100_000_000))
    assert got["procgen-easy5"][:2] == got["procgen-easy5-rescaled"][:2] == (275_000_000, 2)
    assert got["atari10"][1] == 4 and EXPS["atari10"].agents == ("amago2", "dep-dep", "dep-dep-clipped")
    assert got["babyai"] == (130_000_000, 4, ("train", "test"), (130_000_000,))
    assert got["procgen-memhard16"][0] == 2_700_000_000


@pytest.mark.parametrize("edit, message", [
    ("seeds = 3", "seeds = 0"), ("report_at = [50_000_000, 100_000_000]", "report_at = [50_000_000]"),
    ('splits = ["train"]', 'splits = ["validation"]'), ('metrics = ["coverage", "success_pct", "return"]', 'metrics = ["speed"]'),
])
def test_a_malformed_experiments_file_is_refused_with_its_name(tmp_path, edit, message):
    from amago_bench.experiments import experiments_path

    text = experiments_path().read_text()
    assert edit in text
    bad = tmp_path / "experiments.toml"
    bad.write_text(text.replace(edit, message, 1))
    with pytest.raises(ExperimentError, match="experiments.toml"):
        load_experiments(bad)


def test_unknown_tables_are_named():
    from amago_bench.errors import UserError

    with pytest.raises(UserError, match="ml45, popgym27"):
        select(("nope",))
