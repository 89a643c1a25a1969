"""Commands: `bench envs`, `bench agent`, `parity`.

`bench envs` measures env steps per second for each suite, side by side in one run: the
benchmark's own env (``raw``), the same N envs through the harness (``harness``), the evaluation
loop with a trivial agent (``evaluate``), and EnvPool's ports (``envpool_raw``,
``envpool_harness``). Every mode draws its actions from one random Generator, one draw per
vector step. The modes run interleaved in rounds; each ratio is the median over the rounds of
the ratio within a round. What each mode runs, precisely: ``amago_bench.envs.speed``.
"""

from __future__ import annotations

import argparse
import json
import platform

from amago_bench.envs.speed import MODES, TARGETS
from amago_bench.errors import UserError
#: `bench agent`: agent -> the module whose main(args) times it (run in this order).
AGENT_BENCHES = {"amago2": "amago_bench.agents.amago2.bench", "rl2-ppo-gru": "amago_bench.agents.rl2_ppo.bench"}


def register(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="speed benchmarks: env steps/s (envs) and agent update/act time (agent)")
    bsub = bench.add_subparsers(dest="bench_command", metavar="BENCH")
    bench.set_defaults(func=lambda args: (bench.print_help(), 2)[1])

    p = bsub.add_parser(
        "envs",
        help="steps/s per suite: raw env vs the harness vs EnvPool, side by side with ratios",
        description=__doc__.split("\n\n", 1)[1] + "\nTargets (issue 24): evaluate / raw >= "
        f"{TARGETS['eval/raw popgym']} on POPGym and >= {TARGETS['eval/raw other']} on the other suites; EnvPool "
        f"through the harness >= {TARGETS['ep/off harness babyai']}x the official backend through it on BabyAI.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--suite", nargs="+", default=None,
                   help="suites to measure (default: every suite whose packages are installed)")
    p.add_argument("--tasks-per-suite", type=int, default=2,
                   help="measure this many train tasks of each suite (the first ones; 0: all of them)")
    p.add_argument("--tasks", nargs="+", default=None, help="measure exactly these tasks (with a single --suite)")
    p.add_argument("--num-envs", type=int, default=8,
                   help="envs per mode, the same N for every mode (default: evaluation's default)")
    p.add_argument("--seconds", type=float, default=3.0, help="wall time per mode and task, split over the rounds")
    p.add_argument("--rounds", type=int, default=5,
                   help="rounds; each runs every mode once on every task (ratios: median over rounds)")
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="which modes to run")
    p.add_argument("--seed", type=int, default=0, help="seeds the envs and the action Generator")
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


def _installed(suite) -> bool:
    from amago_bench.envs.base import package_installed

    return all(package_installed(p) for p in suite.packages)


def cmd_bench_envs(args: argparse.Namespace) -> int:
    import os
    import sys
    from importlib import metadata

    from amago_bench.envs.speed import bench_suite, format_table
    from amago_bench.suite import get_suite, list_suites

    if args.num_envs < 1 or args.seconds <= 0 or args.rounds < 1 or args.tasks_per_suite < 0:
        raise UserError("--num-envs and --rounds must be >= 1, --tasks-per-suite >= 0 and --seconds > 0")
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
              "tasks_per_suite": len(args.tasks) if args.tasks else args.tasks_per_suite or "all", "seed": args.seed,
              "cpus": os.cpu_count(), "load_average": round(os.getloadavg()[0], 2),
              "python": platform.python_version(), "packages": versions}
    rows = []
    for name in names:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        rows.append(bench_suite(name, args.num_envs, args.seconds, args.tasks_per_suite, args.tasks,
                                tuple(args.modes), args.seed, args.rounds,
                                log=lambda s: print(s, file=sys.stderr, flush=True)))
    config["load_average_after"] = round(os.getloadavg()[0], 2)
    print(format_table(rows, config))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"config": config, "suites": [s.to_json() for s in rows]}, fh, indent=2, default=float)
            fh.write("\n")
        print(f"written: {args.json}")
    return 0
