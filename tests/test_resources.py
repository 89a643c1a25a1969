"""Shipped data and the folder the harness writes to: source checkout vs installed package."""

from __future__ import annotations

import json

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
    monkeypatch.setattr(resources, "in_source_checkout", lambda: False)
    user = tmp_path / "amago-bench" / "reference"
    assert resources.writable_data_dir("reference") == user
    assert resources.data_dirs("reference") == [user, resources.data_dir("reference")]
    shipped = resources.data_dir("reference") / "popgym27-random.json"
    assert measured_reference_path("popgym27") == shipped  # nothing calibrated yet: the shipped file
    user.mkdir(parents=True)
    (user / "popgym27-random.json").write_text(json.dumps({"tasks": {"AutoencodeEasy": {"mean": -7.5}}}))
    assert measured_reference_path("popgym27") == user / "popgym27-random.json"
    assert load_measured_reference("popgym27") == {"AutoencodeEasy": -7.5}


def test_amago_bench_data_wins_everywhere(monkeypatch, tmp_path):
    monkeypatch.setenv("AMAGO_BENCH_DATA", str(tmp_path))
    assert resources.writable_data_dir("reference") == tmp_path / "reference"
    with pytest.raises(ValueError, match="unknown data kind 'refs'; one of suites, agents, reference, paper"):
        resources.user_data_dir("refs")
