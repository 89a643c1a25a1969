"""The training loop of the reference agent: epochs of collect / update / evaluate / checkpoint.

    collect   N parallel actors (a Gymnasium vector env of trial envs, train split) act with the
              current policy plus annealed epsilon exploration; each finished trial (or chunk
              of a long one) goes to the on-disk replay.
    update    M gradient steps on windows sampled from the replay.
    evaluate  every K epochs, the current policy on the test split with the evaluation
              protocol (evaluate.evaluate); episodes go to the results store with env_steps.
    checkpoint model, optimiser, target critics, PopArt, counters, RNG states and the replay
              position, written then renamed: a run killed at any point (even SIGKILL)
              resumes from its last checkpoint when the same command is run again.

Run directory: ``runs/<suite>/<agent>-<budget>-seed<N>/`` with ``checkpoint.pt``, ``replay/``,
``tb/`` (TensorBoard) and ``metrics.csv``. Data collected after the last checkpoint stays
in the replay on resume (it is valid experience); the counters restart from the checkpoint.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from amago_bench.agents.amago2.config import PRECISIONS, AgentConfig, load_config
from amago_bench.envs.spaces import check_actions, space_from_spec, zeros_like_space
from amago_bench.errors import UserError
from amago_bench.evaluate import Job, evaluate, make_vector_env
from amago_bench.policy import EnvSpec, Step
from amago_bench.suite import SuiteSpec, get_suite

CHECKPOINT_NAME = "checkpoint.pt"


def run_dir(root: str | Path, suite: str, agent: str, budget: str, seed: int) -> Path:
    return Path(root) / suite / f"{agent}-{budget}-seed{seed}"


def epsilon_at(cfg: AgentConfig, env_steps: int) -> float:
    """Linear anneal from explore_start to explore_end over explore_anneal_steps env steps."""
    t = cfg.train
    frac = min(1.0, env_steps / max(1, t.explore_anneal_steps))
    return t.explore_start + frac * (t.explore_end - t.explore_start)


# ---------------------------------------------------------------------------------------
# Collection


class _TrajBuilder:
    """Tokens and transitions of one env's current trial (or chunk)."""

    def __init__(self) -> None:
        self.tokens: list[dict[str, Any]] = []
        self.actions: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.dones: list[float] = []

    def add_token(self, obs: Any, prev_action: np.ndarray, prev_reward: float, time: np.ndarray) -> None:
        self.tokens.append({"obs": obs, "prev_action": prev_action, "prev_reward": prev_reward, "time": time})

    def add_transition(self, action: np.ndarray, reward: float, done: bool) -> None:
        self.actions.append(action)
        self.rewards.append(reward)
        self.dones.append(float(done))

    def arrays(self) -> dict[str, np.ndarray]:
        """Stack into replay arrays (T+1 rows; the last row of action/reward/done is padding)."""
        out: dict[str, np.ndarray] = {}
        first = self.tokens[0]["obs"]
        if isinstance(first, dict):
            for k in first:
                out[f"obs.{k}"] = np.stack([t["obs"][k] for t in self.tokens])
        else:
            out["obs"] = np.stack([t["obs"] for t in self.tokens])
        out["prev_action"] = np.stack([t["prev_action"] for t in self.tokens])
        out["prev_reward"] = np.asarray([t["prev_reward"] for t in self.tokens], np.float32)
        out["time"] = np.stack([t["time"] for t in self.tokens]).astype(np.float32)
        pad = np.zeros_like(self.actions[0])
        out["action"] = np.stack([*self.actions, pad])
        out["reward"] = np.asarray([*self.rewards, 0.0], np.float32)
        out["done"] = np.asarray([*self.dones, 0.0], np.float32)
        return out


def _row(obs: Any, i: int) -> Any:
    return {k: np.array(v[i]) for k, v in obs.items()} if isinstance(obs, dict) else np.array(obs[i])


class Collector:
    """Steps ``num_envs`` trial envs (train split, random tasks) with ``agent`` and writes every
    finished trial, or every ``chunk_len`` transitions of a long one, to ``replay``.

    The env state persists across calls, so trials span epochs. Mirrors the step semantics of
    :class:`amago_bench.evaluate.TrialRunner` (masks, previous action/reward) exactly.
    """

    def __init__(self, suite: SuiteSpec, agent: Any, replay: Any, shapes: Any, num_envs: int, seed: int,
                 chunk_len: int, vector: str = "sync", backend: str | None = None) -> None:
        from amago_bench.agents.amago2.agent import time_features

        self._time = lambda s, e, n: time_features(s, e, n, shapes)
        self.suite, self.agent, self.replay, self.n, self.chunk_len = suite, agent, replay, num_envs, chunk_len
        self.envs = make_vector_env(suite, "train", num_envs, vector, backend)
        self.rng = np.random.default_rng(seed)
        self.spec = EnvSpec(suite=suite.name, observation_space=self.envs.single_observation_space,
                            action_space=self.envs.single_action_space, num_envs=num_envs,
                            episodes_per_trial=suite.trial.episodes, max_episode_steps=suite.trial.max_episode_steps)
        agent.start(self.spec, seed)
        obs, _ = self.envs.reset(seed=[int(s) for s in self.rng.integers(0, 2**31 - 1, num_envs)])
        self.obs = {k: np.array(v) for k, v in obs.items()} if isinstance(obs, dict) else np.array(obs)
        self.prev_action = zeros_like_space(self.envs.single_action_space, num_envs)
        self.prev_reward = np.zeros(num_envs, np.float32)
        self.new_trial = np.ones(num_envs, bool)
        self.new_episode = np.ones(num_envs, bool)
        self.ep_index = np.zeros(num_envs, np.int64)
        self.t_in_ep = np.zeros(num_envs, np.int64)
        self.builders = [_TrajBuilder() for _ in range(num_envs)]

    def _reset_env(self, i: int) -> Any:
        mask = np.zeros(self.n, bool)
        mask[i] = True
        seeds: list[int | None] = [None] * self.n
        seeds[i] = int(self.rng.integers(0, 2**31 - 1))
        obs, _ = self.envs.reset(seed=seeds, options={"reset_mask": mask})
        return _row(obs, i)

    def collect(self, steps: int) -> dict[str, Any]:
        """``steps`` vector steps (steps x num_envs env steps); returns counts and train returns per task."""
        n = self.n
        returns: dict[str, list[float]] = {}
        written = 0
        for _ in range(steps):
            time = self._time(self.t_in_ep, self.ep_index, self.new_episode)
            for i in range(n):
                b = self.builders[i]
                b.add_token(_row(self.obs, i), np.array(self.prev_action[i]), float(self.prev_reward[i]), time[i])
                if len(b.actions) >= self.chunk_len:  # long rollout: save a chunk, continue from this token
                    self.replay.add(b.arrays())
                    written += 1
                    nb = _TrajBuilder()
                    nb.tokens.append(b.tokens[-1])
                    self.builders[i] = nb
            step = Step(obs=self.obs, prev_action=self.prev_action, prev_reward=self.prev_reward,
                        new_trial=self.new_trial, new_episode=self.new_episode, episode_index=self.ep_index.copy(),
                        step_in_episode=self.t_in_ep.copy(), active=np.ones(n, bool))
            actions = check_actions(self.agent.act(step), self.envs.single_action_space, n,
                                    f"agent {self.agent.name!r} on suite {self.suite.name!r}")
            obs, reward, terminated, truncated, info = self.envs.step(actions)
            self.obs = {k: np.array(v) for k, v in obs.items()} if isinstance(obs, dict) else np.array(obs)
            reward = np.asarray(reward, np.float32)
            ended = np.asarray(terminated) | np.asarray(truncated)
            for i in range(n):
                self.builders[i].add_transition(np.array(actions[i]), float(reward[i]), bool(ended[i]))
            self.prev_action = actions.copy()
            self.prev_reward = reward.copy()
            self.new_trial = np.zeros(n, bool)
            self.new_episode = np.zeros(n, bool)
            self.t_in_ep += 1
            done_ep = info.get("episode_done", np.zeros(n, bool)) & info.get("_episode_done", np.zeros(n, bool))
            for i in np.flatnonzero(done_ep):
                if bool(info["episode_scored"][i]):
                    returns.setdefault(str(info["task"][i]), []).append(float(info["episode_return"][i]))
                self.new_episode[i] = True
                self.ep_index[i] += 1
                self.t_in_ep[i] = 0
            if ended.any():
                # the final token of each ended trial: the observation after its last action
                time = self._time(self.t_in_ep, np.maximum(self.ep_index - 1, 0), np.zeros(n, bool))
                for i in np.flatnonzero(ended):
                    b = self.builders[i]
                    b.add_token(_row(self.obs, i), np.array(actions[i]), float(reward[i]), time[i])
                    self.replay.add(b.arrays())
                    written += 1
                    self.builders[i] = _TrajBuilder()
                    new = self._reset_env(i)
                    if isinstance(self.obs, dict):
                        for k in self.obs:
                            self.obs[k][i] = new[k]
                    else:
                        self.obs[i] = new
                    self.new_trial[i] = True
                    self.new_episode[i] = True
                    self.ep_index[i] = 0
                    self.t_in_ep[i] = 0
                    self.prev_action[i] = 0
                    self.prev_reward[i] = 0.0
        return {"env_steps": steps * n, "trajectories": written, "returns": returns}

    def close(self) -> None:
        self.envs.close()


# ---------------------------------------------------------------------------------------
# Results


class _Results:
    """Evaluation episodes to the results store (if available) and a CSV in the run dir."""

    def __init__(self, path_csv: Path, db: str | None, manifest_kwargs: dict[str, Any], run_id: str | None) -> None:
        self.csv = path_csv
        self.store = None
        self.run_id = run_id
        try:
            from amago_bench.store import ResultsStore, RunManifest
        except ImportError:
            return
        self.store = ResultsStore(db)
        self.run_id = self.store.open_run(RunManifest(**manifest_kwargs))

    def add(self, eval_no: int, trials_per_task: int, job: Job, episodes: list[dict], env_steps: int) -> None:
        trial = eval_no * trials_per_task + job.trial  # each evaluation round gets its own trial indices
        eps = [{**e, "trial": trial} for e in episodes]
        if self.store is not None:
            self.store.add_trial(self.run_id, job.task, trial, eps, env_steps=env_steps)
        new = not self.csv.exists()
        with open(self.csv, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["env_steps", "eval", "task", "trial", "episode", "return", "length", "success", "scored"])
            for e in eps:
                w.writerow([env_steps, eval_no, e["task"], trial, e["episode"], e["return"], e["length"], e["success"], e["scored"]])

    def finish(self, status: str = "finished") -> None:
        if self.store is not None:
            self.store.finish_run(self.run_id, status)
            self.store.close()


# ---------------------------------------------------------------------------------------
# The loop


@dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path
    epochs: int
    env_steps: int
    updates: int
    seconds: float
    eval_scores: list[dict[str, Any]]
    """One entry per evaluation: env_steps, mean normalised score, per-task normalised scores."""
    run_id: str | None


def train(
    suite: str | SuiteSpec,
    agent: str = "amago2",
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
) -> TrainResult:
    """Train (or resume) ``agent`` on ``suite`` at ``budget``; see the module docstring."""
    import torch

    from amago_bench.agents.amago2.agent import Amago2Agent
    from amago_bench.agents.amago2.learner import (Learner, check_compatible, pick_device, read_checkpoint,
                                                    rng_state, save_checkpoint, set_rng_state, set_threads, to_batch)
    from amago_bench.agents.amago2.model import shapes_from_spaces
    from amago_bench.agents.amago2.replay import Replay
    from amago_bench.scoring import task_summary

    log = log or (lambda s: None)
    spec = suite if isinstance(suite, SuiteSpec) else get_suite(suite)
    cfg = load_config(agent, spec.name, spec.family, budget)
    if epochs is not None:
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=int(epochs)))
    if precision is not None:
        if precision not in PRECISIONS:
            raise UserError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
        cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, precision=precision))
    tc = cfg.train
    out = run_dir(runs_root, spec.name, cfg.name, budget, seed)
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / CHECKPOINT_NAME
    torch.set_flush_denormal(True)  # denormal Adam moments are ~100x slower on CPU
    set_threads(threads)  # given, else OMP_NUM_THREADS, else min(2, cpu count)
    dev = pick_device(device)
    shapes = shapes_from_spaces(space_from_spec(spec.observation), space_from_spec(spec.action),
                                spec.trial.max_episode_steps, spec.trial.episodes)
    learner = Learner(cfg, shapes, dev, seed)
    rng = np.random.default_rng(seed)
    counters = {"epoch": 0, "env_steps": 0, "evals": 0, "run_id": None, "eval_scores": [], "wall_s": 0.0, "eval_s": 0.0}
    if ckpt_path.exists():
        data = read_checkpoint(ckpt_path)
        check_compatible(data, spec.name, spec.spec_hash, shapes, cfg)
        learner.load_state_dict(data["learner"])
        counters.update(data["extra"]["counters"])
        set_rng_state(rng, data["extra"]["rng"])
        log(f"resuming {out} from epoch {counters['epoch']} ({counters['env_steps']} env steps, {learner.updates} updates)")
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    replay = Replay(out / "replay", tc.replay_capacity, tc.replay_unit)
    results = None
    if store:
        results = _Results(out / "metrics.csv", db, dict(
            kind="train", agent=cfg.name, agent_config=cfg.to_dict(), suite=spec.name, suite_hash=spec.spec_hash,
            split="test", seed=seed, trials_per_task=tc.eval_trials_per_task, num_envs=tc.eval_envs,
            backend=spec.default_backend, budget=budget, trial_protocol=_protocol(spec)), counters["run_id"])
        counters["run_id"] = results.run_id
    writer = None
    if tc.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tb"))
        except ImportError:
            log("tensorboard is not installed; metrics go to metrics.csv only (pip install -e '.[agent]')")
    collect_agent = Amago2Agent(learner.model, cfg, suite=spec.name, sample=True)
    collector = Collector(spec, collect_agent, replay, shapes, tc.num_envs, int(rng.integers(2**31)), tc.chunk_len,
                          tc.vector, spec.default_backend) if counters["epoch"] < tc.epochs else None
    t0 = time.perf_counter()
    wall0 = float(counters.get("wall_s", 0.0))  # seconds of this run before the last resume

    def wall() -> float:
        return wall0 + time.perf_counter() - t0

    status = "failed"
    try:
        for epoch in range(counters["epoch"], tc.epochs):
            # -- collect ------------------------------------------------------------------------
            collect_agent.epsilon = epsilon_at(cfg, counters["env_steps"])
            stats = collector.collect(tc.collect_steps)
            counters["env_steps"] += stats["env_steps"]
            # -- update ---------------------------------------------------------------------------
            metrics: dict[str, list[float]] = {}
            if replay.steps >= tc.start_learning and len(replay):
                for _ in range(tc.updates_per_epoch):
                    batch = to_batch(replay.sample(cfg.optim.batch_size, cfg.model.context, rng), shapes, dev)
                    for k, v in learner.update(batch).items():
                        metrics.setdefault(k, []).append(v)
            # -- evaluate --------------------------------------------------------------------------
            summary = ""
            if (epoch + 1) % tc.eval_every == 0 or epoch + 1 == tc.epochs:
                eval_start = time.perf_counter()
                eval_no = counters["evals"]
                eval_agent = Amago2Agent(learner.model, cfg, suite=spec.name, sample=tc.eval_sample)
                steps_now = counters["env_steps"]
                records = evaluate(
                    eval_agent, spec, split="test", trials_per_task=tc.eval_trials_per_task, seed=seed,
                    num_envs=tc.eval_envs, backend=spec.default_backend,
                    on_trial=(lambda job, eps: results.add(eval_no, tc.eval_trials_per_task, job, eps, steps_now))
                    if results else None,
                )
                import pandas as pd

                ts = task_summary(pd.DataFrame(records), spec)
                entry = {"env_steps": steps_now, "epoch": epoch + 1, "normalised": float(ts["normalised"].mean()),
                         "tasks": {t: float(v) for t, v in ts["normalised"].items()},
                         "score": {t: float(v) for t, v in ts["score"].items()}}
                counters["eval_s"] = float(counters.get("eval_s", 0.0)) + time.perf_counter() - eval_start
                entry["wall_s"] = round(wall(), 3)  # since the run started, evaluations included
                entry["eval_s"] = round(counters["eval_s"], 3)  # of which evaluating
                counters["eval_scores"] = [*counters["eval_scores"], entry]
                counters["evals"] = eval_no + 1
                summary = f" | eval normalised {entry['normalised']:.3f}"
                if writer:
                    writer.add_scalar("eval/normalised_mean", entry["normalised"], steps_now)
                    for t, v in entry["tasks"].items():
                        writer.add_scalar(f"eval/normalised/{t}", v, steps_now)
                        writer.add_scalar(f"eval/score/{t}", entry["score"][t], steps_now)
            if writer:
                for k, v in metrics.items():
                    writer.add_scalar(k, float(np.mean(v)), counters["env_steps"])
                for t, v in stats["returns"].items():
                    writer.add_scalar(f"train/return/{t}", float(np.mean(v)), counters["env_steps"])
                writer.add_scalar("train/epsilon", collect_agent.epsilon, counters["env_steps"])
            loss = f" | loss {np.mean(metrics['loss/total']):.3f}" if metrics else ""
            log(f"epoch {epoch + 1}/{tc.epochs} | env steps {counters['env_steps']} | updates {learner.updates} | "
                f"replay {len(replay)} traj | eps {collect_agent.epsilon:.2f}{loss}{summary}")
            # -- checkpoint -----------------------------------------------------------------------
            counters["epoch"] = epoch + 1
            counters["wall_s"] = wall()
            if (epoch + 1) % tc.checkpoint_every == 0 or epoch + 1 == tc.epochs:
                save_checkpoint(ckpt_path, learner, spec.name, spec.spec_hash,
                                {"counters": dict(counters), "rng": rng_state(rng), "replay_next_id": replay.next_id,
                                 "budget": budget, "seed": seed})
        status = "finished"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if collector is not None:
            collector.close()
        if writer:
            writer.close()
        if results is not None:
            results.finish(status)
    if not ckpt_path.exists():  # nothing to train (epochs = 0): still leave a loadable checkpoint
        save_checkpoint(ckpt_path, learner, spec.name, spec.spec_hash,
                        {"counters": dict(counters), "rng": rng_state(rng), "replay_next_id": replay.next_id,
                         "budget": budget, "seed": seed})
    return TrainResult(out, ckpt_path, counters["epoch"], counters["env_steps"], learner.updates,
                       time.perf_counter() - t0, counters["eval_scores"], counters["run_id"])


def _protocol(spec: SuiteSpec) -> str:
    try:
        from amago_bench.cli.core import trial_protocol

        return trial_protocol(spec)
    except ImportError:
        t = spec.trial
        return f"k={t.episodes} scored={list(t.scored_episodes)} score={t.score}"


__all__ = ["train", "run_dir", "Collector", "TrainResult", "epsilon_at", "UserError"]
