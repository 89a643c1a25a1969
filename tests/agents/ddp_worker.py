"""One rank of the data-parallel tests in tests/agents/test_distributed.py, started by torchrun:

    torchrun --standalone --nproc-per-node 2 tests/agents/ddp_worker.py OUT

Each rank joins the process group with :func:`amago_bench.agents.distributed.data_parallel`,
builds its learners from a seed of its own (DDP must make their weights rank 0's), updates them
on data of its own, and saves what it ended with to ``OUT/<learner>-rank<r>.pt``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from amago_bench.agents.amago2.config import AgentConfig, LossConfig, ModelConfig
from amago_bench.agents.amago2.learner import Learner
from amago_bench.agents.amago2.losses import Batch
from amago_bench.agents.distributed import data_parallel
from amago_bench.agents.rl2_ppo.agent import RL2Agent
from amago_bench.agents.rl2_ppo.collector import SegmentCollector
from amago_bench.agents.rl2_ppo.config import ModelConfig as RL2Model
from amago_bench.agents.rl2_ppo.config import OptimConfig as RL2Optim
from amago_bench.agents.rl2_ppo.config import PPOConfig, RL2Config
from amago_bench.agents.rl2_ppo.learner import Learner as RL2Learner
from amago_bench.agents.shapes import shapes_from_spaces
from amago_bench.rollout import RandomJobs, Rollout, make_vector_env
from amago_bench.suite import get_suite

TINY = ModelConfig(tstep_dim=16, tstep_hidden=16, d_model=16, d_ff=32, layers=2, heads=2, context=8, dropout=0.0,
                   head_hidden=16, bins=16, gammas=(0.9, 0.99), act_gamma=0.99)
SHAPES = shapes_from_spaces(gym.spaces.Box(-1, 1, (5,)), gym.spaces.Discrete(3), 8, 2)
AMAGO2 = {"amago2-ind-ind": LossConfig(critic="ind", actor="ind"), "amago2-dep-dep": LossConfig(critic="dep", actor="dep")}
# RL^2-PPO with one minibatch, one PPO epoch and no advantage normalisation: the DDP update on two
# ranks' segments is then the one-process update on both together (the test checks it)
RL2 = RL2Config(model=RL2Model(tstep_dim=16, tstep_hidden=16, d_model=16, head_hidden=16),
                ppo=PPOConfig(normalize_advantages=False), optim=RL2Optim(ppo_epochs=1, minibatches=1))
RL2_SHAPES = shapes_from_spaces(gym.spaces.Box(0, 1, (7,)), gym.spaces.Discrete(4), 16, 2)  # scale-probe


def amago2_batch(seed: int, B: int = 4, L: int = 8) -> Batch:
    """B windows of L tokens of random data, every transition valid; rewards span 1e-2..1e2 so
    PopArt's statistics move."""
    g = torch.Generator().manual_seed(seed)
    return Batch(obs=torch.randn(B, L, 5, generator=g), prev_action=torch.randint(0, 3, (B, L), generator=g),
                 prev_reward=torch.randn(B, L, generator=g), time=torch.rand(B, L, 3, generator=g),
                 action=torch.randint(0, 3, (B, L), generator=g),
                 reward=torch.randn(B, L, generator=g) * 10.0 ** torch.randint(-2, 3, (B, 1), generator=g),
                 done=torch.zeros(B, L), valid=torch.ones(B, L, dtype=torch.bool))


def rl2_segments(seed: int, n_envs: int = 4, steps: int = 12) -> dict:
    """Real scale-probe segments collected by a tiny RL^2 model seeded ``seed``, as a dict of tensors."""
    spec = get_suite("scale-probe")
    learner = RL2Learner(RL2, RL2_SHAPES, seed=seed)
    agent = RL2Agent(learner.model, RL2, suite=spec.name)
    rollout = Rollout(make_vector_env(spec, "train", n_envs), spec, agent, seed, RandomJobs(np.random.default_rng(seed)))
    try:
        seg, _ = SegmentCollector(agent, learner.reward_scaler, RL2.ppo).collect(rollout, steps, torch.device("cpu"))
    finally:
        rollout.close()
    return {f.name: getattr(seg, f.name) for f in dataclasses.fields(seg)}


def main(out: Path) -> None:
    torch.set_num_threads(1)
    with data_parallel() as ranks:
        assert ranks.distributed and ranks.world == 2, ranks
        r = ranks.rank
        for name, loss in AMAGO2.items():
            learner = Learner(AgentConfig(model=TINY, loss=loss), SHAPES, seed=100 + r)  # a different init per rank
            learner.distribute(ranks)
            losses = [learner.update(amago2_batch(seed=10 * r + k))["loss/total"] for k in range(3)]
            torch.save({"model": learner.model.state_dict(), "target": learner.target_critics.state_dict(),
                        "popart": learner.popart.state_dict(), "optimizer": learner.optimizer.state_dict()["state"],
                        "losses": losses}, out / f"{name}-rank{r}.pt")
        from amago_bench.agents.rl2_ppo.losses import Segments

        seg = rl2_segments(seed=10 + r)
        learner = RL2Learner(RL2, RL2_SHAPES, seed=100 + r)
        learner.distribute(ranks)
        losses = learner.update(Segments(**seg))["loss/total"]
        torch.save({"model": learner.model.state_dict(), "segments": seg, "losses": losses}, out / f"rl2-rank{r}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
    # Everything is saved and the process group destroyed. Skip the interpreter's teardown: gloo's
    # worker threads can abort it (SIGABRT, "terminate called without an active exception"; seen
    # once in CI, cf. pytorch/pytorch#179291), which would fail the run after its work is done.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
