"""Shipped data and the folder the harness writes to: source checkout vs installed package."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from amago_bench import resources
from amago_bench.suite import load_measured_reference, measured_reference_path


def test_source_checkout_writes_into_the_shipped_folder(monkeypatch):
    monkeypatch.delenv("AMAGO_BENCH_DATA", raising=False)
    assert resources.in_source_checkout()  # the tests run from the source tree
    assert resources.writable_data_dir("reference") == resources.data_dir("reference")
    assert resources.data_dirs("reference") == [resources.data_dir("reference")]


def test_installed_package_writes_into_the_user_folder_and_reads_it_first(monkeypatch, tmp_path):
    monkeypatch.delenv("AMAGO_BENCH_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    shipped_dir = resources.data_dir("reference")
    monkeypatch.setattr(resources, "in_source_checkout", lambda: False)
    monkeypatch.setattr(resources, "data_dir", lambda kind: shipped_dir)  # the package's copy, as in a wheel
    user = tmp_path / "amago-bench" / "reference"
    assert resources.writable_data_dir("reference") == user
    assert resources.data_dirs("reference") == [user, shipped_dir]
    shipped = shipped_dir / "popgym27-random.json"
    assert measured_reference_path("popgym27") == shipped  # nothing calibrated yet: the shipped file
    user.mkdir(parents=True)
    (user / "popgym27-random.json").write_text(json.dumps({"tasks": {"AutoencodeEasy": {"mean": -7.5}}}))
    assert measured_reference_path("popgym27") == user / "popgym27-random.json"
    assert load_measured_reference("popgym27") == {"AutoencodeEasy": -7.5}


def test_amago_bench_data_wins_everywhere(monkeypatch, tmp_path):
    monkeypatch.setenv("AMAGO_BENCH_DATA", str(tmp_path))
    assert resources.writable_data_dir("reference") == tmp_path / "reference"
    with pytest.raises(ValueError, match="unknown data kind 'refs'; one of suites, reference, baselines, paper"):
        resources.user_data_dir("refs")


ROOT = Path(__file__).resolve().parents[1]


def test_a_checkout_reads_the_top_level_folders():
    assert resources.in_source_checkout()
    assert resources.data_dir("suites") == ROOT / "suites"
    assert resources.data_dir("reference") == ROOT / "suites" / "reference"
    assert resources.data_dir("baselines") == ROOT / "baselines"
    assert resources.data_dir("paper") == ROOT / "results" / "paper"
    assert (ROOT / "suites" / "scale-probe.toml").is_file() and (ROOT / "baselines" / "amago2.toml").is_file()
    assert not (ROOT / "amago_bench" / "data").exists(), "shipped data lives in the top-level folders now"


def test_an_installed_package_reads_the_same_folders_inside_the_package(monkeypatch):
    monkeypatch.setattr(resources, "in_source_checkout", lambda: False)
    pkg = resources.package_dir()
    assert resources.data_dir("suites") == pkg / "suites"
    assert resources.data_dir("reference") == pkg / "suites" / "reference"
    assert resources.data_dir("baselines") == pkg / "baselines"
    assert resources.data_dir("paper") == pkg / "results" / "paper"


def test_only_the_resources_module_locates_shipped_data():
    """One helper: no other module finds the data folders itself (importlib.resources, or a path
    built from __file__ that names one of them; a sibling module found by __file__ is code, not data)."""
    folders = r"[\"'/](suites|baselines|results|reference|paper|reports|data)[\"'/]"
    offenders = []
    for path in sorted((ROOT / "amago_bench").rglob("*.py")):
        if path.name == "resources.py" and path.parent.name == "amago_bench":
            continue
        for line in path.read_text().splitlines():
            if (re.search(r"importlib\.resources|\bfiles\(\s*[\"']amago_bench", line)
                    or ("__file__" in line and re.search(folders, line))):
                offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert not offenders, f"locate shipped data through amago_bench.resources.data_dir instead: {offenders}"


def test_an_installed_package_writes_results_and_reports_under_the_current_folder(monkeypatch):
    """Never into site-packages: the default database and report folders are relative paths."""
    assert resources.default_db() == ROOT / "results" / "amago-bench.db"
    monkeypatch.setattr(resources, "in_source_checkout", lambda: False)
    assert resources.repo_root() is None
    assert resources.default_db() == Path("results") / "amago-bench.db"
    assert resources.default_reports_dir() == Path("reports")
