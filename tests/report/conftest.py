"""One synthetic database and one report of it, shared by the report tests (built once)."""

from __future__ import annotations

import pytest

from amago_bench.report.writer import ReportConfig, write_report
from tests.report.synth import build_db


@pytest.fixture(scope="session")
def synth_db(tmp_path_factory):
    return build_db(tmp_path_factory.mktemp("synth") / "r.db")


@pytest.fixture(scope="session")
def synth_report(synth_db, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    result = write_report(ReportConfig(db=str(synth_db), out=out, reps=200, ci_seed=0))
    return out, result


@pytest.fixture(scope="session")
def smoke_report(tmp_path_factory):
    """A pipeline check: one seed of each agent on ml10."""
    root = tmp_path_factory.mktemp("smoke")
    db = build_db(root / "smoke.db", suites=("ml10",), seeds=(0,))
    out = root / "report"
    result = write_report(ReportConfig(db=str(db), out=out, reps=200, ci_seed=0, formats=("html", "png", "svg")))
    return out, result
