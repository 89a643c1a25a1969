"""Backend parity check: the statistics, the report, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from amago_bench.envs.parity import ParityReport, TaskParity, parity_check, two_sample_tests, write_report
from amago_bench.suite import SuiteError


def test_identical_constant_samples_agree():
    assert two_sample_tests(np.zeros(10), np.zeros(12)) == (1.0, 1.0)


def test_same_distribution_agrees_and_shifted_one_does_not():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 200), rng.normal(0, 1, 200)
    mw, ks = two_sample_tests(a, b)
    assert mw > 0.01 and ks > 0.01
    mw, ks = two_sample_tests(a, b + 2.0)
    assert mw < 1e-6 and ks < 1e-6


def _row(name, ok_scores=True, first_ok=True):
    return TaskParity(task=name, spaces_equal=True, first_obs_rule="exact", first_obs_equal_fraction=1.0,
                      first_obs_ok=first_ok, scores_official=(1.0, 2.0), scores_envpool=(1.0, 2.0),
                      mannwhitney_p=1.0, ks_p=1.0, scores_agree=ok_scores)


def test_report_passes_only_when_every_task_is_ok(tmp_path):
    good = ParityReport("s", "test", 2, 0, 0.05, 0.0125, (_row("a"), _row("b")))
    bad = ParityReport("s", "test", 2, 0, 0.05, 0.0125, (_row("a"), _row("b", first_ok=False)))
    assert good.passed and not bad.passed
    # a family whose port cannot match the first frame is reported, not judged
    assert ParityReport("s", "test", 2, 0, 0.05, 0.0125, (_row("a", first_ok=None),)).passed
    md, js = write_report(bad, tmp_path)
    assert "FAIL" in md.read_text() and "| b |" in md.read_text()
    data = json.loads(js.read_text())
    assert data["passed"] is False and [t["ok"] for t in data["tasks"]] == [True, False]


def test_suites_without_both_backends_are_refused():
    with pytest.raises(SuiteError, match=r"backends \['envpool'\].*official, envpool"):
        parity_check("procgen-easy5", write=False)
    with pytest.raises(SuiteError, match=r"backends \['official'\]"):
        parity_check("scale-probe", write=False)


def test_atari_smoke_parity_end_to_end(tmp_path):
    pytest.importorskip("ale_py")
    pytest.importorskip("envpool")
    report = parity_check("atari10-smoke", split="test", n_trials=4, seed=0, tasks=["Pong", "Breakout"],
                          out_dir=tmp_path)
    assert [t.task for t in report.tasks] == ["Pong", "Breakout"]
    for t in report.tasks:
        assert t.spaces_equal
        assert t.first_obs_rule == "close" and t.first_obs_ok and t.first_obs_equal_fraction >= 0.95
        assert len(t.scores_official) == len(t.scores_envpool) == 4
        assert 0.0 <= t.mannwhitney_p <= 1.0 and 0.0 <= t.ks_p <= 1.0
    assert report.threshold == pytest.approx(0.05 / 4)
    assert (tmp_path / "atari10-smoke.md").exists()
    data = json.loads((tmp_path / "atari10-smoke.json").read_text())
    assert data["suite"] == "atari10-smoke" and data["n_trials"] == 4 and "spec_hash" in data["provenance"]
