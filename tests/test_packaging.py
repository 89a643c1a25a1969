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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in BUILD_INPUTS:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.db*"))
        else:
            shutil.copy2(ROOT / name, src / name)
    (src / "results" / "local.db").write_bytes(b"not shipped")  # a database beside the paper's numbers stays out
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
    root = tmp_path_factory.mktemp("fresh")
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
    return {"venv": venv, "py": py, "site": fresh_site, "cwd": cwd, "env": env, "root": root}


def _run(inst, *argv) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), cwd=inst["cwd"], env=inst["env"], capture_output=True, text=True, timeout=300)


def test_installed_wheel_runs_suites_evaluate_calibrate_and_gym_make(installed):
    t0 = time.perf_counter()
    inst = installed
    probe = _run(inst, str(inst["py"]), "-c",
                 "import amago_bench, amago_bench.resources as r; print(amago_bench.__file__); "
                 "print(r.in_source_checkout()); print(r.writable_data_dir('reference'))")
    assert probe.returncode == 0, probe.stderr
    file, in_checkout, writable = probe.stdout.split("\n")[:3]
    assert Path(file).is_relative_to(inst["site"]), f"imported {file}, not the wheel's copy"
    assert in_checkout == "False" and Path(writable) == inst["root"] / "xdg" / "amago-bench" / "reference"

    suites = _run(inst, "amago-bench", "suites")
    assert suites.returncode == 0, suites.stderr
    assert "scale-probe" in suites.stdout and "popgym27" in suites.stdout and "invalid" not in suites.stdout

    ev = _run(inst, "amago-bench", "evaluate", "--suite", "scale-probe", "--agent", "random",
              "--trials-per-task", "2", "--num-envs", "2", "--no-progress", "--db", "r.db")
    assert ev.returncode == 0, ev.stderr
    assert "bandit-x10000" in ev.stdout and "mean over tasks" in ev.stdout
    assert (inst["cwd"] / "r.db").is_file()

    cal = _run(inst, "amago-bench", "calibrate", "--suite", "scale-probe", "--trials-per-task", "2", "--seeds", "0",
               "--num-envs", "2")
    assert cal.returncode == 0, cal.stderr
    assert (Path(writable) / "scale-probe-random.json").is_file()
    assert not list(inst["site"].glob("amago_bench/suites/reference/scale-probe-random.json"))  # pip's folder untouched

    gym = _run(inst, str(inst["py"]), "-c", "import amago_bench, gymnasium as gym; "
               "print(gym.make('amago_bench/scale-probe.bandit-x1-v0').reset(seed=0)[1]['task'])")
    assert gym.returncode == 0 and gym.stdout.strip() == "bandit-x1", gym.stderr
    print(f"installed-wheel checks: {time.perf_counter() - t0:.1f} s")
