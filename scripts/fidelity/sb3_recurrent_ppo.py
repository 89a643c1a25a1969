"""For scale in the fidelity study: SB3-contrib RecurrentPPO (LSTM policy, library defaults)
trained through our Gymnasium trial env on one suite, evaluated with our evaluation loop.

Not a project dependency: ``pip install sb3-contrib`` (2.x) in the project's environment, then

    python scripts/fidelity/sb3_recurrent_ppo.py --suite popgym-repeat-single --seed 0 \
        --env-steps 16000 --out reports/fidelity/data/sb3.csv

Every ``--eval-every`` env steps the policy (deterministic actions, LSTM state cleared at each new
trial) plays ``--eval-trials`` test-split trials; one CSV row per evaluation (env steps, wall
seconds of training so far, mean normalised score) is appended to ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np


class RecurrentPolicyAgent:
    """Our agent protocol around an SB3 recurrent model: one LSTM state per env slot."""

    def __init__(self, model, name: str) -> None:
        self.model, self.name = model, name

    def start(self, spec, seed: int) -> None:
        self.state = None

    def act(self, step) -> np.ndarray:
        actions, self.state = self.model.predict(step.obs, state=self.state, episode_start=np.asarray(step.new_trial),
                                                 deterministic=True)
        return np.asarray(actions, np.int64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--suite", default="popgym-repeat-single")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--env-steps", type=int, default=16000)
    ap.add_argument("--num-envs", type=int, default=8)
    ap.add_argument("--eval-every", type=int, default=2000)
    ap.add_argument("--eval-trials", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="reports/fidelity/data/sb3.csv")
    args = ap.parse_args()

    import pandas as pd
    import torch
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv

    from amago_bench.envs.trial import TrialEnv
    from amago_bench.evaluate import evaluate
    from amago_bench.scoring import task_summary
    from amago_bench.suite import get_suite

    torch.set_num_threads(args.threads)
    suite = get_suite(args.suite)
    venv = DummyVecEnv([lambda: TrialEnv(suite, "train") for _ in range(args.num_envs)])
    venv.seed(args.seed)
    model = RecurrentPPO("MlpLstmPolicy", venv, seed=args.seed, device="cpu", verbose=0)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t_train = 0.0

    def evaluate_now(env_steps: int) -> None:
        records = evaluate(RecurrentPolicyAgent(model, "sb3-recurrent-ppo"), suite, split="test",
                           trials_per_task=args.eval_trials, seed=args.seed, num_envs=16)
        score = float(task_summary(pd.DataFrame(records), suite)["normalised"].mean())
        new = not out.exists()
        with open(out, "a", newline="") as f:
            w = csv.writer(f)
            if new:
                w.writerow(["impl", "suite", "seed", "env_steps", "wall_s", "normalised"])
            w.writerow(["sb3-recurrent-ppo", args.suite, args.seed, env_steps, round(t_train, 2), round(score, 4)])
        print(f"env steps {env_steps} | train wall {t_train:.0f} s | eval normalised {score:.3f}", flush=True)

    class EvalEvery(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next, self.t0 = args.eval_every, time.perf_counter()

        def _on_step(self) -> bool:
            nonlocal t_train
            if self.num_timesteps >= self.next:
                t_train += time.perf_counter() - self.t0
                evaluate_now(self.num_timesteps)
                self.next += args.eval_every
                self.t0 = time.perf_counter()
            return True

    model.learn(total_timesteps=args.env_steps, callback=EvalEvery())


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
