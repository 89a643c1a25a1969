"""Time one full training update of the *reference* AMAGO agent (UT-Austin-RPL/amago @ 2d85600).

Run by the reference's own Python (its virtual environment), never imported by amago-bench:
`amago-bench bench agent --reference-python REF_PYTHON` starts it beside our update timing, at
equal trainable parameter counts (amago_bench/agents/amago2/bench.py). It prints one JSON line.

Builds the agent exactly the way examples/03_popgym_suite.py does (same cli_utils.switch_* helpers,
same gin bindings, same create_experiment_from_cli -> amago.Experiment with learning_rate=1e-4,
grad_clip=1.0, lr_warmup_steps=2000), except:
  * TformerTrajEncoder.attention_type = VanillaAttention (FlashAttention needs CUDA + flash_attn),
  * the environment is a do-nothing stand-in with the requested spaces (obs Box(30,) float32,
    action Discrete(26)), wrapped by the reference's own AMAGOEnv / EnvCreator / SequenceWrapper
    through Experiment.init_envs(env_mode="sync", parallel_actors=1); no data is collected,
  * the dataset is amago.loading.DoNothingDataset (nothing is read from disk).

The model/optimizer are built by the reference's Experiment.init_model() (Agent ctor, AdamW via
Experiment.init_optimizer, constant-with-warmup LR schedule, accelerate.prepare).
The batch is built from amago.loading.RLData objects collated by amago.loading.RLData_pad_collate
(the DataLoader's collate_fn), each sequence a full, unpadded max_seq_len slice.
One update == amago.experiment.Experiment.train_step(batch, log_step=False)
(zero_grad, Agent.forward -> loss, accelerator.backward, clip_grad_norm_, soft_sync_targets,
optimizer.step, lr_schedule.step).  Timed with time.perf_counter (CPU, fp32).

Usage:
  REF_PYTHON reference_update.py --agent_type agent|multitask --d_model 256 \
      --d_ff 1024 --layers 3 --heads 8 --threads 2 --reps 10 --json out.json
"""

import argparse
import json
import os
import sys
import tempfile
import time

GAMMAS_POPGYM = [0.1, 0.7, 0.9, 0.93, 0.95, 0.98, 0.99, 0.992, 0.994, 0.995, 0.997, 0.998,
                 0.999, 0.9991, 0.9992, 0.9993, 0.9994, 0.9995]


def parse():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agent_type", choices=["agent", "multitask"], default="agent")
    p.add_argument("--d_model", type=int, default=256)
    p.add_argument("--d_ff", type=int, default=None, help="default: 4*d_model (as cli_utils.switch_traj_encoder)")
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--tstep_hidden", type=int, default=512)
    p.add_argument("--tstep_out", type=int, default=200)
    p.add_argument("--tstep_layers", type=int, default=2)
    p.add_argument("--gammas", type=int, default=len(GAMMAS_POPGYM),
                   help="use the first N of the example's 18 Multigammas.discrete values "
                        "(the Agent always appends its own gamma=0.999, so G = N + 1)")
    p.add_argument("--bins", type=int, default=64, help="NCriticsTwoHot.output_bins (multitask only)")
    p.add_argument("--obs_dim", type=int, default=30)
    p.add_argument("--n_actions", type=int, default=26)
    p.add_argument("--max_seq_len", type=int, default=128)
    p.add_argument("--max_time_idx", type=int, default=None,
                   help="LearnablePosEmb.max_time_idx; default max(max_seq_len, 2000) like the example")
    p.add_argument("--batch_size", type=int, default=24)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--compile", choices=["on", "off"], default="off",
                   help="'off' (default) sets TORCHDYNAMO_DISABLE=1: eager, same as the reference training runs "
                        "in /work/ref/wrap/driver.sh. 'on' keeps the reference's @torch.compile decorators active; "
                        "with torch 2.13 on CPU that crashes in the first step (inductor assert_size_stride on the "
                        "non-contiguous SigmaReparam.u buffer = U[:, 0] of an SVD), so 'on' also makes the "
                        "SigmaReparam u/v buffers contiguous (same values). First warm-up step then compiles (~minutes).")
    p.add_argument("--validate_dists", choices=["auto", "on", "off"], default="auto",
                   help="torch.distributions argument validation. The reference MultiTaskAgent + Discrete actions "
                        "crashes with validation on (OneHotCategorical.log_prob gets the clip_prob_low-softened "
                        "buffer actions); 'auto' = off for multitask (== running python -O), on (torch default) for agent")
    p.add_argument("--params_only", action="store_true", help="build + count parameters, no update")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=str, default=None)
    return p.parse_args()


args = parse()
if args.d_ff is None:
    args.d_ff = 4 * args.d_model
assert 1 <= args.gammas <= len(GAMMAS_POPGYM)

# threads / env must be fixed before torch is imported
for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[k] = str(args.threads)
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")
os.environ["WANDB_MODE"] = "disabled"
os.environ.setdefault("ACCELERATE_USE_CPU", "true")
if args.compile == "off":
    os.environ["TORCHDYNAMO_DISABLE"] = "1"
else:
    os.environ.pop("TORCHDYNAMO_DISABLE", None)

import random
import statistics
import warnings

import numpy as np
import torch

torch.set_num_threads(args.threads)
validate_dists = (args.agent_type != "multitask") if args.validate_dists == "auto" else (args.validate_dists == "on")
torch.distributions.Distribution.set_default_validate_args(validate_dists)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass
random.seed(args.seed)
np.random.seed(args.seed)
torch.manual_seed(args.seed)

import gymnasium as gym
import gin

import amago
from amago import cli_utils, utils as amago_utils
from amago.envs import AMAGOEnv
from amago.loading import RLData, RLData_pad_collate, DoNothingDataset
from amago.nets import transformer

warnings.filterwarnings("ignore")


class StandInEnv(gym.Env):
    """Do-nothing env that only declares the POPGym-like spaces (never stepped here)."""

    def __init__(self, obs_dim, n_actions):
        self.observation_space = gym.spaces.Box(low=-1.0, high=1.0, shape=(obs_dim,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(n_actions)

    def reset(self, seed=None, options=None):
        return np.zeros(self.observation_space.shape, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(self.observation_space.shape, dtype=np.float32), 0.0, False, False, {}


# ---------------------------------------------------------------------------------------------
# 1) gin config, mirroring examples/03_popgym_suite.py line by line
# ---------------------------------------------------------------------------------------------
parser = argparse.ArgumentParser()
cli_utils.add_common_cli(parser)
tmp_dir = tempfile.mkdtemp(prefix="amago_timing_", dir="/tmp")
cli = parser.parse_args([
    "--run_name", "timing", "--buffer_dir", tmp_dir, "--no_log",
    "--agent_type", args.agent_type,
    "--traj_encoder", "transformer",
    "--memory_size", str(args.d_model), "--memory_layers", str(args.layers),
    "--batch_size", str(args.batch_size),
    "--parallel_actors", "1", "--env_mode", "sync", "--dloader_workers", "0",
])
artificial_horizon = max(args.max_seq_len, 2000)
max_time_idx = args.max_time_idx if args.max_time_idx is not None else artificial_horizon

config = {
    "amago.nets.actor_critic.NCriticsTwoHot.min_return": None,
    "amago.nets.actor_critic.NCriticsTwoHot.max_return": None,
    "amago.nets.actor_critic.NCriticsTwoHot.output_bins": args.bins,
    "binary_filter.threshold": 1e-3,
    "amago.nets.transformer.LearnablePosEmb.max_time_idx": max_time_idx,
    "amago.nets.traj_encoders.TformerTrajEncoder.pos_emb": "learnable",
    # example uses FlashAttention (CUDA only); VanillaAttention is amago's own fallback
    "amago.nets.traj_encoders.TformerTrajEncoder.attention_type": transformer.VanillaAttention,
    "amago.nets.policy_dists.Discrete.clip_prob_high": 1.0,
    "amago.nets.policy_dists.Discrete.clip_prob_low": 1e-6,
    "amago.agent.Multigammas.discrete": GAMMAS_POPGYM[: args.gammas],
}
traj_encoder_type = cli_utils.switch_traj_encoder(
    config, arch=cli.traj_encoder, memory_size=cli.memory_size, layers=cli.memory_layers,
    n_heads=args.heads, d_ff=args.d_ff,
)
tstep_encoder_type = cli_utils.switch_tstep_encoder(
    config, arch="ff", n_layers=args.tstep_layers, d_hidden=args.tstep_hidden, d_output=args.tstep_out,
)
agent_type = cli_utils.switch_agent(config, cli.agent_type, reward_multiplier=100.0, tau=0.0025)
exploration_type = cli_utils.switch_exploration(config, "egreedy", steps_anneal=1_000_000)
cli_utils.use_config(config, cli.configs)

make_env = lambda: AMAGOEnv(StandInEnv(args.obs_dim, args.n_actions), env_name="TimingStandIn")
experiment = cli_utils.create_experiment_from_cli(
    cli,
    make_train_env=make_env,
    make_val_env=make_env,
    max_seq_len=args.max_seq_len,
    traj_save_len=artificial_horizon,
    group_name="timing",
    run_name="timing",
    tstep_encoder_type=tstep_encoder_type,
    traj_encoder_type=traj_encoder_type,
    exploration_wrapper_type=exploration_type,
    agent_type=agent_type,
    val_timesteps_per_epoch=artificial_horizon,
    learning_rate=1e-4,
    grad_clip=1.0,
    lr_warmup_steps=2000,
    dataset=DoNothingDataset(),
)
# ---------------------------------------------------------------------------------------------
# 2) the parts of Experiment.start() that build the model (no dataloader/checkpoints/logger)
# ---------------------------------------------------------------------------------------------
experiment.init_dsets()
experiment.init_envs()
experiment.init_model()
policy = experiment.policy
compile_workaround = None
if args.compile == "on":
    n_fixed = 0
    for m in policy.modules():
        if isinstance(m, transformer.SigmaReparam):
            m.u = m.u.contiguous()  # assigning to a registered buffer name replaces the buffer
            m.v = m.v.contiguous()
            n_fixed += 1
    compile_workaround = f"made u/v buffers of {n_fixed} SigmaReparam modules contiguous (values unchanged)"
policy.train()
experiment.policy_aclr.train()
DEVICE = experiment.DEVICE
assert DEVICE.type == "cpu", DEVICE
assert isinstance(experiment.optimizer.optimizer if hasattr(experiment.optimizer, "optimizer") else experiment.optimizer,
                  torch.optim.AdamW)


def n_params(module, only_grad=True):
    return sum(p.numel() for p in module.parameters() if (p.requires_grad or not only_grad))


opt = experiment.optimizer.optimizer if hasattr(experiment.optimizer, "optimizer") else experiment.optimizer
opt_params = sum(p.numel() for g in opt.param_groups for p in g["params"])
parts = {
    "tstep_encoder": n_params(policy.tstep_encoder),
    "traj_encoder": n_params(policy.traj_encoder),
    "actor": n_params(policy.actor),
    "critics": n_params(policy.critics),
}
pos = policy.traj_encoder.tformer.position_embedding
parts_extra = {
    "traj_encoder.position_embedding": n_params(pos) if pos is not None else 0,
    "traj_encoder.excluding_position_embedding": parts["traj_encoder"] - (n_params(pos) if pos is not None else 0),
}
targets = {
    "target_critics": n_params(policy.target_critics, only_grad=False),
    "target_actor": n_params(policy.target_actor, only_grad=False),
    "maximized_critics": n_params(policy.maximized_critics, only_grad=False),
}
trainable = sum(parts.values())
accounted = trainable + sum(targets.values())
all_params = n_params(policy, only_grad=False)

# ---------------------------------------------------------------------------------------------
# 3) a random batch in the dataloader's format (RLData -> RLData_pad_collate -> Batch)
# ---------------------------------------------------------------------------------------------
L = args.max_seq_len
g = torch.Generator().manual_seed(args.seed)
samples = []
for _ in range(args.batch_size):
    start = int(torch.randint(0, max_time_idx - L, (1,), generator=g))
    obs = torch.rand((L + 1, args.obs_dim), generator=g) * 2 - 1  # float32, like Box obs from npz
    act_idx = torch.randint(0, args.n_actions, (L,), generator=g)
    actions = torch.nn.functional.one_hot(act_idx, args.n_actions).float()  # discrete actions stored one-hot
    rews = (torch.rand((L, 1), generator=g) < 0.1).float() * (torch.rand((L, 1), generator=g) * 2 - 1) * 0.05
    dones = torch.zeros((L, 1), dtype=torch.bool)
    time_idxs = torch.arange(start, start + L + 1, dtype=torch.long).unsqueeze(-1)
    # rl2s=None -> RLData builds (prev reward, prev action) exactly like hindsight.Trajectory does
    samples.append(RLData(obs={"observation": obs}, rews=rews, dones=dones, actions=actions, time_idxs=time_idxs))
batch = RLData_pad_collate(samples).to(DEVICE)
assert not (batch.rl2s == 4.0).all(-1).any(), "batch contains padding"
batch_shapes = {"obs.observation": list(batch.obs["observation"].shape), "rl2s": list(batch.rl2s.shape),
                "actions": list(batch.actions.shape), "rews": list(batch.rews.shape),
                "dones": list(batch.dones.shape), "time_idxs": list(batch.time_idxs.shape)}

# ---------------------------------------------------------------------------------------------
# 4) time Experiment.train_step
# ---------------------------------------------------------------------------------------------
times, warm_times, losses = [], [], []
n_steps = 0 if args.params_only else args.warmup + args.reps
for i in range(n_steps):
    t0 = time.perf_counter()
    out = experiment.train_step(batch, log_step=False)
    t1 = time.perf_counter()
    loss = float(out["Loss"].detach())
    losses.append(loss)
    tag = "warmup" if i < args.warmup else "rep"
    print(f"[{tag} {i}] {t1 - t0:.4f}s loss={loss:.4f}", flush=True)
    (times if i >= args.warmup else warm_times).append(t1 - t0)
assert all(np.isfinite(losses)), losses
assert experiment.grad_update_counter == n_steps

result = {
    "impl": "reference amago (UT-Austin-RPL/amago @ 2d85600), Experiment.train_step",
    "agent_class": type(policy).__name__,
    "agent_type": args.agent_type,
    "params": {
        "trainable_total (optimizer params = tstep+traj+actor+critics)": trainable,
        "optimizer_param_count_check": opt_params,
        "parts": parts,
        "parts_extra": parts_extra,
        "target_networks (separate modules, EMA/copied, not optimized)": targets,
        "all_module_params incl. targets": all_params,
        "reference_summary_count (utils.count_params(policy): requires_grad, incl. targets)": amago_utils.count_params(policy),
        "unaccounted": all_params - accounted,
    },
    "timing": {
        "median_s": statistics.median(times) if times else None,
        "min_s": min(times) if times else None,
        "max_s": max(times) if times else None,
        "all_s": times,
        "warmup": args.warmup,
        "reps": args.reps,
        "warmup_s": warm_times,
    },
    "threads": torch.get_num_threads(),
    "interop_threads": torch.get_num_interop_threads(),
    "torch_version": torch.__version__,
    "python": sys.version.split()[0],
    "dtype": "float32",
    "device": str(DEVICE),
    "torch_compile": args.compile,
    "torch_compile_workaround": compile_workaround,
    "torch_distributions_validate_args": validate_dists,
    "losses": losses,
    "batch_shapes": batch_shapes,
    "config": {
        "cli_args": vars(args),
        "derived": {
            "gammas_used (incl. Agent.gamma appended last)": [round(float(x), 6) for x in policy.gammas],
            "G": len(policy.gammas),
            "num_critics": policy.num_critics,
            "max_time_idx": max_time_idx,
            "learning_rate": experiment.learning_rate,
            "l2_coeff (AdamW weight_decay)": experiment.l2_coeff,
            "grad_clip": experiment.grad_clip,
            "lr_warmup_steps": experiment.lr_warmup_steps,
            "batch_size": args.batch_size,
            "max_seq_len": args.max_seq_len,
            "optimizer": type(opt).__name__,
        },
        "gin_bindings": {k: (v.__name__ if isinstance(v, type) else v) for k, v in config.items()},
    },
}

p = result["params"]
print("=" * 70)
print(f"agent={result['agent_class']} ({args.agent_type})  d_model={args.d_model} d_ff={args.d_ff} "
      f"layers={args.layers} heads={args.heads} tstep={args.tstep_layers}x{args.tstep_hidden}->{args.tstep_out} "
      f"G={len(policy.gammas)} max_time_idx={max_time_idx} compile={args.compile} validate_dists={validate_dists}")
print(f"trainable params (optimizer): {trainable:,}  parts: " + ", ".join(f"{k}={v:,}" for k, v in parts.items()))
print(f"  of which learnable pos-emb: {parts_extra['traj_encoder.position_embedding']:,}")
print("target nets (not optimized): " + ", ".join(f"{k}={v:,}" for k, v in targets.items()))
print(f"all module params: {all_params:,}   reference summary count: {p['reference_summary_count (utils.count_params(policy): requires_grad, incl. targets)']:,}")
if times:
    print(f"update time: median {statistics.median(times):.4f}s  min {min(times):.4f}s  "
          f"over {len(times)} reps (+{args.warmup} warm-up), threads={torch.get_num_threads()}, torch {torch.__version__}")
import shutil
shutil.rmtree(tmp_dir, ignore_errors=True)  # nothing is written there; the CLI just requires a --buffer_dir
if args.json:
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2, default=str)
    print(f"wrote {args.json}")
