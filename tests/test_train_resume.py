"""A training run interrupted anywhere (between epochs, mid-collection, mid-update,
mid-evaluation) and resumed stores the same evaluation values and ends with the same weights as
an uninterrupted run: the collection's state (envs, agent memory, partial trajectories, job
stream, torch's generator) is saved with each checkpoint and the replay keeps exactly the
trajectories it held then. Trials here span epochs (popgym: ~100-step trials, 16-step epochs)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from amago_bench.agents.amago2 import trainer as amago2_trainer  # noqa: E402
from amago_bench.rollout import Rollout  # noqa: E402
from amago_bench.train import train  # noqa: E402

EPOCHS = 6


class Stop(KeyboardInterrupt):
    """What a kill does to the process: it stops wherever it is (Ctrl-C takes the same path)."""


def _run(root: Path, agent: str, suite: str) -> Path:
    train(suite, agent=agent, budget="smoke", seed=3, runs_root=str(root), epochs=EPOCHS, log=None, threads=1,
          store=False)
    return next(root.glob(f"{suite}/*-smoke-seed3"))


def _metrics(folder: Path) -> list[list[str]]:
    with open(folder / "metrics.csv", newline="") as f:
        return list(csv.reader(f))


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    data = torch.load(folder / "checkpoint.pt", map_location="cpu", weights_only=True)
    return {k: v for k, v in data["learner"]["model"].items()}


def _interrupt(monkeypatch, where: str, after: int) -> None:
    """Make the ``after``-th call at ``where`` stop the process (0-based)."""
    calls = {"n": 0}

    def hit() -> None:
        calls["n"] += 1
        if calls["n"] == after + 1:
            raise Stop()

    if where == "between-epochs":
        orig = Rollout.run

        def run(self, consumer, max_steps=None):  # noqa: ANN001
            hit()
            return orig(self, consumer, max_steps)
        monkeypatch.setattr(Rollout, "run", run)
    elif where == "mid-collection":
        orig = Rollout.run

        def run(self, consumer, max_steps=None):  # noqa: ANN001
            if max_steps is not None and max_steps > 2 and calls["n"] == after:
                orig(self, consumer, max_steps // 2)  # half the epoch's steps, then the kill
            hit()
            return orig(self, consumer, max_steps)
        monkeypatch.setattr(Rollout, "run", run)
    elif where == "mid-update":
        from amago_bench.agents.amago2.learner import Learner as L2
        from amago_bench.agents.rl2_ppo.learner import Learner as LP

        for cls in (L2, LP):
            orig_update = cls.update

            def update(self, batch, _orig=orig_update):  # noqa: ANN001
                out = _orig(self, batch)  # the weights have moved: the kill comes after the step
                hit()
                return out
            monkeypatch.setattr(cls, "update", update)
    elif where == "mid-evaluation":
        from amago_bench import train as train_mod

        orig_add = train_mod.RunRecorder.add

        def add(self, *a, **k):  # noqa: ANN001
            orig_add(self, *a, **k)  # one trial recorded, then the kill
            hit()
        monkeypatch.setattr(train_mod.RunRecorder, "add", add)
    else:
        raise ValueError(where)


@pytest.mark.parametrize("agent,suite", [("amago2", "popgym-repeat-smoke"), ("rl2-ppo-gru", "popgym-repeat-smoke"),
                                         ("amago2", "point-nav")])
@pytest.mark.parametrize("where,after", [("between-epochs", 3), ("mid-collection", 2), ("mid-update", 2),
                                         ("mid-evaluation", 1)])
def test_an_interrupted_run_resumes_to_the_same_numbers(tmp_path, monkeypatch, agent, suite, where, after):
    whole = _run(tmp_path / "whole", agent, suite)
    with monkeypatch.context() as m:
        _interrupt(m, where, after)
        with pytest.raises(Stop):
            _run(tmp_path / "cut", agent, suite)
    cut = next((tmp_path / "cut").glob(f"{suite}/*-smoke-seed3"))
    assert (cut / "checkpoint.pt").exists()  # it was stopped after its first checkpoint
    resumed = _run(tmp_path / "cut", agent, suite)
    assert _metrics(resumed) == _metrics(whole)
    a, b = _weights(whole), _weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    if agent == "amago2":  # the replay holds the same trajectories, byte for byte
        ra, rb = sorted((whole / "replay").glob("*.npz")), sorted((resumed / "replay").glob("*.npz"))
        assert [p.name for p in ra] == [p.name for p in rb]
        for pa, pb in zip(ra, rb):
            with np.load(pa) as fa, np.load(pb) as fb:
                assert all(np.array_equal(fa[k], fb[k]) for k in fa.files)
    assert len(list(resumed.glob("collection-*.npz"))) == 1  # only the last checkpoint's state is kept


def test_a_checkpoint_without_a_collection_state_still_resumes_and_says_so(tmp_path):
    root = tmp_path / "r"
    train("popgym-repeat-smoke", agent="amago2", budget="smoke", seed=0, runs_root=str(root), epochs=2, log=None,
          threads=1, store=False)
    folder = next(root.glob("popgym-repeat-smoke/*"))
    for p in folder.glob("collection-*.npz"):
        p.unlink()  # as a checkpoint of an older version
    lines: list[str] = []
    train("popgym-repeat-smoke", agent="amago2", budget="smoke", seed=0, runs_root=str(root), epochs=3, log=lines.append,
          threads=1, store=False)
    assert any("fresh trials" in line for line in lines)


def test_collector_state_round_trips_through_a_file(tmp_path):
    """The saved tree loads back equal (arrays, tensors, generator states, nested records)."""
    from amago_bench.snapshot import load_tree, save_tree

    tree = {"a": np.arange(5, dtype=np.int64), "t": torch.randn(2, 3).to(torch.bfloat16), "none": None,
            "rec": [{"task": "x", "ret": float("nan"), "v": None}], "rng": np.random.default_rng(7).bit_generator.state,
            "nested": {"obs": {"image": np.ones((2, 4, 4), np.uint8)}}}
    save_tree(tmp_path / "s.npz", tree)
    back = load_tree(tmp_path / "s.npz")
    assert np.array_equal(back["a"], tree["a"]) and back["t"].dtype == torch.bfloat16 and torch.equal(back["t"], tree["t"])
    assert back["none"] is None and back["rec"][0]["task"] == "x" and np.isnan(back["rec"][0]["ret"])
    assert back["rng"] == tree["rng"] and np.array_equal(back["nested"]["obs"]["image"], tree["nested"]["obs"]["image"])
    assert amago2_trainer  # the module under test imports
