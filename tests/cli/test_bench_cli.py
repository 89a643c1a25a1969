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
    # one round: the ratio is that round's
    assert proc["ratios"]["harness/raw"] == pytest.approx(proc["sps"]["harness"] / proc["sps"]["raw"])
    assert proc["round_ratios"]["harness/raw"] == [proc["ratios"]["harness/raw"]]
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


def _fake_reference_python(tmp_path, seconds: float):
    """An executable standing in for the reference's Python: it reads reference_update.py's flags
    and writes that script's JSON layout (trainable parameters grow with --d_model)."""
    import sys

    fake = tmp_path / "refpython"
    fake.write_text(f"""#!{sys.executable}
import json, sys
argv = sys.argv[2:]
flag = lambda name: argv[argv.index(name) + 1]
d = int(flag("--d_model"))
json.dump({{"params": {{"trainable_total (optimizer)": 1000 * d}}, "timing": {{"median_s": {seconds}}},
           "agent_type": flag("--agent_type")}}, open(flag("--json"), "w"))
""")
    fake.chmod(0o755)
    return fake


def test_bench_agent_side_by_side_with_the_reference_pairs_rounds_and_ratios(tmp_path, monkeypatch):
    import amago_bench.agents.amago2.bench as bench

    monkeypatch.setattr(bench, "PAIRS", (("per-action", 16, "agent", 16), ("action-input", 16, "multitask", 16)))
    monkeypatch.setattr(bench, "BATCH", 2)
    monkeypatch.setattr(bench, "SEQ", 8)
    rows = bench.side_by_side(str(_fake_reference_python(tmp_path, 5.0)), threads=1, reps=1, rounds=2)
    assert [(r["round"], r["reference"]) for r in rows] == [(1, "`agent`, d_model 16"), (1, "`multitask`, d_model 16"),
                                                           (2, "`agent`, d_model 16"), (2, "`multitask`, d_model 16")]
    for r in rows:
        assert r["reference_parameters"] == 16000 and r["reference_update_s"] == 5.0
        assert r["ours_parameters"] > 0 and 0 < r["ours_update_s"] < 5.0
        assert r["speedup"] == pytest.approx(5.0 / r["ours_update_s"])
    table = bench.format_side_by_side(rows, 1)
    assert "ref/ours" in table and "parameters differ by" in table  # a tiny model is not within 1% of 16,000


def test_bench_agent_refuses_a_reference_python_that_cannot_run(capsys, tmp_path):
    code, _, err = run(capsys, "bench", "agent", "--agents", "amago2", "--reference-python", str(tmp_path / "nope"))
    assert code == 2 and "--reference-python" in err and "virtual environment" in err
    broken = tmp_path / "broken"
    broken.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named amago' >&2\nexit 1\n")
    broken.chmod(0o755)
    import amago_bench.agents.amago2.bench as bench
    from amago_bench.errors import UserError

    with pytest.raises(UserError, match="No module named amago"):
        bench.time_reference_update(str(broken), "agent", 16, 1, 1)
