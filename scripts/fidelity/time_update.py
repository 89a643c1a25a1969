"""Our side of the like-for-like update timing in reports/fidelity/: one AMAGO-2 update (loss,
backward, clipping, AdamW, Polyak) on 24 sequences x 128 tokens of POPGym-shaped data (30-dim
observations, Discrete(26)), fp32, at a chosen model size, with its parameter count.

    python scripts/fidelity/time_update.py --d-model 256 --layers 3 --critic-head per-action --threads 2

scripts/fidelity/bench_update.sh runs this and the reference's own training step side by side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--d-ff", type=int, default=None, help="default: 4 x d-model")
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--critic-head", default="per-action", choices=["per-action", "action-input"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import gymnasium as gym
    import torch

    from amago_bench.agents.amago2.config import AgentConfig, ModelConfig
    from amago_bench.agents.amago2.learner import Learner
    from amago_bench.agents.amago2.losses import Batch
    from amago_bench.agents.amago2.model import shapes_from_spaces

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    B, T, A = 24, 128, 26
    model = ModelConfig(d_model=args.d_model, d_ff=args.d_ff or 4 * args.d_model, layers=args.layers, heads=args.heads,
                        context=T, critic_head=args.critic_head)
    learner = Learner(AgentConfig(model=model), shapes_from_spaces(gym.spaces.Box(-1, 1, (30,)), gym.spaces.Discrete(A), 1024, 1))
    g = torch.Generator().manual_seed(0)
    act = torch.randint(0, A, (B, T), generator=g)
    batch = Batch(obs=torch.randn(B, T, 30, generator=g), prev_action=act.roll(1, 1), prev_reward=torch.randn(B, T, generator=g),
                  time=torch.rand(B, T, 3, generator=g), action=act, reward=torch.randn(B, T, generator=g),
                  done=torch.zeros(B, T), valid=torch.ones(B, T, dtype=torch.bool))
    for _ in range(2):
        learner.update(batch)
    times = []
    for _ in range(args.reps):
        t = time.perf_counter()
        learner.update(batch)
        times.append(time.perf_counter() - t)
    m = learner.model
    count = lambda mod: sum(p.numel() for p in mod.parameters())  # noqa: E731
    out = {"impl": f"amago-bench amago2 ({args.critic_head} head)", "parameters": count(m),
           "parts": {"tstep": count(m.tstep), "traj": count(m.traj), "actor": count(m.actor), "critics": count(m.critics)},
           "update_s_median": statistics.median(times), "update_s_min": min(times), "threads": args.threads,
           "torch": torch.__version__, "config": {k: v for k, v in vars(args).items() if k != "json"}}
    print(json.dumps(out))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
