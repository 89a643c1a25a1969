"""Commands: `bench envs`, `bench agent`, `parity`.

`bench envs` measures env steps per second for each suite, side by side in one run:

- ``raw``: the benchmark's own env (``make_raw_env`` of the family, else ``gym.make(env_id)``),
  N copies stepped one after the other in a plain Python loop with random native actions;
- ``harness``: N :class:`~amago_bench.envs.trial.TrialEnv` (default backend) stepped the same way;
- ``evaluate``: the full evaluation loop (``rollout.Rollout`` on a sync vector env, random agent);
- ``envpool raw``: one batched EnvPool of N envs (the family's ``make_raw_pool``);
- ``envpool harness``: N TrialEnv with ``backend="envpool"`` in the plain loop.

Each mode runs for ``--seconds`` on each measured task; steps/s = env steps / wall time.
Ratios: harness / raw (target >= 0.95, i.e. at most 5% overhead), evaluate / raw, and envpool /
official for the raw and harness modes (target >= 3x on BabyAI and Atari).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from amago_bench.errors import UserError

MODES = ("raw", "harness", "evaluate", "envpool_raw", "envpool_harness")
#: `bench agent`: agent -> the module whose main(args) times it (run in this order).
AGENT_BENCHES = {"amago2": "amago_bench.agents.amago2.bench", "rl2-ppo-gru": "amago_bench.agents.rl2_ppo.bench"}


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="speed benchmarks: env steps/s (envs) and agent update/act time (agent)")
    bsub = bench.add_subparsers(dest="bench_command", metavar="BENCH")
    bench.set_defaults(func=lambda args: (bench.print_help(), 2)[1])

    p = bsub.add_parser(
        "envs",
        help="steps/s per suite: raw env vs the harness vs EnvPool, side by side with ratios",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--suite", nargs="+", default=None,
                   help="suites to measure (default: every suite whose packages are installed)")
    p.add_argument("--tasks-per-suite", type=int, default=2, help="measure this many tasks of each suite (first ones)")
    p.add_argument("--tasks", nargs="+", default=None, help="measure exactly these tasks (with a single --suite)")
    p.add_argument("--num-envs", type=int, default=2, help="envs per mode (same N for official and EnvPool)")
    p.add_argument("--seconds", type=float, default=3.0, help="wall time per mode and task (split over the rounds)")
    p.add_argument("--rounds", type=int, default=3, help="interleave the modes in this many rounds per task")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="which modes to run")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON to FILE")
    p.set_defaults(func=cmd_bench_envs)

    p = bsub.add_parser(
        "agent",
        help="time the agents: amago2 (one update, one acting step at several context lengths) and "
        "rl2-ppo-gru (env steps/s of collection and of a PPO update)",
    )
    p.add_argument("--agents", nargs="+", choices=list(AGENT_BENCHES), default=list(AGENT_BENCHES),
                   help="which agents to time, one after the other in this run (default: all)")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    p.add_argument("--contexts", type=int, nargs="+", default=[16, 128, 512], help="amago2: context lengths to time")
    p.add_argument("--reference-python", default=None, metavar="PYTHON",
                   help="amago2: also time the reference AMAGO's own update beside ours at equal trainable parameters "
                   "(per-action head vs its `agent`, action-input head vs its `multitask`), run by this Python of a "
                   "virtual environment holding the reference (default: not run)")
    p.add_argument("--reference-rounds", type=int, default=2,
                   help="interleaved rounds of that comparison (default: 2)")
    p.add_argument("--out", default=None,
                   help="write the results as JSON: amago2's to this file, each other agent's beside it as "
                   "<stem>.<agent>.json (default: print only)")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (smoke check)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default: $OMP_NUM_THREADS if set, else min(2, CPU count))")
    p.set_defaults(func=cmd_bench_agent)

    p = bsub.add_parser(
        "load",
        help="training time idle vs beside one CPU-bound process, with the default thread choice",
        description="Runs the same short training run twice in fresh processes: once on an otherwise idle machine, "
        "once while one other CPU-bound process runs, each with the default torch thread count (or --threads), and "
        "prints both wall times and their ratio. Run it on an otherwise idle machine.",
    )
    p.add_argument("--suite", default="scale-probe", help="suite to train on")
    p.add_argument("--agent", default="amago2", help="agent config")
    p.add_argument("--budget", default="small", choices=("smoke", "small", "paper"), help="training budget")
    p.add_argument("--epochs", type=int, default=8, help="epochs of the budget to run (a short, representative slice)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: the trainer's own choice)")
    p.add_argument("--out", default=None, help="also write the numbers to this JSON file")
    p.set_defaults(func=cmd_bench_load)

    p = sub.add_parser(
        "parity",
        help="compare a suite's official and EnvPool backends (spaces, first obs, random-score distributions)",
        description="Runs the official and EnvPool backends of a suite side by side through the same trial env and "
        "evaluation protocol; writes reports/parity/<suite>.md and .json.",
    )
    p.add_argument("--suite", required=True)
    p.add_argument("--split", choices=("train", "test"), default="test")
    p.add_argument("--trials", type=int, default=30, help="random-policy trials per task and backend")
    p.add_argument("--tasks", nargs="+", default=None, help="only these tasks")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--alpha", type=float, default=0.05, help="family-wise significance level (Bonferroni)")
    p.add_argument("--num-envs", type=int, default=1)
    p.add_argument("--out-dir", default=None, help="report folder (default: reports/parity)")
    p.set_defaults(func=cmd_parity)


# --------------------------------------------------------------------------------------
# bench agent


def cmd_bench_agent(args: argparse.Namespace) -> int:
    import importlib

    for agent in getattr(args, "agents", None) or list(AGENT_BENCHES):
        module = AGENT_BENCHES[agent]
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("amago_bench.agents"):
                raise UserError(
                    f"`bench agent` needs {agent}'s benchmark ({module}), which is not built yet in this checkout; "
                    f"choose others with --agents ({', '.join(a for a in AGENT_BENCHES if a != agent)})"
                ) from exc
            raise
        main = getattr(mod, "main", None)
        if main is None:
            raise UserError(f"{module} has no main(args); it cannot be run by `bench agent`")
        code = int(main(args) or 0)
        if code:
            return code
    return 0


# --------------------------------------------------------------------------------------
# parity


def _burn() -> None:  # one CPU-bound process: what a busy machine looks like to the trainer
    x = 0
    while True:
        x = (x * 1103515245 + 12345) % 2147483648


def cmd_bench_load(args: argparse.Namespace) -> int:
    from amago_bench.limits import MAX_THREADS, check_count

    check_count("--threads", args.threads, 1, MAX_THREADS)
    import json
    import multiprocessing as mp
    import os
    import subprocess
    import sys
    import tempfile
    import time

    if args.epochs < 1:
        raise UserError(f"--epochs must be >= 1, got {args.epochs}")

    def one_run(tag: str) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "amago_bench.cli", "train", "--suite", args.suite, "--agent", args.agent,
                   "--budget", args.budget, "--epochs", str(args.epochs), "--runs", tmp, "--no-store"]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}  # let the trainer choose
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
            sec = time.perf_counter() - t0
        print(f"{tag:32s} {sec:8.1f} s", flush=True)
        return sec

    print(f"training {args.agent} on {args.suite}, budget {args.budget}, {args.epochs} epochs, "
          f"threads {args.threads or 'default'}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    idle = one_run("idle")
    burner = mp.get_context("spawn").Process(target=_burn, daemon=True)
    burner.start()
    try:
        time.sleep(5)  # let the load average see it
        busy = one_run("beside one CPU-bound process")
    finally:
        burner.terminate()
        burner.join()
    print(f"ratio busy / idle: {busy / idle:.2f}")
    if args.out:
        from pathlib import Path

        Path(args.out).write_text(json.dumps({"idle_s": idle, "busy_s": busy, "ratio": busy / idle, "suite": args.suite,
                                              "agent": args.agent, "budget": args.budget, "epochs": args.epochs,
                                              "threads": args.threads, "cpus": os.cpu_count()}, indent=1))
    return 0


def cmd_parity(args: argparse.Namespace) -> int:
    from amago_bench.envs.parity import parity_check

    report = parity_check(args.suite, split=args.split, n_trials=args.trials, seed=args.seed, tasks=args.tasks,
                          alpha=args.alpha, num_envs=args.num_envs, out_dir=args.out_dir, progress=True)
    print(report.to_markdown())
    from amago_bench.envs.parity import REPORTS_DIR

    print(f"written: {(args.out_dir or REPORTS_DIR)}/{report.suite}.md and .json")
    return 0 if report.passed else 1


# --------------------------------------------------------------------------------------
# bench envs


@dataclass
class SuiteSpeed:
    """Steps/s of each mode for one suite (NaN where a mode does not apply), with notes."""

    suite: str
    tasks: list[str]
    default_backend: str
    sps: dict[str, float] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def ratio(self, num: str, den: str) -> float:
        a, b = self.sps.get(num, float("nan")), self.sps.get(den, float("nan"))
        return a / b if b and b == b and a == a else float("nan")


def _family(suite):
    from amago_bench.envs.base import family_module

    return family_module(suite)


def _import_packages(suite, backend: str) -> None:
    from amago_bench.envs.base import require

    for pkg in suite.packages:
        if backend == "official" or pkg == "envpool":
            mod = require(pkg, suite.extra, suite.name)
            if pkg == "ale_py":
                import gymnasium as gym

                gym.register_envs(mod)


def _make_raw(suite, task):
    """The benchmark's own single env (reset/step/action_space), for the ``raw`` mode."""
    fam = _family(suite)
    if hasattr(fam, "make_raw_env"):
        return fam.make_raw_env(suite, task)
    import gymnasium as gym

    _import_packages(suite, "official")
    try:
        return gym.make(task.env_id, disable_env_checker=True, **dict(task.kwargs))
    except Exception as exc:  # noqa: BLE001 - any failure means "no raw env for this family"
        raise _NotApplicable(f"no raw env: family {suite.family!r} has no make_raw_env and "
                             f"gym.make({task.env_id!r}) failed ({type(exc).__name__})") from exc


class _NotApplicable(Exception):
    pass


def _sampler(space, rng, n: int) -> Callable[[], list]:
    """Draws n random actions of ``space`` per call (ints for Discrete, else ``space.sample``)."""
    import gymnasium as gym

    if isinstance(space, gym.spaces.Discrete):
        lo, k = int(space.start), int(space.n)
        return lambda: (lo + rng.integers(k, size=n)).tolist()
    space.seed(int(rng.integers(2**31)))
    return lambda: [space.sample() for _ in range(n)]


class _Stop(Exception):
    pass


def _timed(fn: Callable[[Callable[[int], bool]], None], seconds: float) -> tuple[int, float]:
    """Run ``fn(tick)``; ``tick(k)`` adds k steps and returns False once time is up."""
    state = {"n": 0}
    t0 = time.perf_counter()
    end = t0 + seconds

    def tick(k: int) -> bool:
        state["n"] += k
        return time.perf_counter() < end

    fn(tick)
    return state["n"], time.perf_counter() - t0


def _run_raw(suite, task, n_envs: int, seconds: float, seed: int) -> tuple[int, float]:
    return _plain_loop([_make_raw(suite, task) for _ in range(n_envs)], seconds, seed)


def _plain_loop(envs: list, seconds: float, seed: int) -> tuple[int, float]:
    """Step ``envs`` one after the other with uniform random actions for ``seconds``; closes them."""
    import numpy as np

    n_envs = len(envs)
    try:
        for i, e in enumerate(envs):
            e.reset(seed=seed + i)
        draw = _sampler(envs[0].action_space, np.random.default_rng(seed), n_envs)

        def loop(tick):
            while True:
                for e, a in zip(envs, draw()):
                    _, _, te, tr, _ = e.step(a)
                    if te or tr:
                        e.reset()
                if not tick(n_envs):
                    return

        return _timed(loop, seconds)
    finally:
        for e in envs:
            e.close()


def _run_harness(suite, task, n_envs: int, seconds: float, seed: int, backend: str) -> tuple[int, float]:
    from amago_bench.envs.trial import TrialEnv

    return _plain_loop([TrialEnv(suite, "train", task=task.name, backend=backend) for _ in range(n_envs)], seconds, seed)


def _run_evaluate(suite, task, n_envs: int, seconds: float, seed: int) -> tuple[int, float]:
    from amago_bench.evaluate import plan_jobs
    from amago_bench.policy import RandomAgent
    from amago_bench.rollout import FixedJobs, Rollout, make_vector_env

    jobs = plan_jobs(suite, "train", 2000, seed, [task.name])
    envs = make_vector_env(suite, "train", n_envs, "sync")
    try:
        rollout = Rollout(envs, suite, RandomAgent(), seed, FixedJobs(jobs))

        class Ticker:  # counts active env steps; stops the rollout when the time is up
            def on_step(self, step, actions, reward, ended, jobs) -> None:
                if not self.tick(int(step.active.sum())):
                    raise _Stop

            def on_episode(self, *a) -> None:
                pass

            def on_trial(self, *a) -> None:
                pass

        def loop(tick):
            t = Ticker()
            t.tick = tick
            try:
                rollout.run(t)
            except _Stop:
                pass

        return _timed(loop, seconds)
    finally:
        envs.close()


def _run_envpool_raw(suite, task, n_envs: int, seconds: float, seed: int) -> tuple[int, float]:
    import numpy as np

    fam = _family(suite)
    if not hasattr(fam, "make_raw_pool"):
        raise _NotApplicable(f"family {suite.family!r} has no make_raw_pool")
    pool = fam.make_raw_pool(suite, task, n_envs, seed)
    rng = np.random.default_rng(seed)
    draw = _sampler(pool.action_space, rng, n_envs)
    try:
        pool.reset()

        def loop(tick):
            while True:  # EnvPool resets finished envs itself
                pool.step(np.asarray(draw()))
                if not tick(n_envs):
                    return

        return _timed(loop, seconds)
    finally:
        pool.close()


def bench_suite(suite_name: str, n_envs: int = 2, seconds: float = 3.0, tasks_per_suite: int = 2,
                tasks: list[str] | None = None, modes: tuple[str, ...] = MODES, seed: int = 0,
                rounds: int = 3, log: Callable[[str], None] = lambda s: None) -> SuiteSpeed:
    """Measure every mode for one suite; modes that do not apply are NaN with a note."""
    from amago_bench.suite import get_suite

    suite = get_suite(suite_name)
    chosen = [suite.task(t) for t in tasks] if tasks else list(suite.tasks_for("train"))[:tasks_per_suite]
    out = SuiteSpeed(suite=suite.name, tasks=[t.name for t in chosen], default_backend=suite.default_backend)
    sec = seconds / rounds
    runners: dict[str, Callable[[Any], tuple[int, float]]] = {
        "raw": lambda t: _run_raw(suite, t, n_envs, sec, seed),
        "harness": lambda t: _run_harness(suite, t, n_envs, sec, seed, suite.default_backend),
        "evaluate": lambda t: _run_evaluate(suite, t, n_envs, sec, seed),
        "envpool_raw": lambda t: _run_envpool_raw(suite, t, n_envs, sec, seed),
        "envpool_harness": lambda t: _run_harness(suite, t, n_envs, sec, seed, "envpool"),
    }
    active = []
    for mode in modes:
        if mode.startswith("envpool") and "envpool" not in suite.backends:
            out.notes[mode] = f"suite has no envpool backend (backends: {', '.join(suite.backends)})"
        else:
            active.append(mode)
    totals = {m: [0, 0.0] for m in active}
    # modes are interleaved in rounds so that load from other processes hits them alike
    for t in chosen:
        for r in range(rounds):
            for mode in list(active):
                log(f"  {suite.name}/{t.name}: {mode} (round {r + 1}/{rounds}) ...")
                try:
                    s, w = runners[mode](t)
                except _NotApplicable as exc:
                    out.notes[mode] = str(exc)
                    active.remove(mode)
                    totals.pop(mode)
                    continue
                totals[mode][0] += s
                totals[mode][1] += w
    for mode, (steps, wall) in totals.items():
        out.steps[mode] = steps
        out.sps[mode] = steps / wall if wall > 0 else float("nan")
    if suite.default_backend == "envpool":
        out.notes.setdefault("raw", "the suite's own env is the EnvPool port (no official backend)")
    return out


def _installed(suite) -> bool:
    from amago_bench.envs.base import package_installed

    return all(package_installed(p) for p in suite.packages)


def format_table(rows: list[SuiteSpeed], config: dict[str, Any]) -> str:
    def f(x: float) -> str:
        return "n/a" if x != x else f"{x:,.0f}"

    def r(x: float) -> str:
        return "n/a" if x != x else f"{x:.2f}x"

    head = ("suite", "raw", "harness", "evaluate", "envpool raw", "envpool harness",
            "harness/raw", "eval/raw", "ep/off raw", "ep/off harness")
    lines = [
        "env steps/s (random actions); "
        + ", ".join(f"{k}={v}" for k, v in config.items() if k not in ("python", "packages")),
        "  harness/raw target >= 0.95 (overhead <= 5%); envpool/official target >= 3x on BabyAI and Atari",
    ]
    table = [head]
    for s in rows:
        table.append((
            s.suite, f(s.sps.get("raw", float("nan"))), f(s.sps.get("harness", float("nan"))),
            f(s.sps.get("evaluate", float("nan"))), f(s.sps.get("envpool_raw", float("nan"))),
            f(s.sps.get("envpool_harness", float("nan"))),
            r(s.ratio("harness", "raw")), r(s.ratio("evaluate", "raw")),
            r(s.ratio("envpool_raw", "raw")) if s.default_backend == "official" else "n/a",
            r(s.ratio("envpool_harness", "harness")) if s.default_backend == "official" else "n/a",
        ))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for k, row in enumerate(table):
        lines.append("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {s.suite} {m}: {n}" for s in rows for m, n in s.notes.items()]
    if notes:
        lines += ["notes:"] + notes
    return "\n".join(lines)


def cmd_bench_envs(args: argparse.Namespace) -> int:
    import os
    import sys
    from importlib import metadata

    from amago_bench.suite import get_suite, list_suites

    if args.num_envs < 1 or args.seconds <= 0 or args.rounds < 1:
        raise UserError("--num-envs and --rounds must be >= 1 and --seconds > 0")
    names = args.suite or [n for n in list_suites() if _installed(get_suite(n))]
    if args.tasks and len(names) != 1:
        raise UserError("--tasks needs exactly one --suite")
    versions = {}
    for pkg in ("gymnasium", "numpy", "envpool", "ale-py", "popgym", "minigrid", "metaworld"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    config = {"num_envs": args.num_envs, "seconds_per_mode_and_task": args.seconds, "rounds": args.rounds,
              "tasks_per_suite": len(args.tasks) if args.tasks else args.tasks_per_suite, "seed": args.seed,
              "cpus": os.cpu_count(), "python": platform.python_version(), "packages": versions}
    rows = []
    for name in names:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        rows.append(bench_suite(name, args.num_envs, args.seconds, args.tasks_per_suite, args.tasks,
                                tuple(args.modes), args.seed, args.rounds, log=lambda s: print(s, file=sys.stderr, flush=True)))
    print(format_table(rows, config))
    if args.json:
        payload = {"config": config, "suites": [
            {**asdict(s), "ratios": {
                "harness_over_raw": s.ratio("harness", "raw"), "evaluate_over_raw": s.ratio("evaluate", "raw"),
                "envpool_over_official_raw": s.ratio("envpool_raw", "raw"),
                "envpool_over_official_harness": s.ratio("envpool_harness", "harness")}}
            for s in rows]}
        with open(args.json, "w") as fh:
            json.dump(payload, fh, indent=2, default=float)
            fh.write("\n")
        print(f"written: {args.json}")
    return 0
