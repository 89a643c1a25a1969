"""Suite specs: loading, validation, registry errors that name the fix."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from amago_bench.suite import SuiteError, get_suite, list_suites, load_suite_file

MINIMAL = """
name = "mini"
family = "probe"
[trial]
episodes = 2
scored_episodes = [1]
max_episode_steps = 8
[spaces]
observation = { kind = "box", shape = [7] }
action = { kind = "discrete", n = 4 }
[seeds]
train = [0, 10]
test = [10, 20]
[[tasks]]
name = "a"
env_id = "bandit"
reference = { kind = "random-oracle", low = 1.0, high = 4.0, source = "test" }
"""


def write(tmp_path: Path, text: str, name: str = "mini.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_bundled_suites_load():
    names = list_suites()
    assert {"popgym27", "scale-probe", "point-nav"} <= set(names)
    for name in names:
        spec = get_suite(name)
        assert spec.name == name
        assert spec.tasks_for("train") and spec.tasks_for("test")
        lo_tr, hi_tr = spec.seed_range("train")
        lo_te, hi_te = spec.seed_range("test")
        assert hi_tr <= lo_te or hi_te <= lo_tr, f"{name}: train/test seeds overlap"


def test_popgym27_matches_the_paper_protocol():
    spec = get_suite("popgym27")
    assert len(spec.tasks) == 27
    assert spec.trial.episodes == 2 and spec.trial.scored_episodes == (1,)
    assert spec.trial.zero_unscored_rewards
    assert spec.observation["shape"] == [30] and spec.action["n"] == 26
    assert all(t.reference.kind == "random-expert" and t.reference.low_measured for t in spec.tasks)
    assert spec.task("MineSweeperEasy").reference.high == pytest.approx(0.70)


def test_scale_probe_spans_six_orders_of_magnitude():
    spec = get_suite("scale-probe")
    scales = sorted(t.reward_scale for t in spec.tasks)
    assert scales[-1] / scales[0] >= 1e6
    for t in spec.tasks:  # normalisation is scale free: both ends scale with the task
        assert t.reference.high / t.reward_scale == pytest.approx(spec.tasks[0].reference.high / spec.tasks[0].reward_scale)


def test_unknown_suite_lists_known_ones():
    with pytest.raises(SuiteError, match=r"unknown suite 'ml46'; known: .*popgym27.*scale-probe"):
        get_suite("ml46")


def test_unknown_task_lists_known_ones():
    with pytest.raises(SuiteError, match=r"unknown task 'bandit-x3'.*known: bandit-x0.01"):
        get_suite("scale-probe").task("bandit-x3")


def test_minimal_file_loads(tmp_path):
    spec = load_suite_file(write(tmp_path, MINIMAL))
    assert spec.task("a").reference.normalise(4.0) == pytest.approx(1.0)
    assert spec.task("a").reference.normalise(1.0) == pytest.approx(0.0)
    assert len(spec.spec_hash) == 16


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: s.replace("episodes = 2", "episodes = 0"), r"\[trial\]: key 'episodes' must be >= 1"),
        (lambda s: s.replace("scored_episodes = [1]", "scored_episodes = [2]"), r"scored_episodes"),
        (lambda s: s.replace("test = [10, 20]", "test = [5, 20]"), r"overlap"),
        (lambda s: s.replace('family = "probe"\n', ""), r"missing key 'family'"),
        (lambda s: s.replace('env_id = "bandit"', 'env_id = "bandit"\ncolour = "red"'), r"task 'a': unknown key\(s\) 'colour'"),
        (lambda s: s.replace('kind = "random-oracle"', 'kind = "magic"'), r"kind 'magic' is not one of"),
        (lambda s: s.replace("max_episode_steps = 8", 'max_episode_steps = "8"'), r"'max_episode_steps' must be int"),
        (lambda s: s + "\n[[tasks]]\nname = \"a\"\nenv_id = \"bandit\"\n", r"duplicate task name"),
        (lambda s: s.replace("[spaces]", "[spaces"), r"not valid TOML"),
    ],
)
def test_malformed_files_name_file_and_key(tmp_path, mutate, message):
    p = write(tmp_path, mutate(MINIMAL))
    with pytest.raises(SuiteError, match=message) as info:
        load_suite_file(p)
    assert str(p) in str(info.value)
