"""The RL^2-PPO trainer: epochs of collect / update / evaluate / checkpoint.

    collect    N parallel actors (a Gymnasium vector env of trial envs, train split, tasks drawn
               at random: multi-task batches, no task id) act with the current policy for L steps
               each; :class:`~amago_bench.agents.rl2_ppo.collector.SegmentCollector` is the
               :class:`amago_bench.rollout.Rollout` consumer that turns them into N segments
               with GAE advantages. Trials span segments; the GRU state at each segment's start
               is kept for truncated BPTT.
    update     ``ppo_epochs`` passes over the N segments in ``minibatches`` minibatches of whole
               env-sequences (clipped surrogate, clipped value loss, entropy bonus).
    evaluate   every K epochs, the current policy on the test split with the evaluation protocol;
               episodes go to the results store and ``metrics.csv`` with env_steps.
    checkpoint model, optimiser, reward-scaler statistics, counters and RNG states, written then
               renamed: a run killed at any point resumes from its last checkpoint when the same
               command is run again (collection restarts with fresh trials, as amago2's).

Run directory: ``runs/<suite>/<agent>-<budget>-seed<N>/`` with ``checkpoint.pt``, ``config.json``,
``tb/`` (TensorBoard) and ``metrics.csv`` (the layout of amago2's, without a replay).

Data-parallel (:mod:`amago_bench.agents.distributed`): rank r steps ``num_envs / N`` actors with
its own env seeds, collects their segments and updates on them (``minibatches`` minibatches of its
own env-sequences per PPO epoch); DDP averages the gradients. Each rank scales rewards by its own
statistics; rank 0's are checkpointed, and every rank starts from them on resume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from amago_bench.agents.distributed import SINGLE, Ranks
from amago_bench.agents.rl2_ppo.config import load_config
from amago_bench.errors import UserError
from amago_bench.rollout import RandomJobs, Rollout, make_vector_env
from amago_bench.suite import SuiteSpec
from amago_bench.train import TrainingRun, TrainResult, format_clock, with_epochs


def train(
    spec: SuiteSpec,
    agent: str = "rl2-ppo-gru",
    budget: str = "small",
    seed: int = 0,
    runs_root: str | Path = "runs",
    device: str | None = None,
    fresh: bool = False,
    db: str | None = None,
    epochs: int | None = None,
    log: Callable[[str], None] | None = print,
    store: bool = True,
    threads: int | None = None,
    precision: str | None = None,
    keep_at: tuple[int, ...] = (),
    ranks: Ranks = SINGLE,
) -> TrainResult:
    """Train (or resume) the RL^2-PPO config ``agent`` on ``spec`` at ``budget``; see the module
    docstring. The signature is amago2's trainer's; ``precision`` must be fp32 (or auto/None)."""
    from amago_bench.agents.checkpoint import rng_state
    from amago_bench.agents.rl2_ppo.agent import RL2Agent
    from amago_bench.agents.rl2_ppo.collector import SegmentCollector
    from amago_bench.agents.rl2_ppo.learner import Learner, check_compatible, read_checkpoint, save_checkpoint

    cfg = with_epochs(load_config(agent, spec.name, spec.family, budget), epochs)
    if precision not in (None, "auto", "fp32"):
        raise UserError(f"{cfg.name} trains in fp32 only; leave out --precision (got {precision!r})")
    tc = cfg.train
    num_envs = ranks.share(tc.num_envs, "train.num_envs")
    def steps_per_pass(n: int) -> int:  # the minibatches torch.chunk makes of n env-sequences (Learner.update)
        m = cfg.optim.minibatches
        return -(-n // -(-n // m))

    if ranks.distributed and steps_per_pass(num_envs) != steps_per_pass(tc.num_envs):
        raise UserError(f"{ranks.world} ranks leave each {num_envs} of train.num_envs = {tc.num_envs} actors, which it splits "
                        f"into {steps_per_pass(num_envs)} minibatches where one process makes optim.minibatches = "
                        f"{cfg.optim.minibatches}; run on a number of ranks N with train.num_envs / N a multiple of "
                        f"optim.minibatches, or change optim.minibatches")
    run = TrainingRun(spec, cfg, budget, seed, runs_root, fresh, log, keep_at, ranks)
    dev, shapes = run.setup(threads, device)
    learner = Learner(cfg, shapes, dev, seed)
    counters = run.counters
    run.resume(learner, read_checkpoint, lambda data: check_compatible(data, spec.name, shapes, cfg))
    learner.distribute(ranks)
    rng = run.rng
    run.open_records(db, store)
    collect_agent = RL2Agent(learner.model, cfg, suite=spec.name, sample=True)
    collector = SegmentCollector(collect_agent, learner.reward_scaler, cfg.ppo)
    rollout = None
    # Exact resume (one process, sync envs): the collection's state is saved with every checkpoint.
    exact = not ranks.distributed and tc.vector == "sync"
    snap = run.collection_state() if exact and run.to_train else None
    if run.to_train:  # the collection seed is drawn once, at the run's start; a saved state carries it on
        collect_seed = 0 if snap else int(rng.integers(2**31))
        rollout = Rollout(make_vector_env(spec, "train", num_envs, tc.vector, spec.default_backend), spec,
                          collect_agent, collect_seed, RandomJobs(np.random.default_rng(collect_seed)), resumable=exact)
        if snap is not None:
            def restore(state: dict) -> list[int]:
                mismatched = rollout.restore(state["rollout"])
                collect_agent.restore_memory(state["agent"])
                learner.reward_scaler.ret = None if state["scaler_ret"] is None else np.array(state["scaler_ret"])
                return mismatched

            run.restore_collection(snap, restore)

    def save() -> None:
        if exact and rollout is not None:
            state = rollout.snapshot()
            run.save_collection_state(None if state is None else {
                "rollout": state, "agent": collect_agent.memory(), "scaler_ret": learner.reward_scaler.ret})
        save_checkpoint(run.checkpoint, learner, spec.name, spec.spec_hash,
                        {"counters": dict(counters), "rng": rng_state(rng), "budget": budget, "seed": seed,
                         "ranks": ranks.world})
        run.prune_collection_states()

    with run.recording(*([rollout.close] if rollout is not None else [])):
        for epoch in run.epochs():
            # -- collect ------------------------------------------------------------------------
            learner.set_progress(epoch / max(1, tc.epochs))
            segments, stats = collector.collect(rollout, tc.segment_len, dev)
            counters["env_steps"] += stats["env_steps"] * ranks.world  # every rank collects as many
            # -- update ---------------------------------------------------------------------------
            metrics = learner.update(segments)
            # -- evaluate --------------------------------------------------------------------------
            summary = run.evaluate(epoch, lambda: RL2Agent(learner.model, cfg, suite=spec.name, sample=tc.eval_sample))
            run.add_scalars(metrics, stats["returns"])
            run.log(f"epoch {epoch + 1}/{tc.epochs} | ETA {format_clock(run.eta(epoch))} | env steps {counters['env_steps']} | "
                    f"updates {learner.updates} | "
                    f"loss {np.mean(metrics['loss/total']):.3f} | entropy {np.mean(metrics['loss/entropy']):.3f} | "
                    f"kl {np.mean(metrics['ppo/approx_kl']):.4f}{summary}")
            # -- checkpoint -----------------------------------------------------------------------
            run.end_epoch(epoch, save)
    return run.result(learner.updates, save)


def steps_per_epoch(spec: SuiteSpec, agent: str, budget: str) -> int:
    """Env steps of collection in one epoch of ``agent`` on ``spec`` at ``budget``."""
    t = load_config(agent, spec.name, spec.family, budget).train
    return t.segment_len * t.num_envs


def planned_env_steps(spec: SuiteSpec, agent: str, budget: str) -> int:
    """Env steps of collection a training run of ``agent`` on ``spec`` at ``budget`` takes."""
    return load_config(agent, spec.name, spec.family, budget).train.epochs * steps_per_epoch(spec, agent, budget)


def calibrate(spec: SuiteSpec, agent: str, budget: str, device: str | None = None, threads: int | None = None,
              steps: int = 16, updates: int = 1) -> dict[str, float]:
    """Time a short piece of a training run (see amago2's ``calibrate``): one segment of ``steps``
    vector steps after a warm-up segment, then one PPO update of a full-length segment's worth of
    data (``updates`` times). Returns seconds per env step of collection, seconds per update and
    updates per env step (one update per epoch)."""
    import time

    from amago_bench.agents.device import pick_device, set_threads
    from amago_bench.agents.rl2_ppo.agent import RL2Agent
    from amago_bench.agents.rl2_ppo.collector import SegmentCollector
    from amago_bench.agents.rl2_ppo.learner import Learner
    from amago_bench.agents.shapes import shapes_from_spaces
    from amago_bench.envs.spaces import space_from_spec

    cfg = load_config(agent, spec.name, spec.family, budget)
    tc = cfg.train
    set_threads(threads)
    dev = pick_device(device)
    shapes = shapes_from_spaces(space_from_spec(spec.observation), space_from_spec(spec.action),
                                spec.trial.max_episode_steps, spec.trial.episodes)
    learner = Learner(cfg, shapes, dev, seed=0)
    act = RL2Agent(learner.model, cfg, suite=spec.name, sample=True)
    collector = SegmentCollector(act, learner.reward_scaler, cfg.ppo)
    rollout = Rollout(make_vector_env(spec, "train", tc.num_envs, tc.vector, spec.default_backend), spec, act, 0,
                      RandomJobs(np.random.default_rng(0)))
    try:
        collector.collect(rollout, 2, dev)
        t = time.perf_counter()
        collector.collect(rollout, steps, dev)
        collect_s = (time.perf_counter() - t) / (steps * tc.num_envs)
        seg, _ = collector.collect(rollout, tc.segment_len, dev)  # a full segment: the update's real size
    finally:
        rollout.close()
    t = time.perf_counter()
    for _ in range(updates):
        learner.update(seg)
    update_s = (time.perf_counter() - t) / updates
    return {"collect_s_per_env_step": collect_s, "update_s": update_s,
            "updates_per_env_step": 1.0 / (tc.segment_len * tc.num_envs), "env_steps": (steps + 2) * tc.num_envs,
            "updates": updates}
