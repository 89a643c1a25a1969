"""The agents' CUDA path: bf16 updates, acting with the key/value cache, DDP on nccl, and short
training runs whose checkpoints load on the CPU. Marked `cuda`: skipped without a GPU;
scripts/gpu-check.sh runs them on a GPU machine."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from amago_bench.agents.amago2.config import AgentConfig, LossConfig, ModelConfig, OptimConfig
from amago_bench.agents.amago2.learner import Learner
from amago_bench.agents.amago2.losses import Batch
from amago_bench.agents.amago2.model import AmagoModel, shapes_from_spaces

pytestmark = pytest.mark.cuda

CUDA = torch.device("cuda")
TINY = ModelConfig(tstep_dim=16, tstep_hidden=16, d_model=32, d_ff=64, layers=2, heads=2, context=16, dropout=0.0,
                   head_hidden=16, bins=16, gammas=(0.9, 0.99), act_gamma=0.99)
DISCRETE = shapes_from_spaces(gym.spaces.Box(-1, 1, (5,)), gym.spaces.Discrete(3), 8, 2)
CONTINUOUS = shapes_from_spaces(gym.spaces.Box(-1, 1, (5,)), gym.spaces.Box(-2, 2, (2,)), 8, 2)
VARIANTS = [("ind", "ind"), ("dep", "dep")]


def _batch(shapes, device, B=4, L=12, seed=0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    A = shapes.action_dim
    act = torch.randint(0, A, (B, L), generator=g) if shapes.discrete else torch.rand(B, L, A, generator=g) * 2 - 1
    valid = torch.ones(B, L, dtype=torch.bool)
    valid[:, -1] = False
    b = Batch(obs=torch.randn(B, L, 5, generator=g), prev_action=act.roll(1, 1), prev_reward=torch.randn(B, L, generator=g),
              time=torch.rand(B, L, 3, generator=g), action=act, reward=torch.randn(B, L, generator=g) * 10,
              done=torch.zeros(B, L), valid=valid)
    return Batch(**{f.name: getattr(b, f.name).to(device) for f in dataclasses.fields(b)})


@pytest.mark.parametrize("critic,actor", VARIANTS)
@pytest.mark.parametrize("shapes", [DISCRETE, CONTINUOUS], ids=["discrete", "continuous"])
def test_bf16_update_runs_on_cuda_and_matches_fp32(critic, actor, shapes):
    """The CUDA default (precision auto = bf16 autocast): every parameter stays float32 and finite,
    the parameters move, and the first loss is within bf16 rounding of the fp32 loss from the same
    weights, batch and draws (the learner's CPU generator drives sampling on the GPU)."""
    losses = {}
    for precision in ("fp32", "auto"):
        cfg = AgentConfig(model=TINY, loss=LossConfig(critic=critic, actor=actor), optim=OptimConfig(precision=precision))
        learner = Learner(cfg, shapes, CUDA, seed=0)
        assert learner.amp == (precision == "auto")
        before = {n: p.detach().clone() for n, p in learner.model.named_parameters()}
        metrics = [learner.update(_batch(shapes, CUDA, seed=k)) for k in range(3)]
        losses[precision] = metrics[0]["loss/total"]
        assert all(np.isfinite(m["loss/total"]) for m in metrics), metrics
        for n, p in learner.model.named_parameters():
            assert p.dtype == torch.float32 and p.device.type == "cuda" and torch.isfinite(p).all(), n
        moved = [not torch.equal(p, before[n]) for n, p in learner.model.named_parameters()]
        assert sum(moved) >= 0.9 * len(moved), sum(moved) / len(moved)  # (a warm-up step can round away on a few)
    assert losses["auto"] == pytest.approx(losses["fp32"], rel=0.05, abs=1e-3)


@pytest.mark.parametrize("encoder", ["transformer", "gru"])
def test_cached_acting_equals_recompute_on_cuda(encoder):
    """Acting one token at a time with the key/value cache (GRU: the hidden state) on the GPU gives
    the full-sequence forward's outputs: in fp32 to float rounding, under bf16 autocast (how the
    agent acts on CUDA) to bf16 rounding; the sliding window past the context holds too."""
    cfg = dataclasses.replace(TINY, traj_encoder=encoder, context=8)
    torch.manual_seed(0)
    model = AmagoModel(DISCRETE, cfg, 16).to(CUDA).eval()
    N, T = 3, 14
    g = torch.Generator().manual_seed(1)
    obs, pa = torch.randn(N, T, 5, generator=g).to(CUDA), torch.randint(0, 3, (N, T), generator=g).to(CUDA)
    pr, tm = torch.randn(N, T, generator=g).to(CUDA), torch.rand(N, T, 3, generator=g).to(CUDA)
    with torch.no_grad():
        for amp, atol in ((False, 1e-4), (True, 0.1)):
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                state = model.init_state(N, CUDA)
                steps = []
                for t in range(T):
                    h, state = model.step(obs[:, t], pa[:, t], pr[:, t], tm[:, t], state)
                    steps.append(model.actor(h).float())
                for t in (0, 5, 7, 8, 13):  # before, at and past the context of 8
                    lo = 0 if encoder == "gru" or t < 8 else (t // 4 - 1) * 4
                    full = model.actor(model.encode(obs[:, lo:t + 1], pa[:, lo:t + 1], pr[:, lo:t + 1], tm[:, lo:t + 1])[:, -1]).float()
                    assert torch.allclose(steps[t], full, atol=atol, rtol=0.05 if amp else 1e-4), (amp, t, (steps[t] - full).abs().max())


def test_one_rank_ddp_on_nccl_equals_the_plain_update():
    """``--ddp`` on one GPU (a process group of one, nccl): the update matches the plain one."""
    from amago_bench.agents.distributed import data_parallel

    cfg = AgentConfig(model=TINY, loss=LossConfig(critic="dep", actor="dep"), optim=OptimConfig(precision="fp32"))
    plain = Learner(cfg, DISCRETE, CUDA, seed=0)
    for k in range(2):
        plain.update(_batch(DISCRETE, CUDA, seed=k))
    with data_parallel(True, "cuda") as ranks:
        assert ranks.distributed and ranks.device == "cuda:0"
        assert torch.distributed.get_backend() == "nccl"
        cpu_sum = ranks.all_sum(torch.tensor([3.0, 1.0]))  # a CPU tensor (the trainer's replay counts) reduces on the GPU
        assert cpu_sum.device.type == "cpu" and cpu_sum.tolist() == [3.0, 1.0]
        ddp = Learner(cfg, DISCRETE, torch.device(ranks.device), seed=0)
        ddp.distribute(ranks)
        for k in range(2):
            ddp.update(_batch(DISCRETE, CUDA, seed=k))
    for (n, a), b in zip(plain.model.state_dict().items(), ddp.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), (n, (a - b).abs().max())


@pytest.mark.parametrize("agent,precision", [("amago2", "bf16"), ("dep-dep", "bf16"), ("rl2-ppo-gru", None)])
def test_training_on_cuda_leaves_a_checkpoint_the_cpu_evaluates(tmp_path, agent, precision):
    from amago_bench.evaluate import evaluate
    from amago_bench.policy import load_agent
    from amago_bench.suite import get_suite
    from amago_bench.train import train

    res = train("scale-probe", agent, "smoke", seed=0, runs_root=tmp_path, store=False, log=None, threads=1,
                device="cuda", precision=precision)
    assert res.updates > 0 and len(res.eval_scores) == 1 and np.isfinite(res.eval_scores[0]["normalised"])
    kind = "rl2-ppo-gru" if agent.startswith("rl2") else "amago2"
    loaded = load_agent(kind, checkpoint=str(res.checkpoint), device="cpu")
    recs = evaluate(loaded, get_suite("scale-probe"), split="test", trials_per_task=1, seed=1, num_envs=4)
    assert len(recs) == 8 and all(np.isfinite(r["return"]) for r in recs)
