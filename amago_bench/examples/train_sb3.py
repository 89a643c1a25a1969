"""Train Stable-Baselines3 PPO and sb3-contrib RecurrentPPO on a suite through its Gymnasium id,
then score each with ``amago-bench evaluate``.

    pip install 'amago-bench[sb3]'   # or, in a checkout: pip install -e '.[sb3]'
    python -m amago_bench.examples.train_sb3 --suite scale-probe --env-steps 50000

What it does, for each algorithm:

1. ``make_vec_env("amago_bench/<suite>-v0", env_kwargs={"split": "train"})``: N copies of the
   suite's trial env. One Gymnasium episode is one trial (k episodes of one task variant), so
   SB3's ``episode_start`` - where RecurrentPPO clears its LSTM - falls on trial starts, and
   the LSTM is free to carry what it learns in one episode into the next.
2. ``model.learn(env_steps)``, ``model.save(<out>/<algo>-<suite>.zip)``.
3. ``amago-bench evaluate --suite <suite> --split test --agent amago_bench.adapters.sb3:load
   --checkpoint <zip>``: the harness's own protocol (a fixed quota of test-split trials per
   task, results stored in the database and comparable with every other agent there).

Feed-forward PPO sees only the current observation; on suites that need memory across the
trial it cannot beat random by much, which is the point of putting the two side by side.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path

ALGORITHMS = {  # name -> (module, class, policy)
    "ppo": ("stable_baselines3", "PPO", "MlpPolicy"),
    "recurrent_ppo": ("sb3_contrib", "RecurrentPPO", "MlpLstmPolicy"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--suite", default="scale-probe", help="suite name (see `amago-bench suites`); trains on its train split")
    ap.add_argument("--algo", nargs="+", choices=sorted(ALGORITHMS), default=["ppo", "recurrent_ppo"])
    ap.add_argument("--env-steps", type=int, default=50_000, help="training env steps per algorithm")
    ap.add_argument("--num-envs", type=int, default=8, help="parallel trial envs while training")
    ap.add_argument("--n-steps", type=int, default=128, help="SB3 rollout length per env")
    ap.add_argument("--batch-size", type=int, default=128, help="SB3 minibatch size")
    ap.add_argument("--seed", type=int, default=0, help="training seed, also the evaluation seed")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--eval-trials", type=int, default=16, help="test trials per task for amago-bench evaluate")
    ap.add_argument("--out", default="runs/sb3", help="folder for the saved models")
    ap.add_argument("--db", default=None, help="results database (default: amago-bench's)")
    return ap.parse_args(argv)


def train(algo: str, args: argparse.Namespace) -> Path:
    import importlib

    import torch
    from stable_baselines3.common.env_util import make_vec_env

    import amago_bench  # noqa: F401  (registers the Gymnasium ids)
    from amago_bench.gym_ids import suite_id

    module, cls_name, policy = ALGORITHMS[algo]
    cls = getattr(importlib.import_module(module), cls_name)
    torch.set_num_threads(args.threads)
    env = make_vec_env(suite_id(args.suite), n_envs=args.num_envs, seed=args.seed, env_kwargs={"split": "train"})
    model = cls(policy, env, n_steps=args.n_steps, batch_size=args.batch_size, seed=args.seed, device="cpu", verbose=0)
    t0 = time.perf_counter()
    model.learn(total_timesteps=args.env_steps)
    path = Path(args.out) / f"{algo}-{args.suite}.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    env.close()
    print(f"{cls_name}: {model.num_timesteps} env steps in {time.perf_counter() - t0:.0f} s -> {path}", flush=True)
    return path


def score(checkpoint: Path, args: argparse.Namespace) -> int:
    from amago_bench.cli import main as amago_bench

    argv = ["evaluate", "--suite", args.suite, "--split", "test", "--agent", "amago_bench.adapters.sb3:load",
            "--checkpoint", str(checkpoint), "--seeds", str(args.seed), "--trials-per-task", str(args.eval_trials),
            "--no-progress"]
    if args.db:
        argv += ["--db", args.db]
    print("$ amago-bench " + shlex.join(argv), flush=True)
    return amago_bench(argv)


def main(argv: list[str] | None = None) -> int:
    from amago_bench.errors import UserError
    from amago_bench.installation import import_optional

    args = parse_args(argv)
    try:  # a missing SB3 is one line naming the install command, before any training
        for algo in args.algo:
            import_optional(ALGORITHMS[algo][0], f"--algo {algo}")
        import_optional("torch", "the SB3 example")
    except UserError as exc:
        print(f"train_sb3: error: {exc}", file=sys.stderr)
        return 2
    for algo in args.algo:
        code = score(train(algo, args), args)
        if code:
            return code
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
