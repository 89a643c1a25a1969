"""The wheel: it carries the shipped data, and an install of it (not the source tree) runs the CLI.

The wheel is built from a copy of the inputs (pyproject.toml, README.md, amago_bench/ and the data
folders suites/, baselines/, results/paper/ that pyproject.toml maps into the package), so stale
build/ folders in the checkout cannot leak into it. It is installed into a fresh venv
made from the base interpreter; that venv reaches the dependencies (numpy, gymnasium, pandas...)
through a .pth line naming this environment's site-packages, a folder Python adds to sys.path
without running its .pth files, so the editable install of the checkout stays invisible.
"""

from __future__ import annotations

import os
import shutil
import site
import json
import subprocess
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _setuptools_ok() -> bool:
    try:
        return int(metadata.version("setuptools").split(".")[0]) >= 77
    except metadata.PackageNotFoundError:
        return False


#: What the wheel is built from: the package and the top-level data folders pyproject.toml maps into it.
BUILD_INPUTS = ("pyproject.toml", "README.md", "amago_bench", "suites", "baselines", "results/paper")


def _pyproject() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _shipped_data() -> list[Path]:
    """Every file of the shipped data folders (the local databases in results/ are not among them)."""
    from amago_bench.resources import DATA_LAYOUT

    return sorted({p for parts in DATA_LAYOUT.values() for p in ROOT.joinpath(*parts).glob("*") if p.is_file()})


def test_pyproject_lists_every_code_package_and_maps_every_data_folder():
    """The explicit package list (needed for the package-dir mapping) cannot silently miss a new
    subpackage, and each data kind in amago_bench.resources is a package mapped to its folder."""
    from amago_bench.resources import DATA_LAYOUT

    st = _pyproject()["tool"]["setuptools"]
    code = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "amago_bench").rglob("__init__.py")
            if "__pycache__" not in p.parts}
    data = {"amago_bench." + ".".join(parts) for parts in DATA_LAYOUT.values()}
    assert set(st["packages"]) == code | data
    for pkg in data:
        top = ".".join(pkg.split(".")[:2])  # amago_bench.suites -> "suites"
        assert st["package-dir"][top] == top.split(".")[1]
        assert st["package-data"][pkg], pkg
    assert not any(k.startswith("amago_bench.results") and k != "amago_bench.results.paper" for k in st["package-data"])


def _copy_sources(src: Path) -> Path:
    src.mkdir(exist_ok=True)
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.db*"))
        else:
            shutil.copy2(ROOT / name, src / name)
    (src / "results" / "local.db").write_bytes(b"not shipped")  # a database beside the paper's numbers stays out
    return src


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = _copy_sources(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)]
    if _setuptools_ok():  # build with this environment's setuptools (fast, offline); else pip fetches one
        cmd.append("--no-build-isolation")
    subprocess.run(cmd, check=True, cwd=src)
    (whl,) = out.glob("amago_bench-*.whl")
    return whl


def test_wheel_carries_every_shipped_data_file_and_module(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    pkg = ROOT / "amago_bench"
    data = _shipped_data()
    assert {p.suffix for p in data} == {".toml", ".json", ".csv"}
    missing = sorted(str(p.relative_to(ROOT)) for p in data if f"amago_bench/{p.relative_to(ROOT)}" not in names)
    assert not missing, f"shipped data left out of the wheel (add a glob to [tool.setuptools.package-data]): {missing}"
    assert "amago_bench/suites/scale-probe.toml" in names and "amago_bench/baselines/amago2.toml" in names
    assert "amago_bench/results/paper/experiments.toml" in names
    assert "amago_bench/suites/reference/popgym27-random.json" in names
    assert not [n for n in names if n.endswith(".db") or "/data/" in n]
    modules = [p for p in pkg.rglob("*.py") if "__pycache__" not in p.parts]
    assert not sorted(str(p.relative_to(ROOT)) for p in modules if str(p.relative_to(ROOT)) not in names)
    assert not [n for n in names if n.startswith(("tests/", "examples/", "scripts/"))]


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """A fresh venv holding only the wheel; dependencies reached through a plain .pth path."""
    return _fresh_venv(tmp_path_factory.mktemp("fresh"), wheel)


def _fresh_venv(root: Path, wheel: Path) -> dict:
    venv = root / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    # install before the .pth exists, so pip sees no other amago-bench
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True)
    (fresh_site,) = [Path(p) for p in subprocess.run(
        [str(py), "-c", "import site; print('\\n'.join(site.getsitepackages()))"],
        check=True, capture_output=True, text=True).stdout.split() if p.endswith("site-packages")]
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (fresh_site / "zz_deps_from_test_env.pth").write_text("\n".join(deps) + "\n")
    cwd = root / "cwd"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "AMAGO_BENCH_DATA")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", XDG_DATA_HOME=str(root / "xdg"),
               OMP_NUM_THREADS="1")
    return {"venv": venv, "py": py, "site": fresh_site, "cwd": cwd, "env": env, "root": root, "wheel": wheel}


def _run(inst, *argv) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), cwd=inst["cwd"], env=inst["env"], capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not _setuptools_ok(), reason="needs setuptools>=77 in this environment to build offline")
def test_an_editable_install_reads_the_checkouts_top_level_folders(tmp_path):
    """What scripts/setup.sh does (pip install -e): the editable wheel's finder maps the package to the
    checkout (here a copy of it), and the data is read from its suites/, baselines/ and results/paper/."""
    src = _copy_sources(tmp_path / "checkout")
    dist = tmp_path / "dist"
    dist.mkdir()
    subprocess.run([sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_editable({str(dist)!r})"],
                   cwd=src, check=True, capture_output=True)
    (editable,) = dist.glob("amago_bench-*.whl")
    inst = _fresh_venv(tmp_path / "fresh", editable)
    probe = _run(inst, str(inst["py"]), "-c",
                 "import amago_bench, amago_bench.resources as r, amago_bench.installation as i\n"
                 "print(amago_bench.__file__, r.in_source_checkout(), r.data_dir('suites'), r.data_dir('baselines'), "
                 "r.data_dir('paper'), r.default_db(), sep='\\n'); print(i.pip_install('atari'))")
    assert probe.returncode == 0, probe.stderr
    file, in_checkout, suites, baselines, paper, db, hint = probe.stdout.strip().split("\n")
    assert Path(file) == src / "amago_bench" / "__init__.py" and in_checkout == "True"
    assert (Path(suites), Path(baselines), Path(paper)) == (src / "suites", src / "baselines", src / "results" / "paper")
    assert Path(db) == src / "results" / "amago-bench.db" and hint == f"pip install -e '{src}[atari]'"
    suites_cmd = _run(inst, "amago-bench", "suites")
    assert suites_cmd.returncode == 0 and "scale-probe" in suites_cmd.stdout, suites_cmd.stderr
    (src / "suites" / "my-probe.toml").write_text((src / "suites" / "scale-probe.toml").read_text().replace(
        'name = "scale-probe"', 'name = "my-probe"'))  # a suite added to the checkout is seen at once
    assert "my-probe" in _run(inst, "amago-bench", "suites").stdout


def test_installed_wheel_runs_suites_ids_evaluate_calibrate_and_gym_make(installed):
    """The README's pip path, first half: from a folder outside the checkout, with nothing but the wheel."""
    t0 = time.perf_counter()
    inst = installed
    assert not inst["cwd"].is_relative_to(ROOT)
    probe = _run(inst, str(inst["py"]), "-c",
                 "import amago_bench, amago_bench.resources as r; print(amago_bench.__file__); "
                 "print(r.in_source_checkout()); print(r.writable_data_dir('reference')); print(r.data_dir('suites'))")
    assert probe.returncode == 0, probe.stderr
    file, in_checkout, writable, suites_dir = probe.stdout.split("\n")[:4]
    assert Path(file).is_relative_to(inst["site"]), f"imported {file}, not the wheel's copy"
    assert in_checkout == "False" and Path(writable) == inst["root"] / "xdg" / "amago-bench" / "reference"
    assert Path(suites_dir) == inst["site"] / "amago_bench" / "suites"

    suites = _run(inst, "amago-bench", "suites")
    assert suites.returncode == 0, suites.stderr
    assert "scale-probe" in suites.stdout and "popgym27" in suites.stdout and "invalid" not in suites.stdout
    agents = _run(inst, "amago-bench", "agents")
    assert agents.returncode == 0 and "dep-dep-clipped" in agents.stdout and "rl2-ppo-gru" in agents.stdout

    ids = _run(inst, "amago-bench", "ids", "--suite", "scale-probe")
    assert ids.returncode == 0, ids.stderr
    assert "amago_bench/scale-probe.bandit-x10000-v0" in ids.stdout

    # the README's example agent by module, and the default database: under the current folder
    ev = _run(inst, "amago-bench", "evaluate", "--suite", "scale-probe", "--agent",
              "amago_bench.examples.heuristic:WinStayLoseShift", "--trials-per-task", "2", "--num-envs", "2",
              "--no-progress", "--json")
    assert ev.returncode == 0, ev.stderr
    assert [round(r["normalised"], 6) for r in json.loads(ev.stdout)] == [1.0] * 4
    assert (inst["cwd"] / "results" / "amago-bench.db").is_file()
    assert not list(inst["venv"].rglob("*.db")), "a database was written inside the venv"

    cal = _run(inst, "amago-bench", "calibrate", "--suite", "scale-probe", "--trials-per-task", "2", "--seeds", "0",
               "--num-envs", "2")
    assert cal.returncode == 0, cal.stderr
    assert (Path(writable) / "scale-probe-random.json").is_file()
    assert not list(inst["site"].glob("amago_bench/suites/reference/scale-probe-random.json"))  # pip's folder untouched

    gym = _run(inst, str(inst["py"]), "-c", "import amago_bench, gymnasium as gym; "
               "print(gym.make('amago_bench/scale-probe.bandit-x1-v0').reset(seed=0)[1]['task'])")
    assert gym.returncode == 0 and gym.stdout.strip() == "bandit-x1", gym.stderr

    # a missing package's hint names this install: the wheel file pip installed from, with the extra
    hint = _run(inst, str(inst["py"]), "-c", "import sys; sys.modules['ale_py'] = None\n"
                "from amago_bench.cli import main; sys.exit(main(['evaluate', '--suite', 'atari10-smoke']))")
    assert hint.returncode == 2 and hint.stderr.count("\n") == 1, hint.stderr
    assert hint.stderr.strip().endswith(f"install with: pip install '{inst['wheel']}[atari]'"), hint.stderr
    print(f"installed-wheel checks: {time.perf_counter() - t0:.1f} s")


def test_installed_wheel_trains_at_the_smoke_budget_scores_the_checkpoint_and_reports(installed):
    """The README's pip path, second half: train, evaluate the checkpoint, report, and the SB3 example."""
    t0 = time.perf_counter()
    inst = installed
    tr = _run(inst, "amago-bench", "train", "--suite", "scale-probe", "--agent", "amago2", "--budget", "smoke",
              "--threads", "1")
    assert tr.returncode == 0, tr.stderr
    ckpt = "runs/scale-probe/amago2-smoke-seed0/checkpoint.pt"
    assert f"--checkpoint {ckpt}" in tr.stdout and (inst["cwd"] / ckpt).is_file()
    ev = _run(inst, "amago-bench", "evaluate", "--suite", "scale-probe", "--agent", "amago2", "--checkpoint", ckpt,
              "--trials-per-task", "2", "--num-envs", "2", "--no-progress")
    assert ev.returncode == 0, ev.stderr
    heuristic = _run(inst, "amago-bench", "evaluate", "--suite", "scale-probe", "--agent",  # stored by the test above
                     "amago_bench.examples.heuristic:WinStayLoseShift", "--trials-per-task", "2", "--num-envs", "2",
                     "--no-progress")
    assert heuristic.returncode == 0, heuristic.stderr
    rep = _run(inst, "amago-bench", "report", "--suite", "scale-probe", "--out", "reports/scale-probe", "--format",
               "md,html")
    assert rep.returncode == 0, rep.stderr
    out = inst["cwd"] / "reports" / "scale-probe"
    board = (out / "scale-probe" / "leaderboard.md").read_text()
    assert "amago2" in board and "win-stay-lose-shift" in board and "smoke budget" in board, board
    print(board)
    assert (out / "index.html").is_file() and "results/paper/" in (out / "README.md").read_text()
    sb3 = _run(inst, str(inst["py"]), "-m", "amago_bench.examples.train_sb3", "--algo", "ppo", "--env-steps", "128",
               "--num-envs", "2", "--n-steps", "64", "--batch-size", "64", "--eval-trials", "1")
    assert sb3.returncode == 0, sb3.stderr[-2000:]
    assert (inst["cwd"] / "runs" / "sb3" / "ppo-scale-probe.zip").is_file()
    print(f"installed-wheel training checks: {time.perf_counter() - t0:.1f} s")
