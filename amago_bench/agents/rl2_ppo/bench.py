"""`amago-bench bench agent` for rl2-ppo-gru: env steps per second of on-policy collection and
of a PPO update, in the same run, at the paper-budget model (timestep 128, GRU 256, heads 128).

    collect  ``num_envs`` x ``segment_len`` env steps through the one rollout loop (scale-probe
             suite: its envs cost microseconds, so this is the agent's and the harness's cost),
             GAE included;
    update   the trainer's update on that batch: ``ppo_epochs`` passes, ``minibatches``
             minibatches of whole env-sequences, GRU re-run from each segment's start state;
    epoch    collect + update: the env steps per second of a whole training epoch.

Each figure is the median of ``reps`` timings after one warm-up.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import time
from typing import Any

import numpy as np
import torch

from amago_bench.agents.device import pick_device, set_threads
from amago_bench.agents.rl2_ppo.agent import RL2Agent
from amago_bench.agents.rl2_ppo.collector import SegmentCollector
from amago_bench.agents.rl2_ppo.config import load_config
from amago_bench.agents.rl2_ppo.learner import Learner
from amago_bench.agents.shapes import shapes_from_spaces
from amago_bench.envs.spaces import space_from_spec
from amago_bench.rollout import RandomJobs, Rollout, make_vector_env
from amago_bench.suite import get_suite

SUITE = "scale-probe"


def run(device: str = "cpu", quick: bool = False) -> dict[str, Any]:
    torch.set_flush_denormal(True)
    dev = pick_device(device)
    spec = get_suite(SUITE)
    cfg = load_config("rl2-ppo-gru", spec.name, spec.family, "paper")
    if quick:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, num_envs=8, segment_len=16),
                                  optim=dataclasses.replace(cfg.optim, ppo_epochs=1, minibatches=2))
    tc, oc = cfg.train, cfg.optim
    shapes = shapes_from_spaces(space_from_spec(spec.observation), space_from_spec(spec.action),
                                spec.trial.max_episode_steps, spec.trial.episodes)
    learner = Learner(cfg, shapes, dev, seed=0)
    agent = RL2Agent(learner.model, cfg, suite=spec.name)
    rollout = Rollout(make_vector_env(spec, "train", tc.num_envs), spec, agent, 0, RandomJobs(np.random.default_rng(0)))
    collector = SegmentCollector(agent, learner.reward_scaler, cfg.ppo)
    reps = 1 if quick else 3
    steps = tc.num_envs * tc.segment_len
    collect_s, update_s = [], []
    try:
        for rep in range(reps + 1):  # the first round warms up
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            seg, _ = collector.collect(rollout, tc.segment_len, dev)
            t_collect = time.perf_counter() - t
            t = time.perf_counter()
            learner.update(seg)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t_update = time.perf_counter() - t
            if rep:
                collect_s.append(t_collect)
                update_s.append(t_update)
    finally:
        rollout.close()
    c, u = statistics.median(collect_s), statistics.median(update_s)
    return {
        "agent": "rl2-ppo-gru",
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "suite": spec.name,
        "config": {"tstep_dim": cfg.model.tstep_dim, "d_model": cfg.model.d_model, "layers": cfg.model.layers,
                   "head_hidden": cfg.model.head_hidden, "parameters": sum(p.numel() for p in learner.model.parameters()),
                   "num_envs": tc.num_envs, "segment_len": tc.segment_len, "ppo_epochs": oc.ppo_epochs,
                   "minibatches": oc.minibatches, "quick": quick},
        "env_steps": steps,
        "collect_s": c,
        "update_s": u,
        "collect_steps_per_s": steps / c,
        "update_steps_per_s": steps / u,
        "epoch_steps_per_s": steps / (c + u),
    }


def format_table(r: dict[str, Any]) -> str:
    c = r["config"]
    return "\n".join([
        f"rl2-ppo-gru benchmark on {r['device']} ({r['device_name']}, torch {r['torch']}, {r['threads']} threads), suite {r['suite']}",
        f"model: timestep {c['tstep_dim']}, GRU {c['d_model']} x {c['layers']}, heads {c['head_hidden']}, "
        f"{c['parameters'] / 1e6:.2f}M parameters; batch {c['num_envs']} envs x {c['segment_len']} steps = {r['env_steps']} env steps",
        f"{'':>9} {'seconds':>9} {'env steps/s':>12}",
        f"{'collect':>9} {r['collect_s']:>9.3f} {r['collect_steps_per_s']:>12.0f}",
        f"{'update':>9} {r['update_s']:>9.3f} {r['update_steps_per_s']:>12.0f}   ({c['ppo_epochs']} passes x {c['minibatches']} minibatches)",
        f"{'epoch':>9} {r['collect_s'] + r['update_s']:>9.3f} {r['epoch_steps_per_s']:>12.0f}   (collect + update)",
    ])


def main(args: Any) -> int:
    """Entry of `amago-bench bench agent` for this agent: ``--out X.json`` writes ``X.rl2-ppo-gru.json``."""
    set_threads(getattr(args, "threads", None))
    device = getattr(args, "device", None)
    devices = [device] if device not in (None, "", "auto") else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = []
    for d in devices:
        r = run(d, bool(getattr(args, "quick", False)))
        print(format_table(r))
        print()
        results.append(r)
    out = getattr(args, "out", None)
    if out:
        path = out_path(out)
        with open(path, "w") as f:
            json.dump(results if len(results) > 1 else results[0], f, indent=2)
        print(f"wrote {path}")
    return 0


def out_path(out: str) -> str:
    """Where this agent's JSON goes when `bench agent --out OUT` is given: beside OUT, named after the agent."""
    root, ext = os.path.splitext(out)
    return f"{root}.rl2-ppo-gru{ext or '.json'}"
