"""Install hints name the command for how this copy was installed (checkout, git URL, wheel file, index)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from amago_bench import installation, resources
from amago_bench.cli import main
from amago_bench.installation import MissingPackageError, import_optional, pip_install

ROOT = Path(__file__).resolve().parents[1]


def test_a_checkout_gets_an_editable_install_of_itself():
    assert pip_install("atari") == f"pip install -e '{ROOT}[atari]'"
    assert installation.upgrade_hint() == f"update the checkout at {ROOT} (git pull)"


@pytest.fixture
def installed(monkeypatch):
    """As if imported from site-packages: no checkout above the package."""
    monkeypatch.setattr(resources, "in_source_checkout", lambda: False)


def test_an_index_install_gets_the_plain_extra(installed):
    assert pip_install("sb3", direct_url={}) == "pip install 'amago-bench[sb3]'"
    assert pip_install(upgrade=True, direct_url={}) == "pip install -U 'amago-bench'"


def test_a_wheel_file_install_names_the_file_while_it_exists(installed, tmp_path):
    whl = tmp_path / "amago_bench-0.1.0-py3-none-any.whl"
    info = {"url": whl.as_uri(), "archive_info": {"hashes": {}}}
    assert pip_install("atari", direct_url=info) == "pip install 'amago-bench[atari]'"  # the file is gone
    whl.write_bytes(b"")
    assert pip_install("atari", direct_url=info) == f"pip install '{whl}[atari]'"


def test_a_git_install_names_the_url_and_commit(installed):
    info = {"url": "https://github.com/me/amago-bench", "vcs_info": {"vcs": "git", "commit_id": "abc123"}}
    assert (pip_install("popgym", direct_url=info)
            == "pip install 'amago-bench[popgym] @ git+https://github.com/me/amago-bench@abc123'")
    assert (pip_install(upgrade=True, direct_url=info)
            == "pip install -U 'amago-bench @ git+https://github.com/me/amago-bench'")


def test_an_editable_install_elsewhere_names_its_folder(installed, tmp_path):
    info = {"url": tmp_path.as_uri(), "dir_info": {"editable": True}}
    assert pip_install("ray", direct_url=info) == f"pip install -e '{tmp_path}[ray]'"


def test_a_missing_optional_package_names_what_needs_it_and_the_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "stable_baselines3", None)
    with pytest.raises(MissingPackageError, match=r"^the SB3 example needs the Python package 'stable_baselines3', "
                                                  rf"which is not installed; install with: pip install -e '\S+\[sb3\]'$"):
        import_optional("stable_baselines3", "the SB3 example")
    with pytest.raises(ModuleNotFoundError):  # not an optional dependency: no hint, the error as it is
        import_optional("no_such_module_23", "x")


def test_train_without_torch_exits_2_with_the_install_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)
    for name in [m for m in sys.modules if m.startswith("amago_bench.agents.amago2.") and m != "amago_bench.agents.amago2.config"]:
        monkeypatch.delitem(sys.modules, name)
    assert main(["train", "--suite", "scale-probe", "--budget", "smoke", "--runs", str(tmp_path / "runs"),
                 "--db", str(tmp_path / "r.db")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"amago-bench: error: training 'amago2' needs the Python package 'torch', which is not installed; " \
                  f"install with: pip install -e '{ROOT}[agent]'"
    assert not (tmp_path / "r.db").exists()
