"""The AMAGO-2 trainer: epochs of collect / update / evaluate / checkpoint.

    collect   N parallel actors (a Gymnasium vector env of trial envs, train split) act with the
              current policy plus annealed epsilon exploration; each finished trial (or chunk
              of a long one) goes to the on-disk replay. The stepping is
              :class:`amago_bench.rollout.Rollout`; :class:`ReplayWriter` is its consumer.
    update    M gradient steps on windows sampled from the replay.
    evaluate  every K epochs, the current policy on the test split with the evaluation
              protocol (evaluate.evaluate); episodes go to the results store with env_steps.
    checkpoint model, optimiser, target critics, PopArt, counters, RNG states and the replay
              position, written then renamed: a run killed at any point (even SIGKILL)
              resumes from its last checkpoint when the same command is run again.

Run directory: ``runs/<suite>/<agent>-<budget>-seed<N>/`` with ``checkpoint.pt``, ``replay/``,
``tb/`` (TensorBoard) and ``metrics.csv``. Data collected after the last checkpoint stays
in the replay on resume (it is valid experience); the counters restart from the checkpoint.

Data-parallel (:mod:`amago_bench.agents.distributed`): rank r steps ``num_envs / N`` actors into
its own replay (``replay/`` for rank 0, ``replay-rank<r>/`` for the others; each holds
``replay_capacity / N``) and samples ``batch_size / N`` windows per update from it; updates start
once the ranks' replays together hold ``start_learning`` steps and none is empty. On resume with
another number of ranks, a rank reuses the replay folder of its rank number if there is one
(a new rank starts empty; folders of ranks no longer running are left alone, unused).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import numpy as np

from amago_bench.agents.amago2.config import PRECISIONS, AgentConfig, load_config
from amago_bench.agents.amago2.inputs import time_features
from amago_bench.agents.amago2.model import Shapes
from amago_bench.agents.distributed import SINGLE, Ranks
from amago_bench.errors import UserError
from amago_bench.policy import Step
from amago_bench.rollout import Job, RandomJobs, Rollout, make_vector_env, row
from amago_bench.suite import SuiteSpec
from amago_bench.train import TrainingRun, TrainResult, format_clock, with_epochs


def epsilon_at(cfg: AgentConfig, env_steps: int) -> float:
    """Linear anneal from explore_start to explore_end over explore_anneal_steps env steps."""
    t = cfg.train
    frac = min(1.0, env_steps / max(1, t.explore_anneal_steps))
    return t.explore_start + frac * (t.explore_end - t.explore_start)


# ---------------------------------------------------------------------------------------
# Collection: a rollout consumer that writes trajectories into the replay


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

    def tree(self) -> dict[str, Any]:
        """The builder's content as a few stacked arrays (for the collection state saved with a checkpoint)."""
        def stack(xs: list[Any]) -> Any:
            if not xs:
                return None
            if isinstance(xs[0], dict):
                return {k: np.stack([x[k] for x in xs]) for k in xs[0]}
            return np.stack([np.asarray(x) for x in xs])

        return {"obs": stack([t["obs"] for t in self.tokens]), "prev_action": stack([t["prev_action"] for t in self.tokens]),
                "prev_reward": [t["prev_reward"] for t in self.tokens], "time": stack([t["time"] for t in self.tokens]),
                "actions": stack(self.actions), "rewards": list(self.rewards), "dones": list(self.dones)}

    @classmethod
    def from_tree(cls, tree: dict[str, Any]) -> "_TrajBuilder":
        def rows(x: Any, n: int) -> list[Any]:
            if x is None:
                return []
            if isinstance(x, dict):
                return [{k: np.array(v[i]) for k, v in x.items()} for i in range(n)]
            return [np.array(x[i]) for i in range(n)]

        b = cls()
        n = len(tree["prev_reward"])
        b.tokens = [{"obs": o, "prev_action": a, "prev_reward": float(r), "time": t} for o, a, r, t in
                    zip(rows(tree["obs"], n), rows(tree["prev_action"], n), tree["prev_reward"], rows(tree["time"], n))]
        b.actions = rows(tree["actions"], len(tree["rewards"]))
        b.rewards = [float(r) for r in tree["rewards"]]
        b.dones = [float(d) for d in tree["dones"]]
        return b

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


class ReplayWriter:
    """Rollout consumer: every finished trial, or every ``chunk_len`` transitions of a long one,
    becomes one trajectory in ``replay``; scored training returns are tallied per task."""

    def __init__(self, replay: Any, shapes: Shapes, num_envs: int, chunk_len: int) -> None:
        self.replay, self.shapes, self.chunk_len = replay, shapes, chunk_len
        self.builders = [_TrajBuilder() for _ in range(num_envs)]
        self.written = 0
        self.returns: dict[str, list[float]] = {}

    def on_step(self, step: Step, actions: np.ndarray, reward: np.ndarray, ended: np.ndarray, jobs: list) -> None:
        time = time_features(step.step_in_episode, step.episode_index, step.new_episode, self.shapes)
        for i in range(len(self.builders)):
            b = self.builders[i]
            b.add_token(row(step.obs, i), np.array(step.prev_action[i]), float(step.prev_reward[i]), time[i])
            if len(b.actions) >= self.chunk_len:  # long rollout: save a chunk, continue from this token
                self.replay.add(b.arrays())
                self.written += 1
                nb = _TrajBuilder()
                nb.tokens.append(b.tokens[-1])
                self.builders[i] = b = nb
            b.add_transition(np.array(actions[i]), float(reward[i]), bool(ended[i]))

    def on_episode(self, slot: int, job: Job, record: dict[str, Any]) -> None:
        if record["scored"]:
            self.returns.setdefault(record["task"], []).append(record["return"])

    def on_trial(self, slot: int, job: Job, episodes: list[dict[str, Any]], last: Step) -> None:
        # the final token of the trial: the observation after its last action
        n = len(self.builders)
        time = time_features(last.step_in_episode, np.maximum(last.episode_index - 1, 0), np.zeros(n, bool), self.shapes)
        b = self.builders[slot]
        b.add_token(row(last.obs, slot), np.array(last.prev_action[slot]), float(last.prev_reward[slot]), time[slot])
        self.replay.add(b.arrays())
        self.written += 1
        self.builders[slot] = _TrajBuilder()


class Collector:
    """Steps ``num_envs`` trial envs (train split, random tasks) with ``agent`` into ``replay``.
    The env state persists across :meth:`collect` calls, so trials span epochs."""

    def __init__(self, suite: SuiteSpec, agent: Any, replay: Any, shapes: Shapes, num_envs: int, seed: int,
                 chunk_len: int, vector: str = "sync", backend: str | None = None, resumable: bool = False) -> None:
        self.n = num_envs
        self.agent = agent
        self.writer = ReplayWriter(replay, shapes, num_envs, chunk_len)
        self.rollout = Rollout(make_vector_env(suite, "train", num_envs, vector, backend), suite, agent, seed,
                               RandomJobs(np.random.default_rng(seed)), resumable=resumable)

    def snapshot(self) -> dict[str, Any] | None:
        """The collection's state between two epochs (rollout, the agent's memory, each env's
        partial trajectory), or None when it cannot be saved (see :meth:`Rollout.snapshot`)."""
        rollout = self.rollout.snapshot()
        if rollout is None:
            return None
        return {"rollout": rollout, "agent": self.agent.memory(), "builders": [b.tree() for b in self.writer.builders]}

    def restore(self, snap: dict[str, Any]) -> list[int]:
        """Continue from :meth:`snapshot`; returns the env slots whose state could not be rebuilt exactly."""
        mismatched = self.rollout.restore(snap["rollout"])
        self.agent.restore_memory(snap["agent"])
        self.writer.builders = [_TrajBuilder.from_tree(t) for t in snap["builders"]]
        return mismatched

    def collect(self, steps: int) -> dict[str, Any]:
        """``steps`` vector steps (steps x num_envs env steps); returns counts and train returns per task."""
        w = self.writer
        w.written, w.returns = 0, {}
        self.rollout.run(w, max_steps=steps)
        return {"env_steps": steps * self.n, "trajectories": w.written, "returns": w.returns}

    def close(self) -> None:
        self.rollout.close()


# ---------------------------------------------------------------------------------------
# The loop


def train(
    spec: SuiteSpec,
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
    keep_at: tuple[int, ...] = (),
    ranks: Ranks = SINGLE,
) -> TrainResult:
    """Train (or resume) the config ``agent`` on ``spec`` at ``budget``; see the module docstring.
    Everything that can be refused is checked before the first env step; the results-store run
    is opened at the first evaluated trial. ``ranks``: this process's place in a data-parallel run."""
    from amago_bench.agents.amago2.agent import Amago2Agent
    from amago_bench.agents.amago2.inputs import to_batch
    from amago_bench.agents.amago2.learner import Learner, check_compatible, read_checkpoint, rng_state, save_checkpoint
    from amago_bench.agents.amago2.replay import Replay
    cfg = with_epochs(load_config(agent, spec.name, spec.family, budget), epochs)
    if precision is not None:
        if precision not in PRECISIONS:
            raise UserError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
        cfg = dataclasses.replace(cfg, optim=dataclasses.replace(cfg.optim, precision=precision))
    tc = cfg.train
    num_envs, batch_size = ranks.share(tc.num_envs, "train.num_envs"), ranks.share(cfg.optim.batch_size, "optim.batch_size")
    run = TrainingRun(spec, cfg, budget, seed, runs_root, fresh, log, keep_at, ranks)
    dev, shapes = run.setup(threads, device)
    learner = Learner(cfg, shapes, dev, seed)
    counters = run.counters
    run.resume(learner, read_checkpoint, lambda data: check_compatible(data, spec.name, spec.spec_hash, shapes, cfg))
    learner.distribute(ranks)
    rng = run.rng
    run.open_records(db, store)
    # Exact resume (one process, sync envs): the collection's state is saved with every checkpoint
    # and the replay keeps exactly the trajectories it held then.
    exact = not ranks.distributed and tc.vector == "sync"
    span = counters.get("replay_span") if exact else None
    replay = Replay(run.out / ("replay" if ranks.main else f"replay-rank{ranks.rank}"),
                    -(-tc.replay_capacity // ranks.world), tc.replay_unit, span=None if span is None else tuple(span),
                    deferred=exact)
    collect_agent = Amago2Agent(learner.model, cfg, suite=spec.name, sample=True)
    snap = run.collection_state() if exact and run.to_train else None
    collector = None
    if run.to_train:  # the collection seed is drawn once, at the run's start; a saved state carries it on
        collector = Collector(spec, collect_agent, replay, shapes, num_envs, 0 if snap else int(rng.integers(2**31)),
                              tc.chunk_len, tc.vector, spec.default_backend, resumable=exact)
        if snap is not None:
            run.restore_collection(snap, collector.restore)

    def save() -> None:
        if exact:
            counters["replay_span"] = list(replay.span())
            if collector is not None:
                run.save_collection_state(collector.snapshot())
        save_checkpoint(run.checkpoint, learner, spec.name, spec.spec_hash,
                        {"counters": dict(counters), "rng": rng_state(rng), "replay_next_id": replay.next_id,
                         "budget": budget, "seed": seed, "ranks": ranks.world})
        replay.commit()
        run.prune_collection_states()

    def can_update() -> bool:
        """Whether the replay (all ranks' together) holds start_learning steps and can be sampled."""
        if not ranks.distributed:
            return replay.steps >= tc.start_learning and len(replay) > 0
        import torch

        steps, empty = ranks.all_sum(torch.tensor([float(replay.steps), float(len(replay) == 0)])).tolist()
        return steps >= tc.start_learning and empty == 0

    with run.recording(*([collector.close] if collector is not None else [])):
        for epoch in run.epochs():
            # -- collect ------------------------------------------------------------------------
            collect_agent.epsilon = epsilon_at(cfg, counters["env_steps"])
            stats = collector.collect(tc.collect_steps)
            counters["env_steps"] += stats["env_steps"] * ranks.world  # every rank collects as many
            # -- update ---------------------------------------------------------------------------
            metrics: dict[str, list[float]] = {}
            if can_update():
                for _ in range(tc.updates_per_epoch):
                    batch = to_batch(replay.sample(batch_size, cfg.model.context, rng), shapes, dev)
                    for k, v in learner.update(batch).items():
                        metrics.setdefault(k, []).append(v)
            # -- evaluate --------------------------------------------------------------------------
            summary = run.evaluate(epoch, lambda: Amago2Agent(learner.model, cfg, suite=spec.name, sample=tc.eval_sample))
            run.add_scalars(metrics, stats["returns"])
            if run.writer:
                run.writer.add_scalar("train/epsilon", collect_agent.epsilon, counters["env_steps"])
            loss = f" | loss {np.mean(metrics['loss/total']):.3f}" if metrics else ""
            run.log(f"epoch {epoch + 1}/{tc.epochs} | ETA {format_clock(run.eta(epoch, learning=bool(metrics)))} | env steps {counters['env_steps']} | "
                    f"updates {learner.updates} | replay {len(replay)} traj | eps {collect_agent.epsilon:.2f}{loss}{summary}")
            # -- checkpoint -----------------------------------------------------------------------
            run.end_epoch(epoch, save)
    return run.result(learner.updates, save)


def steps_per_epoch(spec: SuiteSpec, agent: str, budget: str) -> int:
    """Env steps of collection in one epoch of ``agent`` on ``spec`` at ``budget``."""
    t = load_config(agent, spec.name, spec.family, budget).train
    return t.collect_steps * t.num_envs


def planned_env_steps(spec: SuiteSpec, agent: str, budget: str) -> int:
    """Env steps of collection a training run of ``agent`` on ``spec`` at ``budget`` takes."""
    return load_config(agent, spec.name, spec.family, budget).train.epochs * steps_per_epoch(spec, agent, budget)


def calibrate(spec: SuiteSpec, agent: str, budget: str, device: str | None = None, threads: int | None = None,
              steps: int = 16, updates: int = 3) -> dict[str, float]:
    """Time a short piece of a training run of ``agent`` on ``spec`` at ``budget`` on this device:
    ``steps`` vector steps of collection (the job's actors and model) and ``updates`` gradient
    updates (the job's batch and context), each after a warm-up. Returns seconds per env step of
    collection, the median seconds of an update (sampling excluded), and the config's updates per
    env step."""
    import tempfile
    import time

    from amago_bench.agents.amago2.agent import Amago2Agent
    from amago_bench.agents.amago2.inputs import to_batch
    from amago_bench.agents.amago2.learner import Learner
    from amago_bench.agents.amago2.replay import Replay
    from amago_bench.agents.device import pick_device, set_threads
    from amago_bench.agents.shapes import shapes_from_spaces
    from amago_bench.envs.spaces import space_from_spec

    cfg = load_config(agent, spec.name, spec.family, budget)
    tc = cfg.train
    set_threads(threads)
    dev = pick_device(device)
    shapes = shapes_from_spaces(space_from_spec(spec.observation), space_from_spec(spec.action),
                                spec.trial.max_episode_steps, spec.trial.episodes)
    learner = Learner(cfg, shapes, dev, 0)
    rng = np.random.default_rng(0)

    def sync() -> None:
        if dev.type == "cuda":
            import torch

            torch.cuda.synchronize()

    with tempfile.TemporaryDirectory(prefix="amago-bench-calibrate-") as tmp:
        replay = Replay(Path(tmp) / "replay", tc.replay_capacity, tc.replay_unit)
        act = Amago2Agent(learner.model, cfg, suite=spec.name, sample=True)
        act.epsilon = tc.explore_end
        # chunks as short as the timed collection, so the replay has windows to sample from
        collector = Collector(spec, act, replay, shapes, tc.num_envs, 0, max(2, min(tc.chunk_len, steps)), tc.vector,
                              spec.default_backend)
        try:
            collector.collect(2)
            t = time.perf_counter()
            n = collector.collect(steps)["env_steps"]
            collect_s = (time.perf_counter() - t) / n
        finally:
            collector.close()
        learner.update(to_batch(replay.sample(cfg.optim.batch_size, cfg.model.context, rng), shapes, dev))
        sync()
        times = []
        for _ in range(updates):
            batch = to_batch(replay.sample(cfg.optim.batch_size, cfg.model.context, rng), shapes, dev)
            t = time.perf_counter()
            learner.update(batch)
            sync()
            times.append(time.perf_counter() - t)
        update_s = float(np.median(times))
    return {"collect_s_per_env_step": collect_s, "update_s": update_s,
            "updates_per_env_step": tc.updates_per_epoch / (tc.collect_steps * tc.num_envs),
            "env_steps": n, "updates": updates}
