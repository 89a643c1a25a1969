"""Agent config files (amago_bench/agents/configfile.py): one builder refuses unknown keys and wrong
types for every kind, and the suite/budget layers apply in the documented order."""

from __future__ import annotations

import pytest

from amago_bench.agents.amago2.config import ConfigError as Amago2ConfigError
from amago_bench.agents.amago2.config import load_config as load_amago2
from amago_bench.agents.configfile import ConfigError, build
from amago_bench.agents.rl2_ppo.config import PPOConfig
from amago_bench.agents.rl2_ppo.config import load_config as load_rl2


def test_one_error_class_and_one_builder():
    assert Amago2ConfigError is ConfigError
    assert build(PPOConfig, {"gamma": 1, "normalize_advantages": False}, "[ppo]").gamma == 1.0  # ints are numbers
    with pytest.raises(ConfigError, match="\\[ppo\\]: unknown key\\(s\\) 'gama'; valid: gamma, "):
        build(PPOConfig, {"gama": 0.9}, "[ppo]")
    with pytest.raises(ConfigError, match="'normalize_advantages' must be true or false"):
        build(PPOConfig, {"normalize_advantages": 1}, "[ppo]")


LAYERS = """
{head}
[train]
epochs = 1
eval_every = 1
[suites.popgym.train]
epochs = 2
eval_every = 2
[suites.popgym27.train]
epochs = 3
[budgets.small.train]
eval_every = 4
[budgets.small.suites.popgym27.train]
eval_envs = 5
"""


@pytest.mark.parametrize("kind", ["amago2", "rl2-ppo"])
def test_layers_apply_family_then_suite_then_budget_then_budget_suite(tmp_path, kind):
    path = tmp_path / "a.toml"
    path.write_text(LAYERS.format(head=f'kind = "{kind}"'))
    load = load_amago2 if kind == "amago2" else load_rl2
    t = load(str(path), "popgym27", "popgym", "small").train
    assert (t.epochs, t.eval_every, t.eval_envs) == (3, 4, 5)
    t = load(str(path), "popgym-other", "popgym", "paper").train
    assert (t.epochs, t.eval_every) == (2, 2)
    assert load(str(path), "scale-probe", "probe", "paper").train.epochs == 1
    with pytest.raises(ConfigError, match="unknown budget 'tiny'"):
        load(str(path), budget="tiny")
    path.write_text(LAYERS.format(head=f'kind = "{kind}"') + "[budgets.huge.train]\nepochs = 9\n")
    with pytest.raises(ConfigError, match="unknown budget\\(s\\) 'huge'"):
        load(str(path))


def test_fidelity_study_agent_files_load_and_reproduce_the_settings_their_rows_name():
    """reports/fidelity/ labels runs of configs/amago2-tau02-eps02.toml and of the plain default made
    before issue 20 as one setting on popgym-cartpole-single; configs/amago2-before-issue20.toml
    reproduces that earlier default, and today's default is the one POPGym setting of issue 20 on
    every POPGym suite (no per-task tau or exploration)."""
    import dataclasses
    from pathlib import Path

    configs = sorted((Path(__file__).resolve().parents[2] / "reports" / "fidelity" / "configs").glob("*.toml"))
    assert len(configs) >= 5
    for path in configs:
        load_amago2(str(path), suite="popgym-repeat-single", family="popgym", budget="small")
    here = configs[0].parent
    suite = dict(suite="popgym-cartpole-single", family="popgym", budget="small")
    before = dataclasses.asdict(load_amago2(str(here / "amago2-before-issue20.toml"), **suite))
    study = dataclasses.asdict(load_amago2(str(here / "amago2-tau02-eps02.toml"), **suite))
    for d in (before, study):
        d.pop("name"), d.pop("description", None)
    assert study == before
    assert before["loss"]["tau"] == 0.02 and before["train"]["explore_start"] == 0.2
    repeat_before = load_amago2(str(here / "amago2-before-issue20.toml"), "popgym-repeat-single", "popgym", "small")
    assert (repeat_before.loss.tau, repeat_before.train.explore_anneal_steps) == (0.003, 1_000_000)
    for s in ("popgym-repeat-single", "popgym-cartpole-single", "popgym-cartpole-smoke", "popgym27"):
        cfg = load_amago2("amago2", s, "popgym", "small")
        t = cfg.train
        assert (cfg.loss.tau, t.explore_start, t.explore_end, t.explore_anneal_steps, t.explore_randomize) == \
            (0.02, 1.0, 0.2, 10_000, True), s
        assert (cfg.model.d_model, cfg.model.context) == (128, 128), s


def test_popgym_agent_files_pin_the_widths_and_learning_rate_their_rows_ran_with():
    """Every POPGym agent file of reports/fidelity/configs/ extends configs/amago2-popgym-narrow.toml,
    which pins the encoder and heads 64 wide and a constant learning rate of 1e-3, so a change of the
    POPGym default does not silently change the settings the study's rows name. Only the files
    whose change is the widths or the learning rate differ there; and today narrow is the default."""
    import dataclasses
    import tomllib
    from pathlib import Path

    from amago_bench.agents.amago2.learner import lr_factor

    here = Path(__file__).resolve().parents[2] / "reports" / "fidelity" / "configs"
    files = [p for p in sorted(here.glob("*.toml")) if "ml1" not in p.stem]
    assert len(files) >= 20
    suite = ("popgym-cartpole-single", "popgym", "small")
    for path in files:
        chain, parent = [], path
        while parent.stem != "amago2-popgym-narrow" and parent.suffix == ".toml":
            chain.append(parent.stem)
            parent = here / tomllib.loads(parent.read_text())["extends"]
        assert parent.stem == "amago2-popgym-narrow", f"{' -> '.join(chain)} -> {parent.name}: extend the narrow file"
        cfg = load_amago2(str(path), *suite)
        m, o = cfg.model, cfg.optim
        if "widths" not in path.stem:
            assert (m.tstep_hidden, m.tstep_dim, m.head_hidden) == (64, 64, 64), path.stem
        if "-lr" not in path.stem:
            assert o.lr == 1e-3, path.stem
            assert {lr_factor(n, o) for n in range(o.warmup, 5000, 125)} == {1.0}, path.stem
    narrow = dataclasses.asdict(load_amago2(str(here / "amago2-popgym-narrow.toml"), *suite))
    default = dataclasses.asdict(load_amago2("amago2", *suite))
    for d in (narrow, default):
        d.pop("name"), d.pop("description", None)
    assert narrow == default  # until the default changes: then say so in amago2-popgym-narrow.toml


def test_a_relative_toml_in_extends_is_read_beside_the_extending_file(tmp_path, monkeypatch):
    """extends = "base.toml" names the file next to the extending one, whatever the working folder."""
    from amago_bench.agents import config_kind

    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "base.toml").write_text('kind = "amago2"\n[train]\nepochs = 7\n')
    (folder / "child.toml").write_text('extends = "base.toml"\nname = "child"\n')
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "base.toml").write_text('kind = "rl2-ppo"\n[train]\nepochs = 1\n')  # a decoy in the cwd
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert load_amago2(str(folder / "child.toml"), budget="small").train.epochs == 7
    assert config_kind(str(folder / "child.toml")) == "amago2"
