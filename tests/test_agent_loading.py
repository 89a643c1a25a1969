"""``--agent module:attr`` finds modules in the current folder; ``path/to/file.py:attr`` works too."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from amago_bench.policy import AgentLoadError, load_agent

AGENT_SRC = textwrap.dedent("""
    import numpy as np

    class Zero:
        name = "zero-{tag}"

        def __init__(self, checkpoint=None):
            self.checkpoint = checkpoint

        def start(self, spec, seed):
            self.n = spec.num_envs

        def act(self, step):
            return np.zeros(self.n, np.int64)
""")


def test_module_in_the_current_folder_is_found_without_pythonpath(tmp_path):
    (tmp_path / "my_cwd_agent_mod.py").write_text(AGENT_SRC.format(tag="mod"))
    pkg = tmp_path / "my_cwd_agent_pkg"
    pkg.mkdir()
    (pkg / "agents.py").write_text(AGENT_SRC.format(tag="pkg"))  # a namespace package
    # a fresh process, as the CLI is: sys.path holds no "" for the current folder
    code = ("import sys; assert '' not in sys.path and sys.path[0] != ''\n"
            "from amago_bench.policy import load_agent\n"
            "assert load_agent('my_cwd_agent_mod:Zero', checkpoint='c').name == 'zero-mod'\n"
            "assert load_agent('my_cwd_agent_pkg.agents:Zero').name == 'zero-pkg'\n")
    script = tmp_path / "elsewhere" / "run.py"
    script.parent.mkdir()
    script.write_text(code)
    subprocess.run([sys.executable, "-P", str(script)], cwd=tmp_path, check=True)


def test_path_to_a_file(tmp_path, monkeypatch):
    f = tmp_path / "sub" / "file_agent.py"
    f.parent.mkdir()
    f.write_text(AGENT_SRC.format(tag="file"))
    monkeypatch.chdir(tmp_path)
    agent = load_agent("sub/file_agent.py:Zero", checkpoint="ck")
    assert agent.name == "zero-file" and agent.checkpoint == "ck"
    assert load_agent(f"{f}:Zero").name == "zero-file"  # absolute path
    with pytest.raises(AgentLoadError, match="agent file sub/missing.py does not exist"):
        load_agent("sub/missing.py:Zero")
    with pytest.raises(AgentLoadError, match="has no attribute 'Nope'"):
        load_agent("sub/file_agent.py:Nope")


def test_canonical_ref_spells_one_agent_one_way(tmp_path):
    from amago_bench.policy import canonical_ref

    cwd = str(tmp_path)
    assert canonical_ref("myagent.py:MyAgent", cwd) == canonical_ref("myagent:MyAgent", cwd) == "myagent:MyAgent"
    assert canonical_ref(f"{tmp_path}/sub/agent.py:A", cwd) == "sub.agent:A"  # as `--agent sub.agent:A` loads it
    assert canonical_ref("sub/pkg/__init__.py:A", cwd) == "sub.pkg:A"
    assert canonical_ref("/elsewhere/agent.py:make", cwd) == "agent:make"  # outside the folder: the module's name
    assert canonical_ref("my-dir/agent.py:A", cwd) == "agent:A"  # not a module path
    assert canonical_ref("random", cwd) == "random" and canonical_ref("pkg.mod:A", cwd) == "pkg.mod:A"


def test_one_agent_loaded_as_a_file_and_as_a_module_is_one_run_and_one_entry(tmp_path, monkeypatch):
    """No `name` attribute: the canonical reference names it; the run's config is the same both ways."""
    from amago_bench.jobs import EvalRequest, run_evaluation
    from amago_bench.scoring import leaderboard
    from amago_bench.store import ResultsStore
    from amago_bench.suite import get_suite

    (tmp_path / "myagent_23.py").write_text(AGENT_SRC.format(tag="x").replace('    name = "zero-x"\n', ""))
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "r.db")
    logs = []
    for ref in ("myagent_23.py:Zero", "myagent_23:Zero", f"{tmp_path}/myagent_23.py:Zero"):
        run_evaluation(EvalRequest(suite="scale-probe", agent=ref, trials_per_task=2, num_envs=2, db=db, progress=False),
                       log=logs.append)
    assert sum("nothing to run" in m for m in logs) == 2  # the second and third spelling found the first's run
    with ResultsStore(db, create=False) as s:
        runs, episodes = s.runs(), s.episodes()
    assert list(runs["agent"]) == ["myagent_23:Zero"]
    board = leaderboard(episodes, get_suite("scale-probe"))
    assert list(board["agent"].unique()) == ["myagent_23:Zero"]
