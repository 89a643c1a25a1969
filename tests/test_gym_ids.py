"""Gymnasium ids: one per shipped suite and task, registered on import, equal to TrialEnv."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.registration import parse_env_id
from gymnasium.utils.env_checker import check_env

import amago_bench  # noqa: F401  (registers the ids)
from amago_bench.envs.base import MissingPackageError
from amago_bench.envs.trial import TrialEnv
from amago_bench.gym_ids import GENERIC_ID, suite_id, task_id
from amago_bench.suite import SuiteError, get_suite, list_suites

# The popgym suites declare an unbounded Box observation (changing it would change their suite
# hash and so every stored result's identity); check_env warns about exactly that, nothing else.
UNBOUNDED_BOX = r".*Box observation space (minimum|maximum) value is .*infinity"


def test_every_shipped_suite_and_task_has_an_id_that_parses_back():
    for name in list_suites():
        spec = get_suite(name)
        assert gym.spec(suite_id(name)).kwargs == {"suite": name}
        for task in spec.task_names():
            env_id = task_id(name, task)
            assert parse_env_id(env_id) == ("amago_bench", f"{name}.{task}", 0)
            assert gym.spec(env_id).kwargs == {"suite": name, "task": task}
            assert gym.spec(env_id).entry_point == "amago_bench.gym_ids:make_trial_env"


def test_import_registers_without_importing_gymnasium_or_torch():
    code = textwrap.dedent("""
        import sys
        import amago_bench
        assert "gymnasium" not in sys.modules, "import amago_bench imported gymnasium"
        assert "torch" not in sys.modules
        import gymnasium as gym  # the hook registers now
        assert gym.spec("amago_bench/scale-probe-v0").kwargs == {"suite": "scale-probe"}
        assert not [f for f in sys.meta_path if type(f).__name__ == "_RegisterAfterGymnasiumImport"]
        import gymnasium, importlib.resources
        assert importlib.resources.files("gymnasium").is_dir()  # the module's loader still works
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    # gymnasium first, then the package: registered at once
    code = "import gymnasium as gym, amago_bench; gym.spec('amago_bench/scale-probe.bandit-x1-v0')"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("env_id", [
    "amago_bench/scale-probe-v0",
    "amago_bench/scale-probe.bandit-x100-v0",
    "amago_bench/popgym-repeat-smoke-v0",
    "amago_bench/popgym27.RepeatPreviousEasy-v0",
])
def test_check_env_passes_with_warnings_as_errors(env_id):
    if "popgym" in env_id:
        pytest.importorskip("popgym")
    env = gym.make(env_id)
    assert env.unwrapped.spec is not None and env.unwrapped.spec.id == env_id  # so the determinism checks run
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if "popgym" in env_id:
            warnings.filterwarnings("ignore", message=UNBOUNDED_BOX)
        check_env(env.unwrapped)
    env.close()


def _rollout(env, seed: int, actions: np.ndarray) -> list:
    """Obs, rewards, flags and infos of whole trials, same action sequence each time."""
    out = []
    obs, info = env.reset(seed=seed)
    out.append((obs.copy(), info))
    for a in actions:
        obs, r, term, trunc, info = env.step(int(a))
        out.append((obs.copy(), r, term, trunc, info))
        if term or trunc:
            obs, info = env.reset()
            out.append((obs.copy(), info))
    return out


@pytest.mark.parametrize("split", ["train", "test"])
def test_gym_make_equals_trial_env_built_directly(split):
    actions = np.random.default_rng(0).integers(4, size=40)  # 5 trials of scale-probe
    made = gym.make("amago_bench/scale-probe-v0", split=split)
    direct = TrialEnv(get_suite("scale-probe"), split)
    a, b = _rollout(made, 7, actions), _rollout(direct, 7, actions)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x[0], y[0])
        assert x[1:] == y[1:]
    assert {i[-1].get("task") for i in a} - {None} != {a[0][1]["task"]}  # several tasks drawn: not pinned
    pinned = gym.make("amago_bench/scale-probe.bandit-x100-v0", split=split)
    _, info = pinned.reset(seed=3)
    assert info["task"] == "bandit-x100" and pinned.unwrapped.split == split


def test_generic_id_takes_a_suite_file_and_picks_the_tasks_split(tmp_path):
    text = get_suite("scale-probe").path
    raw = open(text).read().replace('name = "bandit-x100"', 'name = "bandit-x100"\nsplit = "test"')
    path = tmp_path / "scale-probe.toml"
    path.write_text(raw)
    env = gym.make(GENERIC_ID, suite=str(path), task="bandit-x100")
    assert env.unwrapped.split == "test"  # the only split the task is in
    assert env.reset(seed=0)[1]["task"] == "bandit-x100"
    with pytest.raises(SuiteError, match="needs the suite"):
        gym.make(GENERIC_ID)
    with pytest.raises(SuiteError, match="unknown suite 'nope'; known: .*scale-probe"):
        gym.make(GENERIC_ID, suite="nope")


def test_missing_package_fails_at_make_naming_the_extra(tmp_path):
    raw = open(get_suite("scale-probe").path).read().replace("packages = []", 'packages = ["no_such_pkg_xyz"]')
    raw = raw.replace('extra = ""', 'extra = "xyz"')
    path = tmp_path / "needs-pkg.toml"
    path.write_text(raw.replace('name = "scale-probe"', 'name = "needs-pkg"'))
    with pytest.raises(MissingPackageError, match=r"no_such_pkg_xyz.*install with: pip install -e '\S+\[xyz\]'"):
        gym.make(GENERIC_ID, suite=str(path))
