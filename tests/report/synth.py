"""A small synthetic results database, written through the real ResultsStore API."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from amago_bench.store import ResultsStore, RunManifest
from amago_bench.suite import get_suite

#: agent -> per-episode success probability (ml10) / mean return per attempt (procgen-smoke)
QUALITY = {"amago2": 0.8, "dep-dep": 0.45, "random": 0.05}


def _manifest(kind, agent, suite, split, seed, trials, cfg, budget=None):
    spec = get_suite(suite)
    return RunManifest(kind=kind, agent=agent, agent_config=cfg, suite=suite, suite_hash=spec.spec_hash, split=split,
                       seed=seed, trials_per_task=trials, num_envs=1, backend="official", budget=budget,
                       trial_protocol=f"k={spec.trial.episodes}")


def _episodes(spec, task, trial, rng, q):
    eps = []
    for ep in range(spec.trial.episodes):
        if spec.family == "metaworld":
            s = float(rng.random() < q)
            ret = 500 * s + 50 * rng.random()
        else:  # procgen: attempt 2 better than attempt 1
            s = float("nan")
            ret = float(np.clip(rng.normal(10 * q * (1 + ep), 1.0), 0, 10))
        eps.append({"task": task, "trial": trial, "episode": ep, "return": ret, "length": 10, "success": s,
                    "scored": ep in spec.trial.scored_episodes, "truncated": False, "variant": trial})
    return eps


def build_db(path: Path, suites=("ml10", "procgen-smoke"), agents=tuple(QUALITY), seeds=(0, 1, 2), trials=2,
             train_points=(1000, 2000, 4000)) -> Path:
    """Evaluations of ``agents`` on each suite's train and test split, and for amago2/dep-dep
    a training run per seed on ml10 with evaluations at ``train_points`` env steps."""
    with ResultsStore(path) as store:
        for suite in suites:
            spec = get_suite(suite)
            for agent in agents:
                q = QUALITY[agent]
                trained = agent != "random"
                for seed in seeds:
                    if trained and suite == "ml10":
                        cfg = {"name": agent}
                        rid = store.open_run(_manifest("train", agent, suite, "test", seed, trials, cfg, "small"))
                        rng = np.random.default_rng([seed, len(agent), 7])
                        for k, steps in enumerate(train_points):
                            for task in spec.task_names("test"):
                                # trial indices unique per evaluation point, as the trainer stores them
                                store.add_trial(rid, task, k * 100,
                                                _episodes(spec, task, k * 100, rng, q * (k + 1) / len(train_points)),
                                                env_steps=steps)
                        store.finish_run(rid)
                    cfg = ({"ref": agent, "checkpoint": f"runs/{suite}/{agent}-small-seed{seed}/checkpoint.pt"}
                           if trained else {"ref": agent})
                    for split in ("train", "test"):
                        rid = store.open_run(_manifest("evaluate", agent, suite, split, seed, trials, cfg))
                        rng = np.random.default_rng([seed, len(agent), len(split), len(suite)])
                        for task in spec.task_names(split):
                            for j in range(trials):
                                store.add_trial(rid, task, j, _episodes(spec, task, j, rng, q))
                        store.finish_run(rid)
    return path
