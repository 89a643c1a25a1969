"""Env steps per second of a suite: the benchmark's own env against the harness, side by side.

Every mode steps ``N`` envs of one task for a fixed wall time and counts env steps
(steps/s = env steps / wall time; building the envs is not timed):

- ``raw``: the benchmark's own env (the family's ``make_raw_env``, else ``gym.make(env_id)``),
  native spaces, no harness. ``N`` copies in a plain Python loop: each vector step draws the
  ``N`` actions with one call of the :class:`ActionSource`, steps the envs one after the other
  and resets an env whose episode ended. Nothing is stacked or copied: this is the least work
  that steps ``N`` envs from Python, the bound the harness is held to.
- ``harness``: the same loop over ``N`` :class:`~amago_bench.envs.trial.TrialEnv` (the suite's
  default backend): unified spaces, trials, episode records. Its trials are the evaluation's
  jobs (:class:`TrialJobs`), the same as the ``evaluate`` mode's.
- ``evaluate``: the evaluation loop, :class:`~amago_bench.rollout.Rollout` on the sync vector
  env of :func:`~amago_bench.rollout.make_vector_env`, with :class:`SourceAgent`, whose ``act``
  is one call of the same action source (a trivial agent: the loop's own cost, not an agent's).
- ``envpool_raw``: one batched EnvPool of ``N`` envs (the family's ``make_raw_pool``), which
  resets its finished envs itself.
- ``envpool_harness``: the ``harness`` loop with ``backend="envpool"``.

Same action source everywhere: one :class:`numpy.random.Generator` seeded with ``seed``, one
batched draw per vector step, uniform over the mode's action space. The raw env acts in its
native space, the harness in the suite's unified one; where the unified space is wider (POPGym's
``Discrete(26)`` over tasks with 2 to 27 actions) most random actions are out of the task's range
and the harness replaces them, a cost a random agent triggers and a trained one rarely does.

Modes run interleaved: each round runs every mode once on every measured task, so load from
other processes hits the modes alike. A ratio (harness / raw, evaluate / raw, EnvPool /
official) is computed within each round and the median over the rounds is reported.
"""

from __future__ import annotations

import itertools
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # gymnasium and the agent protocol load on first use: the CLI reads MODES for --help
    import gymnasium as gym
    import numpy as np

    from amago_bench.policy import EnvSpec, Step
    from amago_bench.suite import SuiteSpec, TaskSpec

MODES = ("raw", "harness", "evaluate", "envpool_raw", "envpool_harness")
#: The ratios a table shows: name -> (numerator mode, denominator mode).
RATIOS = {
    "harness/raw": ("harness", "raw"),
    "eval/raw": ("evaluate", "raw"),
    "ep/off raw": ("envpool_raw", "raw"),
    "ep/off harness": ("envpool_harness", "harness"),
}
#: What the harness is held to (issue 24): evaluate / raw on POPGym and on the other suites, and
#: EnvPool through the harness / the official backend through the harness on BabyAI.
TARGETS = {"eval/raw popgym": 0.9, "eval/raw other": 0.95, "ep/off harness babyai": 2.0}


class ActionSource:
    """``N`` uniform random actions of ``space`` per call, from one Generator, in one draw.

    Discrete: int64 ``(N,)`` from ``rng.integers``; Box: ``(N, *shape)`` of the space's dtype
    from ``rng.uniform``. Other spaces fall back to ``space.sample()`` per env (seeded from
    ``rng``)."""

    def __init__(self, space: gym.Space, rng: np.random.Generator) -> None:
        from gymnasium import spaces

        self.space, self.rng = space, rng
        self.kind = "discrete" if isinstance(space, spaces.Discrete) else "box" if isinstance(space, spaces.Box) else ""
        if not self.kind:
            space.seed(int(rng.integers(2**31)))

    def __call__(self, n: int) -> Any:
        s = self.space
        if self.kind == "discrete":
            return self.rng.integers(s.start, s.start + s.n, size=n)
        if self.kind == "box":
            return self.rng.uniform(s.low, s.high, size=(n, *s.shape)).astype(s.dtype)
        return [s.sample() for _ in range(n)]


class SourceAgent:
    """The trivial agent of the ``evaluate`` mode: each ``act`` is one call of an ActionSource."""

    name = "action-source"

    def start(self, spec: EnvSpec, seed: int) -> None:
        import numpy as np

        self.n = spec.num_envs
        self.draw = ActionSource(spec.action_space, np.random.default_rng(seed))

    def act(self, step: Step) -> np.ndarray:
        return self.draw(self.n)


class NotApplicable(Exception):
    """A mode that does not exist for a suite (no raw env, no EnvPool port); the message says why."""


class _Stop(Exception):
    pass


def _timed(fn: Callable[[Callable[[int], bool]], None], seconds: float) -> tuple[int, float]:
    """Run ``fn(tick)``; ``tick(k)`` adds k env steps and returns False once time is up."""
    count = [0]
    t0 = time.perf_counter()
    end = t0 + seconds

    def tick(k: int) -> bool:
        count[0] += k
        return time.perf_counter() < end

    fn(tick)
    return count[0], time.perf_counter() - t0


def _family(suite: SuiteSpec):
    from amago_bench.envs.base import family_module

    return family_module(suite)


def make_raw_env(suite: SuiteSpec, task: TaskSpec):
    """The benchmark's own single env (reset/step/action_space), for the ``raw`` mode."""
    fam = _family(suite)
    if hasattr(fam, "make_raw_env"):
        return fam.make_raw_env(suite, task)
    import gymnasium as gym

    from amago_bench.envs.base import require

    for pkg in suite.packages:
        mod = require(pkg, suite.extra, suite.name)
        if pkg == "ale_py":
            gym.register_envs(mod)
    try:
        return gym.make(task.env_id, disable_env_checker=True, **dict(task.kwargs))
    except Exception as exc:  # noqa: BLE001 - any failure means "no raw env for this family"
        raise NotApplicable(f"no raw env: family {suite.family!r} has no make_raw_env and "
                            f"gym.make({task.env_id!r}) failed ({type(exc).__name__})") from exc


class TrialJobs:
    """The trials of the ``harness`` and ``evaluate`` modes: the evaluation's jobs for one task
    (:func:`~amago_bench.evaluate.plan_jobs` under ``seed``), in order, round and round (a slot
    never parks). Both modes take a job when a trial ends, env by env in index order, so with the
    same actions they play the same trials, and their ratio is the evaluation loop's cost alone."""

    def __init__(self, suite: SuiteSpec, task: TaskSpec, seed: int) -> None:
        from amago_bench.evaluate import plan_jobs

        self._jobs = itertools.cycle(plan_jobs(suite, "train", 1000, seed, [task.name]))

    def take(self, k: int) -> list:
        return [next(self._jobs) for _ in range(k)]

    def start(self, env) -> None:
        """Reset a trial env to the next job's trial."""
        (job,) = self.take(1)
        env.reset(seed=job.env_seed, options={"task": job.task, "variant": job.variant})


def plain_loop(envs: list, seconds: float, seed: int, jobs: TrialJobs | None = None) -> tuple[int, float]:
    """Step ``envs`` one after the other for ``seconds`` with actions from one ActionSource
    (one draw per vector step); reset an env whose episode ended: with the next of ``jobs``
    (trial envs), else ``env.reset()`` after a first ``env.reset(seed=seed + i)``. Closes the envs."""
    import numpy as np

    n = len(envs)
    try:
        for i, e in enumerate(envs):
            e.reset(seed=seed + i) if jobs is None else jobs.start(e)
        draw = ActionSource(envs[0].action_space, np.random.default_rng(seed))
        discrete = draw.kind == "discrete"

        def loop(tick):
            while True:
                actions = draw(n)
                for e, a in zip(envs, actions.tolist() if discrete else actions):
                    _, _, te, tr, _ = e.step(a)
                    if te or tr:
                        e.reset() if jobs is None else jobs.start(e)
                if not tick(n):
                    return

        return _timed(loop, seconds)
    finally:
        for e in envs:
            e.close()


def run_raw(suite: SuiteSpec, task: TaskSpec, n: int, seconds: float, seed: int) -> tuple[int, float]:
    return plain_loop([make_raw_env(suite, task) for _ in range(n)], seconds, seed)


def run_harness(suite: SuiteSpec, task: TaskSpec, n: int, seconds: float, seed: int,
                backend: str | None = None) -> tuple[int, float]:
    from amago_bench.envs.trial import TrialEnv

    envs = [TrialEnv(suite, "train", task=task.name, backend=backend) for _ in range(n)]
    return plain_loop(envs, seconds, seed, TrialJobs(suite, task, seed))


def run_evaluate(suite: SuiteSpec, task: TaskSpec, n: int, seconds: float, seed: int) -> tuple[int, float]:
    from amago_bench.rollout import Rollout, make_vector_env

    envs = make_vector_env(suite, "train", n, "sync")
    try:
        rollout = Rollout(envs, suite, SourceAgent(), seed, TrialJobs(suite, task, seed))

        class Ticker:  # counts env steps (no slot parks); stops the rollout when the time is up
            tick: Callable[[int], bool]

            def on_step(self, step, actions, reward, ended, jobs) -> None:
                if not self.tick(n):
                    raise _Stop

            def on_episode(self, *a) -> None:
                pass

            def on_trial(self, *a) -> None:
                pass

        def loop(tick):
            ticker = Ticker()
            ticker.tick = tick
            try:
                rollout.run(ticker)
            except _Stop:
                pass

        return _timed(loop, seconds)
    finally:
        envs.close()


def run_envpool_raw(suite: SuiteSpec, task: TaskSpec, n: int, seconds: float, seed: int) -> tuple[int, float]:
    import numpy as np

    fam = _family(suite)
    if not hasattr(fam, "make_raw_pool"):
        raise NotApplicable(f"family {suite.family!r} has no make_raw_pool")
    pool = fam.make_raw_pool(suite, task, n, seed)
    draw = ActionSource(pool.action_space, np.random.default_rng(seed))
    try:
        pool.reset()

        def loop(tick):
            while True:  # EnvPool resets finished envs itself
                pool.step(draw(n))
                if not tick(n):
                    return

        return _timed(loop, seconds)
    finally:
        pool.close()


@dataclass
class SuiteSpeed:
    """One suite's measurements: per mode and round the env steps and wall seconds summed over
    the measured tasks; NaN-free (a mode that does not apply is absent, with a note)."""

    suite: str
    tasks: list[str]
    default_backend: str
    num_envs: int
    steps: dict[str, list[int]] = field(default_factory=dict)
    """mode -> env steps of each round."""
    seconds: dict[str, list[float]] = field(default_factory=dict)
    """mode -> wall seconds of each round."""
    notes: dict[str, str] = field(default_factory=dict)

    def sps(self, mode: str) -> float:
        """Steps/s of ``mode`` over all rounds (NaN if it did not run)."""
        if mode not in self.steps or sum(self.seconds[mode]) <= 0:
            return float("nan")
        return sum(self.steps[mode]) / sum(self.seconds[mode])

    def round_ratios(self, num: str, den: str) -> list[float]:
        """sps(num) / sps(den) within each round (empty if either did not run)."""
        if num not in self.steps or den not in self.steps:
            return []
        return [(a / s) / (b / t) for a, s, b, t in zip(self.steps[num], self.seconds[num], self.steps[den],
                                                         self.seconds[den]) if s > 0 and t > 0 and b > 0]

    def ratio(self, num: str, den: str) -> float:
        """The median over rounds of :meth:`round_ratios` (NaN if there is none)."""
        r = self.round_ratios(num, den)
        return statistics.median(r) if r else float("nan")

    def applies(self, name: str) -> bool:
        """EnvPool / official ratios only where the official backend is the default one."""
        return not name.startswith("ep/off") or self.default_backend == "official"

    def to_json(self) -> dict[str, Any]:
        return {"suite": self.suite, "tasks": self.tasks, "default_backend": self.default_backend,
                "num_envs": self.num_envs, "sps": {m: self.sps(m) for m in self.steps}, "steps": self.steps,
                "seconds": self.seconds, "notes": self.notes,
                "ratios": {k: self.ratio(*v) for k, v in RATIOS.items() if self.applies(k) and v[0] in self.steps
                           and v[1] in self.steps},
                "round_ratios": {k: self.round_ratios(*v) for k, v in RATIOS.items() if self.applies(k)
                                 and v[0] in self.steps and v[1] in self.steps}}


def bench_suite(suite_name: str, num_envs: int = 2, seconds: float = 3.0, tasks_per_suite: int = 2,
                tasks: list[str] | None = None, modes: tuple[str, ...] = MODES, seed: int = 0,
                rounds: int = 5, log: Callable[[str], None] = lambda s: None) -> SuiteSpeed:
    """Measure ``modes`` on one suite: ``rounds`` rounds, each running every mode once on every
    measured task (``tasks``, else the first ``tasks_per_suite`` train tasks, 0 = all) for
    ``seconds / rounds`` seconds. Round r seeds every mode with ``seed + r``: an env's speed can
    depend on the level or variant it plays, so the rounds sample different ones."""
    from amago_bench.suite import get_suite

    suite = get_suite(suite_name)
    train = list(suite.tasks_for("train"))
    chosen = [suite.task(t) for t in tasks] if tasks else train[:tasks_per_suite] if tasks_per_suite > 0 else train
    out = SuiteSpeed(suite=suite.name, tasks=[t.name for t in chosen], default_backend=suite.default_backend,
                     num_envs=num_envs)
    sec = seconds / rounds
    runners: dict[str, Callable[[TaskSpec, int], tuple[int, float]]] = {  # (task, seed) -> (steps, seconds)
        "raw": lambda t, sd: run_raw(suite, t, num_envs, sec, sd),
        "harness": lambda t, sd: run_harness(suite, t, num_envs, sec, sd),
        "evaluate": lambda t, sd: run_evaluate(suite, t, num_envs, sec, sd),
        "envpool_raw": lambda t, sd: run_envpool_raw(suite, t, num_envs, sec, sd),
        "envpool_harness": lambda t, sd: run_harness(suite, t, num_envs, sec, sd, "envpool"),
    }
    active = []
    for mode in modes:
        if mode.startswith("envpool") and "envpool" not in suite.backends:
            out.notes[mode] = f"suite has no envpool backend (backends: {', '.join(suite.backends)})"
        else:
            active.append(mode)
    if suite.default_backend == "envpool" and "raw" in active:
        out.notes["raw"] = "the suite's own env is the EnvPool port (no official backend)"
    for r in range(rounds):
        for mode in active:
            out.steps.setdefault(mode, []).append(0)
            out.seconds.setdefault(mode, []).append(0.0)
        for t in chosen:
            for mode in list(active):
                log(f"  {suite.name}/{t.name}: {mode} (round {r + 1}/{rounds}) ...")
                try:
                    steps, wall = runners[mode](t, seed + r)  # a new seed each round: other levels/variants
                except NotApplicable as exc:
                    out.notes[mode] = str(exc)
                    active.remove(mode)
                    out.steps.pop(mode)
                    out.seconds.pop(mode)
                    continue
                out.steps[mode][r] += steps
                out.seconds[mode][r] += wall
    return out


def format_table(rows: list[SuiteSpeed], config: dict[str, Any]) -> str:
    """The steps/s of each mode and the median ratios, one line per suite, then the notes."""

    def f(x: float) -> str:
        return "n/a" if x != x else f"{x:,.0f}"

    def r(x: float) -> str:
        return "n/a" if x != x else f"{x:.2f}x"

    head = ("suite", "tasks", "raw", "harness", "evaluate", "envpool raw", "envpool harness", *RATIOS)
    lines = [
        "env steps/s (actions from one random Generator, one draw per vector step); "
        + ", ".join(f"{k}={v}" for k, v in config.items() if k not in ("python", "packages")),
        "  ratios: median over rounds of the ratio within each round (modes interleaved)",
        f"  targets: eval/raw >= {TARGETS['eval/raw popgym']} on POPGym, >= {TARGETS['eval/raw other']} elsewhere; "
        f"ep/off harness >= {TARGETS['ep/off harness babyai']}x on BabyAI",
    ]
    table = [head]
    for s in rows:
        table.append((s.suite, str(len(s.tasks)), *(f(s.sps(m)) for m in MODES),
                      *(r(s.ratio(*RATIOS[k])) if s.applies(k) else "n/a" for k in RATIOS)))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for k, row in enumerate(table):
        lines.append("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {s.suite} {m}: {n}" for s in rows for m, n in s.notes.items()]
    if notes:
        lines += ["notes:"] + notes
    return "\n".join(lines)
