"""Run the reference AMAGO's examples/03_popgym_suite.py (one POPGym task, single episode) on CPU,
with an evaluation after every epoch written to a JSON file.

Usage: AMAGO_REF=CHECKOUT REFERENCE_VENV/bin/python scripts/fidelity/reference_popgym.py --seed S \
           --max_env_steps M --stats_json PATH -- <args of examples/03_popgym_suite.py>

(the issue-20 side-by-side commands: reports/fidelity/README.md, "More POPGym tasks side by side";
CHECKOUT is a clone of UT-Austin-RPL/amago, default /work/ref/amago; its virtual environment:
"Set-up of the reference" there)

What this wrapper changes (nothing in the reference checkout is edited):
  * OMP_NUM_THREADS=1, torch 1 intra-op / 1 inter-op thread, WANDB_MODE=disabled, TORCHDYNAMO_DISABLE=1.
  * TformerTrajEncoder.attention_type = VanillaAttention (FlashAttention needs CUDA + flash_attn).
  * Timing: wall time of Experiment.collect_new_training_data and Experiment.train_step (training
    seconds); the reference's own validation rollout (evaluate_val, run before each epoch's
    collection with --val_interval 1) is timed apart and its average return per episode recorded
    with the env steps and updates done before it.
  * --max_env_steps stops the run after the evaluation at that many env steps, --stop_at after two
    evaluations in a row at or above that normalised score (the example's final evaluate_test is
    skipped). --low / --high: the normalisation ends our suite uses for the task. --seed seeds python's random, numpy and torch.
  * --oneshot TASK (with the example's --multidomain): the reference's own MultiDomainPOPGym (the
    paper's one-shot trials: 2 episodes, the first one's rewards shown in the observation but given
    as 0, the second scored) restricted to the one POPGym task TASK and to that task's own actions
    (its action space becomes Discrete(n) of the task instead of the padded Discrete(26)), as our
    one-shot suites in reports/fidelity/suites/ are. Its validation return is the trial's given
    return, i.e. the scored episode's.
"""

import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ["WANDB_MODE"] = "disabled"
os.environ["TORCHDYNAMO_DISABLE"] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import runpy  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)
torch.set_num_interop_threads(1)

REF = os.environ.get("AMAGO_REF", "/work/ref/amago")
EXAMPLE = os.path.join(REF, "examples", "03_popgym_suite.py")

wp = argparse.ArgumentParser()
wp.add_argument("--seed", type=int, required=True, help="seeds python's random, numpy and torch")
wp.add_argument("--max_env_steps", type=int, required=True, help="stop after the evaluation at this many env steps")
wp.add_argument("--stats_json", type=str, required=True)
wp.add_argument("--low", type=float, required=True, help="the task's normalisation ends: (return - low) / (high - low)")
wp.add_argument("--high", type=float, required=True)
wp.add_argument("--oneshot", type=str, default=None,
                help="with the example's --multidomain: its MultiDomainPOPGym restricted to this one task and its own actions")
wp.add_argument("--stop_at", type=float, default=None,
                help="also stop after two evaluations in a row at >= this normalised score (as our runs were stopped)")
argv = sys.argv[1:]
if "--" not in argv:
    wp.error("put the example's own arguments after --")
split = argv.index("--")
wargs, rest = wp.parse_args(argv[:split]), argv[split + 1:]

from amago import cli_utils  # noqa: E402
from amago.experiment import Experiment  # noqa: E402
from amago.nets import transformer  # noqa: E402

_orig_use_config = cli_utils.use_config


def _use_config(custom_params, gin_configs=None, finalize=True):
    custom_params = dict(custom_params)
    custom_params["amago.nets.traj_encoders.TformerTrajEncoder.attention_type"] = transformer.VanillaAttention
    return _orig_use_config(custom_params, gin_configs, finalize)


cli_utils.use_config = _use_config

STATS = {"seed": wargs.seed, "argv": rest, "env_steps": 0, "updates": 0, "train_s": 0.0, "eval_s": 0.0, "evals": [],
         "versions": {"torch": torch.__version__}}


class _Stop(Exception):
    pass


def _write():
    with open(wargs.stats_json, "w") as f:
        json.dump(STATS, f, indent=1)


_orig_val = Experiment.evaluate_val


def _val(self):
    logs = {}
    orig_log = self.log

    def _capture(metrics, key):
        if key == "val":
            logs.update({k: float(v) for k, v in metrics.items()})
        return orig_log(metrics, key)

    self.log = _capture
    t = time.perf_counter()
    try:
        _orig_val(self)
    finally:
        del self.log
    dt = time.perf_counter() - t
    STATS["eval_s"] += dt
    ret = logs.get("Average Total Return (Across All Env Names)")
    row = {"env_steps": STATS["env_steps"], "updates": STATS["updates"], "train_s": round(STATS["train_s"], 2),
           "eval_s": round(dt, 2), "return": ret,
           "normalised": None if ret is None else (ret - wargs.low) / (wargs.high - wargs.low)}
    STATS["evals"].append(row)
    print("[eval] " + json.dumps(row), flush=True)
    _write()
    if STATS["env_steps"] >= wargs.max_env_steps:
        raise _Stop()
    last = [r["normalised"] for r in STATS["evals"][-2:]]
    if wargs.stop_at is not None and len(last) == 2 and None not in last and min(last) >= wargs.stop_at:
        raise _Stop()


_orig_collect = Experiment.collect_new_training_data


def _collect(self):
    t = time.perf_counter()
    out = _orig_collect(self)
    STATS["train_s"] += time.perf_counter() - t
    STATS["env_steps"] += self.train_timesteps_per_epoch * self.parallel_actors
    return out


_orig_train_step = Experiment.train_step


def _train_step(self, batch, log_step):
    t = time.perf_counter()
    out = _orig_train_step(self, batch, log_step)
    STATS["train_s"] += time.perf_counter() - t
    STATS["updates"] += 1
    return out


if wargs.oneshot is not None:
    import gymnasium as gym  # noqa: E402
    from amago.envs.builtin import popgym_envs  # noqa: E402

    if "--multidomain" not in rest:
        wp.error("--oneshot needs the example's --multidomain (after --)")
    if wargs.oneshot not in popgym_envs.MultiDomainPOPGym.mt_names:
        wp.error(f"--oneshot {wargs.oneshot!r} is not one of MultiDomainPOPGym's tasks")
    popgym_envs.MultiDomainPOPGym.mt_names = [wargs.oneshot]
    _orig_md_init = popgym_envs.MultiDomainPOPGym.__init__

    def _md_init(self, *a, **k):
        _orig_md_init(self, *a, **k)
        self.action_space = gym.spaces.Discrete(self.current_action_size)

    popgym_envs.MultiDomainPOPGym.__init__ = _md_init
    STATS["oneshot"] = wargs.oneshot

Experiment.evaluate_val = _val
Experiment.collect_new_training_data = _collect
Experiment.train_step = _train_step
Experiment.evaluate_test = lambda self, *a, **k: None

random.seed(wargs.seed)
np.random.seed(wargs.seed)
torch.manual_seed(wargs.seed)
sys.argv = [EXAMPLE] + rest
try:
    runpy.run_path(EXAMPLE, run_name="__main__")
except _Stop:
    print(f"[wrapper] stopped at {STATS['env_steps']} env steps", flush=True)
_write()
