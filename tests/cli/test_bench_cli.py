"""CLI: `bench envs`, `bench agent`, `parity` (smoke runs at tiny budgets and bad input)."""

from __future__ import annotations

import importlib
import json

import pytest

from amago_bench.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_bench_without_subcommand_prints_help(capsys):
    code, out, _ = run(capsys, "bench")
    assert code == 2 and "envs" in out and "agent" in out


def test_bench_envs_prints_table_with_ratios_and_writes_json(capsys, tmp_path):
    pytest.importorskip("envpool")
    out_json = tmp_path / "b.json"
    code, out, _ = run(capsys, "bench", "envs", "--suite", "procgen-smoke", "scale-probe", "--seconds", "0.2",
                       "--rounds", "1", "--tasks-per-suite", "1", "--num-envs", "1", "--json", str(out_json))
    assert code == 0
    assert "harness/raw" in out and "num_envs=1" in out and "procgen-smoke" in out and "scale-probe" in out
    data = json.loads(out_json.read_text())
    rows = {s["suite"]: s for s in data["suites"]}
    assert data["config"]["num_envs"] == 1
    proc = rows["procgen-smoke"]
    assert set(proc["sps"]) == {"raw", "harness", "evaluate", "envpool_raw", "envpool_harness"}
    assert all(v > 0 for v in proc["sps"].values())
    assert proc["ratios"]["harness_over_raw"] == pytest.approx(proc["sps"]["harness"] / proc["sps"]["raw"])
    probe = rows["scale-probe"]
    # the probe has no native env and no EnvPool port: those modes are n/a with a note
    assert "raw" not in probe["sps"] and "envpool_raw" not in probe["sps"] and probe["sps"]["harness"] > 0
    assert "make_raw_env" in probe["notes"]["raw"] and "no envpool backend" in probe["notes"]["envpool_raw"]


def test_bench_envs_bad_input(capsys):
    code, _, err = run(capsys, "bench", "envs", "--suite", "nope", "--seconds", "0.1")
    assert code == 2 and "unknown suite 'nope'; known:" in err
    code, _, err = run(capsys, "bench", "envs", "--suite", "scale-probe", "--seconds", "0")
    assert code == 2 and "--seconds" in err


def test_bench_agent_flags_and_missing_module_message(capsys, monkeypatch):
    real = importlib.import_module

    def fake(name, *a, **k):
        if name == "amago_bench.agents.amago2.bench":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake)
    code, _, err = run(capsys, "bench", "agent", "--device", "cpu", "--contexts", "16", "32", "--quick")
    assert code == 2 and "amago_bench.agents.amago2.bench" in err and "not built yet" in err


def test_bench_agent_passes_its_flags_to_main(capsys, monkeypatch):
    seen = {}

    class Fake:
        @staticmethod
        def main(args):
            seen.update(vars(args))
            return 0

    real = importlib.import_module
    monkeypatch.setattr(importlib, "import_module",
                        lambda name, *a, **k: Fake if name == "amago_bench.agents.amago2.bench" else real(name, *a, **k))
    code, _, _ = run(capsys, "bench", "agent", "--agents", "amago2", "--contexts", "16", "64", "--out", "x.json", "--quick")
    assert code == 0
    assert seen["contexts"] == [16, 64] and seen["device"] == "cpu" and seen["out"] == "x.json" and seen["quick"]


def test_parity_refuses_a_suite_without_envpool(capsys):
    code, _, err = run(capsys, "parity", "--suite", "scale-probe")
    assert code == 2 and "official, envpool" in err
