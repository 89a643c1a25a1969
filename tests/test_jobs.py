"""Evaluation jobs through the ledger: what identifies an agent (version, code), --rerun, and
readable labels for agents that share a name."""

from __future__ import annotations

import json
import textwrap

import pandas as pd

from amago_bench.jobs import EvalRequest, run_evaluation
from amago_bench.scoring import agent_label
from amago_bench.store import ResultsStore

AGENT = """
import numpy as np

class Fixed:
    name = "fixed"
    version = {version!r}

    def start(self, spec, seed):
        self.n = spec.num_envs

    def act(self, step):
        return np.full(self.n, {arm}, np.int64)
"""


def _write(path, version, arm):
    path.write_text(textwrap.dedent(AGENT.format(version=version, arm=arm)))


def _runs(db):
    with ResultsStore(db, create=False) as s:
        return s.runs()


def test_edited_code_and_new_version_make_new_runs_and_rerun_replaces(tmp_path):
    agent_file, db = tmp_path / "myagent.py", str(tmp_path / "r.db")
    req = EvalRequest(suite="scale-probe", agent=f"{agent_file}:Fixed", trials_per_task=2, db=db, progress=False)
    _write(agent_file, "1", 0)
    a = run_evaluation(req, log=lambda m: None)
    run_evaluation(req, log=lambda m: None)  # unchanged: nothing to run
    assert len(_runs(db)) == 1
    _write(agent_file, "1", 1)  # edited code, same version: a new run, with the new results
    b = run_evaluation(req, log=lambda m: None)
    runs = _runs(db)
    assert len(runs) == 2 and not a["return"].equals(b["return"])
    configs = [json.loads(c) for c in runs["agent_config"]]
    assert len({c["code"] for c in configs}) == 2 and {c["version"] for c in configs} == {"1"}
    labels = {agent_label("fixed", c, runs["agent_config"]) for c in runs["agent_config"]}
    assert labels == {f"fixed (code {c['code'][:8]})" for c in configs}  # only what differs: the code, not v1
    # --rerun replaces the stored run of this exact request, keeping one run
    before = _runs(db)
    c = run_evaluation(EvalRequest(**{**req.__dict__, "rerun": True}), log=lambda m: None)
    after = _runs(db)
    assert len(after) == 2 and set(after["run_id"]) == set(before["run_id"])
    pd.testing.assert_series_equal(c["return"].reset_index(drop=True), b["return"].reset_index(drop=True))


def test_labels_say_which_checkpoint():
    cfgs = [json.dumps({"ref": "amago2", "checkpoint": f"/x/runs/scale-probe/amago2-small-seed{s}/checkpoint.pt"})
            for s in (0, 1)]
    assert agent_label("amago2", cfgs[0], cfgs) == "amago2 (amago2-small-seed0)"
    assert agent_label("amago2", cfgs[1], cfgs[:1] + cfgs[:1]) == "amago2"  # only one config: the bare name
    same = [json.dumps({"ref": "x", "k": 1}), json.dumps({"ref": "x", "k": 2})]
    assert agent_label("x", same[0], same) != agent_label("x", same[1], same)


def test_checkpoints_from_outside_are_told_apart_by_their_content_hash_shown_short():
    from amago_bench.scoring import pooled_config

    def sb3(path, sha):
        return json.dumps({"ref": "amago_bench.adapters.sb3:load", "checkpoint": path, "checkpoint_sha256": sha,
                           "code": "c0de" * 4})

    a, b = sb3("/m/models/a.zip", "1111aaaa2222bbbb"), sb3("/m/models/b.zip", "3333cccc4444dddd")
    pooled = [pooled_config(a), pooled_config(b)]
    assert [agent_label("sb3-ppo", p, pooled) for p in pooled] == ["sb3-ppo (checkpoint 1111aaaa)",
                                                                   "sb3-ppo (checkpoint 3333cccc)"]
    assert pooled_config(sb3("/elsewhere/copy.zip", "1111aaaa2222bbbb")) == pooled[0]  # same content: one entry
