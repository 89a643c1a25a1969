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
