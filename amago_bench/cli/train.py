"""Commands `train` (any trainable agent config on a suite at a budget; re-running resumes from
the last checkpoint) and `agents` (the agent configs and untrained agents, one line each)."""

from __future__ import annotations

import argparse

from amago_bench.agents.amago2.config import PRECISIONS
from amago_bench.cli.common import add_db


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train an agent config (amago2, a loss variant, rl2-ppo-gru) on a suite; re-run to resume",
        description="Epochs of collect / update / evaluate / checkpoint with the trainer of the config's kind. "
        "Agent configs are files in baselines/ (`amago-bench agents` lists them); "
        "budgets: smoke (seconds), small (minutes on a CPU), paper. "
        "Run directory: <runs>/<suite>/<agent>-<budget>-seed<N>/ (checkpoint.pt, replay/, tb/, metrics.csv); "
        "evaluation episodes go to the results database with the env steps so far. "
        "Data parallel over N GPUs (or CPU processes): torchrun --standalone --nproc-per-node N -m amago_bench train ...; "
        "each rank steps num_envs/N actors and samples batch/N per update, DDP averages the gradients, "
        "rank 0 alone evaluates and writes; resumable with any N that divides num_envs and the batch.",
    )
    p.add_argument("--suite", required=True, help="suite name (see `amago-bench suites`) or a path to a suite .toml")
    p.add_argument("--agent", default="amago2", help="agent config name (see `amago-bench agents`) or a .toml path")
    p.add_argument("--budget", choices=("smoke", "small", "paper"), default="small")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default="runs", help="root folder of run directories (default: runs)")
    p.add_argument("--device", default="auto", help="torch device: auto (CUDA when present), cpu, cuda, cuda:1 ...")
    p.add_argument("--epochs", type=int, default=None, help="override the budget's number of epochs")
    p.add_argument("--fresh", action="store_true", help="delete the run directory first instead of resuming")
    p.add_argument("--no-store", action="store_true", help="do not write to the results database (metrics.csv only)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: $OMP_NUM_THREADS if set, else min(2, cores not kept busy by other processes, measured from /proc/stat))")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="update arithmetic (default: the config's, auto = bf16 on CUDA, fp32 on CPU); "
                        "bf16 is ~1.6x faster on CPUs with AVX512-BF16 or AMX")
    p.add_argument("--ddp", action="store_true",
                   help="train through DistributedDataParallel in a process group of one rank (nccl on CUDA, gloo on "
                        "CPU); under torchrun every rank does so without this flag")
    add_db(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("agents", help="list the agent configs (trainable) and the untrained agents, one line each")
    p.set_defaults(func=cmd_agents)


def cmd_agents(args: argparse.Namespace) -> int:
    from amago_bench.agents import list_agents

    rows = list_agents()
    w = max(len(r[0]) for r in rows)
    for name, kind, desc in rows:
        print(f"{name:{w}s}  {kind:9s}  {desc}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from amago_bench.limits import MAX_THREADS, check_count
    from amago_bench.train import train

    check_count("--threads", args.threads, 1, MAX_THREADS)
    res = train(args.suite, agent=args.agent, budget=args.budget, seed=args.seed, runs_root=args.runs,
                device=args.device, fresh=args.fresh, db=args.db, epochs=args.epochs, store=not args.no_store,
                threads=args.threads, precision=args.precision, ddp=args.ddp)
    if res.rank != 0:
        return 0  # rank 0 reports for the run
    last = res.eval_scores[-1] if res.eval_scores else None
    print(f"done: {res.epochs} epochs, {res.env_steps} env steps, {res.updates} updates in {res.seconds:.1f} s")
    if last:
        tasks = ", ".join(f"{t} {v:.2f}" for t, v in last["tasks"].items())
        print(f"last evaluation (test split, {last['env_steps']} env steps): mean normalised {last['normalised']:.3f} [{tasks}]")
    print(f"checkpoint: {res.checkpoint}")
    from amago_bench.agents import EVAL_AGENTS, config_kind

    print(f"evaluate it: amago-bench evaluate --suite {args.suite} --agent {EVAL_AGENTS[config_kind(args.agent)]} "
          f"--checkpoint {res.checkpoint}")
    return 0
