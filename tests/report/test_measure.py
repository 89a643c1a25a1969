"""What the training-budget column says about an entry, in words a reader understands."""

from __future__ import annotations

import json

import pandas as pd

from amago_bench.report.measure import NOT_TRAINED, TRAINED_OUTSIDE, training_budget


def _runs(*rows):
    return pd.DataFrame(rows, columns=["run_id", "kind", "agent", "suite", "budget", "seed"])


def _cfg(ckpt=None):
    return json.dumps({"ref": "x", **({"checkpoint": ckpt, "checkpoint_sha256": "ab" * 8} if ckpt else {})})


def test_budget_words_for_untrained_outside_and_harness_checkpoints():
    runs = _runs(("t0", "train", "amago2", "scale-probe", "small", 0))
    assert NOT_TRAINED == "not trained" and TRAINED_OUTSIDE == "trained outside amago-bench"
    assert training_budget(runs, "random", _cfg(), "scale-probe", {}) == (None, "not trained")
    assert training_budget(runs, "sb3-ppo", _cfg("/home/me/models/ppo.zip"), "scale-probe", {}) == (
        None, "trained outside amago-bench")
    assert training_budget(runs, "amago2", _cfg("/home/me/user/checkpoint.pt"), "scale-probe", {"t0": 10240}) == (
        None, "trained outside amago-bench")  # a folder that is no amago-bench run: not matched to t0
    ours = "/r/runs/scale-probe/amago2-small-seed0/checkpoint.pt"
    assert training_budget(runs, "amago2", _cfg(ours), "scale-probe", {"t0": 10240}) == (
        10240.0, "small budget, 10.2k steps")
    other_db = "/r/runs/scale-probe/amago2-smoke-seed3/checkpoint.pt"
    assert training_budget(runs, "amago2", _cfg(other_db), "scale-probe", {"t0": 10240}) == (
        None, "smoke budget (trained by amago-bench; its training run is not in this database)")
